from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pledge.cli.main import app
from tests.logs.conftest import COMBINED, COMMON, declaration


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "PLEDGE_DATA_DIR": str(tmp_path / ".pledge"),
        "PLEDGE_DB_URL": f"sqlite:///{tmp_path / 'pledge.db'}",
    }


def run(env: dict[str, str], *args: str, stdin: bytes | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env, input=stdin)
    return result.exit_code, result.output


def test_ingest_writes_the_log_and_reports(env: dict[str, str], tmp_path: Path, privacy_yaml: Path) -> None:
    out = tmp_path / "anon.log"
    code, text = run(
        env, "logs", "ingest", str(COMBINED), "--out", str(out), "--config", str(privacy_yaml), "--json"
    )
    assert code == 0, text
    report = json.loads(text)
    assert report["lines"] == 521 and report["written"] == 519 and report["malformed"] == 2
    assert report["malformed_at"] == [f"{COMBINED}:41", f"{COMBINED}:521"]
    assert report["config"] == str(privacy_yaml)
    assert out.exists()
    code, text = run(env, "logs", "ingest", str(COMBINED), "--out", str(out))
    assert code == 0 and "anonymised 519 of 521 lines" in text and "skipped 2 malformed" in text


def test_ingest_to_standard_output_from_standard_input(env: dict[str, str]) -> None:
    code, text = run(env, "logs", "ingest", "-", stdin=gzip.compress(COMMON.read_bytes()))
    assert code == 0
    lines = [line for line in text.splitlines() if line.endswith('"')]
    assert len(lines) == 60 and all(line.split(" ", 1)[0].endswith(".0") for line in lines)


def test_ingest_bad_input_is_exit_2_and_changes_nothing(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "anon.log"
    code, text = run(env, "logs", "ingest", str(tmp_path / "missing.log"), "--out", str(out))
    assert code == 2 and "no such file" in text and not out.exists()
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 100)
    code, text = run(env, "logs", "ingest", str(COMBINED), str(junk), "--out", str(out))
    assert code == 2 and "access log" in text and not out.exists()
    assert "Traceback" not in text
    code, text = run(env, "logs", "ingest", str(COMBINED), "--format", "xml")
    assert code == 2
    code, text = run(env, "logs", "ingest", str(COMBINED), "--json")
    assert code == 2 and "--out" in text


def test_ingest_refuses_a_declaration_without_server_logs(env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "privacy.yaml"
    text = declaration()
    config.write_text(text[: text.index("server_logs:")], encoding="utf-8")
    code, output = run(
        env, "logs", "ingest", str(COMBINED), "--out", str(tmp_path / "x.log"), "--config", str(config)
    )
    assert code == 2 and "no server_logs section" in output
    assert not (tmp_path / "x.log").exists()


def test_ingest_with_hashing_uses_the_instance_key(env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "privacy.yaml"
    config.write_text(declaration(ip="hash"), encoding="utf-8")
    outs = []
    for name in ("a.log", "b.log"):
        out = tmp_path / name
        code, text = run(env, "logs", "ingest", str(COMBINED), "--out", str(out), "--config", str(config))
        assert code == 0, text
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] and outs[0].startswith(b"h-")
    assert (tmp_path / ".pledge" / "secrets.json").exists()


def test_ingest_with_stats_file(env: dict[str, str], tmp_path: Path, privacy_yaml: Path) -> None:
    stats = tmp_path / "stats.json"
    code, text = run(
        env, "logs", "ingest", str(COMBINED), "--stats", str(stats), "--config", str(privacy_yaml), "--json"
    )
    assert code == 0, text
    release = json.loads(stats.read_text(encoding="utf-8"))
    assert release["mode"] == "suppress" and release["privacy"]["min_group_size"] == 5
    assert json.loads(text)["stats"] == str(stats)


def test_stats_suppress_writes_json_csv_and_charts(
    env: dict[str, str], tmp_path: Path, privacy_yaml: Path
) -> None:
    anonymised = tmp_path / "anon.log"
    assert run(env, "logs", "ingest", str(COMBINED), "--out", str(anonymised))[0] == 0
    out = tmp_path / "stats"
    code, text = run(env, "logs", "stats", str(anonymised), "--out", str(out), "--config", str(privacy_yaml))
    assert code == 0, text
    names = {p.name for p in out.iterdir()}
    assert {"statistics.json", "daily.csv", "daily.png", "daily.svg", "countries.csv", "pages.svg"} <= names
    release = json.loads((out / "statistics.json").read_text(encoding="utf-8"))
    assert release["mode"] == "suppress"
    assert {c["table"] for c in release["charts"]} >= {"daily", "countries"}
    assert (out / "daily.png").read_bytes().startswith(b"\x89PNG")
    assert "Visits and page views per day" in (out / "daily.svg").read_text(encoding="utf-8")


def test_stats_dp_spends_the_persisted_budget(env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "privacy.yaml"
    config.write_text(
        declaration(mode="differential_privacy", epsilon=1.0, per_release=0.4), encoding="utf-8"
    )
    anonymised = tmp_path / "anon.log"
    run(env, "logs", "ingest", str(COMBINED), "--out", str(anonymised))
    base = ["logs", "stats", str(anonymised), "--config", str(config), "--json"]
    for _ in range(2):
        code, text = run(env, *base, "--tables", "daily,countries")
        assert code == 0, text
        assert json.loads(text)["privacy"]["epsilon"] == 0.4
    code, text = run(env, *base)
    assert code == 1 and "privacy budget exhausted" in text
    code, text = run(env, *base, "--epsilon", "0.2")
    assert code == 0, text
    code, text = run(env, "logs", "budget", "--config", str(config), "--json")
    assert code == 0
    assert [r["epsilon"] for r in json.loads(text)["releases"]] == [0.4, 0.4, 0.2]


def test_stats_usage_errors(env: dict[str, str], tmp_path: Path, privacy_yaml: Path) -> None:
    code, text = run(env, "logs", "stats", str(COMBINED), "--epsilon", "0.5", "--config", str(privacy_yaml))
    assert code == 2 and "--mode dp" in text
    code, text = run(env, "logs", "stats", str(COMBINED), "--tables", "daily,nope")
    assert code == 2 and "unknown table" in text
    config = tmp_path / "nobudget.yaml"
    text_yaml = declaration()
    config.write_text(text_yaml[: text_yaml.index("  privacy_budget")], encoding="utf-8")
    code, text = run(env, "logs", "stats", str(COMBINED), "--mode", "dp", "--config", str(config))
    assert code == 2 and "privacy budget" in text
    assert not (tmp_path / "pledge.db").exists()  # refused before any database was created
    empty = tmp_path / "empty.log"
    empty.write_text("\n\n", encoding="utf-8")
    code, text = run(env, "logs", "stats", str(empty))
    assert code == 2 and "no requests" in text
