"""The runner: steps in order, results persisted, retries with backoff, crashes resumed, leases fenced."""

from __future__ import annotations

import json
import threading
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from pledge.errors import Conflict, ConnectorError, InputError, NotFound
from pledge.requests.mail import MemoryMailer
from pledge.requests.runner import LeasePolicy, Runner
from pledge.requests.steps import Identity, RequestKind, StepContext, StepSpec
from pledge.requests.tables import requests, steps
from tests.requests.support import EMAIL, Clock, Env, ListPlanner, real_clock


class Crash(BaseException):
    """Stands for kill -9: nothing after it runs, nothing is cleaned up."""


def _start(env: Env, kind: RequestKind = "access", **kw: Any) -> str:
    record = env.workflow.create_request(
        kind, [EMAIL], jurisdiction="gdpr", source="cli", operator="op", **kw
    )
    return record.id


def _step_rows(env: Env, request_id: str) -> list[dict[str, Any]]:
    with env.db.connect() as conn:
        rows = conn.execute(
            sa.select(steps).where(steps.c.request_id == request_id).order_by(steps.c.position)
        ).mappings()
        return [dict(r) for r in rows]


def test_steps_run_in_order_and_see_earlier_results(db_url: str, make_env: Callable[..., Env]) -> None:
    def result(name: str, ctx: StepContext) -> Mapping[str, Any]:
        return {"step": name, "seen": sorted(ctx.results)}

    env = make_env(db_url, planner=ListPlanner(["a", "b", "c"], result=result))
    rid = _start(env)
    seen: list[tuple[int, int, str]] = []
    assert env.runner.run_request(rid, progress=lambda d, t, n: seen.append((d, t, n))) == "completed"
    assert seen == [(0, 3, ""), (1, 3, "a"), (2, 3, "b"), (3, 3, "c")]
    rows = _step_rows(env, rid)
    assert [(r["name"], r["state"], r["attempts"], r["failures"]) for r in rows] == [
        ("a", "done", 1, 0),
        ("b", "done", 1, 0),
        ("c", "done", 1, 0),
    ]
    assert json.loads(rows[2]["result"]) == {"step": "c", "seen": ["a", "b"]}
    with env.db.connect() as conn:
        lease = conn.execute(sa.select(requests.c.lease_owner, requests.c.lease_expires)).one()
    assert tuple(lease) == (None, None)
    assert env.runner.run_request(rid) == "busy"  # completed: nothing to run


def test_a_failing_step_is_retried_with_backoff_then_succeeds(
    db_url: str, make_env: Callable[..., Env]
) -> None:
    clock = Clock()
    planner = ListPlanner(
        ["a", "b"], fail={"b": 2}, error=lambda n: ConnectorError("db down; value=ada@example.org")
    )
    env = make_env(db_url, planner=planner, clock=clock)
    rid = _start(env)
    assert env.runner.run_request(rid) == "retry_later"
    with env.db.connect() as conn:
        run_after = conn.execute(sa.select(requests.c.run_after)).scalar_one()
    assert run_after > clock()
    assert env.runner.run_next() is None  # waiting out the backoff
    clock.advance(seconds=1)
    assert env.runner.run_next() == (rid, "retry_later")
    clock.advance(seconds=1)
    assert env.runner.run_next() == (rid, "completed")
    assert planner.calls == [("a", 1), ("b", 1), ("b", 2), ("b", 3)]  # a was never run again
    (_, b) = _step_rows(env, rid)
    assert (b["attempts"], b["failures"], b["state"], b["error"]) == (3, 2, "done", None)
    failed = [p for k, p in env.audit.of(rid) if k == "request.step_failed"]
    assert [(p["failures"], p["will_retry"], p["error"]) for p in failed] == [
        (1, True, "ConnectorError"),
        (2, True, "ConnectorError"),
    ]
    # The audit log is permanent: no error text (which may quote personal data) goes into it.
    assert "ada@example.org" not in json.dumps(env.audit.of())


def test_a_step_failing_every_time_fails_the_request_and_can_be_retried(
    sqlite_url: str, make_env: Callable[..., Env]
) -> None:
    clock = Clock()
    planner = ListPlanner(["a", "b", "c"], fail={"b": 3})
    env = make_env(sqlite_url, planner=planner, clock=clock)
    rid = _start(env)
    outcomes = []
    for _ in range(3):
        outcomes.append(env.runner.run_request(rid))
        clock.advance(seconds=5)
    assert outcomes == ["retry_later", "retry_later", "failed"]
    record = env.workflow.get_request(rid)
    assert record.state == "failed"
    assert record.error == "step b failed after 3 attempt(s): RuntimeError: boom in b"
    assert record.has_identities  # kept for a retry
    report = env.workflow.request_report(rid)
    assert [s["state"] for s in report["steps"]] == ["done", "failed", "pending"]
    assert "boom in b" in report["steps"][1]["error"]
    assert isinstance(env.mailer, MemoryMailer)
    alert = env.mailer.sent[-1]
    assert alert["To"] == "privacy@acme.test" and "FAILED" in alert["Subject"]
    assert env.runner.run_request(rid) == "busy"

    env.workflow.retry(rid, by="alice", reason="fixed the database")
    assert env.runner.run_request(rid) == "completed"
    assert [name for name, _ in planner.calls].count("a") == 1
    kinds = env.audit.kinds(rid)
    assert kinds.count("request.failed") == 1 and kinds[-2:] == ["request.step_done", "request.completed"]


def test_input_errors_are_not_retried(sqlite_url: str, make_env: Callable[..., Env]) -> None:
    planner = ListPlanner(["a", "b"], fail={"a": 1}, error=lambda n: InputError("column email is missing"))
    env = make_env(sqlite_url, planner=planner)
    rid = _start(env)
    assert env.runner.run_request(rid) == "failed"
    assert planner.calls == [("a", 1)]
    assert "column email is missing" in (env.workflow.get_request(rid).error or "")


class _BadPlanner:
    def __init__(self, error: Exception, then: ListPlanner | None = None, times: int = 99) -> None:
        self.error, self.then, self.times = error, then, times

    def plan(
        self, kind: RequestKind, identities: Sequence[Identity], params: Mapping[str, Any]
    ) -> list[StepSpec]:
        if self.times > 0:
            self.times -= 1
            raise self.error
        assert self.then is not None
        return self.then.plan(kind, identities, params)


def test_a_request_that_cannot_be_planned_fails_before_any_step(
    sqlite_url: str, make_env: Callable[..., Env]
) -> None:
    env = make_env(sqlite_url, planner=_BadPlanner(InputError("collection shop:orders is unreachable")))
    rid = _start(env)
    assert env.runner.run_request(rid) == "failed"
    record = env.workflow.get_request(rid)
    assert record.state == "failed" and "unreachable" in (record.error or "")
    assert _step_rows(env, rid) == []
    assert env.audit.kinds(rid)[-3:] == ["request.running", "request.failed", "request.notice_sent"]


def test_planning_that_fails_for_a_passing_reason_is_retried(
    sqlite_url: str, make_env: Callable[..., Env]
) -> None:
    clock = Clock()
    env = make_env(
        sqlite_url,
        planner=_BadPlanner(ConnectorError("no route"), then=ListPlanner(["a"]), times=2),
        clock=clock,
    )
    rid = _start(env)
    assert env.runner.run_request(rid) == "retry_later"
    clock.advance(seconds=10)
    assert env.runner.run_request(rid) == "retry_later"
    clock.advance(seconds=10)
    assert env.runner.run_request(rid) == "completed"
    assert env.workflow.get_request(rid).plan_attempts == 2


def test_bad_plans_and_bad_results_are_failures_not_crashes(
    sqlite_url: str, make_env: Callable[..., Env]
) -> None:
    env = make_env(sqlite_url, planner=ListPlanner(["a", "a"]))
    rid = _start(env)
    assert env.runner.run_request(rid) == "failed"
    assert "twice" in (env.workflow.get_request(rid).error or "")

    env2 = make_env(sqlite_url, planner=ListPlanner(["a"], result=lambda n, c: ["not", "a", "mapping"]))  # type: ignore[arg-type,return-value]
    rid2 = _start(env2)
    for _ in range(3):
        env2.runner.run_request(rid2)
        assert isinstance(env2.clock, Clock)
        env2.clock.advance(seconds=5)
    assert "must return a mapping" in (env2.workflow.get_request(rid2).error or "")


def test_a_changed_plan_fails_the_running_request(sqlite_url: str, make_env: Callable[..., Env]) -> None:
    planner = ListPlanner(["a", "b"], fail={"b": 1})
    clock = Clock()
    env = make_env(sqlite_url, planner=planner, clock=clock)
    rid = _start(env)
    assert env.runner.run_request(rid) == "retry_later"
    planner.names = ["a", "b2"]
    clock.advance(seconds=5)
    assert env.runner.run_request(rid) == "failed"
    assert "plan changed" in (env.workflow.get_request(rid).error or "")


def test_a_crash_mid_step_resumes_with_that_step_and_skips_done_ones(
    db_url: str, make_env: Callable[..., Env]
) -> None:
    clock = Clock()
    crash_once = {"b": True}

    def result(name: str, ctx: StepContext) -> Mapping[str, Any]:
        if crash_once.get(name):
            crash_once[name] = False
            raise Crash
        return {"step": name}

    planner = ListPlanner(["a", "b", "c"], result=result)
    env = make_env(db_url, planner=planner, clock=clock, owner="worker-1")
    rid = _start(env)
    with pytest.raises(Crash):
        env.runner.run_request(rid)
    assert [r["state"] for r in _step_rows(env, rid)] == ["done", "running", "pending"]
    second = Runner(env.services, planner, owner="worker-2", retry=env.runner.retry, lease=env.runner.lease)
    assert second.run_next() is None  # worker-1's lease has not run out yet
    clock.advance(seconds=31)
    assert second.run_next() == (rid, "completed")
    assert planner.calls == [("a", 1), ("b", 1), ("b", 2), ("c", 1)]
    kinds = env.audit.kinds(rid)
    assert kinds.count("request.step_done") == 3 and kinds.count("request.step_started") == 4


def test_a_crash_between_effect_and_mark_done_reruns_the_step_and_the_effect_stays_single(
    sqlite_url: str, make_env: Callable[..., Env], tmp_path: Path
) -> None:
    business = sa.create_engine(f"sqlite:///{tmp_path / 'shop.db'}")
    with business.begin() as conn:
        conn.execute(sa.text("CREATE TABLE credits (customer TEXT PRIMARY KEY, amount INTEGER NOT NULL)"))
        conn.execute(sa.text("CREATE TABLE witness (request TEXT, step TEXT, PRIMARY KEY (request, step))"))
        conn.execute(sa.text("INSERT INTO credits VALUES ('ada', 0)"))
    crashed: list[str] = []

    def effect(name: str, ctx: StepContext) -> Mapping[str, Any]:
        with business.begin() as conn:  # the effect and its witness commit together, once
            fresh = conn.execute(
                sa.text("INSERT INTO witness VALUES (:r, :s) ON CONFLICT DO NOTHING"),
                {"r": ctx.request_id, "s": name},
            ).rowcount
            if fresh:
                conn.execute(sa.text("UPDATE credits SET amount = amount + 1 WHERE customer = 'ada'"))
        if name not in crashed:
            crashed.append(name)
            raise Crash  # after the effect committed, before the runner marks the step done
        return {"applied": bool(fresh)}

    clock = Clock()
    env = make_env(sqlite_url, planner=ListPlanner(["x", "y"], result=effect), clock=clock)
    rid = _start(env)
    for _ in range(2):
        with pytest.raises(Crash):
            env.runner.run_request(rid)
        clock.advance(seconds=31)
    assert env.runner.run_request(rid) == "completed"
    with business.connect() as conn:
        assert conn.execute(sa.text("SELECT amount FROM credits")).scalar_one() == 2
    assert [json.loads(r["result"]) for r in _step_rows(env, rid)] == [{"applied": False}, {"applied": False}]
    business.dispose()


def test_a_worker_whose_lease_was_taken_over_stops_without_marking_anything(
    db_url: str, make_env: Callable[..., Env]
) -> None:
    clock = Clock()
    taken_over: list[str] = []
    env_holder: list[Env] = []
    plain = ListPlanner(["a", "b"])

    def slow(name: str, ctx: StepContext) -> Mapping[str, Any]:
        if name == "a" and not taken_over:
            # Worker 1 stalls (GC pause, network partition) past its lease; worker 2 takes over
            # and finishes the whole request meanwhile.
            clock.advance(seconds=31)
            env = env_holder[0]
            other = Runner(
                env.services, plain, owner="worker-2", retry=env.runner.retry, lease=env.runner.lease
            )
            taken_over.append(str(other.run_request(ctx.request_id)))
        return {"step": name}

    env = make_env(db_url, planner=ListPlanner(["a", "b"], result=slow), clock=clock, owner="worker-1")
    env_holder.append(env)
    rid = _start(env)
    assert env.runner.run_request(rid) == "lost_lease"
    assert taken_over == ["completed"]
    kinds = env.audit.kinds(rid)
    assert kinds.count("request.step_done") == 2 and kinds.count("request.completed") == 1
    assert env.workflow.get_request(rid).state == "completed"


def test_the_heartbeat_keeps_a_long_step_from_being_taken_over(
    db_url: str, make_env: Callable[..., Env]
) -> None:
    stolen: list[str] = []

    def long(name: str, ctx: StepContext) -> Mapping[str, Any]:
        env = holder[0]
        other = Runner(env.services, ListPlanner(["a"]), owner="thief", lease=env.runner.lease)
        for _ in range(6):
            time.sleep(0.2)
            stolen.append(other.run_request(ctx.request_id))
        return {"step": name}

    holder: list[Env] = []
    env = make_env(
        db_url,
        planner=ListPlanner(["a"], result=long),
        clock=real_clock,
        lease=LeasePolicy(duration=0.5, heartbeat=0.1),
    )
    holder.append(env)
    rid = _start(env)
    assert env.runner.run_request(rid) == "completed"
    assert set(stolen) == {"busy"}  # 1.2 s of work under a 0.5 s lease, never taken over


@pytest.mark.slow
def test_concurrent_workers_never_run_the_same_request_at_once(
    db_url: str, make_env: Callable[..., Env]
) -> None:
    intervals: list[tuple[str, str, str, float, float]] = []
    lock = threading.Lock()

    def timed(name: str, ctx: StepContext) -> Mapping[str, Any]:
        start = time.monotonic()
        time.sleep(0.005)
        with lock:
            intervals.append((ctx.request_id, name, threading.current_thread().name, start, time.monotonic()))
        return {"step": name}

    planner = ListPlanner(["a", "b", "c"], result=timed)
    env = make_env(db_url, planner=planner, clock=real_clock)
    ids = [_start(env) for _ in range(12)]
    runners = [Runner(env.services, planner, owner=f"w{i}", lease=env.runner.lease) for i in range(3)]

    def work(runner: Runner) -> None:
        while runner.run_next() is not None:
            pass

    threads = [threading.Thread(target=work, args=(r,), name=r.owner) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {env.workflow.get_request(i).state for i in ids} == {"completed"}
    for rid in ids:
        mine = sorted((s, e, w) for r, _, w, s, e in intervals if r == rid)
        assert len(mine) == 3  # every step exactly once
        assert len({w for _, _, w in mine}) == 1  # one worker per request
        assert env.audit.kinds(rid).count("request.step_done") == 3


def test_the_access_archive_is_built_from_the_step_files(
    sqlite_url: str, make_env: Callable[..., Env]
) -> None:
    def write(name: str, ctx: StepContext) -> Mapping[str, Any]:
        (ctx.workdir / "data.json").write_text(json.dumps({"shop:customers": [{"email": "ada@example.org"}]}))
        (ctx.workdir / "shop__customers.csv").write_text("email\nada@example.org\n")
        return {
            "rows": 1,
            "kept": [{"collection": "shop:invoices", "reason": "tax law", "until": "2031-01-01"}],
        }

    env = make_env(sqlite_url, planner=ListPlanner(["collect"], result=write))
    rid = _start(env)
    with pytest.raises(Conflict):
        env.workflow.archive(rid)
    env.runner.run_request(rid)
    path = env.workflow.archive(rid)
    with zipfile.ZipFile(path) as bundle:
        assert sorted(bundle.namelist()) == ["data.json", "shop__customers.csv"]
        assert json.loads(bundle.read("data.json")) == {"shop:customers": [{"email": "ada@example.org"}]}
    assert env.workflow.archive(rid) == path
    report = env.workflow.request_report(rid)
    assert report["kept"] == [
        {"step": "collect", "collection": "shop:invoices", "reason": "tax law", "until": "2031-01-01"}
    ]
    assert report["archive"] == ["data.json", "shop__customers.csv"]
    erase = env.workflow.create_request("erase", [EMAIL], source="cli", operator="op")
    with pytest.raises(NotFound):
        env.workflow.archive(erase.id)


def test_run_until_done_waits_out_retries(sqlite_url: str, make_env: Callable[..., Env]) -> None:
    env = make_env(sqlite_url, planner=ListPlanner(["a", "b"], fail={"b": 2}), clock=real_clock)
    rid = _start(env)
    assert env.runner.run_until_done(rid, timeout=30).state == "completed"
    pending = env.workflow.create_request("erase", [EMAIL])
    with pytest.raises(Conflict, match="cannot run yet"):
        env.runner.run_until_done(pending.id)


def test_the_inline_worker_runs_requests_when_woken(sqlite_url: str, make_env: Callable[..., Env]) -> None:
    from pledge.requests.background import InlineWorker

    env = make_env(sqlite_url, clock=real_clock)
    worker = InlineWorker(env.runner, env.workflow, poll_interval=30, tick_interval=3600)
    env.services.on_runnable = worker.wake
    worker.start()
    try:
        time.sleep(0.2)  # let the first idle poll pass: only wake() can bring it back in time
        rid = _start(env)
        deadline = time.monotonic() + 10
        while env.workflow.get_request(rid).state != "completed" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert env.workflow.get_request(rid).state == "completed"
    finally:
        worker.stop()
    assert not worker.alive


def test_the_seal_is_tied_to_its_request(sqlite_url: str, make_env: Callable[..., Env]) -> None:
    env = make_env(sqlite_url)
    a, b = _start(env, "erase"), _start(env, "erase")
    with env.db.begin() as conn:
        sealed_a = conn.execute(sa.select(requests.c.sealed).where(requests.c.id == a)).scalar_one()
        conn.execute(sa.update(requests).where(requests.c.id == b).values(sealed=sealed_a))
    env.workflow.approve(b, by="alice")
    assert env.runner.run_request(b) == "failed"
    assert "do not open" in (env.workflow.get_request(b).error or "")
    assert _step_rows(env, b) == [] and isinstance(env.planner, ListPlanner) and env.planner.plans == 0
