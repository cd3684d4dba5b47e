"""Reading stored times and deciding whether a period has ended, calendar-correct."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pledge.declaration.durations import parse_duration
from pledge.errors import InputError
from pledge.retention.clock import HAPPENED, UNREADABLE, Delay, parse_now, read_time

UTC = dt.UTC


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (False, None),
        (True, HAPPENED),
        (dt.datetime(2024, 1, 31, 10), dt.datetime(2024, 1, 31, 10, tzinfo=UTC)),  # naive: UTC
        (
            dt.datetime(2024, 1, 31, 12, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            dt.datetime(2024, 1, 31, 10, tzinfo=UTC),
        ),
        (dt.date(2024, 2, 29), dt.datetime(2024, 2, 29, tzinfo=UTC)),
        ("2024-02-29", dt.datetime(2024, 2, 29, tzinfo=UTC)),
        ("2024-02-29T10:00:00Z", dt.datetime(2024, 2, 29, 10, tzinfo=UTC)),
        (" 2024-02-29 12:00:00+02:00 ", dt.datetime(2024, 2, 29, 10, tzinfo=UTC)),
        (b"2024-02-29", dt.datetime(2024, 2, 29, tzinfo=UTC)),
        (0, dt.datetime(1970, 1, 1, tzinfo=UTC)),
        (decimal.Decimal("86400.5"), dt.datetime(1970, 1, 2, 0, 0, 0, 500000, tzinfo=UTC)),
        ("2024-02-30", UNREADABLE),
        ("yesterday", UNREADABLE),
        ("9" * 50, UNREADABLE),
        (10**20, UNREADABLE),
        (b"\xff\xfe", UNREADABLE),
        ([1, 2], UNREADABLE),
    ],
)
def test_read_time(value: object, expected: object) -> None:
    assert read_time(value) == expected if isinstance(expected, dt.datetime) else read_time(value) is expected


def test_month_ends_clamp() -> None:
    one_month = Delay(parse_duration("P1M"))
    assert one_month.end(dt.datetime(2025, 1, 31, tzinfo=UTC)) == dt.datetime(2025, 2, 28, tzinfo=UTC)
    graced = Delay(parse_duration("P1M"), parse_duration("P30D"))
    assert graced.end(dt.datetime(2024, 1, 31, tzinfo=UTC)) == dt.datetime(2024, 3, 30, tzinfo=UTC)
    assert Delay().end(dt.datetime(2024, 1, 1, tzinfo=UTC)) == dt.datetime(2024, 1, 1, tzinfo=UTC)
    assert Delay(parse_duration("P9000Y")).end(dt.datetime(2024, 1, 1, tzinfo=UTC)).year == 9999


periods = st.sampled_from(["P1M", "P13M", "P1Y", "P30D", "PT12H", "P2Y6M", "P1M1D", "P7Y", "PT0S"])
moments = st.datetimes(
    min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2040, 1, 1), timezones=st.just(UTC)
)


@given(period=periods, grace=st.none() | periods, now=moments, t=moments)
def test_the_loose_bounds_never_misjudge(
    period: str, grace: str | None, now: dt.datetime, t: dt.datetime
) -> None:
    """Rows clearly before the loose cutoff have ended, rows clearly after have not: the sweep
    decides those without calendar arithmetic, and only rows near the edge exactly."""
    delay = Delay(parse_duration(period), parse_duration(grace) if grace else None)
    ended = delay.end(t) <= now
    if t < delay.loose_cutoff(now, -dt.timedelta(days=4)):
        assert ended
    if t > delay.loose_cutoff(now, dt.timedelta(days=4)):
        assert not ended
    if ended:  # the SQL filter never hides an ended row
        assert t < delay.loose_cutoff(now)


def test_parse_now() -> None:
    assert parse_now("2025-01-31") == dt.datetime(2025, 1, 31, tzinfo=UTC)
    assert parse_now("2025-01-31T03:00:00+01:00") == dt.datetime(2025, 1, 31, 2, tzinfo=UTC)
    assert parse_now(None).tzinfo is not None
    for bad in ("", "soon", "2025-13-01", "31/01/2025", "1e9"):
        with pytest.raises(InputError, match="--now"):
            parse_now(bad)
