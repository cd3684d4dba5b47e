"""The executor as the durable workflow's planner: requests recorded, run by the runner, reported."""

from __future__ import annotations

import zipfile
from pathlib import Path

from pledge.requests.reports import archive, request_report
from pledge.requests.steps import Identity
from tests.requests.fixtures_shop import (
    Shop,
    customers,
    sqlite_shop_fixture,  # noqa: F401  (the fixture named sqlite_shop)
)
from tests.requests.support import build

ALICE = [Identity("email", "Alice@Example.com")]  # the workflow normalises e-mail addresses


def test_an_erase_request_runs_through_the_workflow(sqlite_shop: Shop, tmp_path: Path) -> None:
    env = build(f"sqlite:///{tmp_path / 'pledge.db'}", tmp_path, planner=sqlite_shop.executor())
    try:
        record = env.workflow.create_request(
            "erase", ALICE, jurisdiction="gdpr", source="cli", operator="ops"
        )
        env.workflow.approve(record.id, by="dpo")
        done = env.runner.run_until_done(record.id, timeout=60)
        assert done.state == "completed", done.error
        report = request_report(env.services, record.id)
        steps = {s["name"]: s for s in report["steps"]}
        assert steps["erase:verify"]["result"]["verified"] is True
        assert all(s["state"] == "done" and s["attempts"] == 1 for s in report["steps"])
        held = [k for k in report["kept"] if k.get("law")]
        assert {(k["collection"], k["field"]) for k in held} == {
            ("shop:orders", "total"),
            ("shop:payments", "amount"),
            ("shop:payments", "card_last4"),
        }
        assert [r["email"].startswith("h$") for r in sqlite_shop.rows(customers)] == [True, False, False]
    finally:
        env.db.dispose()


def test_an_access_request_leaves_the_archive_the_workflow_serves(sqlite_shop: Shop, tmp_path: Path) -> None:
    env = build(f"sqlite:///{tmp_path / 'pledge.db'}", tmp_path, planner=sqlite_shop.executor())
    try:
        record = env.workflow.create_request(
            "access", ALICE, jurisdiction="gdpr", source="cli", operator="ops"
        )
        assert env.runner.run_until_done(record.id, timeout=60).state == "completed"
        with zipfile.ZipFile(archive(env.services, record.id)) as bundle:
            names = bundle.namelist()
        assert "access/data.json" in names and "access/manifest.json" in names
        assert request_report(env.services, record.id)["archive"][0].startswith("access/")
    finally:
        env.db.dispose()
