"""Differential privacy: calibrated by OpenDP's maps, charged to a persisted ledger, never over budget."""

from __future__ import annotations

import datetime as dt
import multiprocessing
from collections.abc import Iterator
from dataclasses import replace

import pytest

from pledge.declaration.durations import parse_duration
from pledge.errors import Conflict, InputError
from pledge.logs.aggregate import TABLES, Aggregate, Hit
from pledge.logs.dp import calibrate, release_dp
from pledge.logs.ledger import BudgetLedger, budget_periods, epsilon_units
from pledge.logs.rules import StatsRules
from pledge.storage import Database

NOV = 1_730_419_200  # 2024-11-01T00:00:00Z
DEC = 1_733_011_200  # 2024-12-01T00:00:00Z
RULES = StatsRules(
    mode="differential_privacy",
    epsilon=1.0,
    delta=1e-6,
    period=parse_duration("P1M"),
    per_release=0.5,
    max_contributions=3,
)


def _aggregate(start: int = NOV, visitors: int = 60, bound: int = 3) -> Aggregate:
    aggregate = Aggregate(cap=10, max_contributions=bound)
    for v in range(visitors):
        for n in range(8):  # 8 page views, 3 hours apart: 8 visits each, bounded to 3 per query
            aggregate.add(
                Hit(
                    start + v * 60 + n * 3 * 3600,
                    v,
                    "DE" if v % 2 else "FR",
                    "Chrome",
                    "Windows",
                    "desktop",
                    False,
                    "GET",
                    f"/p{n % 2}",
                    200,
                    "www.google.com",
                )
            )
    return aggregate


@pytest.fixture
def ledger(db_url: str) -> Iterator[BudgetLedger]:
    db = Database(db_url)
    db.migrate()
    yield BudgetLedger(db)
    db.dispose()


def test_contributions_are_bounded_per_visitor_and_query() -> None:
    aggregate = _aggregate(visitors=10)
    bounded = aggregate.tables["pages"].bounded[0]
    assert sum(bounded.values()) == 10 * 3  # 8 page views each, 3 counted
    assert sum(c.values[0] for c in aggregate.tables["pages"].cells.values()) == 80  # exact counts kept apart


@pytest.mark.parametrize("mechanism", ["laplace", "gaussian"])
@pytest.mark.parametrize("table", ["daily", "countries", "pages"])
def test_calibration_meets_each_query_share(mechanism: str, table: str) -> None:
    delta = 1e-7 if (mechanism == "gaussian" or TABLES[table].domain == "open") else 0.0
    found = calibrate(table, 0, epsilon=0.1, delta=delta, bound=3, mechanism=mechanism)
    assert 0 < found.epsilon <= 0.1
    assert found.delta <= delta
    assert found.epsilon > 0.09  # and not much noisier than needed
    if TABLES[table].domain == "open":
        assert found.threshold is not None and found.threshold >= 3


def test_release_spends_what_it_says_and_no_more(ledger: BudgetLedger) -> None:
    release = release_dp(_aggregate(), RULES, ledger)
    privacy = release.privacy
    assert privacy["epsilon"] == 0.5 and privacy["delta"] == pytest.approx(0.5e-6)
    assert sum(q["epsilon"] for q in privacy["queries"]) <= 0.5 + 1e-12
    assert sum(q["delta"] for q in privacy["queries"]) <= 0.5e-6 * (1 + 1e-9)
    assert privacy["budget"]["periods_charged"] == ["2024-11-01"]
    assert ledger.spent("server_logs", "2024-11-01") == (pytest.approx(0.5), pytest.approx(0.5e-6))
    daily = release.table("daily")
    assert daily.rows[0][0] == "2024-11-01"
    assert all(v >= 0 for _, values in daily.rows for v in values)
    assert [row["id"] for row in ledger.releases("server_logs")] == [privacy["release_id"]]


def test_over_budget_release_is_refused_and_charges_nothing(ledger: BudgetLedger) -> None:
    release_dp(_aggregate(), RULES, ledger)
    release_dp(_aggregate(), RULES, ledger)  # exactly the budget: 0.5 + 0.5
    with pytest.raises(Conflict, match="privacy budget exhausted"):
        release_dp(_aggregate(), RULES, ledger, epsilon=0.01)
    assert ledger.spent("server_logs", "2024-11-01")[0] == pytest.approx(1.0)
    assert len(ledger.releases("server_logs")) == 2
    # Next month's data has its own budget; data spanning both months needs both.
    release_dp(_aggregate(DEC), RULES, ledger)
    spanning = _aggregate(NOV + 29 * 86400, visitors=60)
    with pytest.raises(Conflict, match="2024-11-01"):
        release_dp(spanning, RULES, ledger, epsilon=0.1)
    assert ledger.spent("server_logs", "2024-12-01")[0] == pytest.approx(0.5)  # untouched by the refusal


def test_budget_survives_a_new_process_view(db_url: str) -> None:
    first = Database(db_url)
    first.migrate()
    release_dp(_aggregate(), RULES, BudgetLedger(first))
    first.dispose()
    again = Database(db_url)  # as a later process would see it
    ledger = BudgetLedger(again)
    assert ledger.spent("server_logs", "2024-11-01")[0] == pytest.approx(0.5)
    with pytest.raises(Conflict):
        release_dp(_aggregate(), RULES, ledger, epsilon=0.6)
    again.dispose()


def _spend_once(url: str) -> bool:
    ledger = BudgetLedger(Database(url))
    try:
        ledger.spend(
            scope="race",
            periods=["2024-11-01", "2024-12-01"],
            epsilon=0.3,
            delta=0.0,
            limit_epsilon=1.0,
            limit_delta=0.0,
            mechanism="laplace",
            details={},
        )
    except Conflict:
        return False
    finally:
        ledger.db.dispose()
    return True


def test_concurrent_processes_never_overspend(ledger: BudgetLedger, db_url: str) -> None:
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        results = pool.map(_spend_once, [db_url] * 8)
    assert sum(results) == 3  # 3 x 0.3 fits into 1.0; a fourth would not
    for period in ("2024-11-01", "2024-12-01"):
        assert ledger.spent("race", period)[0] == pytest.approx(0.9)
    assert len(ledger.releases("race")) == 3


def test_ten_tenths_fit_exactly(ledger: BudgetLedger) -> None:
    for _ in range(10):
        ledger.spend(
            scope="tenths",
            periods=["all"],
            epsilon=0.1,
            delta=0.0,
            limit_epsilon=1.0,
            limit_delta=0.0,
            mechanism="laplace",
            details={},
        )
    with pytest.raises(Conflict):
        ledger.spend(
            scope="tenths",
            periods=["all"],
            epsilon=1e-9,
            delta=0.0,
            limit_epsilon=1.0,
            limit_delta=0.0,
            mechanism="laplace",
            details={},
        )
    assert epsilon_units(0.1) * 10 == epsilon_units(1.0, up=False)


def test_without_delta_open_tables_are_not_released(ledger: BudgetLedger) -> None:
    rules = replace(RULES, delta=0.0)
    release = release_dp(_aggregate(), rules, ledger)
    assert release.table("pages").suppressed and release.table("referrers").suppressed
    assert any("pages" in note for note in release.notes)
    assert release.privacy["delta"] == 0.0
    assert all(q["delta"] == 0.0 for q in release.privacy["queries"])


def test_gaussian_release_and_both_mode(ledger: BudgetLedger) -> None:
    rules = replace(RULES, mechanism="gaussian", mode="both", min_group_size=5)
    release = release_dp(_aggregate(), rules, ledger, tables=["daily", "countries"])
    assert release.privacy["mechanism"] == "gaussian"
    for table in release.tables:
        assert all(min(values) >= 5 for _, values in table.rows)
    with pytest.raises(InputError, match="delta > 0"):
        release_dp(_aggregate(), replace(rules, delta=0.0), ledger)


def test_bad_requests_spend_nothing(ledger: BudgetLedger) -> None:
    with pytest.raises(InputError, match="more than the whole budget"):
        release_dp(_aggregate(), RULES, ledger, epsilon=2.0)
    with pytest.raises(InputError, match="positive"):
        release_dp(_aggregate(), RULES, ledger, epsilon=-1.0)
    with pytest.raises(InputError, match="privacy budget"):
        release_dp(_aggregate(), replace(RULES, epsilon=None), ledger)
    assert ledger.releases("server_logs") == []


@pytest.mark.parametrize(
    ("first", "last", "period", "expected"),
    [
        ("2024-11-03", "2024-11-20", None, ["all"]),
        ("2024-11-03", "2024-12-02", "P1M", ["2024-11-01", "2024-12-01"]),
        ("2024-11-03", "2024-11-20", "P1Y", ["2024-01-01"]),
        ("2024-11-03", "2024-11-05", "P1D", ["2024-11-03", "2024-11-04", "2024-11-05"]),
        ("2024-02-10", "2024-05-01", "P3M", ["2024-01-01", "2024-04-01"]),
        ("2024-11-03", "2024-11-10", "P7D", ["2024-10-31", "2024-11-07"]),
    ],
)
def test_budget_periods(first: str, last: str, period: str | None, expected: list[str]) -> None:
    def ts(day: str) -> int:
        return int(dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC).timestamp())

    assert budget_periods(ts(first), ts(last) + 3600, parse_duration(period) if period else None) == expected


def test_ledger_works_on_mariadb(mariadb_url: str) -> None:
    db = Database(mariadb_url)
    db.migrate()
    try:
        ledger = BudgetLedger(db)
        for _ in range(2):
            ledger.spend(
                scope="m",
                periods=["all"],
                epsilon=0.5,
                delta=1e-7,
                limit_epsilon=1.0,
                limit_delta=1e-6,
                mechanism="laplace",
                details={"q": 1},
            )
        with pytest.raises(Conflict):
            ledger.spend(
                scope="m",
                periods=["all"],
                epsilon=0.1,
                delta=0.0,
                limit_epsilon=1.0,
                limit_delta=1e-6,
                mechanism="laplace",
                details={},
            )
        assert ledger.spent("m", "all") == (pytest.approx(1.0), pytest.approx(2e-7))
    finally:
        db.dispose()
