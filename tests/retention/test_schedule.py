"""The worker's retention schedule: configured from the environment, due a day after the last
finished sweep, one sweep at a time however many workers run it."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from pledge.config import Secrets, Settings
from pledge.datamap import load_datamap
from pledge.errors import ConfigError
from pledge.requests.execute import RequestExecutor
from pledge.retention.tables import runs
from pledge.worker.schedule import RetentionSchedule, ScheduleConfig, retention_schedule
from tests.retention.fixtures import (
    DATAMAP,
    HASH_KEY,
    NOW,
    Shop,
    declaration,
    sqlite_shop_fixture,  # noqa: F401 - fixture
)


def test_config_from_the_environment(tmp_path: Path) -> None:
    default = ScheduleConfig.from_env({})
    assert default.enabled and default.interval == dt.timedelta(days=1) and default.minors
    six = ScheduleConfig.from_env(
        {
            "PLEDGE_RETENTION_SCHEDULE": "PT6H",
            "PLEDGE_RETENTION_START_DELAY": "PT1M",
            "PLEDGE_RETENTION_RAW_LOGS": f"{tmp_path / 'a'}:{tmp_path / 'b'}",
            "PLEDGE_RETENTION_MINORS": "0",
        }
    )
    assert six.interval == dt.timedelta(hours=6) and six.start_delay == dt.timedelta(minutes=1)
    assert six.raw_logs == (tmp_path / "a", tmp_path / "b") and not six.minors
    assert not ScheduleConfig.from_env({"PLEDGE_RETENTION_SCHEDULE": "off"}).enabled
    with pytest.raises(ConfigError, match="PLEDGE_RETENTION_SCHEDULE"):
        ScheduleConfig.from_env({"PLEDGE_RETENTION_SCHEDULE": "daily"})
    with pytest.raises(ConfigError, match="longer than nothing"):
        ScheduleConfig.from_env({"PLEDGE_RETENTION_SCHEDULE": "PT0S"})


def executor(shop: Shop) -> RequestExecutor:
    """As the worker builds it: the datamap read from its file (where the clocks are written)."""
    loaded = declaration()
    path = Path(shop.url.removeprefix("sqlite:///")).parent / "datamap.yaml"
    path.write_text(DATAMAP, encoding="utf-8")
    return RequestExecutor(
        load_datamap([path], declaration=loaded), shop.connectors(), declaration=loaded, hash_key=HASH_KEY
    )


def schedule(shop: Shop, clock: list[dt.datetime], **config: object) -> RetentionSchedule:
    loaded = declaration()
    return RetentionSchedule(
        loaded, executor(shop), shop.db, shop.audit, hash_key=HASH_KEY, config=ScheduleConfig(**config),  # type: ignore[arg-type]
        clock=lambda: clock[0],
    )  # fmt: skip


def test_a_run_sweeps_and_purges_then_the_next_is_due_a_day_later(sqlite_shop: Shop) -> None:
    clock = [NOW]
    job = schedule(sqlite_shop, clock)
    assert job.due_in() <= dt.timedelta(0)
    out = job.run_once()
    assert out is not None and out["sweep"]["ok"]
    assert [s["status"] for s in out["minors"]["subjects"]] == ["purged"]
    kinds = [e.kind for e in sqlite_shop.audit.entries]
    assert kinds.count("retention.swept") == 6 and kinds.count("minors.purged") == 1
    left = job.due_in()
    assert dt.timedelta(hours=23) < left <= dt.timedelta(days=1) + dt.timedelta(minutes=1)


def test_another_process_sweeping_means_this_one_waits(sqlite_shop: Shop) -> None:
    job = schedule(sqlite_shop, [NOW])
    other = sqlite_shop.store(owner="elsewhere")
    other.acquire("schedule")
    assert job.run_once() is None
    other.release("schedule")
    assert job.run_once() is not None


def test_two_workers_sweep_once(sqlite_shop: Shop) -> None:
    clock = [NOW]
    jobs = [schedule(sqlite_shop, clock, start_delay=dt.timedelta(0)) for _ in range(2)]
    for job in jobs:
        job.start()
    deadline = time.monotonic() + 60
    while sum(j.runs for j in jobs) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # the other looks too, finds the lease taken or the sweep not due
    for job in jobs:
        job.stop()
    assert sum(j.runs for j in jobs) == 1
    with sqlite_shop.db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(runs)).scalar() == 1


def test_the_worker_hook_runs_only_with_a_datamap(sqlite_shop: Shop) -> None:
    settings = Settings(secrets=Secrets(b"s" * 32, HASH_KEY, b"m" * 32, "admin"))
    loaded = declaration()
    with retention_schedule(settings, loaded, object(), sqlite_shop.db, sqlite_shop.audit, environ={}) as job:
        assert job is None  # a custom planner: nothing to sweep
    ex = executor(sqlite_shop)
    off = {"PLEDGE_RETENTION_SCHEDULE": "off"}
    with retention_schedule(settings, loaded, ex, sqlite_shop.db, sqlite_shop.audit, environ=off) as job:
        assert job is None
    env = {"PLEDGE_RETENTION_START_DELAY": "PT1H"}
    with retention_schedule(settings, loaded, ex, sqlite_shop.db, sqlite_shop.audit, environ=env) as job:
        assert job is not None and job.config.start_delay == dt.timedelta(hours=1)
        assert any(t.name == "pledge-retention" for t in threading.enumerate())
    assert not any(t.name == "pledge-retention" for t in threading.enumerate())
    assert not sqlite_shop.audit.entries  # stopped before its first look
