"""Resumable and single: a crash mid-sweep resumes without redoing finished batches and ends where
an uninterrupted run ends; a second sweep cannot start while one holds the lease."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import pledge.retention.sweep as sweep_module
from pledge.errors import Conflict, ConnectorError
from pledge.retention import SweepStore
from pledge.retention.scan import SqlScanner
from pledge.retention.tables import progress, runs
from pledge.storage import Database
from tests.retention.fixtures import (
    NOW,
    Shop,
    days,
    make_shop,
    shop_fixture,  # noqa: F401 - fixture
    sqlite_shop_fixture,  # noqa: F401 - fixture
    telemetry,
)


def many_telemetry(n: int) -> list[dict[str, Any]]:
    base = NOW.replace(tzinfo=None)
    return [
        {
            "id": i,
            "customer_id": None,
            "ip": f"10.0.{i // 250}.{i % 250}",
            "user_agent": "Mozilla/5.0",
            # Every third row is young; the rest are past the 13 months.
            "collected_at": base - days(5 if i % 3 == 0 else 500 + i % 40),
        }
        for i in range(1, n + 1)
    ]


class Crash(Exception):
    pass


def crash_after(monkeypatch: pytest.MonkeyPatch, calls: int) -> list[int]:
    """Make the erasure engine's batch writer raise on its ``calls``-th call (after writing the
    business rows: the crash falls between their commit and the checkpoint)."""
    real = sweep_module.erase_collection
    seen = [0]

    def flaky(*args: Any, **kw: Any) -> Any:
        result = real(*args, **kw)
        if not kw.get("dry_run"):
            seen[0] += 1
            if seen[0] == calls:
                raise Crash("killed")
        return result

    monkeypatch.setattr(sweep_module, "erase_collection", flaky)
    return seen


@pytest.fixture(params=["sqlite", "postgresql"])
def big_shop(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    rows = {telemetry: many_telemetry(300)}
    made = make_shop(request.param, request, tmp_path, rows)
    yield made
    made.close()


def test_crash_mid_sweep_resumes_where_it_stopped(
    big_shop: Shop, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    plan = big_shop.plan(rules=["telemetry"])
    # The uninterrupted outcome, on a copy of the same data.
    (tmp_path / "twin").mkdir()
    twin = make_shop(big_shop.dialect, request, tmp_path / "twin", {telemetry: many_telemetry(300)})
    try:
        clean = twin.sweep(twin.plan(rules=["telemetry"]), batch_size=40)
        expected = twin.snapshot()
    finally:
        twin.close()

    scans: list[Any] = []
    real_scan = SqlScanner.scan

    def counting(self: Any, spec: Any, after: Any, limit: int) -> Any:
        scans.append(None if after is None else list(after))
        return real_scan(self, spec, after, limit)

    monkeypatch.setattr(SqlScanner, "scan", counting)
    crash_after(monkeypatch, 3)
    with pytest.raises(Crash):
        big_shop.sweep(plan, batch_size=40)
    with big_shop.db.connect() as conn:
        run = conn.execute(sa.select(runs)).one()
        checkpoint = conn.execute(sa.select(progress)).one()
    assert run.state == "failed" and checkpoint.batches == 2 and not checkpoint.done

    monkeypatch.undo()
    monkeypatch.setattr(SqlScanner, "scan", counting)
    scans.clear()
    resumed = big_shop.sweep(plan, batch_size=40)
    assert resumed.resumed and resumed.run_id == run.id
    # The resumed run starts after the last checkpointed key (young rows are not candidates, so
    # two pages of 40 reach key 119): batches 1-2 are not read again; batch 3 (written, not
    # checkpointed) is read again and found already done.
    assert scans[0] == [119]
    assert big_shop.snapshot() == expected
    counts = resumed.units[0].counts
    assert counts["matched"] == clean.units[0].counts["matched"] == 200
    assert counts["updated"] + counts["unchanged"] == 200
    assert counts["unchanged"] == 40  # the rows of batch 3 were rewritten before the crash
    assert resumed.units[0].resumed_from == 2
    # One audit entry for the rule, written once, by the run that finished it.
    assert [e.kind for e in big_shop.audit.entries] == ["retention.swept"]
    assert big_shop.audit.entries[0].payload["resumed"] is True


def test_crash_in_the_database_marks_the_run_failed_and_the_next_resumes(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = sweep_module.erase_collection
    broken = [True]

    def failing(*args: Any, **kw: Any) -> Any:
        if broken[0] and args[0].name == "shop:orders":
            raise ConnectorError("shop: writing failed: connection reset")
        return real(*args, **kw)

    monkeypatch.setattr(sweep_module, "erase_collection", failing)
    with pytest.raises(ConnectorError):
        shop.sweep()
    broken[0] = False
    report = shop.sweep()
    assert report.resumed and report.ok
    # Units finished before the failure were not run again: only their checkpoints are read.
    done_before = {u.unit.name for u in report.units if u.resumed_from}
    assert "orders @ shop:order_lines" in done_before
    assert sorted(e.payload["rule"] for e in shop.audit.entries) == sorted(
        ["telemetry", "support", "location", "referral_friend", "orders", "account"]
    )


def test_a_sweep_never_runs_twice_at_once(db_url: str, tmp_path: Path) -> None:
    db = Database(db_url)
    db.migrate()
    try:
        first, second = SweepStore(db, owner="a"), SweepStore(db, owner="b")
        first.acquire()
        with pytest.raises(Conflict, match="already running"):
            second.acquire()
        first.renew()
        first.release()
        second.acquire()  # free again
        with pytest.raises(Conflict):
            first.acquire()
    finally:
        db.dispose()


def test_a_dead_holders_lease_expires(db_url: str) -> None:
    db = Database(db_url)
    db.migrate()
    clock = [dt.datetime(2025, 1, 1, tzinfo=dt.UTC)]
    try:
        dead = SweepStore(db, owner="dead", clock=lambda: clock[0], lease_ttl=dt.timedelta(minutes=10))
        alive = SweepStore(db, owner="alive", clock=lambda: clock[0])
        dead.acquire()
        clock[0] += dt.timedelta(minutes=9)
        with pytest.raises(Conflict):
            alive.acquire()
        clock[0] += dt.timedelta(minutes=2)
        alive.acquire()
        with pytest.raises(Conflict, match="lost its lease"):
            dead.renew()
    finally:
        db.dispose()


def test_a_running_sweep_refuses_a_second_one(shop: Shop) -> None:
    holder = shop.store(owner="someone-else")
    holder.acquire()
    before = shop.snapshot()
    with pytest.raises(Conflict):
        shop.sweep()
    assert shop.snapshot() == before
    holder.release()
    assert shop.sweep().ok


def test_an_explicit_new_clock_starts_afresh(sqlite_shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    crash_after(monkeypatch, 1)
    with pytest.raises(Crash):
        sqlite_shop.sweep()
    monkeypatch.undo()
    later = sqlite_shop.sweep(now=NOW + dt.timedelta(days=1))
    assert not later.resumed
    with sqlite_shop.db.connect() as conn:
        states = sorted(conn.execute(sa.select(runs.c.state)).scalars())
    assert states == ["abandoned", "done"]


def test_without_an_explicit_clock_a_resume_keeps_the_first_runs_clock(
    sqlite_shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    crash_after(monkeypatch, 1)
    with pytest.raises(Crash):
        sqlite_shop.sweep()
    monkeypatch.undo()
    resumed = sqlite_shop.sweep(now=NOW + dt.timedelta(days=400), explicit_now=False)
    assert resumed.resumed and resumed.now == NOW


def test_the_store_on_mariadb(mariadb_url: str) -> None:
    """Pledge's own tables on MariaDB: migrations, the lease, a failed run resumed."""
    db = Database(mariadb_url)
    db.migrate()
    try:
        store = SweepStore(db, owner="m")
        store.acquire()
        state = store.open_run("sweep", "d" * 64, NOW, explicit_now=True)
        unit = state.unit("rule @ shop:t")
        unit.counts, unit.cursor = {"deleted": 3}, [{"datetime": "2025-01-01T00:00:00"}]
        store.save_unit(state.id, unit)
        store.finish_run(state.id, "failed", error="x" * 5000)
        again = store.open_run("sweep", "d" * 64, NOW, explicit_now=True)
        assert again.resumed and again.clock_at == NOW
        assert again.units["rule @ shop:t"].counts == {"deleted": 3}
        store.release()
    finally:
        db.dispose()
