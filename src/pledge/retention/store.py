"""Sweep state in Pledge's database: runs, per-unit checkpoints, and the lease.

A run is resumed, not restarted, when the previous one with the same configuration did not
finish (a crash, a failed database): finished units are skipped, an unfinished one continues
after the last key its checkpoint names, and the run keeps the clock it started with. The
checkpoint is written after each batch, in Pledge's database, while the batch's changes commit
in the business database; if a crash falls between the two, that one batch is done again on
resume, which changes nothing (erasure is idempotent).

The lease makes sure one sweep runs at a time, across processes and machines: it is taken in a
transaction (a conditional ``UPDATE``, else an ``INSERT``), renewed after every batch, and
expires on its own when its holder dies (at once when the holder was a process of this host
that no longer exists).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pledge.errors import Conflict
from pledge.retention.tables import leases, progress, runs
from pledge.storage.db import Database

__all__ = ["RunState", "SweepStore", "UnitProgress", "default_owner"]

SWEEP_LEASE = "sweep"


def default_owner() -> str:
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _dead(owner: str) -> bool:
    """True when ``owner`` (``host:pid:nonce``) was a process of this host that no longer runs."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname()[:80] or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists but is not ours to signal
        return False
    return False


def _naive(when: dt.datetime) -> dt.datetime:
    return when.astimezone(dt.UTC).replace(tzinfo=None) if when.tzinfo else when


def _aware(when: dt.datetime) -> dt.datetime:
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def unit_id(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8")).hexdigest()


@dataclass
class UnitProgress:
    name: str
    batches: int = 0
    cursor: list[Any] | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    done: bool = False


@dataclass
class RunState:
    id: str
    clock_at: dt.datetime
    resumed: bool
    units: dict[str, UnitProgress] = field(default_factory=dict)
    """By unit name."""

    def unit(self, name: str) -> UnitProgress:
        return self.units.setdefault(name, UnitProgress(name))


class SweepStore:
    def __init__(
        self,
        db: Database,
        *,
        owner: str | None = None,
        lease_ttl: dt.timedelta = dt.timedelta(minutes=10),
        clock: Any = None,
    ) -> None:
        self.db = db
        self.owner = owner or default_owner()
        self.lease_ttl = lease_ttl
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))

    def now(self) -> dt.datetime:
        return _naive(self._clock())

    # --- the lease ---------------------------------------------------------------------------------

    def acquire(self, name: str = SWEEP_LEASE, *, run_id: str | None = None) -> None:
        """Take the lease, or raise ``Conflict`` naming who holds it."""
        now = self.now()
        values = {
            "owner": self.owner,
            "run_id": run_id,
            "acquired_at": now,
            "expires_at": now + self.lease_ttl,
        }
        with self.db.begin() as conn:
            taken = conn.execute(
                sa.update(leases)
                .where(leases.c.name == name, sa.or_(leases.c.expires_at < now, leases.c.owner == self.owner))
                .values(**values)
            ).rowcount
            if taken:
                return
            try:
                with conn.begin_nested():
                    conn.execute(sa.insert(leases).values(name=name, **values))
                return
            except sa.exc.IntegrityError:
                pass
            holder = conn.execute(
                sa.select(leases.c.owner, leases.c.expires_at).where(leases.c.name == name)
            ).one()
            if _dead(holder.owner):
                # Killed on this very machine (kill -9, an OOM kill): no need to wait for the lease
                # to expire.
                taken = conn.execute(
                    sa.update(leases)
                    .where(leases.c.name == name, leases.c.owner == holder.owner)
                    .values(**values)
                ).rowcount
                if taken:
                    return
        raise Conflict(
            f"a retention sweep is already running (held by {holder.owner} until "
            f"{_aware(holder.expires_at).isoformat(timespec='seconds')})",
            hint="wait for it to finish; a lease whose holder died expires on its own",
        )

    def renew(self, name: str = SWEEP_LEASE) -> None:
        now = self.now()
        with self.db.begin() as conn:
            kept = conn.execute(
                sa.update(leases)
                .where(leases.c.name == name, leases.c.owner == self.owner)
                .values(expires_at=now + self.lease_ttl)
            ).rowcount
        if not kept:
            raise Conflict("the retention sweep lost its lease (another process took it over)")

    def release(self, name: str = SWEEP_LEASE) -> None:
        with self.db.begin() as conn:
            conn.execute(sa.delete(leases).where(leases.c.name == name, leases.c.owner == self.owner))

    # --- runs --------------------------------------------------------------------------------------

    def open_run(self, kind: str, digest: str, now: dt.datetime, *, explicit_now: bool) -> RunState:
        """Resume the unfinished run of this configuration, or start one.

        An explicit ``now`` that differs from the unfinished run's clock starts afresh (the old run
        is abandoned): the operator asked for another moment.
        """
        stamp = self.now()
        with self.db.begin() as conn:
            pending = conn.execute(
                sa.select(runs.c.id, runs.c.clock_at, runs.c.config_digest)
                .where(runs.c.kind == kind, runs.c.state.in_(("running", "failed")))
                .order_by(runs.c.started_at.desc())
            ).all()
            resume = next(
                (
                    r
                    for r in pending
                    if r.config_digest == digest and (not explicit_now or _aware(r.clock_at) == _aware(now))
                ),
                None,
            )
            stale = [r.id for r in pending if resume is None or r.id != resume.id]
            if stale:
                conn.execute(
                    sa.update(runs).where(runs.c.id.in_(stale)).values(state="abandoned", updated_at=stamp)
                )
            if resume is not None:
                conn.execute(
                    sa.update(runs)
                    .where(runs.c.id == resume.id)
                    .values(state="running", owner=self.owner, updated_at=stamp, error=None)
                )
                state = RunState(resume.id, _aware(resume.clock_at), True)
                for row in conn.execute(sa.select(progress).where(progress.c.run_id == resume.id)):
                    state.units[row.name] = UnitProgress(
                        row.name,
                        row.batches,
                        json.loads(row.cursor) if row.cursor else None,
                        json.loads(row.counts),
                        bool(row.done),
                    )
                return state
            run_id = uuid.uuid4().hex
            conn.execute(
                sa.insert(runs).values(
                    id=run_id,
                    kind=kind,
                    state="running",
                    config_digest=digest,
                    clock_at=_naive(now),
                    started_at=stamp,
                    updated_at=stamp,
                    owner=self.owner,
                )
            )
        return RunState(run_id, _aware(now), False)

    def save_unit(self, run_id: str, unit: UnitProgress, *, conn: Connection | None = None) -> None:
        if conn is None:
            with self.db.begin() as own:
                self.save_unit(run_id, unit, conn=own)
            return
        values = {
            "name": unit.name,
            "batches": unit.batches,
            "cursor": json.dumps(unit.cursor) if unit.cursor is not None else None,
            "counts": json.dumps(unit.counts, sort_keys=True, default=str),
            "done": unit.done,
            "updated_at": self.now(),
        }
        key = unit_id(unit.name)
        updated = conn.execute(
            sa.update(progress).where(progress.c.run_id == run_id, progress.c.unit == key).values(**values)
        ).rowcount
        if not updated:
            conn.execute(sa.insert(progress).values(run_id=run_id, unit=key, **values))

    def finish_run(
        self, run_id: str, state: str, *, summary: Mapping[str, Any] | None = None, error: str | None = None
    ) -> None:
        stamp = self.now()
        with self.db.begin() as conn:
            conn.execute(
                sa.update(runs)
                .where(runs.c.id == run_id)
                .values(
                    state=state,
                    updated_at=stamp,
                    finished_at=stamp if state == "done" else None,
                    summary=json.dumps(summary, default=str) if summary is not None else None,
                    error=error[:2000] if error else None,
                )
            )

    def last_finished(self, kind: str = "sweep") -> dt.datetime | None:
        """When the last run of ``kind`` finished (the schedule counts its interval from it)."""
        with self.db.connect() as conn:
            found = conn.execute(
                sa.select(sa.func.max(runs.c.finished_at)).where(runs.c.kind == kind, runs.c.state == "done")
            ).scalar()
        return _aware(found) if found is not None else None

    def run(self, run_id: str) -> dict[str, Any] | None:
        with self.db.connect() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).one_or_none()
        if row is None:
            return None
        out = dict(row._mapping)
        out["summary"] = json.loads(out["summary"]) if out["summary"] else None
        return out
