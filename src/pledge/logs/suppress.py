"""Minimum-group-size releases: no published cell describes fewer than k visitors.

For each table:

1. cells with at least k distinct visitors are published as they are;
2. the others are rolled up into one ``(other)`` row, whose visitors are the *union* of theirs
   (a visitor in two small cells counts once);
3. if that row would itself describe fewer than k visitors, the smallest published cells are
   moved into it until it reaches k (each such cell has k visitors alone, so one always does);
   if there is no published cell to move, the whole table is withheld.

So every table either publishes all of its counts — its total is the true total, and nothing
hidden can be recovered by subtracting published rows from a total or from another table over
the same requests — or publishes nothing. Cells beyond the top ``top`` rows are folded into
``(other)`` as well, which is safe since they are large enough on their own.

Without addresses (``ip: drop``) there are no visitors: k then counts requests, which the
release says.
"""

from __future__ import annotations

from collections.abc import Iterable

from pledge.logs.aggregate import TABLES, Aggregate, Cell
from pledge.logs.release import OTHER, Release, ReleasedTable, empty_table

__all__ = ["release_suppressed"]


def release_suppressed(
    aggregate: Aggregate, k: int, *, tables: Iterable[str] | None = None, top: int = 50
) -> Release:
    if k < 1:
        raise ValueError("k must be at least 1")
    if aggregate.cap < k:
        raise ValueError(f"the aggregate remembers {aggregate.cap} visitors per cell, fewer than k={k}")
    names = list(tables) if tables is not None else list(TABLES)
    out = [_table(aggregate, name, k, top) for name in names]
    notes = []
    if aggregate.visitorless:
        notes.append(
            "Addresses are dropped, so visitors cannot be told apart: k counts requests, not visitors."
        )
    return Release(
        mode="suppress",
        first_day=_day(aggregate.first_ts),
        last_day=_day(aggregate.last_ts),
        privacy={"min_group_size": k, "unit": "request" if aggregate.visitorless else "visitor"},
        tables=out,
        notes=notes,
    )


def _table(aggregate: Aggregate, name: str, k: int, top: int) -> ReleasedTable:
    spec = TABLES[name]
    released = empty_table(name)
    cells = aggregate.tables[name].cells
    if not cells:
        released.note = "no data"
        return released
    large = [(key, cell) for key, cell in cells.items() if len(cell.visitors) >= k and key != OTHER]
    small = [cell for key, cell in cells.items() if len(cell.visitors) < k or key == OTHER]
    if spec.domain == "days":
        large.sort(key=lambda item: item[0])
    else:
        large.sort(key=lambda item: (-item[1].values[0], item[0]))
    # Beyond the top rows: fold into (other); these are large, so no suppression is involved.
    if spec.domain != "days" and len(large) > top:
        small.extend(cell for _, cell in large[top:])
        large = large[:top]
    other_values = [0] * len(spec.measures)
    other_visitors: set[int] = set()
    for cell in small:
        _merge(other_values, other_visitors, cell, k)
    while small and len(other_visitors) < k and large:
        # Secondary suppression: the smallest published cell joins (other) so that it reaches k.
        smallest = min(range(len(large)), key=lambda i: (large[i][1].values[0], large[i][0]))
        _, cell = large.pop(smallest)
        _merge(other_values, other_visitors, cell, k)
    if small and len(other_visitors) < k:
        released.suppressed = True
        released.note = f"withheld: fewer than {k} visitors in total"
        return released
    released.rows = [(key, list(cell.values)) for key, cell in large]
    if small:
        released.rows.append((OTHER, other_values))
    return released


def _merge(values: list[int], visitors: set[int], cell: Cell, k: int) -> None:
    for i, value in enumerate(cell.values):
        values[i] += value
    if len(visitors) < k:
        visitors.update(cell.visitors)


def _day(ts: int | None) -> str | None:
    if ts is None:
        return None
    from pledge.logs.aggregate import _day as day_of

    return day_of(ts)
