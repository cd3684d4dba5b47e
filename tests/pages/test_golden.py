"""Golden files: the rendered policy of every declaration, byte for byte.

Regenerate after an intended change with ``PLEDGE_UPDATE_GOLDEN=1 pytest tests/pages`` and read
the diff before committing it.
"""

from __future__ import annotations

import os

import pytest

from pledge.declaration import LoadedDeclaration
from pledge.pages import render_policy
from tests.pages.conftest import GOLDEN

UPDATE = os.environ.get("PLEDGE_UPDATE_GOLDEN") == "1"


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_rendered_policy_matches_golden(case: tuple[str, LoadedDeclaration], fmt: str) -> None:
    name, loaded = case
    text = render_policy(loaded, "md" if fmt == "md" else "html")
    golden = GOLDEN / f"{name}.{fmt}"
    if UPDATE:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text, encoding="utf-8", newline="\n")
    assert golden.exists(), f"no golden file {golden.name}; run with PLEDGE_UPDATE_GOLDEN=1 to create it"
    assert text == golden.read_text(encoding="utf-8"), (
        f"{golden.name} differs; if the change is intended, regenerate with PLEDGE_UPDATE_GOLDEN=1"
    )


def test_rendering_is_deterministic(case: tuple[str, LoadedDeclaration]) -> None:
    _, loaded = case
    assert render_policy(loaded, "html") == render_policy(loaded, "html")
    assert render_policy(loaded, "md") == render_policy(loaded, "md")


def test_every_golden_file_has_a_declaration() -> None:
    from tests.pages.conftest import CASES

    names = {name for name, _ in CASES}
    stale = sorted(p.name for p in GOLDEN.glob("*.*") if p.stem not in names)
    assert not stale, f"golden files without a declaration (delete them): {stale}"
