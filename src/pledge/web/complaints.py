"""Complaints and questions from the privacy center (seed 001's right to complain): stored,
visible to the operator, audited.

What the person wrote, and their name and address, is sealed with AES-256-GCM under a key derived
from the master key (the complaint id is the associated data, so a sealed text moved to another
row does not open). The audit log gets the complaint's id, kind and topic, and the person's
pseudonym (the same keyed hash their requests carry), never the text.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa

from pledge.audit.sink import AuditSink
from pledge.consent._sql import as_utc, utcnow
from pledge.errors import Conflict, InputError, NotFound
from pledge.requests.mail import valid_address
from pledge.requests.sealing import actor_id, subject_id
from pledge.requests.steps import Identity
from pledge.storage.db import Database
from pledge.web.sealbox import SealBox
from pledge.web.tables import complaints

__all__ = ["KINDS", "TOPICS", "Complaint", "ComplaintStore"]

KINDS = ("complaint", "question")
TOPICS = {
    "processing": "How my personal data is used",
    "request": "A request I made",
    "marketing": "E-mails, mail or calls I receive",
    "cookies": "Cookies and tracking",
    "other": "Something else",
}
MAX_MESSAGE = 5000


@dataclass(frozen=True)
class Complaint:
    id: str
    kind: str
    topic: str
    jurisdiction: str | None
    state: Literal["open", "closed"]
    received_at: dt.datetime
    closed_at: dt.datetime | None
    name: str | None
    email: str | None
    message: str | None
    """None when the sealed text no longer opens (master key replaced)."""

    def __repr__(self) -> str:  # personal data: never in a log line
        return f"Complaint({self.id}, {self.kind}, {self.state})"


def _text(value: Any, what: str, limit: int, *, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InputError(f"{what} is required")
        return None
    if not isinstance(value, str):
        raise InputError(f"{what} must be text")
    text = value.strip()
    if len(text) > limit:
        raise InputError(f"{what} is longer than {limit} characters")
    if "\x00" in text:
        raise InputError(f"{what} may not contain NUL characters")
    return text


class ComplaintStore:
    def __init__(
        self,
        db: Database,
        audit: AuditSink,
        *,
        master_key: bytes,
        hash_key: bytes,
        jurisdictions: frozenset[str] = frozenset(),
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._box = SealBox(master_key, "complaints")
        self.db = db
        self.audit = audit
        self._hash_key = hash_key
        self._jurisdictions = jurisdictions
        self._clock = clock

    def submit(
        self,
        *,
        kind: str,
        topic: str,
        message: str,
        email: str | None = None,
        name: str | None = None,
        jurisdiction: str | None = None,
    ) -> str:
        """Store one complaint or question; returns its reference. Bad input changes nothing."""
        if kind not in KINDS:
            raise InputError(f"kind must be one of {', '.join(KINDS)}")
        if topic not in TOPICS:
            raise InputError(f"topic must be one of {', '.join(TOPICS)}")
        text = _text(message, "the message", MAX_MESSAGE, required=True)
        who = _text(name, "the name", 200, required=False)
        address = valid_address(email) if email and email.strip() else None
        if jurisdiction is not None and jurisdiction not in self._jurisdictions:
            raise InputError("unknown jurisdiction")
        ref = uuid.uuid4().hex
        sealed = self._seal(ref, {"name": who, "email": address, "message": text})
        now = self._clock()
        subject = subject_id(self._hash_key, [Identity("email", address)]) if address else None
        with self.db.begin() as conn:
            conn.execute(
                sa.insert(complaints).values(
                    id=ref,
                    kind=kind,
                    topic=topic,
                    jurisdiction=jurisdiction,
                    sealed=sealed,
                    state="open",
                    received_at=now,
                    closed_at=None,
                )
            )
            self.audit.append(
                f"{kind}.received",
                {
                    "complaint": ref,
                    "topic": topic,
                    "jurisdiction": jurisdiction,
                    "contact": address is not None,
                },
                subject=subject,
                conn=conn,
            )
        return ref

    def list(self, *, state: str | None = None, limit: int = 200) -> list[Complaint]:
        query = sa.select(complaints).order_by(complaints.c.received_at.desc()).limit(limit)
        if state is not None:
            query = query.where(complaints.c.state == state)
        with self.db.connect() as conn:
            return [self._complaint(row) for row in conn.execute(query)]

    def get(self, ref: str) -> Complaint:
        if not isinstance(ref, str) or not ref.isalnum() or len(ref) > 32:
            raise NotFound("no such complaint")
        with self.db.connect() as conn:
            row = conn.execute(sa.select(complaints).where(complaints.c.id == ref)).first()
        if row is None:
            raise NotFound("no such complaint")
        return self._complaint(row)

    def close(self, ref: str, *, by: str) -> Complaint:
        """Mark a complaint answered; audited with who closed it."""
        current = self.get(ref)
        if current.state == "closed":
            raise Conflict("this complaint is already closed")
        now = self._clock()
        with self.db.begin() as conn:
            changed = conn.execute(
                sa.update(complaints)
                .where(complaints.c.id == ref, complaints.c.state == "open")
                .values(state="closed", closed_at=now)
            ).rowcount
            if changed != 1:
                raise Conflict("this complaint changed meanwhile; reload")
            self.audit.append(
                f"{current.kind}.closed",
                {"complaint": ref, "by": actor_id(self._hash_key, by)},
                conn=conn,
            )
        return self.get(ref)

    def counts(self) -> dict[str, int]:
        with self.db.connect() as conn:
            rows = conn.execute(
                sa.select(complaints.c.state, sa.func.count()).group_by(complaints.c.state)
            ).all()
        return {str(state): int(count) for state, count in rows}

    # --- sealing --------------------------------------------------------------------------------

    def _seal(self, ref: str, data: dict[str, Any]) -> str:
        return self._box.seal(f"complaint:{ref}", data)

    def _open(self, ref: str, text: str | None) -> dict[str, Any]:
        return self._box.open(f"complaint:{ref}", text) or {}

    def _complaint(self, row: Any) -> Complaint:
        data = self._open(row.id, row.sealed)
        return Complaint(
            id=row.id,
            kind=row.kind,
            topic=row.topic,
            jurisdiction=row.jurisdiction,
            state=row.state,
            received_at=as_utc(row.received_at),
            closed_at=as_utc(row.closed_at) if row.closed_at else None,
            name=data.get("name"),
            email=data.get("email"),
            message=data.get("message"),
        )
