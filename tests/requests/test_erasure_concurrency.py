"""Bulk erasure runs the steps that need not wait for each other at the same time: which wait,
and what happens when one fails."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from typing import Any, cast

import pytest

from pledge.requests.execute import RequestExecutor, erase_subjects, run_now
from pledge.requests.steps import Identity, StepContext, StepSpec
from tests.requests.fixtures_shop import (
    DECLARATION,
    Shop,
    customers,
    declaration,
    orders,
    shop_fixture,  # noqa: F401  (the fixture named shop: SQLite, PostgreSQL and MariaDB)
)

DELETE_EVERYTHING = (
    DECLARATION.split("legal_holds:")[0] + "erasure:\n  - categories: [user]\n    strategy: delete_row\n"
)


class Planned:
    """Stands in for a RequestExecutor: ``plan`` returns fixed steps."""

    def __init__(self, steps: list[StepSpec]) -> None:
        self.steps = steps

    def plan(self, kind: str, identities: Any, params: Any) -> list[StepSpec]:
        return self.steps


def test_steps_that_need_not_wait_run_at_the_same_time(tmp_path: Path) -> None:
    both_running = threading.Barrier(2, timeout=5)  # breaks unless a and b run at once
    seen: dict[str, dict[str, Any]] = {}

    def step(name: str, barrier: bool = False) -> Any:
        def run(ctx: StepContext) -> dict[str, Any]:
            seen[name] = dict(ctx.results)
            if barrier:
                both_running.wait()
            return {"step": name}

        return run

    steps = [
        StepSpec("first", step("first")),
        StepSpec("a", step("a", barrier=True), depends_on=("first",)),
        StepSpec("b", step("b", barrier=True), depends_on=("first",)),
        StepSpec("last", step("last"), depends_on=("a", "b")),
    ]
    started: list[str] = []
    outcome = run_now(
        cast(RequestExecutor, Planned(steps)),
        "erase",
        [Identity("email", "x@example.com")],
        workdir=tmp_path,
        concurrent=True,
        on_step=lambda i, n, s: started.append(s.name),
    )
    assert list(outcome["steps"]) == ["first", "a", "b", "last"]  # the plan's order, whatever finished first
    assert started[0] == "first" and started[-1] == "last"
    assert set(seen["last"]) == {"first", "a", "b"} and set(seen["a"]) == {"first"}


def test_a_failing_step_stops_what_waits_for_it(tmp_path: Path) -> None:
    ran: list[str] = []
    slow_done = threading.Event()

    def fails(ctx: StepContext) -> dict[str, Any]:
        ran.append("fails")
        raise RuntimeError("database went away")

    def slow(ctx: StepContext) -> dict[str, Any]:
        ran.append("slow")
        slow_done.wait(0.2)
        ran.append("slow done")
        return {}

    def after(ctx: StepContext) -> dict[str, Any]:
        ran.append("after")
        return {}

    steps = [
        StepSpec("fails", fails),
        StepSpec("slow", slow),
        StepSpec("after", after, depends_on=("fails", "slow")),
    ]
    with pytest.raises(RuntimeError, match="database went away"):
        run_now(cast(RequestExecutor, Planned(steps)), "erase", [], workdir=tmp_path, concurrent=True)
    assert "after" not in ran and ran[-1] == "slow done"  # the running step was waited for


def test_steps_waiting_for_each_other_are_refused(tmp_path: Path) -> None:
    steps = [
        StepSpec("a", lambda ctx: {}, depends_on=("b",)),
        StepSpec("b", lambda ctx: {}, depends_on=("a",)),
    ]
    with pytest.raises(RuntimeError, match="wait for each other: a, b"):
        run_now(cast(RequestExecutor, Planned(steps)), "erase", [], workdir=tmp_path, concurrent=True)


def test_erase_steps_wait_for_the_rows_pointing_at_theirs(shop: Shop, tmp_path: Path) -> None:
    executor = shop.executor(declaration(DELETE_EVERYTHING))
    steps = {s.name: set(s.depends_on) for s in executor.plan("erase", [Identity("email", "a@b.c")], {})}
    if shop.dialect == "sqlite":
        # One writer at a time on a SQLite file: each shop step waits for the one before.
        shop_steps = [n for n in steps if n.startswith("erase:shop:")]
        for before, after in itertools.pairwise(shop_steps):
            assert before in steps[after]
    assert {"erase:shop:order_lines", "erase:shop:payments"} <= steps["erase:shop:orders"]
    assert {"erase:shop:orders", "erase:shop:addresses"} <= steps["erase:shop:customers"]
    assert steps["erase:shop:order_lines"] >= {"erase:collect"}
    assert not any(
        n.startswith("erase:shop:") for n in steps["erase:marketing:referrals"]
    )  # another database
    assert steps["erase:verify"] == set(steps) - {"erase:verify"}

    outcome = erase_subjects(executor, [Identity("email", "alice@example.com")], workdir=tmp_path)
    assert outcome["summary"]["verification"]["verified"] is True
    assert [r["id"] for r in shop.rows(customers)] == [2, 3, 4] or 1 not in [
        r["id"] for r in shop.rows(customers)
    ]
    assert {r["customer_id"] for r in shop.rows(orders)} == {2}


def test_fields_rewritten_in_place_wait_for_nothing(shop: Shop) -> None:
    steps = {
        s.name: set(s.depends_on) for s in shop.executor().plan("erase", [Identity("email", "a@b.c")], {})
    }
    if shop.dialect != "sqlite":
        # The default shop rewrites customers' fields in place: no need to wait for their orders.
        assert steps["erase:shop:customers"] == {"erase:collect"}
