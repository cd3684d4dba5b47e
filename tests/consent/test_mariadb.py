"""MariaDB is tolerated, not the target: the consent tables migrate and the basics work there."""

from __future__ import annotations

import datetime as dt

import pytest

from pledge.audit.sink import MemoryAudit
from pledge.consent import ConsentLedger
from pledge.errors import TokenReplayed
from pledge.policy import CompiledPolicy
from pledge.storage import Database
from pledge.tokens import TokenService

from .conftest import HASH_KEY


def test_ledger_directory_and_tokens_on_mariadb(mariadb_url: str, policy: CompiledPolicy) -> None:
    db = Database(mariadb_url)
    try:
        db.migrate()
        ledger = ConsentLedger(db, policy, MemoryAudit(), hash_key=HASH_KEY)
        ann = ledger.directory.resolve("email", "ann@example.com")
        assert ledger.directory.resolve("email", "ANN@example.com") == ann
        ledger.grant(ann, "newsletter", "email", source="banner", proof="ünïcødé proof ☃")
        ledger.withdraw(ann, "newsletter", source="email_link")
        history = ledger.events(ann)
        assert [e.kind for e in history] == ["grant", "withdraw"]
        assert history[0].proof == "ünïcødé proof ☃" and history[0].occurred_at.tzinfo is not None
        assert not ledger.load_state(ann).consent_mark("newsletter", "email")[0].on  # type: ignore[union-attr]
        tokens = TokenService(b"t" * 32, db)
        token = tokens.issue("unsubscribe", {"s": ann}, dt.timedelta(days=1))
        tokens.redeem(token, "unsubscribe")
        with pytest.raises(TokenReplayed):
            tokens.redeem(token, "unsubscribe")
    finally:
        db.dispose()


def test_banner_choices_and_cached_reads_on_mariadb(mariadb_url: str, policy: CompiledPolicy) -> None:
    """set_consent's checks under the lock (GROUP_STATS) and the cache serving reads, there too;
    no state is handed over (DATETIME drops microseconds), so reads come from the ledger."""
    from pledge.consent import open_enforcer

    db = Database(mariadb_url)
    try:
        db.migrate()
        ledger = ConsentLedger(db, policy, MemoryAudit(), hash_key=HASH_KEY)
        enforcer = open_enforcer(ledger)
        try:
            visitor = ledger.directory.resolve("cookie_id", "visitor-mariadb-0123456789")
            for on in (True, True, False, True):
                ledger.set_consent(visitor, {"newsletter": on}, source="banner")
                assert ledger.current(visitor) == ledger.load_state(visitor)
                assert enforcer.decide(visitor, "newsletter", ("user.name",)).allowed is on
            assert [e.kind for e in ledger.events(visitor)] == ["grant", "withdraw", "grant"]
        finally:
            enforcer.close()
    finally:
        db.dispose()
