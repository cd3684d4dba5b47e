"""Differentially private releases with OpenDP (imported lazily: it is in the ``stats`` extra).

Privacy unit: one *visitor* (see :mod:`pledge.logs.aggregate`), whose contributions to each
query are bounded to ``max_contributions`` before any noise is added. Per query the sensitivity
is therefore: L1 = L2 = L∞ = ``C`` (all of them in one cell, in the worst case) and at most ``C``
cells touched, which is the distance handed to OpenDP's privacy maps.

Each (table, measure) is one query; the release's epsilon is split evenly over its queries and
its delta over the queries that need one. Two kinds of query:

- **public keys** (days of the period, device classes, status codes, countries, browser and OS
  families from fixed lists in :mod:`pledge.logs.domains`): noise on every key of the list, with
  ``make_laplace`` (pure ε-DP) or ``make_gaussian`` (discrete Gaussian, zCDP converted to
  (ε, δ)); data keys off the list are counted under the list's catch-all key;
- **open keys** (pages, referrer domains): ``make_laplace_threshold`` or
  ``make_gaussian_threshold``, which publish a key only when its noisy count clears a threshold
  calibrated to the query's delta. Without a delta in the budget these tables are not released.

The span of days a release covers (first to last day with requests) is taken as public: the
operator publishes statistics "for November", and the daily table has one row per day of it.

Scales (and thresholds) are found by bisection on OpenDP's own privacy maps, so the released
(ε, δ) of each query is what OpenDP certifies, and their sum never exceeds what the ledger was
charged. Post-processing (rounding, clamping at zero, ordering, folding the tail into
``(other)``, and in ``both`` mode dropping noisy counts under k) cannot weaken the guarantee.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pledge.errors import InputError
from pledge.logs.aggregate import TABLES, Aggregate, _day
from pledge.logs.domains import fold, public_keys
from pledge.logs.ledger import BudgetLedger, budget_periods
from pledge.logs.release import OTHER, Release, ReleasedTable, empty_table
from pledge.logs.rules import StatsRules

__all__ = ["Calibrated", "calibrate", "release_dp"]

_MAX_THRESHOLD = 2**31 - 1


@dataclass(frozen=True)
class Calibrated:
    table: str
    measure: str
    open_keys: bool
    epsilon: float
    """What OpenDP's privacy map certifies for this query (≤ its share)."""
    delta: float
    scale: float
    threshold: int | None
    measurement: Any


def _dp() -> Any:
    try:
        import opendp.prelude as dp
    except ImportError:  # pragma: no cover - the stats extra is installed in every test run
        raise InputError("differential privacy needs OpenDP", hint="pip install 'pledge[stats]'") from None
    dp.enable_features("contrib")
    return dp


def _smallest(ok: Callable[[float], bool], lo: float, hi: float, *, integer: bool = False) -> float:
    """Smallest value in [lo, hi] for which the monotone predicate ``ok`` holds (bisection)."""
    if not ok(hi):
        raise InputError("cannot calibrate the noise for this budget", hint="use a larger epsilon or delta")
    for _ in range(200):
        if integer:
            if hi - lo <= 1:
                break
            mid = (lo + hi) // 2
        else:
            if hi - lo <= hi * 1e-4:
                break
            mid = math.sqrt(lo * hi) if lo > 0 else hi / 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _safe(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    def predicate(value: Any) -> bool:
        try:
            return check(value)
        except Exception:  # OpenDP refuses impossible parameters (overflow): not private enough
            return False

    return predicate


def calibrate(
    table: str, measure: int, *, epsilon: float, delta: float, bound: int, mechanism: str
) -> Calibrated:
    """The OpenDP measurement for one query, its noise as small as (epsilon, delta) allows."""
    dp = _dp()
    spec = TABLES[table]
    name = spec.measures[measure]
    if spec.domain == "open":
        return _calibrate_open(dp, table, name, epsilon, delta, bound, mechanism)
    vector = dp.vector_domain(dp.atom_domain(T=int))
    if mechanism == "laplace":

        def make(scale: float) -> Any:
            return dp.m.make_laplace(vector, dp.l1_distance(T=int), scale=scale)

        scale = _smallest(_safe(lambda s: make(s).map(bound) <= epsilon), 1e-6, 1e9)
        measurement = make(scale)
        return Calibrated(table, name, False, measurement.map(bound), 0.0, scale, None, measurement)

    def make_gauss(scale: float) -> Any:
        zcdp = dp.m.make_gaussian(vector, dp.l2_distance(T=int), scale=scale)
        return dp.c.make_fix_delta(dp.c.make_zCDP_to_approxDP(zcdp), delta)

    scale = _smallest(_safe(lambda s: make_gauss(s).map(bound)[0] <= epsilon), 1e-6, 1e9)
    measurement = make_gauss(scale)
    spent_e, spent_d = measurement.map(bound)
    return Calibrated(table, name, False, spent_e, spent_d, scale, None, measurement)


def _calibrate_open(
    dp: Any, table: str, name: str, epsilon: float, delta: float, bound: int, mechanism: str
) -> Calibrated:
    keys = dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T=int))
    d_in = (bound, bound, bound)
    if mechanism == "laplace":
        metric = dp.l01inf_distance(dp.absolute_distance(T=int))

        def make(scale: float, threshold: int) -> Any:
            return dp.m.make_laplace_threshold(keys, metric, scale=scale, threshold=threshold)

        scale = _smallest(_safe(lambda s: make(s, _MAX_THRESHOLD).map(d_in)[0] <= epsilon), 1e-6, 1e9)
        threshold = int(
            _smallest(
                _safe(lambda t: make(scale, int(t)).map(d_in)[1] <= delta),
                bound,
                _MAX_THRESHOLD,
                integer=True,
            )
        )
        measurement = make(scale, threshold)
        spent_e, spent_d = measurement.map(d_in)
        return Calibrated(table, name, True, spent_e, spent_d, scale, threshold, measurement)

    metric2 = dp.l02inf_distance(dp.absolute_distance(T=int))

    def make_raw(scale: float, threshold: int) -> Any:
        return dp.c.make_zCDP_to_approxDP(
            dp.m.make_gaussian_threshold(keys, metric2, scale=scale, threshold=threshold)
        )

    def threshold_for(scale: float) -> int:
        # Half of the delta pays for the threshold (a key seen by one visitor), half for the noise.
        return int(
            _smallest(
                _safe(lambda t: make_raw(scale, int(t)).map(d_in)[1] <= delta / 2),
                bound,
                _MAX_THRESHOLD,
                integer=True,
            )
        )

    def make_gauss(scale: float) -> Any:
        return dp.c.make_fix_delta(make_raw(scale, threshold_for(scale)), delta)

    # (scales over 1e6 would need thresholds beyond what OpenDP takes: 32-bit counts)
    scale = _smallest(_safe(lambda s: make_gauss(s).map(d_in)[0] <= epsilon), 1e-3, 1e6)
    threshold = threshold_for(scale)
    measurement = dp.c.make_fix_delta(make_raw(scale, threshold), delta)
    spent_e, spent_d = measurement.map(d_in)
    return Calibrated(table, name, True, spent_e, spent_d, scale, threshold, measurement)


def release_dp(
    aggregate: Aggregate,
    rules: StatsRules,
    ledger: BudgetLedger,
    *,
    epsilon: float | None = None,
    tables: Iterable[str] | None = None,
    top: int = 50,
) -> Release:
    """Spend (epsilon, delta) from the ledger, then release noisy tables.

    Raises :class:`InputError` when the rules do not allow a DP release and
    :class:`~pledge.errors.Conflict` when the budget for a period the data covers would be exceeded.
    """
    if aggregate.bound is None:
        raise ValueError("the aggregate was built without contribution bounds")
    if rules.epsilon is None:
        raise InputError(
            "differential privacy needs a privacy budget",
            hint="declare statistics.privacy_budget (epsilon, delta, period, per_release) in privacy.yaml",
        )
    spend = epsilon if epsilon is not None else (rules.per_release or rules.epsilon)
    if not (spend > 0 and math.isfinite(spend)):
        raise InputError(f"epsilon must be a positive number, got {spend}")
    if spend > rules.epsilon:
        raise InputError(f"epsilon {spend:g} is more than the whole budget ({rules.epsilon:g} per period)")
    delta = rules.delta * spend / rules.epsilon
    if rules.mechanism == "gaussian" and delta <= 0:
        raise InputError("the Gaussian mechanism needs a delta > 0 in statistics.privacy_budget")
    names = list(tables) if tables is not None else list(TABLES)
    notes: list[str] = []
    queries: list[tuple[str, int]] = []
    for name in names:
        spec = TABLES[name]
        if spec.domain == "open" and delta <= 0:
            notes.append(
                f"{name}: not released, its keys come from the data and need a delta > 0 in the budget"
            )
            continue
        queries.extend((name, i) for i in range(len(spec.measures)))
    if not queries:
        raise InputError(
            "nothing to release with this budget", hint="add a delta to the budget or choose tables"
        )
    needs_delta = [q for q in queries if TABLES[q[0]].domain == "open" or rules.mechanism == "gaussian"]
    share_e = spend / len(queries)
    share_d = delta / len(needs_delta) if needs_delta else 0.0
    bound = aggregate.bound
    calibrated = [
        calibrate(t, m, epsilon=share_e, delta=share_d if (t, m) in needs_delta else 0.0, bound=bound,
                  mechanism=rules.mechanism)
        for t, m in queries
    ]  # fmt: skip
    first, last = aggregate.first_ts, aggregate.last_ts
    if first is None or last is None:
        raise InputError("no requests to release statistics about")
    periods = budget_periods(first, last, rules.period)
    details = {
        "queries": [
            {"table": c.table, "measure": c.measure, "epsilon": c.epsilon, "delta": c.delta,
             "scale": c.scale, "threshold": c.threshold}
            for c in calibrated
        ],
        "max_contributions": bound,
        "first_day": _day(first),
        "last_day": _day(last),
    }  # fmt: skip
    spent = ledger.spend(
        scope=rules.scope, periods=periods, epsilon=spend, delta=delta, limit_epsilon=rules.epsilon,
        limit_delta=rules.delta, mechanism=rules.mechanism, details=details,
    )  # fmt: skip
    # Noise is drawn only now, after the budget is spent.
    released = _noisy_tables(aggregate, names, calibrated, first, last, top)
    if rules.mode == "both":
        _drop_below(released, rules.min_group_size)
    if aggregate.visitorless:
        notes.append("Addresses are dropped: the privacy unit is one request, not one visitor.")
    privacy = {
        "mechanism": rules.mechanism,
        "epsilon": spend,
        "delta": delta,
        "max_contributions": bound,
        "unit": "request" if aggregate.visitorless else "visitor",
        "release_id": spent.release_id,
        "budget": {
            "scope": rules.scope,
            "epsilon_per_period": rules.epsilon,
            "delta_per_period": rules.delta,
            "period": str(rules.period) if rules.period else None,
            "periods_charged": spent.periods,
        },
        "queries": details["queries"],
    }
    if rules.mode == "both":
        privacy["min_group_size"] = rules.min_group_size
    return Release("differential_privacy", _day(first), _day(last), privacy, released, notes)


def _noisy_tables(
    aggregate: Aggregate, names: list[str], calibrated: list[Calibrated], first: int, last: int, top: int
) -> list[ReleasedTable]:
    by_table: dict[str, list[Calibrated]] = {}
    for c in calibrated:
        by_table.setdefault(c.table, []).append(c)
    out = []
    for name in names:
        spec = TABLES[name]
        table = empty_table(name)
        found = by_table.get(name)
        if not found:
            table.suppressed = True
            table.note = "not released (needs a delta > 0)"
            out.append(table)
            continue
        bounded = aggregate.tables[name].bounded
        if spec.domain == "open":
            noisy = found[0].measurement({k: v for k, v in bounded[0].items() if v > 0})
            rows = sorted(((k, [max(int(v), 0)]) for k, v in noisy.items()), key=lambda r: (-r[1][0], r[0]))
            table.rows = _top(rows, top)
            table.note = f"only keys whose noisy count passed the threshold ({found[0].threshold}) are shown"
        else:
            keys = _days(first, last) if spec.domain == "days" else list(public_keys(spec.domain))
            columns = []
            for c in found:
                index = spec.measures.index(c.measure)
                counts: dict[str, int] = {}
                for key, value in bounded[index].items():
                    folded = key if spec.domain == "days" else fold(spec.domain, key)
                    counts[folded] = counts.get(folded, 0) + value
                columns.append([max(int(v), 0) for v in c.measurement([counts.get(k, 0) for k in keys])])
            rows = [(key, [col[i] for col in columns]) for i, key in enumerate(keys)]
            if spec.domain != "days":
                rows = sorted((r for r in rows if r[1][0] > 0), key=lambda r: (-r[1][0], r[0]))
                rows = _top(rows, top)
            table.rows = rows
        out.append(table)
    return out


def _top(rows: list[tuple[str, list[int]]], top: int) -> list[tuple[str, list[int]]]:
    if len(rows) <= top:
        return rows
    rest = [sum(values[i] for _, values in rows[top:]) for i in range(len(rows[0][1]))]
    return [*rows[:top], (OTHER, rest)]


def _drop_below(tables: list[ReleasedTable], k: int) -> None:
    """``both`` mode: noisy counts under k are not shown (post-processing, costs no budget)."""
    for table in tables:
        table.rows = [(key, values) for key, values in table.rows if min(values) >= k]


def _days(first: int, last: int) -> list[str]:
    return [_day(day * 86400) for day in range(first // 86400, last // 86400 + 1)]
