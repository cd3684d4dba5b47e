"""``pledge request ...``: an operator runs requests from the command line."""

from __future__ import annotations

import getpass
import json
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pledge.cli.main import app
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
    }


def run(
    env: dict[str, str], shop: Shop, tmp_path: Path, *args: str, connect: bool = True
) -> tuple[int, str, str]:
    options = ["--datamap", str(tmp_path / "datamap.yaml")]
    if connect:
        options += ["--connect", f"shop={shop.shop_url}", "--connect", f"marketing={shop.marketing_url}"]
    result = CliRunner().invoke(app, ["request", *args, *options], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_access_writes_the_archive_where_asked(
    env: dict[str, str], sqlite_shop: Shop, tmp_path: Path
) -> None:
    target = tmp_path / "out" / "alice.zip"
    code, out, _ = run(env, sqlite_shop, tmp_path, "access", *ALICE, "--out", str(target))
    assert code == 0 and f"archive: {target} (15 rows from 8 collections)" in out
    with zipfile.ZipFile(target) as archive:
        assert "access/data.json" in archive.namelist()


def test_erase_reports_what_is_kept_and_records_the_operator(
    env: dict[str, str], sqlite_shop: Shop, tmp_path: Path
) -> None:
    config = ["--config", str(tmp_path / "privacy.yaml")]
    code, out, _ = run(env, sqlite_shop, tmp_path, "erase", *ALICE, *config)
    assert code == 0, out
    assert "verified: nothing personal is left" in out
    assert "kept shop:orders.total: legal hold 'tax_records'" in out and "until 2034-02-28" in out
    code, out, _ = run(env, sqlite_shop, tmp_path, "exists", *ALICE, "--json")
    assert code == 0 and json.loads(out)["summary"]["found"] is False

    from pledge.audit import AuditLog
    from pledge.storage import Database

    database = Database(env["PLEDGE_DB_URL"])
    log = AuditLog(database, flush_interval=None)
    entries = log.entries()
    log.close()
    database.dispose()
    kinds = [e.kind for e in entries]
    # With a declaration the erasure is a request in the queue, run by the operator; without one
    # (the exists above) it runs once, audited as the operator's doing.
    received = next(e for e in entries if e.kind == "request.received")
    assert received.payload["source"] == "cli" and received.payload["by"] == getpass.getuser()
    assert kinds.count("request.completed") == 1 and kinds.count("request.step_done") >= 3
    assert kinds.count("request.operator_started") == 1 and kinds.count("request.operator_completed") == 1
    completed = next(e for e in entries if e.kind == "request.operator_completed")
    assert completed.payload["by"] == getpass.getuser() and completed.payload["summary"]["found"] is False
    assert "alice" not in json.dumps([e.payload for e in entries])


def test_plan_touches_no_data(env: dict[str, str], sqlite_shop: Shop, tmp_path: Path) -> None:
    before = sqlite_shop.snapshot()
    code, out, _ = run(
        env, sqlite_shop, tmp_path, "erase", *ALICE, "--plan", "--config", str(tmp_path / "privacy.yaml")
    )
    assert code == 0
    assert "1. shop:customers  by email = identity email" in out
    assert "marketing:events: delete rows" in out
    assert sqlite_shop.snapshot() == before
    assert not (tmp_path / "pledge.db").exists()  # not even Pledge's own store was opened


def test_rectify_checks_the_value(env: dict[str, str], sqlite_shop: Shop, tmp_path: Path) -> None:
    before = sqlite_shop.snapshot()
    code, _, err = run(env, sqlite_shop, tmp_path, "rectify", *ALICE, "--set", "user.contact.email=nope")
    assert code == 2 and "is not an e-mail address" in err
    assert sqlite_shop.snapshot() == before
    code, out, _ = run(
        env, sqlite_shop, tmp_path, "rectify", *ALICE, "--set", "user.contact.phone_number=+44 1"
    )
    assert code == 0 and "verified" in out


def test_connections_may_come_from_the_environment(
    env: dict[str, str], sqlite_shop: Shop, tmp_path: Path
) -> None:
    env = {
        **env,
        "PLEDGE_CONNECT_SHOP": sqlite_shop.shop_url,
        "PLEDGE_CONNECT_MARKETING": sqlite_shop.marketing_url,
    }
    code, out, _ = run(env, sqlite_shop, tmp_path, "exists", *ALICE, connect=False)
    assert code == 0 and out.startswith("found: shop:customers")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["exists", "--identity", "alice@example.com"], "expected KIND=VALUE"),
        (["exists", "--identity", "mail=alice@example.com"], "did you mean 'email'?"),
        (
            ["erase", *ALICE, "--connect", "shop=oracle://x", "--connect", "marketing=sqlite://"],
            "no connector handles URLs starting with 'oracle:'",
        ),
        (["rectify", *ALICE, "--set", "user.name"], "expected CATEGORY=VALUE"),
        (["restrict", *ALICE], "needs the declaration"),
    ],
)
def test_bad_input_exits_2_and_changes_nothing(
    env: dict[str, str], sqlite_shop: Shop, tmp_path: Path, args: list[str], message: str
) -> None:
    before = sqlite_shop.snapshot()
    code, _, err = run(env, sqlite_shop, tmp_path, *args, connect="--connect" not in args)
    assert code == 2 and message in err, err
    assert sqlite_shop.snapshot() == before


def test_datamap_errors_are_located(env: dict[str, str], sqlite_shop: Shop, tmp_path: Path) -> None:
    (tmp_path / "datamap.yaml").write_text(DATAMAP.replace("[user.contact.email]", "[user.contact.emial]", 1))
    code, _, err = run(env, sqlite_shop, tmp_path, "access", *ALICE)
    assert code == 2
    assert f"{tmp_path / 'datamap.yaml'}:11:31: error: unknown data category 'user.contact.emial'" in err
    code, _, err = run(env, sqlite_shop, tmp_path, "access", *ALICE, connect=False)
    assert code == 2


def test_restrict_is_recorded_once_in_the_consent_ledger(
    env: dict[str, str], sqlite_shop: Shop, tmp_path: Path
) -> None:
    args = ["restrict", *ALICE, "--config", str(tmp_path / "privacy.yaml"), "--purpose", "orders", "--json"]
    result = CliRunner().invoke(app, ["request", *args], env=env)
    assert result.exit_code == 0, result.output
    step = json.loads(result.stdout)["steps"]["restrict:record"]
    assert step["right"] == "restrict" and len(step["recorded"]) == 1
