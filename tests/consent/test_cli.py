from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pledge.cli.main import app
from tests.policy.conftest import SHOP


def make_env(tmp_path: Path, db_url: str) -> dict[str, str]:
    config = tmp_path / "privacy.yaml"
    config.write_text(SHOP, encoding="utf-8")
    return {
        "PLEDGE_DATA_DIR": str(tmp_path / ".pledge"),
        "PLEDGE_DB_URL": db_url,
        "PLEDGE_DECLARATION": str(config),
    }


@pytest.fixture
def env(tmp_path: Path, db_url: str) -> dict[str, str]:
    return make_env(tmp_path, db_url)


@pytest.fixture
def sqlite_env(tmp_path: Path, sqlite_url: str) -> dict[str, str]:
    return make_env(tmp_path, sqlite_url)  # input checks do not depend on the database


def run(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.output


def test_grant_show_decide_withdraw(env: dict[str, str]) -> None:
    who = ["--identity", "email=Ann@Example.com"]
    code, out = run(
        env, "decide", *who, "-p", "newsletter", "--categories", "user.contact.email", "-c", "email"
    )
    assert code == 1 and "denied: consent_missing" in out
    code, out = run(
        env, "consent", "grant", *who, "-p", "newsletter", "-c", "email", "--proof", "ticked the box"
    )
    assert code == 0 and "recorded grant of newsletter by email" in out
    code, out = run(
        env, "decide", *who, "-p", "newsletter", "--categories", "user.contact.email,user.name", "--json"
    )
    assert code == 0
    decision = json.loads(out)
    assert decision["allowed"] is True and decision["reason"] == "consented"
    assert decision["categories"] == ["user.contact.email", "user.name"]
    code, out = run(env, "consent", "withdraw", "--identity", "email=ann@example.com", "-p", "newsletter")
    assert code == 0
    code, out = run(env, "consent", "show", *who, "--json")
    shown = json.loads(out)
    assert [e["kind"] for e in shown["events"]] == ["grant", "withdraw"]
    newsletter = next(p for p in shown["purposes"] if p["purpose"] == "newsletter")
    assert newsletter["reason"] == "consent_withdrawn" and newsletter["channels"] == {
        "email": "consent_withdrawn"
    }
    assert "ann@example.com" not in out.lower()  # the report names the pseudonymous subject only
    code, out = run(env, "consent", "show", *who)
    assert code == 0 and "newsletter" in out and "withdraw" in out
    code, out = run(
        env, "decide", *who, "-p", "list_rental", "--categories", "user.name", "-r", "list_broker", "--gpc"
    )
    assert code == 1 and "gpc_opt_out" in out


def test_objection_and_minors(env: dict[str, str]) -> None:
    code, out = run(env, "consent", "object", "-i", "email=bob@example.com", "-p", "list_rental", "--json")
    assert code == 0 and json.loads(out)["kind"] == "object"
    code, out = run(
        env, "decide", "-i", "email=bob@example.com", "-p", "list_rental", "--categories", "user.name"
    )
    assert code == 1 and "objection" in out
    code, out = run(env, "consent", "minors", "--json")
    assert code == 0 and json.loads(out) == []
    code, out = run(env, "consent", "minors")
    assert "no subjects" in out


@pytest.mark.parametrize(
    "args",
    [
        ["consent", "grant", "-i", "ann@example.com", "-p", "newsletter"],
        ["consent", "grant", "-i", "email=not-an-address", "-p", "newsletter"],
        ["consent", "grant", "-i", "email=ann@example.com", "-p", "nope"],
        ["consent", "grant", "-i", "email=ann@example.com", "-p", "orders"],
        ["consent", "withdraw", "-i", "email=ann@example.com", "--source", "fax"],
        ["decide", "-i", "email=ann@example.com", "-p", "orders", "--categories", " , "],
        ["consent", "show", "-i", "email=ann@example.com", "--config", "/nonexistent/privacy.yaml"],
    ],
)
def test_bad_input_exits_2_with_a_message(sqlite_env: dict[str, str], args: list[str]) -> None:
    code, out = run(sqlite_env, *args)
    assert code == 2, out
    assert "error" in out and "Traceback" not in out
