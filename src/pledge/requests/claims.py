"""Which worker runs which request: a lease on the request row.

A worker *claims* a runnable request by writing its id and an expiry into the row; it renews the
lease while it works and clears it when done. A worker that dies (kill -9, power cut) simply stops
renewing, and once the lease has run out any worker may claim the request and resume it.

On PostgreSQL the candidate is picked with ``SELECT … FOR UPDATE SKIP LOCKED`` so workers polling
at once do not queue behind each other's row locks; elsewhere (SQLite, MariaDB) an atomic
conditional ``UPDATE … WHERE lease is free`` decides, and only one worker sees its update count 1.
Every write a worker makes while running is fenced by ``lease_owner = me``, so a worker whose lease
was taken over stops at its next write instead of racing the new owner.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pledge.requests.tables import requests
from pledge.storage.db import Database

__all__ = ["claim", "claim_next", "release", "renew", "runnable"]


def runnable(now: dt.datetime, resume_owner: str | None = None) -> sa.ColumnElement[bool]:
    """Ready to run, not held by a live worker, and not waiting for a retry delay.

    ``resume_owner``: a worker with a stable identity, restarted after a crash, takes back what
    its previous life held without waiting for the lease to run out. Only for identities that
    are unique among live workers (a supervisor's slot name, never a shared constant).
    """
    ready = sa.or_(
        requests.c.state.in_(("approved", "running")),
        sa.and_(requests.c.state == "verified", requests.c.requires_approval.is_(False)),
    )
    free = sa.or_(requests.c.lease_expires.is_(None), requests.c.lease_expires < now)
    if resume_owner is not None:
        free = sa.or_(free, requests.c.lease_owner == resume_owner)
    due = sa.or_(requests.c.run_after.is_(None), requests.c.run_after <= now)
    return sa.and_(ready, free, due)


def _take(
    conn: Connection, request_id: str, owner: str, now: dt.datetime, lease: dt.timedelta, resume: bool
) -> bool:
    taken = conn.execute(
        sa.update(requests)
        .where(requests.c.id == request_id, runnable(now, owner if resume else None))
        .values(lease_owner=owner, lease_expires=now + lease)
    ).rowcount
    return taken == 1


def claim(
    db: Database, request_id: str, owner: str, now: dt.datetime, lease: dt.timedelta, *, resume: bool = False
) -> bool:
    with db.begin() as conn:
        return _take(conn, request_id, owner, now, lease, resume)


def claim_next(
    db: Database, owner: str, now: dt.datetime, lease: dt.timedelta, *, resume: bool = False
) -> str | None:
    """Claim the oldest runnable request, or return None when there is none."""
    order = (requests.c.received_at, requests.c.id)
    condition = runnable(now, owner if resume else None)
    with db.begin() as conn:
        if conn.dialect.name == "postgresql":
            picked = conn.execute(
                sa.select(requests.c.id)
                .where(condition)
                .order_by(*order)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).scalar()
            if picked is not None and _take(conn, picked, owner, now, lease, resume):
                return str(picked)
            return None
        candidates = conn.execute(
            sa.select(requests.c.id).where(condition).order_by(*order).limit(8)
        ).scalars()
        ids = [str(i) for i in candidates]
    for request_id in ids:
        if claim(db, request_id, owner, now, lease, resume=resume):
            return request_id
    return None


def renew(conn: Connection, request_id: str, owner: str, now: dt.datetime, lease: dt.timedelta) -> bool:
    """Extend our lease; False when it is no longer ours (it ran out and someone took over)."""
    kept = conn.execute(
        sa.update(requests)
        .where(requests.c.id == request_id, requests.c.lease_owner == owner)
        .values(lease_expires=now + lease)
    ).rowcount
    return kept == 1


def release(conn: Connection, request_id: str, owner: str, run_after: dt.datetime | None = None) -> None:
    conn.execute(
        sa.update(requests)
        .where(requests.c.id == request_id, requests.c.lease_owner == owner)
        .values(lease_owner=None, lease_expires=None, run_after=run_after)
    )
