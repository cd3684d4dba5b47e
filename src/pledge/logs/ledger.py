"""The privacy-budget ledger: what differential-privacy releases have spent, per scope and period.

A release *spends before it draws noise*: :meth:`BudgetLedger.spend` charges every budget period
the release's data touches, in one transaction, with a conditional update
(``SET spent = spent + cost WHERE spent + cost <= limit``). Two processes releasing at the same
moment therefore cannot both fit into the last bit of budget, on SQLite (one writer at a time)
and PostgreSQL (row locks) alike; the loser gets :class:`~pledge.errors.Conflict` and nothing is
recorded. If a release fails after spending, the budget stays spent: wasting budget is safe,
releasing without accounting is not.

Periods: a budget with ``period: P1M`` renews each calendar month (periods are anchored at
1970-01-01 UTC); a release charges each period that its data's time span overlaps, so activity
of any one period is never protected by less than the declared budget. Without a period the
budget is spent for good (period key ``all``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from pledge.declaration.durations import IsoDuration
from pledge.errors import Conflict, InputError
from pledge.logs.tables import budget, releases
from pledge.storage.db import Database

__all__ = ["BudgetLedger", "Spend", "budget_periods", "delta_units", "epsilon_units"]

_EPSILON_UNIT = 10**9  # nano-epsilon
_DELTA_UNIT = 10**18  # atto-delta
_MAX_PERIODS = 10_000


def epsilon_units(value: float, *, up: bool = True) -> int:
    """``value`` in nano-epsilon, rounded up for a cost and down for a limit.

    Rounding to a thousandth of a unit first keeps ``0.1`` (really 0.1000000000000000055...)
    from costing one unit more than ten of them can afford.
    """
    scaled = round(value * _EPSILON_UNIT, 3)
    return math.ceil(scaled) if up else math.floor(scaled)


def delta_units(value: float, *, up: bool = True) -> int:
    scaled = round(value * _DELTA_UNIT, 3)
    return math.ceil(scaled) if up else math.floor(scaled)


def budget_periods(first_ts: int, last_ts: int, period: IsoDuration | None) -> list[str]:
    """Start dates (ISO) of the budget periods that ``[first_ts, last_ts]`` overlaps."""
    if period is None:
        return ["all"]
    first = dt.datetime.fromtimestamp(first_ts, dt.UTC).replace(tzinfo=None)
    last = dt.datetime.fromtimestamp(last_ts, dt.UTC).replace(tzinfo=None)
    if period.days == 0 and period.seconds == 0:
        months = period.years * 12 + period.months
        index = ((first.year - 1970) * 12 + first.month - 1) // months * months
        starts = []
        while True:
            year, month = divmod(index, 12)
            start = dt.datetime(1970 + year, month + 1, 1)
            if start > last:
                break
            starts.append(start)
            index += months
            if len(starts) > _MAX_PERIODS:
                raise InputError("the data spans too many budget periods", hint="use a longer period")
        return [s.date().isoformat() if s.time() == dt.time() else s.isoformat() for s in starts]
    if period.years == 0 and period.months == 0:
        length = period.days * 86400 + period.seconds
        epoch = dt.datetime(1970, 1, 1)
        begin = (first_ts // length) * length
        count = (last_ts // length) - (first_ts // length) + 1
        if count > _MAX_PERIODS:
            raise InputError("the data spans too many budget periods", hint="use a longer period")
        out = []
        for i in range(count):
            start = epoch + dt.timedelta(seconds=begin + i * length)
            out.append(start.date().isoformat() if start.time() == dt.time() else start.isoformat())
        return out
    # Mixed calendar and exact units (P1M15D): walk from the anchor.
    start = dt.datetime(1970, 1, 1)
    out = []
    steps = 0
    while start <= last:
        following = period.add_to(start)
        if following > first:
            out.append(start.isoformat())
        start = following
        steps += 1
        if steps > 1_000_000 or len(out) > _MAX_PERIODS:
            raise InputError("the data spans too many budget periods", hint="use a longer period")
    return out


@dataclass(frozen=True)
class Spend:
    release_id: str
    periods: list[str]
    epsilon: float
    delta: float


class BudgetLedger:
    """Persisted spending per (scope, period). Build with a migrated :class:`Database`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def spend(
        self,
        *,
        scope: str,
        periods: list[str],
        epsilon: float,
        delta: float,
        limit_epsilon: float,
        limit_delta: float,
        mechanism: str,
        details: Mapping[str, Any],
        now: dt.datetime | None = None,
    ) -> Spend:
        """Charge ``epsilon``/``delta`` to every period, or raise :class:`Conflict` and charge none."""
        cost_e, cost_d = epsilon_units(epsilon), delta_units(delta)
        limit_e, limit_d = epsilon_units(limit_epsilon, up=False), delta_units(limit_delta, up=False)
        when = (now or dt.datetime.now(dt.UTC)).replace(tzinfo=None)
        release_id = str(uuid.uuid4())
        with self.db.begin() as conn:
            for period in sorted(periods):  # a fixed order: no deadlock between two releases
                self._ensure_row(conn, scope, period, when)
                updated = conn.execute(
                    sa.update(budget)
                    .where(
                        budget.c.scope == scope,
                        budget.c.period == period,
                        budget.c.spent_epsilon_nano + cost_e <= limit_e,
                        budget.c.spent_delta_atto + cost_d <= limit_d,
                    )
                    .values(
                        spent_epsilon_nano=budget.c.spent_epsilon_nano + cost_e,
                        spent_delta_atto=budget.c.spent_delta_atto + cost_d,
                        updated_at=when,
                    )
                )
                if updated.rowcount != 1:
                    spent_e, spent_d = self._spent(conn, scope, period)
                    raise Conflict(
                        f"privacy budget exhausted for period {period} of {scope!r}: spent "
                        f"epsilon {spent_e:g} of {limit_epsilon:g} (delta {spent_d:g} of {limit_delta:g}); "
                        f"this release needs epsilon {epsilon:g}, delta {delta:g}",
                        hint="release fewer tables, a smaller --epsilon, or wait for the next period",
                    )
            conn.execute(
                sa.insert(releases).values(
                    id=release_id,
                    scope=scope,
                    periods=json.dumps(sorted(periods)),
                    epsilon_nano=cost_e,
                    delta_atto=cost_d,
                    mechanism=mechanism,
                    details=json.dumps(details, sort_keys=True, default=str),
                    created_at=when,
                )
            )
        return Spend(release_id, sorted(periods), epsilon, delta)

    @staticmethod
    def _ensure_row(conn: sa.Connection, scope: str, period: str, when: dt.datetime) -> None:
        """Create the period's row unless it exists. An insert that ignores conflicts, not a
        check-then-insert: two releases creating the same row at once both succeed, and on
        SQLite the transaction starts with a write, so it takes the write lock at once instead
        of failing later on a stale read snapshot."""
        values = {
            "scope": scope,
            "period": period,
            "spent_epsilon_nano": 0,
            "spent_delta_atto": 0,
            "updated_at": when,
        }
        dialect = conn.dialect.name
        if dialect == "sqlite":
            from sqlalchemy.dialects import sqlite

            conn.execute(sqlite.insert(budget).values(**values).on_conflict_do_nothing())
        elif dialect == "postgresql":
            from sqlalchemy.dialects import postgresql

            conn.execute(postgresql.insert(budget).values(**values).on_conflict_do_nothing())
        elif dialect in ("mysql", "mariadb"):
            conn.execute(sa.insert(budget).values(**values).prefix_with("IGNORE"))
        else:  # pragma: no cover - other backends: check, then insert
            found = conn.execute(
                sa.select(budget.c.scope).where(budget.c.scope == scope, budget.c.period == period)
            ).first()
            if found is None:
                conn.execute(sa.insert(budget).values(**values))

    @staticmethod
    def _spent(conn: sa.Connection, scope: str, period: str) -> tuple[float, float]:
        row = conn.execute(
            sa.select(budget.c.spent_epsilon_nano, budget.c.spent_delta_atto).where(
                budget.c.scope == scope, budget.c.period == period
            )
        ).first()
        if row is None:
            return 0.0, 0.0
        return row[0] / _EPSILON_UNIT, row[1] / _DELTA_UNIT

    def spent(self, scope: str, period: str) -> tuple[float, float]:
        """(epsilon, delta) spent so far in ``period`` of ``scope``."""
        with self.db.connect() as conn:
            return self._spent(conn, scope, period)

    def releases(self, scope: str) -> list[dict[str, Any]]:
        with self.db.connect() as conn:
            rows = conn.execute(
                sa.select(releases).where(releases.c.scope == scope).order_by(releases.c.created_at)
            ).mappings()
            return [
                {
                    "id": row["id"],
                    "periods": json.loads(row["periods"]),
                    "epsilon": row["epsilon_nano"] / _EPSILON_UNIT,
                    "delta": row["delta_atto"] / _DELTA_UNIT,
                    "mechanism": row["mechanism"],
                    "created_at": row["created_at"].isoformat(),
                }
                for row in rows
            ]
