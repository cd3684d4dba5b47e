"""The two halves together: the workflow persists and runs the real execution steps
(``RequestExecutor``) over the two-database shop, resumes them after a crash, and hands out the
access archive."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import pytest

from pledge.requests.execute import RequestExecutor
from pledge.requests.runner import Runner
from pledge.requests.steps import Identity, RequestKind, StepContext, StepSpec
from tests.requests.fixtures_shop import Shop, declaration, sqlite_shop_fixture  # noqa: F401
from tests.requests.support import Clock, Env

ALICE = [Identity("email", "alice@example.com")]


class Crash(BaseException):
    """kill -9 in the middle of the request."""


class CrashAfter:
    """The real planner, except that the worker dies right after step ``at`` did its work."""

    def __init__(self, inner: RequestExecutor, at: int) -> None:
        self.inner, self.at, self.crashed = inner, at, False

    def plan(
        self, kind: RequestKind, identities: Sequence[Identity], params: Mapping[str, Any]
    ) -> list[StepSpec]:
        specs = self.inner.plan(kind, identities, params)
        real = specs[self.at].run

        def run(ctx: StepContext) -> Mapping[str, Any]:
            result = real(ctx)
            if not self.crashed:
                self.crashed = True
                raise Crash
            return result

        specs[self.at] = replace(specs[self.at], run=run)
        return specs


def _env(make_env: Callable[..., Env], sqlite_url: str, shop: Shop, **options: Any) -> Env:
    loaded = declaration()
    return make_env(sqlite_url, planner=shop.executor(loaded), decl=loaded.declaration, **options)


def test_an_access_request_runs_the_real_steps_and_yields_the_archive(
    sqlite_shop: Shop, make_env: Callable[..., Env], sqlite_url: str
) -> None:
    env = _env(make_env, sqlite_url, sqlite_shop)
    record = env.workflow.create_request("access", ALICE, source="cli", operator="alice.op")
    assert env.runner.run_request(record.id) == "completed"
    with zipfile.ZipFile(env.workflow.archive(record.id)) as bundle:
        data = json.loads(bundle.read(next(n for n in bundle.namelist() if n.endswith("data.json"))))
    (alice,) = data["shop:customers"]
    assert alice["email"] == "alice@example.com"
    assert {s["state"] for s in env.workflow.request_report(record.id)["steps"]} == {"done"}


def test_an_erasure_killed_midway_resumes_and_proves_nothing_is_left(
    sqlite_shop: Shop, make_env: Callable[..., Env], sqlite_url: str
) -> None:
    clock = Clock()
    env = _env(make_env, sqlite_url, sqlite_shop, clock=clock)
    record = env.workflow.create_request("erase", ALICE, source="cli", operator="alice.op")
    steps = env.planner.plan("erase", ALICE, {})
    assert len(steps) >= 3
    crashing = Runner(
        env.services, CrashAfter(env.planner, len(steps) // 2), owner="w1", lease=env.runner.lease
    )
    with pytest.raises(Crash):
        crashing.run_request(record.id)
    clock.advance(seconds=60)  # the dead worker's lease runs out
    assert env.runner.run_request(record.id) == "completed"
    report = env.workflow.request_report(record.id)
    rerun = report["steps"][len(steps) // 2]
    assert rerun["attempts"] == 2 and rerun["state"] == "done"
    verify = next(s for s in report["steps"] if s["name"].endswith("verify"))
    assert verify["result"]["verified"] is True and verify["result"]["residual"] == []
    assert any(k.get("law") == "Tax code, 10-year bookkeeping" for k in report["kept"])

    exists = env.workflow.create_request("exists", ALICE, source="cli", operator="alice.op")
    env.runner.run_request(exists.id)
    assert [s["result"] for s in env.workflow.request_report(exists.id)["steps"]] == [
        {"found": False, "collections": []}
    ]
