"""``docs/cli.md`` is exactly what ``scripts/cli_docs.py`` generates from the CLI's ``--help``."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.docs._markdown import ROOT

SCRIPT = ROOT / "scripts" / "cli_docs.py"


def _check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_cli_reference_is_up_to_date() -> None:
    done = _check(dict(os.environ))
    assert done.returncode == 0, (
        "docs/cli.md differs from the CLI's --help: run `.venv/bin/python scripts/cli_docs.py`\n"
        + done.stderr
    )


def test_the_generation_ignores_the_terminal() -> None:
    # A narrow, colourful terminal must not change a byte of the page.
    env = {**os.environ, "COLUMNS": "37", "FORCE_COLOR": "1", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    done = _check(env)
    assert done.returncode == 0, done.stderr
