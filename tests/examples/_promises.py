"""Read an example's PROMISES.md table and resolve its entry paths into the loaded YAML.

Path syntax (one entry per row): dotted field names, with list items picked by a bracketed
selector — ``purposes[list_rental].categories``, ``cookies[cart_session].lifetime``,
``rights[access]``, ``commitments.sharing_limits[cards_only].recipients``. Items are matched
on ``id``, except cookies (``name``) and rights (``right``); in a list of plain values the
selector is the value itself (``purposes[x].channels[email]``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HEADER = ("#", "promise", "entry", "note")
_SEGMENT = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:\[(?P<sel>[^\[\]]+)\])?$")
_ITEM_KEY = {"cookies": "name", "rights": "right"}


@dataclass(frozen=True)
class Row:
    number: int
    promise: str
    entry: str
    note: str
    line: int


class TableError(ValueError):
    pass


def read_rows(path: Path) -> list[Row]:
    """The rows of the one ``| # | promise | entry | note |`` table in ``path``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    starts = [i for i, line in enumerate(lines) if _cells(line) == list(HEADER)]
    if len(starts) != 1:
        raise TableError(f"{path}: expected one table with header {' | '.join(HEADER)}")
    start = starts[0]
    if not re.fullmatch(r"\|(\s*:?-+:?\s*\|){4}", lines[start + 1].strip()):
        raise TableError(f"{path}:{start + 2}: the header must be followed by a separator line")
    rows: list[Row] = []
    for offset, line in enumerate(lines[start + 2 :], start + 3):
        if not line.strip().startswith("|"):
            break
        cells = _cells(line)
        if len(cells) != 4:
            raise TableError(f"{path}:{offset}: expected 4 cells, found {len(cells)}")
        number, promise, entry, note = cells
        if not number.isdigit():
            raise TableError(f"{path}:{offset}: '#' must be a number, got {number!r}")
        rows.append(Row(int(number), promise, entry.strip("`").strip(), note, offset))
    return rows


def _cells(line: str) -> list[str]:
    text = line.strip()
    if not (text.startswith("|") and text.endswith("|")):
        return []
    return [cell.strip() for cell in text[1:-1].split("|")]


def split_path(path: str) -> list[tuple[str, str | None]]:
    """``a[b].c`` → ``[("a", "b"), ("c", None)]``; dots inside brackets belong to the selector."""
    parts: list[str] = []
    depth, current = 0, ""
    for char in path:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise LookupError(f"unbalanced ']' in {path!r}")
        if char == "." and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    if depth != 0:
        raise LookupError(f"unbalanced '[' in {path!r}")
    parts.append(current)
    out: list[tuple[str, str | None]] = []
    for part in parts:
        match = _SEGMENT.match(part)
        if match is None:
            raise LookupError(f"bad path segment {part!r} in {path!r}")
        out.append((match["name"], match["sel"]))
    return out


def resolve(document: Any, path: str) -> Any:
    """The node at ``path`` in ``document``; ``LookupError`` naming the step that found nothing."""
    node = document
    walked = ""
    for name, selector in split_path(path):
        walked = f"{walked}.{name}" if walked else name
        if not isinstance(node, dict) or name not in node:
            raise LookupError(f"{path}: no field '{name}' at '{walked}'")
        node = node[name]
        if selector is None:
            continue
        if not isinstance(node, list):
            raise LookupError(f"{path}: '{walked}' is not a list, cannot select [{selector}]")
        key = _ITEM_KEY.get(name, "id")
        hits = [
            item
            for item in node
            if (isinstance(item, dict) and str(item.get(key)) == selector)
            or (not isinstance(item, dict) and str(item) == selector)
        ]
        if not hits:
            raise LookupError(f"{path}: no item with {key} '{selector}' in '{walked}'")
        if len(hits) > 1:
            raise LookupError(f"{path}: {len(hits)} items with {key} '{selector}' in '{walked}'")
        node = hits[0]
        walked += f"[{selector}]"
    return node


def selected(entry: str) -> tuple[str, str] | None:
    """The top-level list and item an entry points into (``("purposes", "cart")``), if any."""
    try:
        first = split_path(entry)[0]
    except LookupError:
        return None
    name, selector = first
    return (name, selector) if selector is not None else None
