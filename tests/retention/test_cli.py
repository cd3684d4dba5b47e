"""``pledge retention run|plan`` and ``pledge minors purge`` from the command line: output, exit
codes, bad input that changes nothing, and a sweep killed with SIGKILL that the next run resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from pledge.cli.main import app
from tests.retention.fixtures import (
    DATAMAP,
    DECLARATION,
    Shop,
    make_shop,
    sqlite_shop_fixture,  # noqa: F401 - fixture
    telemetry,
)
from tests.retention.test_resume import many_telemetry

LOGS = """\
server_logs:
  categories: [user.device.ip_address]
  purposes: [telemetry]
  raw_retention: P30D
  anonymised_retention: P1Y
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "datamap.yaml").write_text(DATAMAP, encoding="utf-8")
    (tmp_path / "privacy.yaml").write_text(DECLARATION + LOGS, encoding="utf-8")
    return {
        "PLEDGE_DATA_DIR": str(tmp_path / ".pledge"),
        "PLEDGE_DB_URL": f"sqlite:///{tmp_path / 'pledge.db'}",
        "PLEDGE_DECLARATION": "",
        "COLUMNS": "160",
    }


def cli(env: dict[str, str], tmp_path: Path, shop: Shop | None, *args: str) -> tuple[int, str, str]:
    options = ["--config", str(tmp_path / "privacy.yaml")]
    if shop is not None:
        options += ["--datamap", str(tmp_path / "datamap.yaml"), "--connect", f"shop={shop.url}"]
    result = CliRunner().invoke(app, [*args, *options], env=env)
    return result.exit_code, result.stdout, result.stderr


NOW = ["--now", "2025-06-15T12:00:00Z"]


def audit_kinds(tmp_path: Path) -> list[str]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'pledge.db'}")
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text("SELECT kind FROM audit_entries ORDER BY seq")).scalars())
    finally:
        engine.dispose()


def test_plan_shows_rules_rows_actions_and_laws_and_changes_nothing(
    env: dict[str, str], sqlite_shop: Shop, tmp_path: Path
) -> None:
    before = sqlite_shop.snapshot()
    code, out, err = cli(env, tmp_path, sqlite_shop, "retention", "plan", *NOW)
    assert code == 0, err
    assert "Retention dry run (nothing was changed)" in out
    assert "shop:customers" in out and "1 (tax_records)" in out
    assert "kept by tax_records: Tax code, seven-year bookkeeping, until 2029-06-16" in out
    assert "mask: ip, user_agent" in out
    assert "suppression_list: kept indefinitely, never swept (shop:suppressions)" in out
    assert sqlite_shop.snapshot() == before
    assert not (tmp_path / "pledge.db").exists()  # a dry run does not even create Pledge's database


def test_run_json_then_nothing_left_to_do(env: dict[str, str], sqlite_shop: Shop, tmp_path: Path) -> None:
    code, out, err = cli(env, tmp_path, sqlite_shop, "retention", "run", "--json", *NOW)
    assert code == 0, err
    report = json.loads(out)["sweep"]
    assert report["ok"] and not report["dry_run"]
    assert sum(u["deleted"] for u in report["units"]) == 8
    assert audit_kinds(tmp_path).count("retention.swept") == 6
    code, out, _ = cli(env, tmp_path, sqlite_shop, "retention", "run", "--json", *NOW)
    again = json.loads(out)["sweep"]
    assert code == 0 and sum(u["deleted"] + u["updated"] for u in again["units"]) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rule", "acount"], "no retention rule 'acount'"),
        (["--now", "yesterday"], "--now 'yesterday' is not an ISO 8601 date or time"),
        (["--now", "2025-02-30"], "is not an ISO 8601 date or time"),
        (["--batch", "0"], "Invalid value for '--batch'"),
    ],
)
def test_bad_input_exits_2_and_changes_nothing(
    env: dict[str, str], sqlite_shop: Shop, tmp_path: Path, args: list[str], message: str
) -> None:
    before = sqlite_shop.snapshot()
    code, out, err = cli(env, tmp_path, sqlite_shop, "retention", "run", *args)
    assert code == 2, (out, err)
    assert message in err
    assert sqlite_shop.snapshot() == before
    assert not (tmp_path / "pledge.db").exists()


def test_unknown_rule_hints_at_the_close_name(env: dict[str, str], sqlite_shop: Shop, tmp_path: Path) -> None:
    code, _, err = cli(env, tmp_path, sqlite_shop, "retention", "run", "--rule", "acount")
    assert code == 2 and "did you mean 'account'?" in err


def test_an_unbound_rule_is_a_located_error(env: dict[str, str], sqlite_shop: Shop, tmp_path: Path) -> None:
    unbound = "".join(
        line for line in DATAMAP.splitlines(True) if "{last_activity: last_activity_at}" not in line
    )
    assert unbound != DATAMAP
    (tmp_path / "datamap.yaml").write_text(unbound, encoding="utf-8")
    before = sqlite_shop.snapshot()
    code, _, err = cli(env, tmp_path, sqlite_shop, "retention", "run", *NOW)
    assert code == 2
    lines = DECLARATION.splitlines()
    line = next(
        i for i, text in enumerate(lines, 1) if text == "  - id: support" and i > lines.index("retention:")
    )
    assert f"privacy.yaml:{line}:" in err
    assert "rule 'support' cannot be bound" in err and "last_activity" in err
    assert "retention_clocks: {tickets: {last_activity: <date or time column>}}" in err
    assert sqlite_shop.snapshot() == before


def test_a_bad_clock_is_located_in_the_datamap(
    env: dict[str, str], sqlite_shop: Shop, tmp_path: Path
) -> None:
    bad = DATAMAP.replace("orders: {order_date: placed_at}", "orders: {order_date: placed_on}")
    (tmp_path / "datamap.yaml").write_text(bad, encoding="utf-8")
    code, _, err = cli(env, tmp_path, sqlite_shop, "retention", "plan")
    line = next(i for i, text in enumerate(bad.splitlines(), 1) if "placed_on" in text)
    assert code == 2
    assert (
        f"datamap.yaml:{line}:" in err
        and "no column 'placed_on'" in err
        and "did you mean 'placed_at'?" in err
    )


def test_an_unreachable_database_fails_clearly_and_changes_nothing(
    env: dict[str, str], sqlite_shop: Shop, tmp_path: Path
) -> None:
    options = ["--config", str(tmp_path / "privacy.yaml"), "--datamap", str(tmp_path / "datamap.yaml")]
    dead = "postgresql+psycopg://nobody:secret@127.0.0.1:9/nothing"
    result = CliRunner().invoke(app, ["retention", "run", *options, "--connect", f"shop={dead}"], env=env)
    assert result.exit_code == 1
    assert "shop: reading the schema failed" in result.stderr and "secret" not in result.stderr
    assert not (tmp_path / "pledge.db").exists()


def test_nothing_to_sweep_is_bad_input(env: dict[str, str], tmp_path: Path) -> None:
    code, _, err = cli(env, tmp_path, None, "retention", "run")
    assert code == 2 and "nothing to sweep" in err


def test_raw_logs_are_swept_with_the_databases(
    env: dict[str, str], sqlite_shop: Shop, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "access.log.1").write_text('1.2.3.4 - - [01/Apr/2025:10:00:00 +0000] "GET / HTTP/1.1" 200 1\n')
    (logs / "access.log").write_text('1.2.3.4 - - [14/Jun/2025:10:00:00 +0000] "GET / HTTP/1.1" 200 1\n')
    code, out, err = cli(env, tmp_path, sqlite_shop, "retention", "plan", *NOW, "--raw-logs", str(logs))
    assert code == 0, err
    assert "access.log.1" in out and "delete" in out
    assert (logs / "access.log.1").exists()
    code, out, err = cli(
        env, tmp_path, sqlite_shop, "retention", "run", *NOW, "--raw-logs", str(logs), "--json"
    )
    assert code == 0, err
    assert json.loads(out)["logs"]["deleted"] == 1
    assert sorted(p.name for p in logs.iterdir()) == ["access.log"]
    assert "retention.logs" in audit_kinds(tmp_path)


def test_minors_purge(env: dict[str, str], sqlite_shop: Shop, tmp_path: Path) -> None:
    code, out, err = cli(env, tmp_path, sqlite_shop, "minors", "purge", *NOW, "--json")
    assert code == 0, err
    subjects = json.loads(out)["subjects"]
    assert [s["status"] for s in subjects] == ["purged"]
    assert {k["law"] for k in subjects[0]["kept"]} == {"Tax code, seven-year bookkeeping"}
    code, out, _ = cli(env, tmp_path, sqlite_shop, "minors", "purge", *NOW)
    assert code == 0 and "no one under 16 was found" in out


def test_minors_purge_refuses_when_the_declaration_blocks_instead(
    env: dict[str, str], sqlite_shop: Shop, tmp_path: Path
) -> None:
    text = (DECLARATION + LOGS).replace("on_detection: purge", "on_detection: block")
    (tmp_path / "privacy.yaml").write_text(text, encoding="utf-8")
    code, _, err = cli(env, tmp_path, sqlite_shop, "minors", "purge", "--identity", "email=eve@example.com")
    assert code == 2 and "'block'" in err


_KILLER = textwrap.dedent(
    """\
    import os, sys
    import pledge.retention.sweep as sweep
    real = sweep.erase_collection
    calls = [0]
    def dying(*args, **kw):
        result = real(*args, **kw)
        if not kw.get("dry_run"):
            calls[0] += 1
            if calls[0] == int(os.environ["KILL_AFTER"]):
                os.kill(os.getpid(), 9)
        return result
    sweep.erase_collection = dying
    from pledge.cli.main import run
    sys.argv = ["pledge", *sys.argv[1:]]
    run()
    """
)


def test_a_sweep_killed_with_sigkill_is_resumed_by_the_next_run(
    env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    (tmp_path / "twin").mkdir()
    shop = make_shop("sqlite", request, tmp_path, {telemetry: many_telemetry(300)})
    twin = make_shop("sqlite", request, tmp_path / "twin", {telemetry: many_telemetry(300)})
    try:
        twin.sweep(twin.plan(rules=["telemetry"]))
        expected = twin.snapshot()
        config, datamap = str(tmp_path / "privacy.yaml"), str(tmp_path / "datamap.yaml")
        args = ["retention", "run", "--config", config, "--datamap", datamap, "--connect", f"shop={shop.url}"]
        args += ["--batch", "25", *NOW]
        full_env: dict[str, Any] = {**os.environ, **env, "KILL_AFTER": "3"}
        killed = subprocess.run(
            [sys.executable, "-c", _KILLER, *args], env=full_env, capture_output=True, timeout=120
        )
        assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
        done = subprocess.run(
            [sys.executable, "-c", _KILLER, *args, "--json"],
            env={**full_env, "KILL_AFTER": "0"},
            capture_output=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr.decode()
        report = json.loads(done.stdout)["sweep"]
        assert report["resumed"] is True  # the dead process's lease did not block it
        # The same rows were rewritten as by an uninterrupted run (the masks differ: the CLI has
        # its own hash key), and no row twice (a mask is a fixed point).
        after, clean, original = shop.snapshot()["telemetry"], expected["telemetry"], many_telemetry(300)
        for row, twin_row, first in zip(after, clean, original, strict=True):
            assert (row[2] == first["ip"]) == (twin_row[2] == first["ip"]), first["id"]
        assert sum(row[2] != first["ip"] for row, first in zip(after, original, strict=True)) == 200
    finally:
        shop.close()
        twin.close()
