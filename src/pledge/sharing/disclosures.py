"""Minimum-necessary sharing and the record of every disclosure.

``share()`` hands a recipient only the fields it may receive for a purpose, after a decision about
the subject (an objection, a sale opt-out or a restriction means nothing goes at all), and writes a
disclosure record together with its audit entry in one transaction. ``record_disclosure()`` is for
what the law compels (court orders, subpoenas): its own legal basis, with the case reference.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pledge.audit.sink import AuditSink
from pledge.consent._sql import as_utc, utcnow
from pledge.consent.directory import SubjectDirectory
from pledge.errors import InputError
from pledge.policy.enforcer import Enforcer
from pledge.sharing.tables import disclosures
from pledge.sharing.views import view
from pledge.storage.db import Database

__all__ = ["AUTHORITY_BASES", "Disclosure", "Sharing"]

AUTHORITY_BASES = frozenset(
    {"court_order", "subpoena", "law_enforcement_request", "legal_obligation", "vital_interest"}
)
_NEEDS_REFERENCE = frozenset({"court_order", "subpoena", "law_enforcement_request"})


@dataclass(frozen=True, slots=True)
class Disclosure:
    id: int
    recipient: str
    recipient_kind: str | None
    subject_id: str | None
    purpose: str | None
    legal_basis: str
    categories: tuple[str, ...]
    fields: tuple[str, ...]
    reference: str | None
    note: str | None
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    audit_index: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "recipient": self.recipient,
            "recipient_kind": self.recipient_kind,
            "subject_id": self.subject_id,
            "purpose": self.purpose,
            "legal_basis": self.legal_basis,
            "categories": list(self.categories),
            "fields": list(self.fields),
            "reference": self.reference,
            "note": self.note,
            "occurred_at": self.occurred_at.isoformat(),
        }


def _text(value: object, what: str, limit: int, *, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit or "\x00" in value:
        raise InputError(f"{what} must be non-empty text of at most {limit} characters")
    return value


class Sharing:
    def __init__(
        self,
        enforcer: Enforcer,
        db: Database,
        audit: AuditSink,
        *,
        directory: SubjectDirectory | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.enforcer = enforcer
        self.policy = enforcer.policy
        self.db = db
        self.audit = audit
        self.directory = directory
        self._clock = clock

    # --- sharing with declared recipients -------------------------------------------------------

    def share(
        self,
        record: Mapping[str, Any],
        recipient: str,
        purpose: str,
        *,
        subject_id: str | None,
        fields: Mapping[str, str],
        reference: str | None = None,
        conn: Connection | None = None,
    ) -> dict[str, Any]:
        """The part of ``record`` that ``recipient`` may receive for ``purpose``; ``fields`` maps
        field names to categories (fields it does not name are never shared). Empty when the
        decision is a denial. A non-empty result has been recorded as a disclosure."""
        self._check_fields(fields)
        reference = _text(reference, "a reference", 200, required=False)
        present = [name for name in fields if name in record]
        wanted = sorted({fields[name] for name in present})
        if not wanted:
            return {}
        receivable = self.policy.receivable(recipient, purpose)
        chosen = tuple(c for c in wanted if c in receivable)
        # Nothing receivable: decide on everything asked, so the denial and its reason are logged.
        decision = self.enforcer.decide(subject_id, purpose, chosen or tuple(wanted), recipient)
        if not decision.allowed or not chosen:
            return {}
        shared = {name: record[name] for name in present if fields[name] in chosen}
        rule = self.policy.recipients[recipient]
        withheld = sorted(set(wanted) - set(chosen))
        self._write(
            conn,
            recipient=recipient,
            recipient_kind=rule.kind,
            subject_id=subject_id,
            purpose=purpose,
            legal_basis=rule.legal_basis or decision.lawful_basis or "unknown",
            categories=chosen,
            fields=tuple(shared),
            reference=reference or "d-" + secrets.token_hex(8),
            note=None,
            occurred_at=self._clock(),
            extra={"reason": decision.reason, "withheld": withheld},
        )
        return shared

    def view(self, role: str, record: Mapping[str, Any], fields: Mapping[str, str | None]) -> dict[str, Any]:
        """What staff in ``role`` see of ``record`` (see :func:`pledge.sharing.views.view`)."""
        return view(self.policy, role, record, fields)

    # --- disclosures the law compels ------------------------------------------------------------

    def record_disclosure(
        self,
        recipient: str,
        *,
        subject_id: str | None,
        categories: Iterable[str],
        legal_basis: str,
        reference: str | None,
        purpose: str | None = None,
        fields: Iterable[str] = (),
        note: str | None = None,
        occurred_at: dt.datetime | None = None,
        conn: Connection | None = None,
    ) -> Disclosure:
        """Record a disclosure to an authority (court order, subpoena, ...), with its reference."""
        _text(recipient, "the recipient", 200)
        if legal_basis not in AUTHORITY_BASES:
            raise InputError(
                f"'{legal_basis[:40]}' is not a legal basis for an authority disclosure",
                hint=f"one of: {', '.join(sorted(AUTHORITY_BASES))}; use share() for declared recipients",
            )
        declared = self.policy.recipients.get(recipient)
        if declared is not None and declared.kind != "authority":
            raise InputError(f"'{recipient}' is a {declared.kind}, not an authority", hint="use share()")
        required = legal_basis in _NEEDS_REFERENCE
        ref = _text(reference, "the reference (e.g. the case number)", 200, required=required)
        note = _text(note, "a note", 20_000, required=False)
        if subject_id is not None:
            _text(subject_id, "the subject id", 40)
        if purpose is not None and purpose not in self.policy.purposes:
            raise InputError(f"unknown purpose '{purpose[:60]}'")
        cats = tuple(sorted(set(categories)))
        if not cats:
            raise InputError("name the categories disclosed")
        unknown = [c for c in cats if c not in self.policy.categories]
        if unknown:
            raise InputError(f"unknown data category '{unknown[0][:80]}'")
        names = tuple(fields)
        for name in names:
            _text(name, "a field name", 200)
        when = occurred_at or self._clock()
        if when.tzinfo is None:
            raise InputError("occurred_at needs a time zone")
        return self._write(
            conn,
            recipient=recipient,
            recipient_kind="authority",
            subject_id=subject_id,
            purpose=purpose,
            legal_basis=legal_basis,
            categories=cats,
            fields=names,
            reference=ref,
            note=note,
            occurred_at=when.astimezone(dt.UTC),
            extra={},
        )

    # --- queries --------------------------------------------------------------------------------

    def disclosures_for_subject(self, subject_id: str) -> list[Disclosure]:
        """Who received what about this subject (and subjects merged into it), oldest first."""
        ids = [subject_id]
        if self.directory is not None and self.directory.exists(subject_id):
            ids = self.directory.aliases(self.directory.root(subject_id))
        query = sa.select(disclosures).where(disclosures.c.subject_id.in_(ids)).order_by(disclosures.c.id)
        return self._query(query)

    def disclosures(
        self,
        *,
        recipient: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = 10_000,
    ) -> list[Disclosure]:
        """Disclosures, optionally to one recipient and within [since, until), oldest first."""
        query = sa.select(disclosures)
        if recipient is not None:
            query = query.where(disclosures.c.recipient == recipient)
        if since is not None:
            query = query.where(disclosures.c.occurred_at >= since)
        if until is not None:
            query = query.where(disclosures.c.occurred_at < until)
        return self._query(query.order_by(disclosures.c.occurred_at, disclosures.c.id).limit(limit))

    # --- storage --------------------------------------------------------------------------------

    def _check_fields(self, fields: Mapping[str, str]) -> None:
        for name, category in fields.items():
            if not isinstance(name, str) or not isinstance(category, str):
                raise InputError("fields map field names to category ids")
            if category not in self.policy.categories:
                raise InputError(
                    f"field '{name[:80]}' has unknown data category '{category[:80]}'",
                    hint="use a category from the taxonomy or one the declaration adds",
                )

    def _write(self, conn: Connection | None, *, extra: Mapping[str, Any], **row: Any) -> Disclosure:
        if conn is None:
            with self.db.begin() as own:
                return self._write(own, extra=extra, **row)
        payload = {
            "recipient": row["recipient"],
            "recipient_kind": row["recipient_kind"],
            "purpose": row["purpose"],
            "legal_basis": row["legal_basis"],
            "categories": list(row["categories"]),
            "reference": row["reference"],
            "occurred_at": row["occurred_at"].isoformat(),
            **extra,
        }
        kind = "disclosure.authority" if row["recipient_kind"] == "authority" else "disclosure"
        index = self.audit.append(kind, payload, subject=row["subject_id"], conn=conn)
        values = {
            **row,
            "categories": list(row["categories"]),
            "fields": list(row["fields"]),
            "recorded_at": self._clock(),
            "audit_index": index,
        }
        key = conn.execute(sa.insert(disclosures).values(**values)).inserted_primary_key
        assert key is not None
        return _disclosure({**values, "id": int(key[0])})

    def _query(self, query: Any) -> list[Disclosure]:
        with self.db.connect() as conn:
            return [_disclosure(r._mapping) for r in conn.execute(query)]


def _disclosure(row: Any) -> Disclosure:
    return Disclosure(
        id=int(row["id"]),
        recipient=row["recipient"],
        recipient_kind=row["recipient_kind"],
        subject_id=row["subject_id"],
        purpose=row["purpose"],
        legal_basis=row["legal_basis"],
        categories=tuple(row["categories"]),
        fields=tuple(row["fields"]),
        reference=row["reference"],
        note=row["note"],
        occurred_at=as_utc(row["occurred_at"]),
        recorded_at=as_utc(row["recorded_at"]),
        audit_index=row["audit_index"],
    )
