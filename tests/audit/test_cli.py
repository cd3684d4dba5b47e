"""``pledge audit verify|prove|head|consistency|key`` end to end, with the contract's exit codes."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from pledge.audit import AuditLog, HeadSigner
from pledge.audit.signing import load_signer
from pledge.cli.main import app
from pledge.config import Settings
from pledge.storage import Database
from tests.audit.conftest import fill
from tests.audit.test_proofs import doc_verifiers


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    data = tmp_path / ".pledge"
    data.mkdir()
    url = f"sqlite:///{data / 'pledge.db'}"
    settings = Settings.from_env({"PLEDGE_DATA_DIR": str(data), "PLEDGE_DB_URL": url})
    db = Database(url)
    db.migrate()
    log = AuditLog.from_settings(settings, db, flush_interval=None)
    fill(log, 120)
    log.close()
    db.dispose()
    return {"PLEDGE_DATA_DIR": str(data), "PLEDGE_DB_URL": url}


def run(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["audit", *args], env=env)
    return result.exit_code, result.output


def tamper(env: dict[str, str], statement: str) -> None:
    engine = sa.create_engine(env["PLEDGE_DB_URL"])
    with engine.begin() as conn:
        conn.execute(sa.text(statement))
    engine.dispose()


def test_verify_passes_then_names_the_tampered_entry(env: dict[str, str]) -> None:
    code, out = run(env, "verify")
    assert code == 0 and out.startswith("ok: 120 entries verified")
    code, out = run(env, "verify", "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["size"] == 120 and report["signatures_checked"]
    tamper(env, "UPDATE audit_entries SET payload = '{}' WHERE seq = 57")
    code, out = run(env, "verify")
    assert code == 1 and "entry 57: tampered" in out
    code, out = run(env, "verify", "--json")
    report = json.loads(out)
    assert code == 1 and report["first"]["index"] == 57 and report["first"]["reason"] == "tampered"


def test_verify_names_removed_and_reordered_entries(env: dict[str, str]) -> None:
    tamper(env, "DELETE FROM audit_entries WHERE seq = 30")
    code, out = run(env, "verify")
    assert code == 1 and "entry 30: removed" in out


def test_head_sign_prove_and_consistency(env: dict[str, str]) -> None:
    code, out = run(env, "head")
    assert code == 0 and "size 120" in out  # from_settings signed a head every 1000: none yet at 120
    code, out = run(env, "head", "--sign", "--json")
    signed = json.loads(out)["signed"]
    assert code == 0 and signed["tree_size"] == 120
    code, out = run(env, "prove", "42", "--json")
    proof = json.loads(out)
    key = json.loads(run(env, "key", "--json")[1])
    verifiers = doc_verifiers()
    assert code == 0 and verifiers["inclusion"](proof, key["public_key"])
    assert proof["head"]["signature"] == signed["signature"]
    code, out = run(env, "prove", "42")
    assert code == 0 and "entry 42 is in the log of 120 entries" in out
    code, out = run(env, "consistency", "50", "120", "--json")
    assert code == 0 and verifiers["consistency"](json.loads(out))
    code, out = run(env, "consistency", "50")
    assert code == 0 and "is a prefix of the log of 120 entries" in out


def test_key_is_created_once_with_private_permissions(env: dict[str, str], tmp_path: Path) -> None:
    code, out = run(env, "key")
    path = Path(env["PLEDGE_DATA_DIR"]) / "audit-signing-key.pem"
    assert code == 0 and "-----BEGIN PUBLIC KEY-----" in out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    signer = load_signer(path)
    assert f"hex {signer.public_hex}" in out and f"key id {signer.key_id}" in out
    assert run(env, "key")[1] == out


def test_verify_against_a_given_public_key(env: dict[str, str], tmp_path: Path) -> None:
    run(env, "head", "--sign")
    signer = load_signer(Path(env["PLEDGE_DATA_DIR"]) / "audit-signing-key.pem")
    pem = tmp_path / "operator.pem"
    pem.write_text(signer.public_pem, encoding="utf-8")
    assert run(env, "verify", "--public-key", str(pem))[0] == 0
    assert run(env, "verify", "--public-key", signer.public_hex)[0] == 0
    code, out = run(env, "verify", "--public-key", HeadSigner.generate().public_hex)
    assert code == 1 and "bad_signature" in out and "not a trusted key" in out


@pytest.mark.parametrize(
    "args",
    [
        ["verify", "--db", "sqlite:///{tmp}/missing.db"],
        ["verify", "--db", "not a url"],
        ["verify", "--db", "nosuchdialect://x/y"],
        ["verify", "--public-key", "{tmp}/nowhere.pem"],
        ["verify", "--public-key", "abcd"],
        ["prove", "forty-two"],
        ["prove", "--", "-1"],
        ["prove", "5000"],
        ["consistency", "100", "50"],
        ["consistency", "10", "5000"],
        ["head", "--bogus"],
    ],
)
def test_bad_input_exits_2_and_changes_nothing(env: dict[str, str], tmp_path: Path, args: list[str]) -> None:
    before = Path(env["PLEDGE_DB_URL"].removeprefix("sqlite:///")).read_bytes()
    code, out = run(env, *[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert code == 2, out
    assert "Traceback" not in out
    assert not (tmp_path / "missing.db").exists()
    assert Path(env["PLEDGE_DB_URL"].removeprefix("sqlite:///")).read_bytes() == before


def test_a_database_without_an_audit_log_is_bad_input(env: dict[str, str], tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    engine = sa.create_engine(f"sqlite:///{other}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE unrelated (x INTEGER)"))
    engine.dispose()
    code, out = run(env, "verify", "--db", f"sqlite:///{other}")
    assert code == 2 and "no audit log" in out


def test_a_bad_key_file_is_bad_input(env: dict[str, str]) -> None:
    (Path(env["PLEDGE_DATA_DIR"]) / "audit-signing-key.pem").write_text("not a key", encoding="utf-8")
    code, out = run(env, "head", "--sign")
    assert code == 2 and "not an unencrypted PEM private key" in out
