"""The code in the documentation is real: marked Python runs, marked YAML validates.

See ``_markdown.py`` for the markers. Python runs in a fresh temporary folder holding a link to
the repository's ``examples/``, so a snippet reads ``examples/pesi/privacy.yaml`` as a reader in
the repository's root would. Line numbers in tracebacks are the page's own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pledge.datamap import load_datamap
from pledge.declaration import parse_declaration
from pledge.errors import DeclarationError
from pledge.retention.bindings import read_bindings
from tests.docs._markdown import ROOT, Block, blocks, marked, pages


def _chains() -> list[list[Block]]:
    """Python blocks grouped so that each ``continue`` block runs after the ones it continues."""
    chains: list[list[Block]] = []
    for page in pages():
        current: list[Block] | None = None
        for block in blocks(page):
            if block.lang != "python" or block.marker is None:
                continue
            if block.marker == "continue":
                assert current is not None, f"{block.where}: 'continue' with nothing before it"
                current.append(block)
            else:
                assert block.marker == "", f"{block.where}: unknown marker {block.marker!r}"
                current = [block]
                chains.append(current)
    return chains


CHAINS = _chains()


@pytest.fixture
def in_tmp(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    before = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(before)


def test_the_docs_have_runnable_examples() -> None:
    assert len(CHAINS) >= 10  # a test that finds nothing to run must not pass quietly


@pytest.mark.parametrize("chain", CHAINS, ids=[c[0].where for c in CHAINS])
def test_python_snippet_runs(chain: list[Block], in_tmp: Path) -> None:
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    for block in chain:
        # Pad so that the traceback's line numbers are the page's.
        code = compile("\n" * block.line + block.text, str(block.page.relative_to(ROOT)), "exec")
        exec(code, namespace)  # noqa: S102 - the repository's own documentation


# --- YAML -----------------------------------------------------------------------------------------


def _base(page: Path) -> dict[str, Any]:
    found = [b for b in blocks(page) if b.marker == "base"]
    assert len(found) == 1, f"{page.name}: fragments need exactly one '<!-- test: base -->' block"
    loaded = yaml.safe_load(found[0].text)
    assert isinstance(loaded, dict)
    return loaded


DECLARATIONS = marked("declaration") + marked("base")
FRAGMENTS = marked("fragment")
DATAMAPS = marked("datamap")


@pytest.mark.parametrize("block", DECLARATIONS, ids=[b.where for b in DECLARATIONS])
def test_complete_declarations_validate(block: Block) -> None:
    parse_declaration(block.text, block.where)


@pytest.mark.parametrize("block", FRAGMENTS, ids=[b.where for b in FRAGMENTS])
def test_section_examples_validate_in_a_declaration(block: Block) -> None:
    fragment = yaml.safe_load(block.text)
    assert isinstance(fragment, dict), f"{block.where}: a fragment is a mapping of top-level sections"
    merged = {**_base(block.page), **fragment}
    text = yaml.safe_dump(merged, sort_keys=False, allow_unicode=True)
    words = block.marker.split() if block.marker else []
    if len(words) >= 3 and words[1] == "fails":
        with pytest.raises(DeclarationError) as caught:
            parse_declaration(text, block.where)
        codes = {p.code for p in caught.value.problems}
        assert words[2] in codes, f"{block.where}: expected {words[2]}, got {sorted(codes)}"
    else:
        assert len(words) == 1, f"{block.where}: unknown marker {block.marker!r}"
        loaded = parse_declaration(text, block.where)
        assert loaded.declaration is not None


@pytest.mark.parametrize("block", DATAMAPS, ids=[b.where for b in DATAMAPS])
def test_datamap_examples_load(block: Block, tmp_path: Path) -> None:
    path = tmp_path / "datamap.yaml"
    path.write_text(block.text, encoding="utf-8")
    load_datamap([path])
    _specs, problems = read_bindings([path])
    assert [p for p in problems if p.severity == "error"] == []


SHELLS = [b for page in pages() for b in blocks(page) if b.marker == "shell"]


@pytest.mark.parametrize("block", SHELLS, ids=[b.where for b in SHELLS])
def test_shell_examples_run(block: Block, in_tmp: Path) -> None:
    # The installed `pledge` first on PATH; none of the caller's PLEDGE_* settings leak in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLEDGE_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.text],
        cwd=in_tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{block.where}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"


def test_every_yaml_marker_is_known() -> None:
    known = {"declaration", "base", "fragment", "datamap"}
    for page in pages():
        for block in blocks(page):
            if block.marker is not None and block.lang in ("yaml", "yml"):
                assert block.marker.split()[0] in known, f"{block.where}: unknown marker {block.marker!r}"
