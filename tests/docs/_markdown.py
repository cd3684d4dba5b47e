"""Reading the documentation pages: fenced blocks and the markers that say how to test them.

A fenced block is tested when the line just before its opening fence (blank lines allowed) is a
marker comment:

- ``<!-- test -->`` before a ``python`` block: run it on its own, in a fresh namespace;
- ``<!-- test: continue -->``: run it in the namespace of the page's previous Python block;
- ``<!-- test: declaration -->`` before a ``yaml`` block: a complete declaration that validates;
- ``<!-- test: base -->``: a complete declaration that validates, and the base of the page's
  fragments;
- ``<!-- test: fragment -->``: top-level sections that replace the base's and still validate;
- ``<!-- test: fragment fails CODE -->``: the same, but validation must fail with problem ``CODE``;
- ``<!-- test: datamap -->``: a Fides dataset file that loads, retention clocks included;
- ``<!-- test: shell -->`` before an ``sh`` block: run by ``bash -euo pipefail`` with the
  installed ``pledge`` on the path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>```+|~~~+)\s*(?P<lang>[\w+-]*)\s*$")
_MARKER = re.compile(r"^\s*<!--\s*test(?::\s*(?P<how>[^>]*?))?\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    """1-based line of the opening fence."""
    lang: str
    text: str
    marker: str | None
    """The marker's instruction (``""`` for a bare ``<!-- test -->``), or None when unmarked."""

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence = match["fence"]
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i])
            i += 1
        marker: str | None = None
        j = start - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        if j >= 0 and (m := _MARKER.match(lines[j])):
            marker = (m["how"] or "").strip()
        found.append(Block(page, start + 1, match["lang"].lower(), "\n".join(body) + "\n", marker))
        i += 1
    return found


def pages() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def marked(kind: str) -> list[Block]:
    """Every marked block of one kind across the docs: ``python``, or a YAML marker's first word."""
    out: list[Block] = []
    for page in pages():
        for block in blocks(page):
            if block.marker is None:
                continue
            first = block.marker.split()[0] if block.marker else ""
            python = kind == "python" and block.lang == "python"
            if python or (block.lang in ("yaml", "yml") and first == kind):
                out.append(block)
    return out


def strip_code(text: str) -> str:
    """The page without its fenced blocks (for checks that look at prose and tables only)."""
    kept: list[str] = []
    inside: str | None = None
    for line in text.splitlines():
        match = _FENCE.match(line)
        if inside is None and match:
            inside = match["fence"]
            continue
        if inside is not None:
            if line.strip().startswith(inside):
                inside = None
            continue
        kept.append(line)
    return "\n".join(kept)
