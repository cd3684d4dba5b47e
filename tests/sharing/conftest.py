from __future__ import annotations

from collections.abc import Iterator

import pytest

from pledge.consent import ConsentLedger, open_enforcer
from pledge.policy import CompiledPolicy, Enforcer
from pledge.sharing import Sharing
from pledge.storage import Database
from tests.consent.conftest import HASH_KEY, LockedAudit
from tests.policy.conftest import policy, shop  # noqa: F401  (shared fixtures)


@pytest.fixture
def audit() -> LockedAudit:
    return LockedAudit()


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def ledger(db: Database, policy: CompiledPolicy, audit: LockedAudit) -> ConsentLedger:  # noqa: F811
    return ConsentLedger(db, policy, audit, hash_key=HASH_KEY)


@pytest.fixture
def enforcer(ledger: ConsentLedger) -> Iterator[Enforcer]:
    enforcer = open_enforcer(ledger, cross_process=False)
    yield enforcer
    enforcer.close()


@pytest.fixture
def sharing(enforcer: Enforcer, db: Database, audit: LockedAudit, ledger: ConsentLedger) -> Sharing:
    return Sharing(enforcer, db, audit, directory=ledger.directory)
