"""``pledge request ...`` with a declaration: a real request in the queue, run by the operator,
listed and shown, resumed after an interruption; approval honoured; --plan and --dry-run queue
nothing."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from pledge.cli.main import app
from pledge.config import Settings
from pledge.requests.steps import Identity
from pledge.requests.tables import requests
from pledge.system import Pledge
from tests.requests.fixtures_shop import (
    DATAMAP,
    DECLARATION,
    Shop,
    sqlite_shop_fixture,  # noqa: F401  (the fixture named sqlite_shop)
)

ALICE = ["--identity", "email=alice@example.com"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "datamap.yaml").write_text(DATAMAP, encoding="utf-8")
    (tmp_path / "privacy.yaml").write_text(DECLARATION, encoding="utf-8")
    return {
        "PLEDGE_DATA_DIR": str(tmp_path / ".pledge"),
        "PLEDGE_DB_URL": f"sqlite:///{tmp_path / 'pledge.db'}",
        "PLEDGE_DECLARATION": str(tmp_path / "privacy.yaml"),
    }


def cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def shop_options(shop: Shop, tmp_path: Path) -> list[str]:
    return [
        "--datamap", str(tmp_path / "datamap.yaml"),
        "--connect", f"shop={shop.shop_url}", "--connect", f"marketing={shop.marketing_url}",
    ]  # fmt: skip


def queued(env: dict[str, str]) -> list[dict[str, object]]:
    code, out, err = cli(env, "request", "list", "--json")
    assert code == 0, err
    listed: list[dict[str, object]] = json.loads(out)
    return listed


def test_an_operators_request_is_queued_run_and_reported(
    env: dict[str, str], sqlite_shop: Shop, tmp_path: Path
) -> None:
    target = tmp_path / "alice.zip"
    who = ["--identity", "email=Alice@Example.COM"]
    code, out, err = cli(
        env, "request", "access", *who, *shop_options(sqlite_shop, tmp_path), "--out", str(target)
    )
    assert code == 0, err
    assert f"archive: {target} (15 rows from 8 collections)" in out  # found whatever the case typed
    [listed] = queued(env)
    assert listed["kind"] == "access" and listed["state"] == "completed" and listed["source"] == "cli"
    assert (
        listed["operator"] == getpass.getuser() and listed["verified_by"] == f"operator:{getpass.getuser()}"
    )
    assert f"request {listed['id']}" in err

    code, out, _ = cli(env, "request", "list")
    assert code == 0 and f"{listed['id']}  access" in out and "completed" in out
    code, out, _ = cli(env, "request", "show", str(listed["id"]), "--json")
    report = json.loads(out)
    assert code == 0 and [s["state"] for s in report["steps"]] == ["done"]
    assert report["archive"] and "alice" not in json.dumps(report["request"]).lower()
    code, out, _ = cli(env, "request", "show", str(listed["id"]))
    assert code == 0 and "step access:collect: done" in out and "run by" in out
    code, _, err = cli(env, "request", "show", "0" * 32)
    assert code == 2 and "no such request" in err


def test_approval_is_required_unless_the_operator_gives_it(
    env: dict[str, str], sqlite_shop: Shop, tmp_path: Path
) -> None:
    (tmp_path / "privacy.yaml").write_text(
        DECLARATION.replace("deadline: P1M\n", "deadline: P1M\n    approval: true\n", 1), encoding="utf-8"
    )
    before = sqlite_shop.snapshot()
    code, _, err = cli(env, "request", "erase", *ALICE, *shop_options(sqlite_shop, tmp_path))
    assert code == 1 and "requires approval of erasure requests" in err and "--approve" in err
    assert sqlite_shop.snapshot() == before and queued(env) == []  # nothing recorded, nothing touched
    code, out, err = cli(env, "request", "erase", *ALICE, *shop_options(sqlite_shop, tmp_path), "--approve")
    assert code == 0, err
    assert "verified: nothing personal is left" in out
    [listed] = queued(env)
    assert listed["state"] == "completed" and listed["decision_by"] == getpass.getuser()
    assert listed["approved_at"] is not None and listed["requires_approval"] is True


def test_plan_and_dry_run_queue_nothing(env: dict[str, str], sqlite_shop: Shop, tmp_path: Path) -> None:
    before = sqlite_shop.snapshot()
    code, out, _ = cli(env, "request", "erase", *ALICE, *shop_options(sqlite_shop, tmp_path), "--plan")
    assert code == 0 and "search order:" in out
    assert not (tmp_path / "pledge.db").exists()
    code, out, _ = cli(env, "request", "restrict", *ALICE, "--plan", "--json")
    assert code == 0 and [s["name"] for s in json.loads(out)["steps"]] == ["restrict:record"]
    code, out, err = cli(env, "request", "erase", *ALICE, *shop_options(sqlite_shop, tmp_path), "--dry-run")
    assert code == 0, err
    assert "not verified (dry run)" in out
    assert sqlite_shop.snapshot() == before and queued(env) == []


def test_bad_input_records_no_request(env: dict[str, str], sqlite_shop: Shop, tmp_path: Path) -> None:
    options = shop_options(sqlite_shop, tmp_path)
    for args, message in [
        (["exists", "--identity", "mail=alice@example.com", *options], "did you mean 'email'?"),
        (["rectify", *ALICE, *options, "--set", "user.contact.email=nope"], "is not an e-mail address"),
        (["access", *ALICE, *options, "--jurisdiction", "mars"], "mars"),
        (["access", "--identity", "email=a@b.example\r\nBcc: x@y.example", *options], "e-mail address"),
    ]:
        code, _, err = cli(env, "request", *args)
        assert code == 2 and message in err, err
    assert queued(env) == []


def test_an_interrupted_request_is_resumed_without_redoing_finished_steps(
    env: dict[str, str], sqlite_shop: Shop, tmp_path: Path
) -> None:
    settings = Settings.from_env(env)
    urls = {"shop": sqlite_shop.shop_url, "marketing": sqlite_shop.marketing_url}
    with Pledge.open(
        settings,
        declaration=tmp_path / "privacy.yaml",
        datamaps=[tmp_path / "datamap.yaml"],
        connections=urls,
        cross_process=False,
    ) as system:
        record = system.workflow.create_request(
            "erase", [Identity("email", "alice@example.com")], source="cli", operator="ops"
        )

        def crash(done: int, total: int, step: str) -> None:
            if done == 2:  # the second step ran; the process dies before recording it
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            system.run_request(record.id, progress=crash)
        with system.db.begin() as conn:  # the dead process's lease has run out
            conn.execute(sa.update(requests).values(lease_expires=system.now()))
    code, _, err = cli(env, "request", "resume", record.id)
    assert code == 2 and "pass the same --datamap" in err  # never planned without the datamap
    code, out, err = cli(env, "request", "resume", record.id, *shop_options(sqlite_shop, tmp_path))
    assert code == 0, err
    assert "verified: nothing personal is left" in out
    with Pledge.open(settings, declaration=tmp_path / "privacy.yaml", cross_process=False) as system:
        from pledge.audit.log import AuditLog

        assert isinstance(system.audit, AuditLog)
        entries = [e for e in system.audit.entries() if e.payload.get("request") == record.id]
    done = [e.payload["step"] for e in entries if e.kind == "request.step_done"]
    assert done[0] == "erase:collect" and len(done) == len(set(done))  # each step recorded once
    assert [e.kind for e in entries].count("request.completed") == 1
    code, out, _ = cli(env, "request", "resume", record.id, *shop_options(sqlite_shop, tmp_path), "--json")
    assert code == 0 and json.loads(out)["request_id"] == record.id  # a finished one is just reported


def test_the_common_options_read_the_same_everywhere() -> None:
    from pledge.cli import _common

    for command in (
        ["request", "access"], ["request", "restrict"], ["request", "list"], ["consent", "show"],
        ["decide"], ["worker"], ["serve"],
    ):  # fmt: skip
        result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "400"})
        assert result.exit_code == 0
        text = " ".join(result.stdout.split())
        assert "--config" in text and _common.CONFIG_HELP.split(":")[0] in text, command
        if "--db" in text:
            assert _common.DB_HELP.split(" (")[0] in text, command
