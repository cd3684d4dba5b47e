from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from sqlalchemy.engine import Connection

from pledge.audit.sink import MemoryAudit
from pledge.consent import ConsentLedger
from pledge.policy import CompiledPolicy
from pledge.storage import Database
from tests.policy.conftest import policy, shop  # noqa: F401  (shared fixtures)

HASH_KEY = b"k" * 32


class LockedAudit(MemoryAudit):
    """MemoryAudit with gapless indexes under threads."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def append(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        subject: str | None = None,
        conn: Connection | None = None,
    ) -> int:
        with self._lock:
            return super().append(kind, payload, subject=subject, conn=conn)


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def audit() -> LockedAudit:
    return LockedAudit()


@pytest.fixture
def ledger(db: Database, policy: CompiledPolicy, audit: LockedAudit) -> ConsentLedger:  # noqa: F811
    return ConsentLedger(db, policy, audit, hash_key=HASH_KEY)
