"""Audit log fixtures: a migrated database, a log with a fresh key, helpers to fill and tamper."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from pledge.audit.entry import leaf_data
from pledge.audit.log import AuditLog
from pledge.audit.merkle import Frontier
from pledge.audit.signing import HeadSigner
from pledge.audit.tables import audit_entries, audit_tip
from pledge.storage import Database

KINDS = ["consent.grant", "consent.withdraw", "disclosure", "decision.denied", "request.step"]


def items(count: int, seed: int = 7) -> list[tuple[str, dict[str, Any], str | None]]:
    rng = random.Random(seed)
    out: list[tuple[str, dict[str, Any], str | None]] = []
    for i in range(count):
        payload = {"n": i, "purpose": rng.choice(["marketing", "analytics"]), "tags": [rng.random(), "ü"]}
        subject = None if i % 5 == 0 else f"s_{rng.getrandbits(64):016x}"
        out.append((rng.choice(KINDS), payload, subject))
    return out


def fill(log: AuditLog, count: int, *, batch: int = 250, seed: int = 7) -> None:
    todo = items(count, seed)
    for start in range(0, count, batch):
        log.append_many(todo[start : start + batch])


@pytest.fixture
def signer() -> HeadSigner:
    return HeadSigner.generate()


def _open(url: str, signer: HeadSigner) -> Iterator[AuditLog]:
    db = Database(url)
    db.migrate()
    log = AuditLog(db, signer=signer, sign_every=None, flush_interval=None)
    try:
        yield log
    finally:
        log.close()
        db.dispose()


@pytest.fixture
def sqlite_log(sqlite_url: str, signer: HeadSigner) -> Iterator[AuditLog]:
    yield from _open(sqlite_url, signer)


@pytest.fixture
def any_log(db_url: str, signer: HeadSigner) -> Iterator[AuditLog]:
    """The log on SQLite and on PostgreSQL."""
    yield from _open(db_url, signer)


# --- tampering helpers: what someone with write access to the database could do -----------------


def sql(log: AuditLog, statement: str, **params: Any) -> None:
    with log.db.begin() as conn:
        conn.execute(sa.text(statement), params)


def row(log: AuditLog, index: int) -> Any:
    with log.db.connect() as conn:
        return conn.execute(sa.select(audit_entries).where(audit_entries.c.seq == index)).one()


def rehash_from(log: AuditLog, start: int) -> None:
    """Recompute every leaf and chain value from ``start`` on, and the tip, as a careful attacker would."""
    with log.db.begin() as conn:
        rows = conn.execute(sa.select(audit_entries).order_by(audit_entries.c.seq)).all()
        chain, frontier = bytes(32), Frontier()
        for r in rows:
            data = leaf_data(r.seq, r.recorded_at, r.kind, r.subject, r.payload).encode()
            leaf = hashlib.sha256(b"\x00" + data).digest() if r.seq >= start else bytes(r.leaf)
            chain = hashlib.sha256(b"\x02" + chain + leaf).digest() if r.seq >= start else bytes(r.chain)
            frontier.append(leaf)
            if r.seq >= start:
                conn.execute(
                    audit_entries.update().where(audit_entries.c.seq == r.seq).values(leaf=leaf, chain=chain)
                )
        conn.execute(audit_tip.update().values(size=len(rows), chain=chain, frontier=frontier.to_bytes()))
