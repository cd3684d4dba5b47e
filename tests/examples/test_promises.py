"""PROMISES.md and privacy.yaml cannot drift apart.

Every row points at a node that exists; every purpose, recipient, cookie and right of the YAML
is named by at least one row; the promises are written in our own words, not copied.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.examples._promises import Row, TableError, read_rows, resolve, selected, split_path
from tests.examples.conftest import EXAMPLES, SEED_DIR, SEEDS

NAMES = sorted(SEEDS)


def rows_of(name: str) -> list[Row]:
    return read_rows(EXAMPLES / name / "PROMISES.md")


def raw_yaml(name: str) -> object:
    return yaml.safe_load((EXAMPLES / name / "privacy.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", NAMES)
def test_table_is_well_formed(name: str) -> None:
    rows = rows_of(name)
    assert len(rows) >= 20, "a seed makes more promises than that"
    assert [r.number for r in rows] == list(range(1, len(rows) + 1)), "rows are numbered 1, 2, 3..."
    for row in rows:
        assert row.promise and row.entry, f"line {row.line}: promise and entry are required"


@pytest.mark.parametrize("name", NAMES)
def test_every_entry_resolves(name: str) -> None:
    document = raw_yaml(name)
    missing = []
    for row in rows_of(name):
        try:
            resolve(document, row.entry)
        except LookupError as exc:
            missing.append(f"PROMISES.md:{row.line}: {exc}")
    assert not missing, "\n".join(missing)


# Which field names the item of each section; PROMISES.md selects items by it.
SECTIONS = {"purposes": "id", "recipients": "id", "cookies": "name", "rights": "right"}


@pytest.mark.parametrize("name", NAMES)
def test_every_purpose_recipient_cookie_and_right_has_a_promise(name: str) -> None:
    document = raw_yaml(name)
    assert isinstance(document, dict)
    named = {pair for row in rows_of(name) if (pair := selected(row.entry))}
    unlisted = [
        f"{section}[{item[key]}]"
        for section, key in SECTIONS.items()
        for item in document.get(section) or []
        if (section, str(item[key])) not in named
    ]
    assert not unlisted, f"no PROMISES.md row for: {', '.join(unlisted)}"


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower().replace("’", "'").replace("'", ""))


@pytest.mark.parametrize("name", NAMES)
def test_promises_are_in_our_own_words(name: str) -> None:
    seeds = list(SEED_DIR.glob(f"{SEEDS[name]}_*.txt"))
    if not seeds:
        pytest.skip("seed texts are not beside this checkout")
    seed_words = _words(seeds[0].read_text(encoding="utf-8"))
    span = 8  # eight words in a row shared with the seed is copying, not paraphrase
    seed_runs = {tuple(seed_words[i : i + span]) for i in range(len(seed_words) - span + 1)}
    copied = []
    for row in rows_of(name):
        words = _words(row.promise)
        runs = {tuple(words[i : i + span]) for i in range(len(words) - span + 1)}
        if runs & seed_runs:
            copied.append(f"row {row.number}: {row.promise}")
    assert not copied, "copied from the seed:\n" + "\n".join(copied)


# --- the resolver itself: it must fail when a row points at nothing ---------------------------

DOC = {
    "purposes": [{"id": "a", "channels": ["email"]}, {"id": "b.c", "categories": ["user.name"]}],
    "cookies": [{"name": "cart", "lifetime": "session"}],
    "rights": [{"right": "access", "deadline": "P1M"}, {"right": "erasure"}, {"right": "erasure"}],
    "server_logs": {"ip": "truncate"},
    "commitments": {"sharing_limits": [{"id": "x", "recipients": []}]},
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("purposes[a].channels", ["email"]),
        ("purposes[a].channels[email]", "email"),
        ("purposes[b.c].categories[user.name]", "user.name"),
        ("cookies[cart].lifetime", "session"),
        ("rights[access]", {"right": "access", "deadline": "P1M"}),
        ("server_logs.ip", "truncate"),
        ("commitments.sharing_limits[x].recipients", []),
    ],
)
def test_resolver_finds(path: str, expected: object) -> None:
    assert resolve(DOC, path) == expected


@pytest.mark.parametrize(
    "path",
    [
        "purposes[z]",  # no such item
        "purposes[a].categories",  # no such field
        "purposes[a].channels[post]",  # no such value
        "cookies[session]",  # cookies are selected by name
        "rights[erasure]",  # ambiguous
        "server_logs[ip]",  # not a list
        "server_logs.ip.prefix",  # below a scalar
        "purposes[a",  # malformed
        "purposes.[a]",
        "",
        "retention",
    ],
)
def test_resolver_refuses(path: str) -> None:
    with pytest.raises(LookupError):
        resolve(DOC, path)


def test_split_keeps_dots_inside_brackets() -> None:
    assert split_path("purposes[b.c].categories") == [("purposes", "b.c"), ("categories", None)]


def test_reader_rejects_a_malformed_table(tmp_path: Path) -> None:
    base = tmp_path
    bad = base / "a.md"
    bad.write_text("| # | promise | entry |\n|---|---|---|\n| 1 | x | y |\n", encoding="utf-8")
    with pytest.raises(TableError):
        read_rows(bad)
    bad.write_text("| # | promise | entry | note |\n|---|---|---|---|\n| one | x | y | |\n", encoding="utf-8")
    with pytest.raises(TableError):
        read_rows(bad)
    good = base / "b.md"
    good.write_text("intro\n\n| # | promise | entry | note |\n|---|---|---|---|\n| 1 | x | `a.b` | |\n")
    assert read_rows(good) == [Row(1, "x", "a.b", "", 5)]
