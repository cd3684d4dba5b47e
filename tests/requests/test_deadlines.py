"""Deadline arithmetic at month ends, leap days and weekends; statuses; reminders that go once."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pledge.declaration.durations import parse_duration
from pledge.declaration.model import Right
from pledge.errors import InputError
from pledge.requests import deadlines
from pledge.requests.deadlines import (
    add_business_days,
    compute_deadlines,
    deadline_status,
    reminders_due,
    right_for,
)
from tests.requests.support import declaration

UTC = dt.UTC


def at(y: int, m: int, d: int, h: int = 12) -> dt.datetime:
    return dt.datetime(y, m, d, h, tzinfo=UTC)


GDPR = Right(right="access", deadline=parse_duration("P1M"), extension=parse_duration("P2M"))
CCPA = Right(
    right="access",
    deadline=parse_duration("P45D"),
    extension=parse_duration("P45D"),
    acknowledge_business_days=10,
)


@pytest.mark.parametrize(
    ("received", "due", "extended"),
    [
        (at(2024, 1, 31), at(2024, 2, 29), at(2024, 4, 30)),  # leap year: 29 February
        (at(2023, 1, 31), at(2023, 2, 28), at(2023, 4, 30)),
        (at(2024, 1, 30), at(2024, 2, 29), at(2024, 4, 30)),
        (at(2024, 3, 31), at(2024, 4, 30), at(2024, 6, 30)),
        (at(2024, 5, 31), at(2024, 6, 30), at(2024, 8, 31)),  # extension keeps the 31st
        (at(2024, 12, 15), at(2025, 1, 15), at(2025, 3, 15)),  # across the year end
        (at(2024, 11, 30), at(2024, 12, 30), at(2025, 2, 28)),
        (at(2024, 2, 29), at(2024, 3, 29), at(2024, 5, 29)),
    ],
)
def test_gdpr_one_month_extendable_by_two(
    received: dt.datetime, due: dt.datetime, extended: dt.datetime
) -> None:
    computed = compute_deadlines(GDPR, received)
    assert computed.due_at == due
    assert computed.latest_due_at == extended
    assert computed.ack_due_at is None


@pytest.mark.parametrize(
    ("received", "ack"),
    [
        (at(2024, 3, 4), at(2024, 3, 18)),  # Monday → Monday two weeks later
        (at(2024, 3, 8), at(2024, 3, 22)),  # Friday → Friday
        (at(2024, 3, 9), at(2024, 3, 22)),  # Saturday: Monday is business day 1
        (at(2024, 3, 10), at(2024, 3, 22)),  # Sunday too
        (at(2024, 12, 27), at(2025, 1, 10)),  # across the year end
    ],
)
def test_ccpa_acknowledge_within_ten_business_days(received: dt.datetime, ack: dt.datetime) -> None:
    computed = compute_deadlines(CCPA, received)
    assert computed.ack_due_at == ack
    assert computed.due_at == received + dt.timedelta(days=45)
    assert computed.latest_due_at == received + dt.timedelta(days=90)


def test_business_days_skip_holidays_and_keep_the_time() -> None:
    christmas = {dt.date(2024, 12, 25), dt.date(2024, 12, 26), dt.date(2025, 1, 1)}
    start = dt.datetime(2024, 12, 23, 17, 45, tzinfo=UTC)  # Monday
    assert add_business_days(start, 5) == dt.datetime(2024, 12, 30, 17, 45, tzinfo=UTC)
    assert add_business_days(start, 5, christmas) == dt.datetime(2025, 1, 2, 17, 45, tzinfo=UTC)
    assert add_business_days(start, 0) == start
    with pytest.raises(ValueError):
        add_business_days(start, -1)


MOMENTS = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(UTC)
)


@given(MOMENTS, st.integers(min_value=1, max_value=60))
def test_business_days_land_on_a_weekday_after_enough_calendar_days(start: dt.datetime, n: int) -> None:
    end = add_business_days(start, n)
    assert end.weekday() < 5
    assert n <= (end - start).days <= n + 2 * (n // 5 + 1) + 2
    assert end.time() == start.time()


@given(MOMENTS)
def test_a_month_is_never_shorter_than_28_days_nor_longer_than_31(received: dt.datetime) -> None:
    computed = compute_deadlines(GDPR, received)
    assert computed.due_at is not None and computed.latest_due_at is not None
    assert 28 <= (computed.due_at - received).days <= 31
    assert computed.due_at <= computed.latest_due_at
    assert 89 <= (computed.latest_due_at - received).days <= 92


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        compute_deadlines(GDPR, dt.datetime(2024, 1, 1))


def test_acknowledge_as_a_duration_and_as_business_days_takes_the_earlier() -> None:
    both = Right(right="access", acknowledge=parse_duration("P3D"), acknowledge_business_days=10)
    assert compute_deadlines(both, at(2024, 3, 4)).ack_due_at == at(2024, 3, 7)
    assert compute_deadlines(Right(right="access"), at(2024, 3, 4)).due_at is None


def test_status_overdue_due_this_week_fine() -> None:
    due = at(2024, 6, 10)
    assert deadline_status(due, at(2024, 6, 1)) == "fine"
    assert deadline_status(due, at(2024, 6, 3)) == "due_this_week"  # exactly 7 days before
    assert deadline_status(due, at(2024, 6, 10)) == "due_this_week"  # on the minute: not yet late
    assert deadline_status(due, at(2024, 6, 10, 13)) == "overdue"
    assert deadline_status(due, at(2024, 6, 20), closed=True) == "closed"
    assert deadline_status(None, at(2024, 6, 1)) == "no_deadline"
    # An acknowledgement that never went out makes a request overdue even if the answer is not.
    assert deadline_status(due, at(2024, 6, 1), ack_due_at=at(2024, 5, 30), acknowledged=False) == "overdue"
    assert deadline_status(due, at(2024, 6, 1), ack_due_at=at(2024, 5, 30), acknowledged=True) == "fine"


def test_reminders_come_due_in_order_and_each_goes_once() -> None:
    due = at(2024, 6, 10)
    assert reminders_due(due, at(2024, 6, 1), set()) == []
    first = reminders_due(due, at(2024, 6, 3), set())
    assert [r.key for r in first] == ["7d@2024-06-10"]
    sent = {r.key for r in first}
    assert reminders_due(due, at(2024, 6, 4), sent) == []
    second = reminders_due(due, at(2024, 6, 8, 12), sent)
    assert [r.key for r in second] == ["2d@2024-06-10"]
    sent |= {r.key for r in second}
    assert reminders_due(due, at(2024, 6, 10), sent) == []  # due now, not yet overdue
    late = reminders_due(due, at(2024, 6, 11), sent)
    assert [(r.key, r.overdue) for r in late] == [("overdue@2024-06-10", True)]
    assert reminders_due(due, at(2024, 7, 1), sent | {"overdue@2024-06-10"}) == []
    # Found late (e.g. a worker was down): every missed reminder is returned, most urgent last.
    assert [r.label for r in reminders_due(due, at(2024, 6, 12), set())] == ["7d", "2d", "overdue"]
    # An extension moves the deadline, which re-arms the reminders.
    assert [r.key for r in reminders_due(at(2024, 8, 10), at(2024, 8, 4), sent)] == ["7d@2024-08-10"]
    assert reminders_due(None, at(2024, 8, 4), set()) == []


def test_the_right_for_a_jurisdiction_prefers_the_specific_one() -> None:
    decl = declaration()
    assert right_for(decl, "access", "ccpa").deadline == parse_duration("P45D")
    assert right_for(decl, "access", "gdpr").deadline == parse_duration("P1M")
    assert right_for(decl, "erase", None).approval is True
    with pytest.raises(InputError, match="no access right"):
        right_for(decl, "access", None)  # both access rights name a jurisdiction
    assert set(deadlines.KIND_TO_RIGHT) == {
        "exists",
        "access",
        "portability",
        "rectify",
        "erase",
        "restrict",
        "object",
        "withdraw",
    }
