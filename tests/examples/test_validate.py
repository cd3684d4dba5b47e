"""Every example is a valid declaration, through the loader and through the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pledge.errors import DeclarationError
from tests.examples.conftest import EXAMPLES, ROOT, SEEDS, load

# Warnings an example is allowed to keep, with the reason. Anything else is a regression.
EXPECTED_WARNINGS: dict[str, set[str]] = {name: set() for name in SEEDS}


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_example_validates_without_errors(name: str) -> None:
    try:
        loaded = load(name)
    except DeclarationError as exc:
        pytest.fail("\n".join(f"{p.where()}: {p.message}" for p in exc.problems) or exc.message)
    assert {w.code for w in loaded.warnings} == EXPECTED_WARNINGS[name]


def test_no_unexpected_example_folders() -> None:
    # A new example must be registered in SEEDS so every test here covers it.
    found = {p.parent.name for p in EXAMPLES.glob("*/privacy.yaml")}
    assert found == set(SEEDS)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pledge.cli.main", "validate", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_validates_all_examples() -> None:
    files = sorted(str(p.relative_to(ROOT)) for p in EXAMPLES.glob("*/privacy.yaml"))
    result = _cli(*files)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": ok") == len(SEEDS)
    # With no warnings expected anywhere, --strict must pass too.
    if not any(EXPECTED_WARNINGS.values()):
        assert _cli("--strict", *files).returncode == 0


def test_cli_rejects_a_broken_example(tmp_path: Path) -> None:
    # The same command fails (exit 2, located message) when one promise is broken: the test
    # above cannot pass by accident.
    text = (EXAMPLES / "pesi" / "privacy.yaml").read_text(encoding="utf-8")
    broken = text.replace(
        "categories: [user.name, user.contact.address]\n    sale: true",
        "categories: [user.name, user.contact.address, user.contact.email]\n    sale: true",
    )
    assert broken != text
    target = tmp_path / "privacy.yaml"
    target.write_text(broken, encoding="utf-8")
    result = _cli(str(target))
    assert result.returncode == 2
    assert "never_sold" in result.stderr or "never to sell" in result.stderr
