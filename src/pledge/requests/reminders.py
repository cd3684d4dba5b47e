"""Deadline reminders to operators, each sent once.

The reminder row is inserted, the mail sent and the row committed in one transaction: if the mail
fails nothing is recorded and the next tick tries again; if two workers race, the primary key
lets exactly one of them commit (on PostgreSQL the second waits on the first's insert, then fails).
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from pledge.errors import ConnectorError, StorageError
from pledge.requests import deadlines, notices
from pledge.requests.services import RequestServices
from pledge.requests.store import OPEN, records, request_select
from pledge.requests.tables import reminders, requests

__all__ = ["send_due_reminders"]

log = logging.getLogger(__name__)


def send_due_reminders(services: RequestServices) -> list[tuple[str, str]]:
    """Mail every reminder whose time has come; returns ``(request_id, key)`` of those sent."""
    s = services
    now = s.clock()
    horizon = now + max(before for _, before in deadlines.REMINDER_SCHEDULE)
    deadline_col = sa.func.coalesce(requests.c.extended_due_at, requests.c.due_at)
    with s.db.connect() as conn:
        candidates = records(
            conn, request_select().where(requests.c.state.in_(OPEN), deadline_col <= horizon)
        )
        sent_rows = conn.execute(
            sa.select(reminders.c.request_id, reminders.c.key).where(
                reminders.c.request_id.in_([r.id for r in candidates])
            )
        ).all()
    already: dict[str, set[str]] = {}
    for rid, key in sent_rows:
        already.setdefault(rid, set()).add(key)
    sent: list[tuple[str, str]] = []
    for record in candidates:
        assert record.deadline is not None
        due = deadlines.reminders_due(record.deadline, now, already.get(record.id, set()))
        if not due:
            continue
        # One mail per request and tick, about the most urgent; the earlier ones are settled by it.
        urgent = due[-1]
        message = notices.operator_reminder(
            s.sender,
            s.operator_address,
            s.org_name,
            record.id,
            record.kind,
            record.state,
            record.deadline,
            urgent.overdue,
        )
        try:
            with s.db.begin() as conn:
                conn.execute(
                    sa.insert(reminders),
                    [{"request_id": record.id, "key": r.key, "sent_at": now} for r in due],
                )
                s.audit.append(
                    "request.reminder_sent",
                    {"request": record.id, "reminder": urgent.key, "overdue": urgent.overdue},
                    subject=record.subject,
                    conn=conn,
                )
                s.mailer.send(message)
        except sa.exc.IntegrityError:
            continue  # another worker sent it
        except (ConnectorError, StorageError) as exc:
            log.warning("reminder for request %s not sent: %s", record.id, exc)
            continue
        sent.append((record.id, urgent.key))
    return sent
