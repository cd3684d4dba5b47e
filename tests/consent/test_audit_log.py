"""The ledger, decisions and disclosures written through the real, verifiable audit log."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pledge.audit import AuditLog
from pledge.consent import ConsentLedger, open_enforcer
from pledge.policy import CompiledPolicy
from pledge.sharing import Sharing
from pledge.storage import Database

from .conftest import HASH_KEY


@pytest.fixture
def log(db: Database) -> Iterator[AuditLog]:
    audit = AuditLog(db, flush_interval=None)
    yield audit
    audit.close()


def test_everything_lands_in_the_verifiable_log(db: Database, policy: CompiledPolicy, log: AuditLog) -> None:
    ledger = ConsentLedger(db, policy, log, hash_key=HASH_KEY)
    enforcer = open_enforcer(ledger, cross_process=False)
    sharing = Sharing(enforcer, db, log, directory=ledger.directory)
    ann = ledger.directory.resolve("email", "ann@example.com")

    granted = ledger.grant(ann, "newsletter", "email", source="privacy_center", proof="Yes please")
    assert enforcer.decide(ann, "newsletter", ("user.contact.email",), channel="email").allowed
    withdrawn = ledger.withdraw(ann, "newsletter", source="email_link")
    assert not enforcer.decide(ann, "newsletter", ("user.contact.email",), channel="email").allowed
    sent = sharing.share(
        {"name": "Ann", "email": "ann@example.com", "street": "1 High St"},
        "list_broker",
        "list_rental",
        subject_id=ann,
        fields={"name": "user.name", "email": "user.contact.email", "street": "user.contact.address.street"},
    )
    assert sent == {"name": "Ann", "street": "1 High St"}
    enforcer.close()  # writes the queued denial
    log.flush()  # writes the counted allowed decisions

    for event in (granted, withdrawn):
        entry = log.entry(event.audit_index or 0)
        assert entry is not None and entry.kind == f"consent.{event.kind}" and entry.subject == ann
        assert entry.payload["proof_hash"] == event.proof_hash
    kinds = [e.kind for e in log.entries()]
    assert kinds.count("decision.denied") == 1
    assert "disclosure" in kinds and "decisions.allowed" in kinds
    (disclosure,) = sharing.disclosures_for_subject(ann)
    assert log.entry(disclosure.audit_index or 0).kind == "disclosure"  # type: ignore[union-attr]
    assert "ann@example.com" not in str([e.payload_json for e in log.entries()])
    report = log.verify()
    assert report.ok and report.size == len(kinds)


def test_a_rolled_back_event_leaves_no_audit_entry(
    db: Database, policy: CompiledPolicy, log: AuditLog
) -> None:
    ledger = ConsentLedger(db, policy, log, hash_key=HASH_KEY)
    ann = ledger.directory.resolve("email", "ann@example.com")
    with pytest.raises(ZeroDivisionError), db.begin() as conn:
        ledger.grant(ann, "newsletter", source="api", conn=conn)
        raise ZeroDivisionError
    event = ledger.grant(ann, "newsletter", source="api")
    assert event.audit_index == 0  # the index given back by the rollback is reused: no gap
    assert log.size() == 1 and log.verify().ok
