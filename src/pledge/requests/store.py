"""Request and step records, and the one function that moves a request from state to state.

Every transition is checked against :data:`TRANSITIONS`, applied with a conditional UPDATE
(``WHERE state = <the state we saw>``) so two concurrent callers cannot both move the same request,
timestamped, and appended to the audit log in the same transaction.

    received ──► verified ──► approved ──► running ──► completed
        │            │   ╲        │            │
        └──► rejected ◄───┴───────┘            └──► failed ──► running (retry)

``verified → approved`` only when the declared right requires approval, ``verified → running`` only
when it does not.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from pledge.audit.sink import AuditSink
from pledge.errors import Conflict, NotFound
from pledge.requests import deadlines
from pledge.requests.sealing import reason_digest
from pledge.requests.steps import RequestKind
from pledge.requests.tables import requests, steps
from pledge.storage.db import Database

__all__ = [
    "CLOSED",
    "OPEN",
    "TRANSITIONS",
    "RequestRecord",
    "State",
    "StepRecord",
    "get_request",
    "load_request",
    "load_steps",
    "transition",
]

State = Literal["received", "verified", "approved", "running", "completed", "rejected", "failed"]

TRANSITIONS: Mapping[str, frozenset[str]] = {
    "received": frozenset({"verified", "rejected"}),
    "verified": frozenset({"approved", "running", "rejected"}),
    "approved": frozenset({"running", "rejected"}),
    "running": frozenset({"completed", "failed"}),
    "failed": frozenset({"running"}),
    "completed": frozenset(),
    "rejected": frozenset(),
}
OPEN = ("received", "verified", "approved", "running")
CLOSED = ("completed", "rejected", "failed")

_VERBS = {
    "verified": "verify",
    "approved": "approve",
    "running": "run",
    "completed": "complete",
    "rejected": "reject",
    "failed": "fail",
}


@dataclass(frozen=True)
class RequestRecord:
    id: str
    kind: RequestKind
    right: str
    subject: str
    jurisdiction: str | None
    source: str
    state: State
    requires_approval: bool
    verification: str
    verified_by: str | None
    operator: str | None
    policy_version: str | None
    received_at: dt.datetime
    verified_at: dt.datetime | None
    approved_at: dt.datetime | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    updated_at: dt.datetime
    acknowledged_at: dt.datetime | None
    ack_due_at: dt.datetime | None
    due_at: dt.datetime | None
    extended_due_at: dt.datetime | None
    extension_reason: str | None
    decision_by: str | None
    decision_reason: str | None
    error: str | None
    plan_attempts: int
    has_identities: bool

    @property
    def deadline(self) -> dt.datetime | None:
        """The deadline in force: the extended one once extended."""
        return self.extended_due_at or self.due_at

    @property
    def closed(self) -> bool:
        return self.state in CLOSED

    def deadline_status(self, now: dt.datetime) -> deadlines.DeadlineStatus:
        return deadlines.deadline_status(
            self.deadline,
            now,
            closed=self.closed,
            ack_due_at=self.ack_due_at,
            acknowledged=self.acknowledged_at is not None,
        )

    def as_dict(self, now: dt.datetime | None = None) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["deadline"] = self.deadline
        if now is not None:
            out["deadline_status"] = self.deadline_status(now)
        return {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in out.items()}


@dataclass(frozen=True)
class StepRecord:
    request_id: str
    position: int
    name: str
    description: str
    state: Literal["pending", "running", "done", "failed"]
    attempts: int
    failures: int
    result: Mapping[str, Any] | None
    error: str | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None

    def as_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        return {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in out.items()}


_REQUEST_COLUMNS = [
    c for c in requests.c if c.name not in ("sealed", "lease_owner", "lease_expires", "run_after")
]


def _record(row: RowMapping) -> RequestRecord:
    values = {c.name: row[c.name] for c in _REQUEST_COLUMNS}
    return RequestRecord(**values, has_identities=bool(row["has_identities"]))


def request_select() -> sa.Select[Any]:
    return sa.select(*_REQUEST_COLUMNS, requests.c.sealed.isnot(None).label("has_identities"))


def get_request(db: Database, request_id: str) -> RequestRecord:
    with db.connect() as conn:
        return load_request(conn, request_id)


def load_request(conn: Connection, request_id: str) -> RequestRecord:
    if not isinstance(request_id, str) or not request_id.isalnum() or len(request_id) > 32:
        raise NotFound("no such request")
    row = conn.execute(request_select().where(requests.c.id == request_id)).mappings().first()
    if row is None:
        raise NotFound("no such request")
    return _record(row)


def records(conn: Connection, query: sa.Select[Any]) -> list[RequestRecord]:
    return [_record(row) for row in conn.execute(query).mappings()]


def load_steps(conn: Connection, request_id: str) -> list[StepRecord]:
    rows = conn.execute(
        sa.select(steps).where(steps.c.request_id == request_id).order_by(steps.c.position)
    ).mappings()
    return [
        StepRecord(
            request_id=row["request_id"],
            position=row["position"],
            name=row["name"],
            description=row["description"],
            state=row["state"],
            attempts=row["attempts"],
            failures=row["failures"],
            result=json.loads(row["result"]) if row["result"] is not None else None,
            error=row["error"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
        )
        for row in rows
    ]


def check_transition(record: RequestRecord, to: State) -> None:
    verb = _VERBS.get(to, to)
    if to not in TRANSITIONS[record.state]:
        raise Conflict(f"request {record.id} is {record.state}; it cannot {verb} now")
    if record.state == "verified" and to == "approved" and not record.requires_approval:
        raise Conflict(f"request {record.id} needs no approval", hint="it runs as soon as it is verified")
    if record.state == "verified" and to == "running" and record.requires_approval:
        raise Conflict(f"request {record.id} must be approved before it runs")


def transition(
    conn: Connection,
    audit: AuditSink,
    record: RequestRecord,
    to: State,
    *,
    now: dt.datetime,
    by: str | None = None,
    reason: str | None = None,
    values: Mapping[str, Any] | None = None,
    lease_owner: str | None = None,
    payload: Mapping[str, Any] | None = None,
) -> RequestRecord:
    """Move ``record`` to ``to`` if nobody moved it meanwhile; audit it in the same transaction.

    ``by`` goes into the audit log as given (pass it through ``sealing.actor_id``); ``reason``
    only as its digest (the text stays in the request row, which can be erased).

    ``lease_owner``: only while this worker still holds the request (fencing a worker whose
    lease ran out and was taken over).
    """
    check_transition(record, to)
    update = {"state": to, "updated_at": now, **(values or {})}
    condition = sa.and_(requests.c.id == record.id, requests.c.state == record.state)
    if lease_owner is not None:
        condition = sa.and_(condition, requests.c.lease_owner == lease_owner)
    changed = conn.execute(sa.update(requests).where(condition).values(update)).rowcount
    if changed != 1:
        current = load_request(conn, record.id)
        raise Conflict(
            f"request {record.id} is {current.state}; it cannot {_VERBS.get(to, to)} now",
            hint="someone else changed it at the same moment; reload and try again",
        )
    entry: dict[str, Any] = {"request": record.id, "kind": record.kind, "from": record.state, "to": to}
    if by is not None:
        entry["by"] = by
    if reason is not None:
        entry["reason_sha256"] = reason_digest(reason)
    entry.update(payload or {})
    audit.append(f"request.{to}", entry, subject=record.subject, conn=conn)
    return load_request(conn, record.id)
