"""``coerce_many`` must give exactly what coercing value by value gives, fast path or not."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pledge.connectors.base import NO_MATCH, Column, coerce, coerce_many


def one_by_one(column: Column, values: list[Any], *, nul_allowed: bool = True) -> list[Any]:
    seen: dict[Any, None] = {}
    for value in values:
        found = coerce(column, value, nul_allowed=nul_allowed)
        if found is not NO_MATCH:
            seen.setdefault(found, None)
    return list(seen)


INTEGER = Column("id", "BIGINT", "integer", False)
TEXT = Column("email", "VARCHAR(8)", "string", True, 8)
ANY_TEXT = Column("note", "TEXT", "string", True)
DATE = Column("born", "DATE", "date", True)

values = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.text(max_size=12),
    st.booleans(),
    st.none(),
    st.floats(),
    st.decimals(places=2),
)


@given(st.lists(values, max_size=30), st.booleans())
def test_same_as_coercing_each_value(batch: list[Any], nul_allowed: bool) -> None:
    for column in (INTEGER, TEXT, ANY_TEXT, DATE):
        assert coerce_many(column, batch, nul_allowed=nul_allowed) == one_by_one(
            column, batch, nul_allowed=nul_allowed
        )


@given(st.lists(st.integers(min_value=-(2**64), max_value=2**64), max_size=30))
def test_integers_out_of_range_never_match(batch: list[int]) -> None:
    assert coerce_many(INTEGER, batch) == one_by_one(INTEGER, batch)


@given(st.lists(st.text(max_size=10), max_size=30), st.booleans())
def test_text_too_long_or_with_nul_never_matches(batch: list[str], nul_allowed: bool) -> None:
    assert coerce_many(TEXT, batch, nul_allowed=nul_allowed) == one_by_one(
        TEXT, batch, nul_allowed=nul_allowed
    )


@pytest.mark.parametrize(
    ("column", "batch", "expected"),
    [
        (INTEGER, [3, 1, 3, True, "2", 2**63, None], [3, 1, 2]),
        (INTEGER, [float("inf"), float("nan"), decimal.Decimal("-Infinity"), 4.0], [4]),
        (INTEGER, [], []),
        (TEXT, ["a", "a", "x" * 9, "n\x00l"], ["a", "n\x00l"]),
        (DATE, ["2024-01-02", dt.date(2024, 1, 2), "soon"], [dt.date(2024, 1, 2)]),
        (Column("n", "NUMERIC", "number", True), ["1.50", decimal.Decimal("1.5")], [decimal.Decimal("1.50")]),
    ],
)
def test_examples(column: Column, batch: list[Any], expected: list[Any]) -> None:
    assert coerce_many(column, batch) == expected
    if column is TEXT:
        assert coerce_many(column, batch, nul_allowed=False) == ["a"]
