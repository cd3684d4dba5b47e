"""``pledge validate|render|diff|init|publish|versions|demo`` end to end, with the contract's exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from pledge.cli.main import app
from pledge.declaration import load_declaration
from tests.conftest import EXAMPLES
from tests.declaration.conftest import MINIMAL

runner = CliRunner()


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "privacy.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    return path


def changed(path: Path, version: str, **fields: object) -> Path:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["policy_version"] = version
    data.update(fields)
    out = path.with_name(f"privacy-{version}.yaml")
    out.write_text(yaml.safe_dump(data), encoding="utf-8")
    return out


# --- validate still works -------------------------------------------------------------------------


def test_validate_accepts_a_good_file_and_rejects_a_bad_one(policy: Path, tmp_path: Path) -> None:
    assert runner.invoke(app, ["validate", str(policy)]).exit_code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL.replace("lawful_basis: contract", "lawful_basis: contrat"), encoding="utf-8")
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 2 and "did you mean 'contract'" in result.output


# --- render ---------------------------------------------------------------------------------------


def test_render_html_to_stdout_and_markdown_to_a_file(policy: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["render", str(policy), "--format", "html"])
    assert result.exit_code == 0 and result.stdout.startswith("<!DOCTYPE html>")
    target = tmp_path / "policy.md"
    result = runner.invoke(app, ["render", str(policy), "-o", str(target)])  # format from the extension
    assert result.exit_code == 0
    assert target.read_text(encoding="utf-8").startswith("# Acme Books Ltd privacy policy")
    folder = runner.invoke(app, ["render", str(policy.parent), "-f", "md"])  # a folder holding privacy.yaml
    assert folder.exit_code == 0 and folder.stdout == target.read_text(encoding="utf-8")


def test_render_with_override_templates(policy: Path, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "contact.md.j2").write_text("Write to {{ org.contacts[0].email }}.\n", encoding="utf-8")
    result = runner.invoke(app, ["render", str(policy), "-f", "md", "--templates", str(templates)])
    assert result.exit_code == 0 and "Write to privacy@acme.test." in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["render", "missing.yaml"],
        ["render", "{policy}", "--format", "pdf"],
        ["render", "{policy}", "--templates", "/no/such/folder"],
        ["render", "{policy}", "-o", "/no/such/folder/p.html"],
    ],
)
def test_render_bad_input_exits_2(policy: Path, args: list[str]) -> None:
    result = runner.invoke(app, [a.replace("{policy}", str(policy)) for a in args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


# --- diff -----------------------------------------------------------------------------------------


def test_diff_exit_codes(policy: Path) -> None:
    assert runner.invoke(app, ["diff", str(policy), str(policy)]).exit_code == 0
    wording = changed(policy, "1.1", title="A better title")
    result = runner.invoke(app, ["diff", str(policy), str(wording)])
    assert result.exit_code == 0 and "not material" in result.stdout and "title" in result.stdout
    data = yaml.safe_load(MINIMAL)
    data["recipients"][0]["categories"].append("user.contact.address")
    data["recipients"][0]["purposes"] = ["orders"]
    more = changed(policy, "2.0", recipients=data["recipients"])
    result = runner.invoke(app, ["diff", str(policy), str(more)])
    assert result.exit_code == 1
    assert "material" in result.stdout and "recipients[payments].categories" in result.stdout


def test_diff_json_shape(policy: Path) -> None:
    data = yaml.safe_load(MINIMAL)
    newer = changed(policy, "2.0", minimum_age={"age": 13}, purposes=data["purposes"])
    result = runner.invoke(app, ["diff", str(policy), str(newer), "--json"])
    assert result.exit_code == 0  # introducing a minimum age is not material
    body = json.loads(result.stdout)
    assert set(body) == {"old", "new", "material", "summary", "changes"}
    assert body["old"]["version"] == "1.0" and body["new"]["version"] == "2.0"
    assert len(body["new"]["digest"]) == 64
    assert body["summary"] == {"changes": len(body["changes"]), "material": 0}
    for change in body["changes"]:
        assert set(change) == {"path", "kind", "before", "after", "material", "reason"}


def test_diff_of_two_different_examples_exits_1() -> None:
    result = runner.invoke(app, ["diff", str(EXAMPLES / "pesi"), str(EXAMPLES / "pressera"), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["material"] is True


def test_diff_with_an_invalid_file_exits_2_and_reports_both(policy: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("organisation: [\n", encoding="utf-8")
    result = runner.invoke(app, ["diff", str(bad), str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2
    assert "bad.yaml:" in result.output and "missing.yaml: no such file" in result.output


# --- init -----------------------------------------------------------------------------------------


def test_init_writes_a_starter_that_validates_cleanly(tmp_path: Path) -> None:
    target = tmp_path / "privacy.yaml"
    result = runner.invoke(app, ["init", str(target)])
    assert result.exit_code == 0 and target.exists()
    loaded = load_declaration(target)
    assert list(loaded.warnings) == []  # no errors and no warnings either
    assert target.read_text(encoding="utf-8").lstrip().startswith("#")  # commented
    assert runner.invoke(app, ["render", str(target)]).exit_code == 0


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    target = tmp_path / "privacy.yaml"
    target.write_text("mine", encoding="utf-8")
    result = runner.invoke(app, ["init", str(target)])
    assert result.exit_code == 2 and "--force" in result.output
    assert target.read_text(encoding="utf-8") == "mine"
    assert runner.invoke(app, ["init", str(target), "--force"]).exit_code == 0
    assert target.read_text(encoding="utf-8") != "mine"


def test_init_into_a_folder(tmp_path: Path) -> None:
    assert runner.invoke(app, ["init", str(tmp_path)]).exit_code == 0
    assert (tmp_path / "privacy.yaml").exists()


# --- publish and versions -------------------------------------------------------------------------


def test_publish_then_list(policy: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'data' / 'pledge.db'}"  # the folder is created on demand
    first = runner.invoke(app, ["publish", str(policy), "--db", db])
    assert first.exit_code == 0 and "published version 1.0" in first.stdout
    again = runner.invoke(app, ["publish", str(policy), "--db", db])
    assert again.exit_code == 0 and "already published" in again.stdout
    newer = changed(policy, "1.1", title="Plainer")
    second = runner.invoke(app, ["publish", str(newer), "--db", db, "--json"])
    assert second.exit_code == 0
    body = json.loads(second.stdout)
    assert body["previous_version"] == "1.0" and body["material"] is False
    listing = json.loads(runner.invoke(app, ["versions", "--db", db, "--json"]).stdout)
    assert [v["version"] for v in listing] == ["1.1", "1.0"]


def test_publish_conflict_exits_1(policy: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'pledge.db'}"
    assert runner.invoke(app, ["publish", str(policy), "--db", db]).exit_code == 0
    policy.write_text(MINIMAL.replace("Acme Books Ltd", "Acme Books plc"), encoding="utf-8")
    result = runner.invoke(app, ["publish", str(policy), "--db", db])
    assert result.exit_code == 1 and "already published with different content" in result.output


def test_publish_uses_the_database_from_the_environment(
    policy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLEDGE_DB_URL", f"sqlite:///{tmp_path / 'env.db'}")
    assert runner.invoke(app, ["publish", str(policy)]).exit_code == 0
    assert (tmp_path / "env.db").exists()


def test_publish_bad_database_url_exits_2(policy: Path) -> None:
    result = runner.invoke(app, ["publish", str(policy), "--db", "not a url"])
    assert result.exit_code == 2 and "not a database URL" in result.output


# --- demo -----------------------------------------------------------------------------------------


def test_demo_renders_every_example(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--out", str(out), "--examples", str(EXAMPLES)])
    assert result.exit_code == 0, result.output
    names = sorted(p.parent.name for p in EXAMPLES.glob("*/privacy.yaml"))
    assert names
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{n}.html" for n in names] + [f"{n}.md" for n in names]
    )


def test_demo_without_examples_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "o"), "--examples", str(tmp_path)])
    assert result.exit_code == 2
