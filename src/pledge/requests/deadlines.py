"""When a request must be acknowledged and answered, read from the declaration's ``rights``.

Pure functions over aware UTC datetimes, so they are easy to test at month ends and leap days:

* GDPR art. 12(3): answer within one month of receipt, extendable "by two further months" with
  notice and a reason. Month arithmetic is calendar-correct (``IsoDuration.add_to``: 31 January +
  one month = 28/29 February). An extended deadline is counted from receipt over the combined
  period (P1M + P2M = P3M: 31 January → 30 April), as Regulation 1182/71 counts periods in months,
  not by chaining two clamped months (which would give 28 April).
* CCPA (Cal. Code Regs. tit. 11 §7021): acknowledge within 10 business days, answer within 45
  calendar days, extendable once by 45 more (90 in total).

Business days skip Saturdays, Sundays and any holidays given; they are counted in UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

from pledge.declaration.durations import IsoDuration
from pledge.declaration.model import Declaration, Right, RightKind
from pledge.errors import InputError
from pledge.requests.steps import RequestKind

__all__ = [
    "DUE_SOON",
    "KIND_TO_RIGHT",
    "REMINDER_SCHEDULE",
    "DeadlineStatus",
    "Deadlines",
    "Reminder",
    "add_business_days",
    "compute_deadlines",
    "deadline_status",
    "extended_due",
    "reminders_due",
    "right_for",
]

KIND_TO_RIGHT: dict[RequestKind, RightKind] = {
    "exists": "know_if_held",
    "access": "access",
    "portability": "portability",
    "rectify": "rectification",
    "erase": "erasure",
    "restrict": "restriction",
    "object": "objection",
    "withdraw": "withdraw_consent",
}

DUE_SOON = dt.timedelta(days=7)
""""Due this week": the deadline falls within the next seven days."""

DeadlineStatus = Literal["overdue", "due_this_week", "fine", "closed", "no_deadline"]


@dataclass(frozen=True, slots=True)
class Deadlines:
    due_at: dt.datetime | None
    """When the answer is due (without extension); None when the declaration sets no deadline."""
    ack_due_at: dt.datetime | None
    """When receipt must be acknowledged; None when the declaration asks for no acknowledgement."""
    latest_due_at: dt.datetime | None
    """The deadline with the full extension, when the right may be extended."""


def right_for(declaration: Declaration, kind: RequestKind, jurisdiction: str | None) -> Right:
    """The declared right behind a request; a right stated for the jurisdiction beats a general one."""
    wanted = KIND_TO_RIGHT[kind]
    rights = declaration.rights_for(jurisdiction)
    offered = [r for r in rights if r.right == wanted]
    if not offered and kind == "exists":  # confirming that data is held is part of access (GDPR art. 15)
        offered = [r for r in rights if r.right == "access"]
    if not offered:
        where = f" in jurisdiction {jurisdiction!r}" if jurisdiction else ""
        raise InputError(
            f"this policy offers no {wanted.replace('_', ' ')} right{where}",
            hint="add it under `rights:` in privacy.yaml, or use a request kind the policy offers",
        )
    specific = [r for r in offered if r.jurisdictions]
    return (specific or offered)[0]


def add_business_days(
    start: dt.datetime, days: int, holidays: Collection[dt.date] = frozenset()
) -> dt.datetime:
    """``start`` moved forward by ``days`` business days, keeping the time of day.

    The day of receipt is day 0 whatever it is; a request received on a Saturday has the
    following Monday as business day 1.
    """
    if days < 0:
        raise ValueError("business days must not be negative")
    current = start
    remaining = days
    while remaining:
        current += dt.timedelta(days=1)
        if current.weekday() < 5 and current.date() not in holidays:
            remaining -= 1
    return current


def _combined(first: IsoDuration, second: IsoDuration) -> IsoDuration:
    return IsoDuration(
        years=first.years + second.years,
        months=first.months + second.months,
        days=first.days + second.days,
        seconds=first.seconds + second.seconds,
    )


def extended_due(right: Right, received_at: dt.datetime) -> dt.datetime | None:
    if right.deadline is None or right.extension is None:
        return None
    return _combined(right.deadline, right.extension).add_to(received_at)


def compute_deadlines(
    right: Right, received_at: dt.datetime, holidays: Collection[dt.date] = frozenset()
) -> Deadlines:
    if received_at.tzinfo is None:
        raise ValueError("received_at must be an aware datetime")
    due = right.deadline.add_to(received_at) if right.deadline is not None else None
    ack: dt.datetime | None = None
    if right.acknowledge_business_days is not None:
        ack = add_business_days(received_at, right.acknowledge_business_days, holidays)
    if right.acknowledge is not None:
        by_duration = right.acknowledge.add_to(received_at)
        ack = by_duration if ack is None else min(ack, by_duration)
    return Deadlines(due_at=due, ack_due_at=ack, latest_due_at=extended_due(right, received_at))


def deadline_status(
    due_at: dt.datetime | None,
    now: dt.datetime,
    *,
    closed: bool = False,
    ack_due_at: dt.datetime | None = None,
    acknowledged: bool = True,
) -> DeadlineStatus:
    """Overdue, due this week or fine; a missed acknowledgement makes an open request overdue too."""
    if closed:
        return "closed"
    if not acknowledged and ack_due_at is not None and now > ack_due_at:
        return "overdue"
    if due_at is None:
        return "no_deadline"
    if now > due_at:
        return "overdue"
    if due_at - now <= DUE_SOON:
        return "due_this_week"
    return "fine"


@dataclass(frozen=True, slots=True)
class Reminder:
    key: str
    """Unique per request and deadline, e.g. ``7d@2024-03-01``: an extension re-arms reminders."""
    label: str
    at: dt.datetime
    """From when this reminder is due."""
    overdue: bool = False


REMINDER_SCHEDULE: Sequence[tuple[str, dt.timedelta]] = (
    ("7d", dt.timedelta(days=7)),
    ("2d", dt.timedelta(days=2)),
    ("overdue", dt.timedelta(0)),
)
"""Reminders to operators: a week before, two days before, and once the deadline has passed."""


def reminders_due(
    due_at: dt.datetime | None,
    now: dt.datetime,
    already_sent: Collection[str],
    schedule: Sequence[tuple[str, dt.timedelta]] = REMINDER_SCHEDULE,
) -> list[Reminder]:
    """The reminders whose time has come and that were not sent yet, most urgent last."""
    if due_at is None:
        return []
    stamp = due_at.date().isoformat()
    due: list[Reminder] = []
    for label, before in schedule:
        overdue = before == dt.timedelta(0)
        at = due_at - before
        if (now > at if overdue else now >= at) and f"{label}@{stamp}" not in already_sent:
            due.append(Reminder(key=f"{label}@{stamp}", label=label, at=at, overdue=overdue))
    return sorted(due, key=lambda r: r.at)
