from __future__ import annotations

from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pledge.declaration.durations import IsoDuration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P1M", IsoDuration(months=1)),
        ("P45D", IsoDuration(days=45)),
        ("P2Y6M", IsoDuration(years=2, months=6)),
        ("P2W", IsoDuration(days=14)),
        ("PT12H", IsoDuration(seconds=43200)),
        ("P1DT30M", IsoDuration(days=1, seconds=1800)),
        ("p30d", IsoDuration(days=30)),
    ],
)
def test_parse(text: str, expected: IsoDuration) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "P", "PT", "30D", "P1.5M", "P-1D", "one month", "P1H", "P99999Y"])
def test_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_month_arithmetic_clamps_to_month_end() -> None:
    assert parse_duration("P1M").add_to(date(2023, 1, 31)) == date(2023, 2, 28)
    assert parse_duration("P1M").add_to(date(2024, 1, 31)) == date(2024, 2, 29)
    assert parse_duration("P1Y").add_to(date(2024, 2, 29)) == date(2025, 2, 28)
    assert parse_duration("P3M").add_to(datetime(2024, 11, 30, 10)) == datetime(2025, 2, 28, 10)
    assert parse_duration("P1M").subtract_from(date(2024, 3, 31)) == date(2024, 2, 29)


def test_describe_reads_naturally() -> None:
    assert parse_duration("P1M").describe() == "1 month"
    assert parse_duration("P45D").describe() == "45 days"
    assert parse_duration("P2W").describe() == "2 weeks"
    assert parse_duration("P1Y6M").describe() == "1 year and 6 months"


@given(st.integers(0, 50), st.integers(0, 30), st.integers(0, 400), st.integers(0, 86399))
def test_round_trip(years: int, months: int, days: int, seconds: int) -> None:
    duration = IsoDuration(years, months, days, seconds)
    assert parse_duration(str(duration)) == duration


@given(st.integers(0, 40), st.integers(0, 40))
def test_ordering_is_monotonic(a: int, b: int) -> None:
    assert (IsoDuration(days=a).approx_days <= IsoDuration(days=b).approx_days) == (a <= b)
