"""The public API of data-subject requests: intake, verification, decisions, deadlines, reports.

A request is a durable record. It is created the same way whoever asks (the mail with the
verification link goes out whether or not the address belongs to a customer, and nothing is looked
up in the business's databases before verification), so neither the answer nor its timing tells
anyone whether someone else is a customer. Operator-run requests (the CLI) skip verification and
record who ran them. Steps run in a worker (``runner``); this module never runs them itself.

A request nobody verifies is closed after ``RequestServices.unverified_ttl`` (30 days by default)
as rejected with the reason ``verification_expired``, and what it sealed is wiped
(:meth:`Workflow.expire_unverified`, called by the workers' periodic pass).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa

from pledge.declaration.model import Right
from pledge.errors import Conflict, InputError
from pledge.requests import deadlines, delivery
from pledge.requests.deadlines import KIND_TO_RIGHT, DeadlineStatus
from pledge.requests.mail import valid_address
from pledge.requests.sealing import Sealed, normalise_identity, reason_digest, subject_id
from pledge.requests.services import RequestServices
from pledge.requests.steps import Identity, RequestKind
from pledge.requests.store import (
    OPEN,
    RequestRecord,
    get_request,
    load_request,
    records,
    request_select,
    transition,
)
from pledge.requests.tables import notices, requests, steps
from pledge.requests.verification import VERIFY_USE, request_id_from_claims

__all__ = ["SOURCES", "VERIFICATION_EXPIRED", "Listed", "Source", "Workflow"]

Source = Literal["privacy_center", "api", "cli", "email"]
SOURCES: tuple[Source, ...] = ("privacy_center", "api", "cli", "email")
_IDENTITY_KIND = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_MAX_IDENTITY = 16_384
_MAX_IDENTITIES = 20
_MAX_PARAMS = 65_536
VERIFICATION_EXPIRED = "verification_expired"
"""The decision reason of a request closed because nobody verified it in time."""


@dataclass(frozen=True)
class Listed:
    request: RequestRecord
    deadline_status: DeadlineStatus


def _check_identities(identities: Sequence[Identity]) -> tuple[Identity, ...]:
    if not identities:
        raise InputError("a request needs at least one identity", hint="e.g. --identity email=ADDR")
    if len(identities) > _MAX_IDENTITIES:
        raise InputError(f"at most {_MAX_IDENTITIES} identities per request")
    out: list[Identity] = []
    for identity in identities:
        if not isinstance(identity, Identity) or not isinstance(identity.value, str):
            raise InputError("identities must be Identity(kind, value) with text values")
        if not _IDENTITY_KIND.match(identity.kind):
            raise InputError(
                f"identity kind {identity.kind[:40]!r} is not a name",
                hint="lower-case letters, digits and _ (email, phone_number, customer_id)",
            )
        normalised = normalise_identity(identity)
        if not normalised.value or len(normalised.value) > _MAX_IDENTITY or "\x00" in normalised.value:
            raise InputError(f"the {identity.kind} identity is empty, too long or not text")
        out.append(normalised)
    return tuple(dict.fromkeys(out))


def _required(value: str | None, what: str, *, limit: int = 2000) -> str:
    text = _check_text(value, what, required=True, limit=limit)
    assert text is not None
    return text


def _check_text(value: str | None, what: str, *, required: bool, limit: int = 2000) -> str | None:
    text = value.strip() if isinstance(value, str) else None
    if required and not text:
        raise InputError(f"{what} is required")
    if text and len(text) > limit:
        raise InputError(f"{what} is longer than {limit} characters")
    return text or None


class Workflow:
    def __init__(self, services: RequestServices) -> None:
        self.services = services

    # --- intake --------------------------------------------------------------------------------

    def create_request(
        self,
        kind: RequestKind,
        identities: Sequence[Identity],
        *,
        jurisdiction: str | None = None,
        source: Source = "privacy_center",
        params: Mapping[str, Any] | None = None,
        contact: str | None = None,
        operator: str | None = None,
    ) -> RequestRecord:
        """Record a request and owe its first mail (verification link or acknowledgement).

        ``contact`` defaults to the ``email`` identity. ``operator`` (required for ``source="cli"``)
        marks a request run by staff: it is verified on creation and records who ran it.
        """
        s = self.services
        if kind not in KIND_TO_RIGHT:
            raise InputError(
                f"unknown request kind {str(kind)[:40]!r}", hint=f"one of {', '.join(KIND_TO_RIGHT)}"
            )
        if source not in SOURCES:
            raise InputError(
                f"unknown request source {str(source)[:40]!r}", hint=f"one of {', '.join(SOURCES)}"
            )
        ids = _check_identities(identities)
        operator = _check_text(operator, "the operator's name", required=source == "cli", limit=200)
        if jurisdiction is not None and jurisdiction not in {j.id for j in s.declaration.jurisdictions}:
            raise InputError(f"jurisdiction {jurisdiction[:120]!r} is not declared in the policy")
        body = dict(params or {})
        try:
            if len(json.dumps(body)) > _MAX_PARAMS:
                raise InputError("request parameters are too large")
        except (TypeError, ValueError):
            raise InputError("request parameters must be plain JSON values") from None
        right = self.right(kind, jurisdiction, operator=operator is not None)
        verification = "operator" if operator else right.verification
        if contact is None:
            contact = next((i.value for i in ids if i.kind == "email"), None)
        if contact is not None:
            contact = valid_address(contact)
        elif verification in ("email_link", "email_link_or_account"):
            raise InputError(
                "verification by e-mail needs an e-mail address", hint="add --identity email=ADDR"
            )

        now = s.clock()
        due = deadlines.compute_deadlines(right, now, s.holidays)
        request_id = uuid.uuid4().hex
        subject = subject_id(s.keys.hash_key, ids)
        record_values = {
            "id": request_id,
            "kind": kind,
            "right": right.right,
            "subject": subject,
            "jurisdiction": jurisdiction,
            "source": source,
            "state": "received",
            "requires_approval": right.approval,
            "verification": verification,
            "operator": operator,
            "policy_version": s.declaration.policy_version,
            "sealed": s.sealer.seal(request_id, Sealed(ids, body, contact)),
            "received_at": now,
            "updated_at": now,
            "due_at": due.due_at,
            "ack_due_at": due.ack_due_at,
            # Staff running it themselves is the acknowledgement.
            "acknowledged_at": now if operator else None,
        }
        with s.db.begin() as conn:
            conn.execute(sa.insert(requests).values(record_values))
            s.audit.append(
                "request.received",
                {
                    "request": request_id,
                    "kind": kind,
                    "source": source,
                    "jurisdiction": jurisdiction,
                    "by": s.actor(operator) if operator else None,
                    "due": due.due_at.isoformat() if due.due_at else None,
                },
                subject=subject,
                conn=conn,
            )
            record = load_request(conn, request_id)
            if operator or verification == "none":
                record = self._verified(conn, record, by=operator or "none", method=verification)
            if verification in ("email_link", "email_link_or_account"):
                delivery.owe(conn, request_id, "verification", now)
            elif contact is not None and not operator:
                delivery.owe(conn, request_id, "acknowledgement", now)
        delivery.deliver_pending(s, request_id=request_id)
        self._wake(record)
        return self.get_request(request_id)

    def right(self, kind: RequestKind, jurisdiction: str | None = None, *, operator: bool = False) -> Right:
        """The declared right a request of ``kind`` exercises (its deadline, verification and
        whether it needs approval). ``operator``: staff may run a request for a right the policy
        does not list (the law grants it anyway); it then has no deadline and needs no approval."""
        try:
            return deadlines.right_for(self.services.declaration, kind, jurisdiction)
        except InputError:
            if not operator or kind not in KIND_TO_RIGHT:
                raise
            return Right(right=KIND_TO_RIGHT[kind], verification="none")

    def resend_verification(self, request_id: str) -> None:
        """A fresh link for a request still waiting for it (the old one may have expired)."""
        s = self.services
        with s.db.begin() as conn:
            record = load_request(conn, request_id)
            if record.state != "received" or record.verification not in (
                "email_link",
                "email_link_or_account",
            ):
                raise Conflict(f"request {request_id} is not waiting for an e-mail verification")
            delivery.owe(conn, request_id, "verification", s.clock())
        delivery.deliver_pending(s, request_id=request_id)

    # --- verification --------------------------------------------------------------------------

    def verify_request(self, token: str) -> RequestRecord:
        """Redeem a verification link: the token is spent in the same transaction that verifies."""
        s = self.services
        with s.db.begin() as conn:
            claims = s.tokens.redeem(token, VERIFY_USE, conn=conn)
            record = load_request(conn, request_id_from_claims(claims))
            record = self._verified(conn, record, by="email_link", method="email_link")
        self._wake(record)
        return record

    def confirm_identity(self, request_id: str, by: str, method: str = "account") -> RequestRecord:
        """Verification by other means: a signed-in account, or staff who checked a document."""
        by_ = _required(by, "who confirmed", limit=200)
        method_ = _required(method, "the verification method", limit=40)
        with self.services.db.begin() as conn:
            record = self._verified(conn, load_request(conn, request_id), by=by_, method=method_)
        self._wake(record)
        return record

    def _verified(self, conn: sa.Connection, record: RequestRecord, *, by: str, method: str) -> RequestRecord:
        now = self.services.clock()
        return transition(
            conn,
            self.services.audit,
            record,
            "verified",
            now=now,
            by=self.services.actor(by),
            payload={"method": method},
            values={"verified_at": now, "verified_by": f"{method}:{by}" if method != by else method},
        )

    # --- operator decisions --------------------------------------------------------------------

    def approve(self, request_id: str, by: str, reason: str | None = None) -> RequestRecord:
        s = self.services
        by_ = _required(by, "the approver's name", limit=200)
        why = _check_text(reason, "the reason", required=False)
        now = s.clock()
        with s.db.begin() as conn:
            record = transition(
                conn,
                s.audit,
                load_request(conn, request_id),
                "approved",
                now=now,
                by=s.actor(by_),
                reason=why,
                values={"approved_at": now, "decision_by": by_, "decision_reason": why},
            )
        self._wake(record)
        return record

    def reject(self, request_id: str, by: str, reason: str) -> RequestRecord:
        """Decline a request; the person is told why (the reason goes into their mail)."""
        s = self.services
        by_ = _required(by, "the operator's name", limit=200)
        why = _required(reason, "the reason")
        now = s.clock()
        with s.db.begin() as conn:
            record = load_request(conn, request_id)
            sealed = self._sealed(conn, record.id)
            record = transition(
                conn,
                s.audit,
                record,
                "rejected",
                now=now,
                by=s.actor(by_),
                reason=why,
                values={
                    "finished_at": now,
                    "decision_by": by_,
                    "decision_reason": why,
                    "sealed": delivery.reseal_contact_only(s, record.id, sealed) if sealed else None,
                },
            )
            if sealed is not None and sealed.contact and record.source != "cli":
                delivery.owe(conn, record.id, "rejection", now)
        delivery.deliver_pending(s, request_id=request_id)
        return self.get_request(request_id)

    def extend(self, request_id: str, by: str, reason: str) -> RequestRecord:
        """Extend the deadline once, by the declared extension, with notice and a reason to the person.

        Only while the original deadline has not passed: the notice must reach the person within it.
        """
        s = self.services
        by_ = _required(by, "the operator's name", limit=200)
        why = _required(reason, "the reason")
        now = s.clock()
        with s.db.begin() as conn:
            record = load_request(conn, request_id)
            if record.closed:
                raise Conflict(f"request {request_id} is {record.state}; its deadline no longer matters")
            if record.extended_due_at is not None:
                raise Conflict(f"request {request_id} was already extended")
            right = deadlines.right_for(s.declaration, record.kind, record.jurisdiction)
            new_due = deadlines.extended_due(right, record.received_at)
            if new_due is None or record.due_at is None:
                raise Conflict("the policy allows no extension for this right")
            if now > record.due_at:
                raise Conflict(
                    f"request {request_id} is already past its deadline",
                    hint="an extension must be announced within the original period",
                )
            changed = conn.execute(
                sa.update(requests)
                .where(
                    requests.c.id == request_id,
                    requests.c.extended_due_at.is_(None),
                    requests.c.state.in_(OPEN),
                )
                .values(extended_due_at=new_due, extension_reason=why, updated_at=now)
            ).rowcount
            if changed != 1:
                raise Conflict(f"request {request_id} changed meanwhile; reload and try again")
            s.audit.append(
                "request.extended",
                {
                    "request": request_id,
                    "kind": record.kind,
                    "by": s.actor(by_),
                    "reason_sha256": reason_digest(why),
                    "due": new_due.isoformat(),
                },
                subject=record.subject,
                conn=conn,
            )
            if record.source != "cli":
                delivery.owe(conn, request_id, "extension", now)
        delivery.deliver_pending(s, request_id=request_id)
        return self.get_request(request_id)

    def retry(self, request_id: str, by: str, reason: str | None = None) -> RequestRecord:
        """Run a failed request again: its failed steps start over, its done steps stay done."""
        s = self.services
        by_ = _required(by, "the operator's name", limit=200)
        now = s.clock()
        with s.db.begin() as conn:
            record = transition(
                conn,
                s.audit,
                load_request(conn, request_id),
                "running",
                now=now,
                by=s.actor(by_),
                reason=_check_text(reason, "the reason", required=False),
                values={
                    "error": None,
                    "finished_at": None,
                    "lease_owner": None,
                    "lease_expires": None,
                    "run_after": None,
                },
            )
            conn.execute(
                sa.update(steps)
                .where(steps.c.request_id == request_id, steps.c.state.in_(("failed", "running")))
                .values(state="pending", attempts=0, error=None)
            )
        self._wake(record)
        return record

    # --- reading -------------------------------------------------------------------------------

    def get_request(self, request_id: str) -> RequestRecord:
        return get_request(self.services.db, request_id)

    def list_requests(
        self,
        *,
        state: str | Sequence[str] | None = None,
        kind: str | None = None,
        source: str | None = None,
        subject: str | None = None,
        deadline: DeadlineStatus | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Listed]:
        """Requests, the nearest deadline first, each with its deadline status."""
        if not 1 <= limit <= 1000 or offset < 0:
            raise InputError("limit must be 1..1000 and offset not negative")
        now = self.services.clock()
        deadline_col = sa.func.coalesce(requests.c.extended_due_at, requests.c.due_at)
        query = request_select()
        if state is not None:
            query = query.where(requests.c.state.in_([state] if isinstance(state, str) else list(state)))
        for column, value in (
            (requests.c.kind, kind),
            (requests.c.source, source),
            (requests.c.subject, subject),
        ):
            if value is not None:
                query = query.where(column == value)
        if deadline is not None:
            query = query.where(_deadline_condition(deadline, now, deadline_col))
        # Open requests first, the nearest deadline first; closed ones after them.
        closed_last = sa.case((requests.c.state.in_(OPEN), 0), else_=1)
        query = query.order_by(
            closed_last, deadline_col.is_(None), deadline_col, requests.c.received_at, requests.c.id
        )
        with self.services.db.connect() as conn:
            found = records(conn, query.limit(limit).offset(offset))
        return [Listed(r, r.deadline_status(now)) for r in found]

    def _sealed(self, conn: sa.Connection, request_id: str) -> Sealed | None:
        text = conn.execute(sa.select(requests.c.sealed).where(requests.c.id == request_id)).scalar()
        return self.services.sealer.unseal(request_id, text) if text else None

    def _wake(self, record: RequestRecord) -> None:
        if (
            record.state == "approved"
            or record.state == "running"
            or (record.state == "verified" and not record.requires_approval)
        ):
            self.services.notify_runnable(record.id)

    # --- reminders and owed mail (called by the worker on a schedule) ---------------------------

    def expire_unverified(self, *, limit: int = 500) -> list[str]:
        """Close requests still unverified ``unverified_ttl`` after they arrived: rejected with the
        reason ``verification_expired`` (audited), their sealed identities wiped and the mail they
        still owed dropped (the address was never confirmed: nobody is told). Returns their ids."""
        s = self.services
        if s.unverified_ttl is None:
            return []
        now = s.clock()
        query = (
            request_select()
            .where(requests.c.state == "received", requests.c.received_at < now - s.unverified_ttl)
            .order_by(requests.c.received_at)
            .limit(limit)
        )
        with s.db.connect() as conn:
            waiting = records(conn, query)
        closed: list[str] = []
        for record in waiting:
            try:
                with s.db.begin() as conn:
                    transition(
                        conn,
                        s.audit,
                        record,
                        "rejected",
                        now=now,
                        by="pledge",
                        payload={"reason": VERIFICATION_EXPIRED},
                        values={
                            "finished_at": now,
                            "decision_reason": VERIFICATION_EXPIRED,
                            "sealed": None,
                        },
                    )
                    conn.execute(
                        sa.delete(notices).where(
                            notices.c.request_id == record.id, notices.c.sent_at.is_(None)
                        )
                    )
            except Conflict:
                continue  # verified (or closed) at this very moment: no longer waiting
            closed.append(record.id)
        return closed

    def send_due_reminders(self) -> list[tuple[str, str]]:
        from pledge.requests.reminders import send_due_reminders

        return send_due_reminders(self.services)

    def deliver_pending_mail(self, older_than_seconds: float = 60.0) -> int:
        return delivery.deliver_pending(self.services, older_than=dt.timedelta(seconds=older_than_seconds))

    # --- results ---------------------------------------------------------------------------------

    def request_report(self, request_id: str) -> dict[str, Any]:
        from pledge.requests.reports import request_report

        return request_report(self.services, request_id)

    def archive(self, request_id: str) -> Path:
        """The zip of a completed access/portability request (for the operator)."""
        from pledge.requests.reports import archive

        return archive(self.services, request_id)

    def subject_result(self, token: str) -> dict[str, Any]:
        """What the person sees behind the result link of their completion mail."""
        from pledge.requests.reports import subject_result

        return subject_result(self.services, token)

    def subject_archive(self, token: str) -> Path:
        """The person's archive, for the download behind their result link."""
        from pledge.requests.reports import subject_archive

        return subject_archive(self.services, token)


def _deadline_condition(status: DeadlineStatus, now: dt.datetime, deadline_col: Any) -> Any:
    is_open = requests.c.state.in_(OPEN)
    ack_missed = sa.and_(requests.c.acknowledged_at.is_(None), requests.c.ack_due_at < now)
    soon = now + deadlines.DUE_SOON
    if status == "closed":
        return ~is_open
    if status == "overdue":
        return sa.and_(is_open, sa.or_(deadline_col < now, ack_missed))
    if status == "no_deadline":
        return sa.and_(is_open, deadline_col.is_(None), ~sa.func.coalesce(ack_missed, False))
    if status == "due_this_week":
        return sa.and_(
            is_open, deadline_col >= now, deadline_col <= soon, ~sa.func.coalesce(ack_missed, False)
        )
    if status == "fine":
        return sa.and_(is_open, deadline_col > soon, ~sa.func.coalesce(ack_missed, False))
    raise InputError(
        f"unknown deadline status {str(status)[:40]!r}",
        hint="one of overdue, due_this_week, fine, no_deadline, closed",
    )
