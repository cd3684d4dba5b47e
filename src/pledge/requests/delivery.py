"""Mails owed about requests: recorded in the same transaction as the change that owes them, sent
after commit, retried by the worker while the mail server is down.

Once a closed request has no mail left to send, its sealed identities are wiped: from then on
Pledge holds nothing in the clear (nor decryptable) about who asked.
"""

from __future__ import annotations

import datetime as dt
import logging
from email.message import EmailMessage
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pledge.errors import ConnectorError, StorageError
from pledge.requests import notices as templates
from pledge.requests.sealing import Sealed
from pledge.requests.services import RequestServices
from pledge.requests.store import RequestRecord, load_request
from pledge.requests.tables import notices, requests
from pledge.requests.verification import RESULT_USE, VERIFY_USE

__all__ = ["NoticeKind", "deliver", "deliver_pending", "owe", "reseal_contact_only"]

log = logging.getLogger(__name__)

NoticeKind = Literal["verification", "acknowledgement", "extension", "completion", "rejection", "failure"]
_TO_OPERATOR = ("failure",)
_ACKNOWLEDGES = ("verification", "acknowledgement")


def owe(conn: Connection, request_id: str, kind: NoticeKind, now: dt.datetime) -> None:
    """Record that ``kind`` must be mailed (again, if it was sent before: e.g. a new link)."""
    again = conn.execute(
        sa.update(notices)
        .where(notices.c.request_id == request_id, notices.c.kind == kind)
        .values(created_at=now, sent_at=None, attempts=0, last_error=None)
    ).rowcount
    if not again:
        conn.execute(
            sa.insert(notices).values(
                request_id=request_id, kind=kind, created_at=now, sent_at=None, attempts=0
            )
        )


def reseal_contact_only(services: RequestServices, request_id: str, sealed: Sealed) -> str | None:
    """What a closing request keeps sealed: the contact address only, until its last mail is sent."""
    if not sealed.contact:
        return None
    return services.sealer.seal(request_id, Sealed(identities=(), params={}, contact=sealed.contact))


def _message(
    services: RequestServices, record: RequestRecord, kind: NoticeKind, contact: str | None
) -> EmailMessage | None:
    s, org = services, services.org_name
    if kind == "failure":
        return templates.operator_failure(
            s.sender, s.operator_address, org, record.id, record.kind, record.error or "unknown error"
        )
    if contact is None:
        return None
    if kind == "verification":
        expires = s.clock() + s.verify_ttl
        token = s.tokens.issue(VERIFY_USE, {"rid": record.id}, s.verify_ttl)
        return templates.verification(
            s.sender, contact, org, record.kind, record.id, s.links.verify(token), expires, record.deadline
        )
    if kind == "acknowledgement":
        return templates.acknowledgement(s.sender, contact, org, record.kind, record.id, record.deadline)
    if kind == "extension":
        assert record.extended_due_at is not None
        return templates.extension(
            s.sender, contact, org, record.id, record.extended_due_at, record.extension_reason or ""
        )
    if kind == "completion":
        token = s.tokens.issue(RESULT_USE, {"rid": record.id}, s.result_ttl)
        return templates.completion(s.sender, contact, org, record.kind, record.id, s.links.result(token))
    return templates.rejection(s.sender, contact, org, record.kind, record.id, record.decision_reason or "")


def deliver(services: RequestServices, request_id: str, kind: NoticeKind) -> bool:
    """Send one owed mail; True when sent (or nothing is left to send)."""
    db = services.db
    with db.connect() as conn:
        record = load_request(conn, request_id)
        sealed_text = conn.execute(sa.select(requests.c.sealed).where(requests.c.id == request_id)).scalar()
    contact: str | None = None
    if sealed_text and kind not in _TO_OPERATOR:
        try:
            contact = services.sealer.unseal(request_id, sealed_text).contact
        except StorageError:  # master key replaced: the address is lost, nobody can be told
            log.error("request %s: sealed contact does not open; %s mail dropped", request_id, kind)
    message = _message(services, record, kind, contact)
    error: str | None = None
    if message is not None:
        try:
            services.mailer.send(message)
        except ConnectorError as exc:
            error = exc.message
    now = services.clock()
    with db.begin() as conn:
        pending = (
            (notices.c.request_id == request_id) & (notices.c.kind == kind) & notices.c.sent_at.is_(None)
        )
        if error is not None:
            log.warning("mail for request %s (%s) not sent: %s", request_id, kind, error)
            conn.execute(
                sa.update(notices)
                .where(pending)
                .values(attempts=notices.c.attempts + 1, last_error=error[:2000])
            )
            return False
        if not conn.execute(sa.update(notices).where(pending).values(sent_at=now)).rowcount:
            return True  # someone else sent it meanwhile
        if message is not None:
            services.audit.append(
                "request.notice_sent",
                {
                    "request": request_id,
                    "notice": kind,
                    "to": "operator" if kind in _TO_OPERATOR else "subject",
                },
                subject=record.subject,
                conn=conn,
            )
        if kind in _ACKNOWLEDGES:
            conn.execute(
                sa.update(requests)
                .where(requests.c.id == request_id, requests.c.acknowledged_at.is_(None))
                .values(acknowledged_at=now)
            )
        if record.closed:
            _wipe_when_done(conn, request_id)
    return True


def _wipe_when_done(conn: Connection, request_id: str) -> None:
    left = conn.execute(
        sa.select(sa.func.count())
        .select_from(notices)
        .where(notices.c.request_id == request_id, notices.c.sent_at.is_(None), notices.c.kind != "failure")
    ).scalar_one()
    if not left:
        conn.execute(
            sa.update(requests)
            .where(requests.c.id == request_id, requests.c.state.in_(("completed", "rejected")))
            .values(sealed=None)
        )


def deliver_pending(
    services: RequestServices, *, request_id: str | None = None, older_than: dt.timedelta | None = None
) -> int:
    """Send every owed mail (of one request, or all created before ``older_than`` ago). Returns how
    many went out; failures stay owed for the next call."""
    query = sa.select(notices.c.request_id, notices.c.kind).where(notices.c.sent_at.is_(None))
    if request_id is not None:
        query = query.where(notices.c.request_id == request_id)
    if older_than is not None:
        query = query.where(notices.c.created_at <= services.clock() - older_than)
    with services.db.connect() as conn:
        owed = conn.execute(query.order_by(notices.c.created_at)).all()
    sent = 0
    for rid, kind in owed:
        sent += deliver(services, rid, kind)
    return sent
