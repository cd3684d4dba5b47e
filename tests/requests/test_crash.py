"""kill -9 the worker at random points, fifty times, on PostgreSQL: the request still completes,
every step's effect happened exactly once, no step was recorded done twice, and the audit entries
tell one consistent story."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from pledge.requests.tables import requests, steps
from tests.conftest import ROOT
from tests.requests.crash_worker import BUSINESS_DDL
from tests.requests.support import EMAIL, Env, real_clock

STEPS = 150
KILLS = 50


class Supervisor:
    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc

    def _ask(self, line: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def start(self, owner: str, resume: bool = True, crash_after: str = "-") -> int:
        answer = self._ask(f"start {owner} {int(resume)} {crash_after}")
        assert answer.startswith("pid "), answer
        return int(answer.split()[1])

    def kill(self, pid: int) -> None:
        assert self._ask(f"kill {pid}") == "dead"


@contextmanager
def supervisor(
    pledge_url: str, business_url: str, workdir: Path, log: Path, steps: int = STEPS
) -> Iterator[Supervisor]:
    with open(log, "w") as errors:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.requests.crash_worker",
                pledge_url,
                business_url,
                str(workdir),
                str(steps),
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", log.read_text()
            yield Supervisor(proc)
        finally:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.close()
            proc.wait(timeout=30)
            proc.stdout.close()


def _state(env: Env, request_id: str) -> str:
    with env.db.connect() as conn:
        return str(conn.execute(sa.select(requests.c.state).where(requests.c.id == request_id)).scalar_one())


def _wait_completed(env: Env, request_id: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while _state(env, request_id) != "completed":
        assert time.monotonic() < deadline, f"request still {_state(env, request_id)}"
        time.sleep(0.05)


@pytest.fixture
def crash_env(
    make_pg_url: Callable[[], str], make_env: Callable[..., Env]
) -> Iterator[tuple[Env, sa.Engine]]:
    env = make_env(make_pg_url(), clock=real_clock)
    business = sa.create_engine(make_pg_url())
    with business.begin() as conn:
        for statement in BUSINESS_DDL:
            conn.execute(sa.text(statement))
    yield env, business
    business.dispose()


def _check_everything_happened_once(
    env: Env, business: sa.Engine, request_id: str, steps_count: int = STEPS
) -> dict[str, int]:
    names = [f"effect:{i:03d}" for i in range(steps_count)]
    with business.connect() as conn:
        ledger = Counter(
            s
            for (s,) in conn.execute(
                sa.text("SELECT step FROM ledger WHERE request_id = :r"), {"r": request_id}
            )
        )
        balance = conn.execute(sa.text("SELECT amount FROM balance")).scalar_one()
        runs = conn.execute(
            sa.text("SELECT step, attempt FROM runs WHERE request_id = :r"), {"r": request_id}
        ).all()
    assert ledger == Counter(names) and balance == steps_count  # each effect exactly once

    with env.db.connect() as conn:
        rows = conn.execute(
            sa.select(steps.c.name, steps.c.state, steps.c.attempts, steps.c.result)
            .where(steps.c.request_id == request_id)
            .order_by(steps.c.position)
        ).all()
    assert [r.name for r in rows] == names and {r.state for r in rows} == {"done"}
    assert all(json.loads(r.result) == {"step": r.name} for r in rows)
    attempts = {r.name: r.attempts for r in rows}
    started_runs = Counter(step for step, _ in runs)
    for step, attempt in runs:  # each run was a recorded start, none ran under a stale attempt
        assert 1 <= attempt <= attempts[step]
    assert all(started_runs[n] <= attempts[n] for n in names)

    entries = env.audit.of(request_id)
    kinds = [k for k, _ in entries]
    assert kinds[:3] == ["request.received", "request.verified", "request.running"]
    assert kinds[-1] == "request.completed" and kinds.count("request.completed") == 1
    assert kinds.count("request.running") == 1 and "request.step_failed" not in kinds
    done = [p["step"] for k, p in entries if k == "request.step_done"]
    assert done == names  # each step recorded done exactly once, in order
    started = Counter(p["step"] for k, p in entries if k == "request.step_started")
    assert started == Counter(attempts)  # every start is audited, with the start it counted
    assert env.audit.verify().ok  # and the log itself is intact: no torn or duplicated entry
    seen_done: set[str] = set()
    for kind, payload in entries:  # nothing of a step happens after it was done
        if kind == "request.step_started":
            assert payload["step"] not in seen_done
            assert payload["attempt"] <= attempts[payload["step"]]
        elif kind == "request.step_done":
            seen_done.add(payload["step"])
    return attempts


@pytest.mark.slow
def test_fifty_kill_9s_at_random_points(crash_env: tuple[Env, sa.Engine], tmp_path: Path) -> None:
    env, business = crash_env
    record = env.workflow.create_request(
        "access", [EMAIL], jurisdiction="gdpr", source="cli", operator="crash-test"
    )
    rng = random.Random(4242)
    killed_mid_request = 0
    with supervisor(
        env.db.url,
        str(business.url.render_as_string(hide_password=False)),
        tmp_path / "work",
        tmp_path / "worker.log",
    ) as workers:
        for i in range(KILLS):
            # Most restarts come back under the same identity and resume at once; every fourth is
            # a new worker that must wait for the dead one's lease to run out.
            owner, resume = ("slot-1", True) if i % 4 else (f"fresh-{i}", False)
            pid = workers.start(owner, resume)
            # A restarted worker needs about 0.25 s to reach its first step, and a step ~60 ms.
            time.sleep(rng.uniform(0.1, 0.6))
            workers.kill(pid)
            killed_mid_request += _state(env, record.id) != "completed"
        with env.db.connect() as conn:
            done_by_kills = conn.execute(
                sa.select(sa.func.count()).where(steps.c.request_id == record.id, steps.c.state == "done")
            ).scalar_one()
        pid = workers.start("slot-1")
        _wait_completed(env, record.id)
        workers.kill(pid)
    attempts = _check_everything_happened_once(env, business, record.id)
    # The kills really landed inside the request, and some inside steps (re-run afterwards).
    assert killed_mid_request >= KILLS // 2, (tmp_path / "worker.log").read_text()[-3000:]
    assert sum(attempts.values()) > STEPS
    print(
        f"kills mid-request: {killed_mid_request}/{KILLS}, steps done before the last restart: "
        f"{done_by_kills}/{STEPS}, steps re-run: {sum(attempts.values()) - STEPS}"
    )


def test_a_crash_between_the_effect_and_mark_done_reruns_the_step_once(
    crash_env: tuple[Env, sa.Engine], tmp_path: Path
) -> None:
    env, business = crash_env
    record = env.workflow.create_request(
        "access", [EMAIL], jurisdiction="gdpr", source="cli", operator="crash-test"
    )
    url = str(business.url.render_as_string(hide_password=False))
    with supervisor(env.db.url, url, tmp_path / "work", tmp_path / "worker.log", steps=8) as workers:
        pid = workers.start("slot-1", crash_after="effect:003")
        deadline = time.monotonic() + 30
        with business.connect() as conn:  # wait until the worker has killed itself after the effect
            while not conn.execute(
                sa.text("SELECT count(*) FROM witness WHERE step = 'effect:003'")
            ).scalar_one():
                assert time.monotonic() < deadline
                time.sleep(0.02)
                conn.rollback()
        workers.kill(pid)  # reap it (it is already dead)
        with env.db.connect() as conn:
            state = conn.execute(
                sa.select(steps.c.state).where(steps.c.request_id == record.id, steps.c.name == "effect:003")
            ).scalar_one()
        assert state == "running"  # the effect committed, the step was never marked done
        pid = workers.start("slot-1")
        _wait_completed(env, record.id)
        workers.kill(pid)
    attempts = _check_everything_happened_once(env, business, record.id, steps_count=8)
    assert attempts["effect:003"] == 2 and attempts["effect:004"] == 1
