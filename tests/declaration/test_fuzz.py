"""Mangled declarations: the loader answers with located problems, never a crash."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pledge.declaration import parse_declaration
from pledge.errors import DeclarationError

from .conftest import MINIMAL

_LINES = MINIMAL.splitlines(keepends=True)
_DOC = yaml.safe_load(MINIMAL)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(["P1M", "session", "user.contact.email", "opt_in", "", "~", "[]"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)


def _assert_located_or_valid(text: str | bytes) -> None:
    try:
        parse_declaration(text, "m.yaml")
    except DeclarationError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.file == "m.yaml"
            assert problem.message
            if problem.line is not None:
                assert problem.line >= 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(_LINES) - 1), st.text(max_size=40))
def test_replaced_line(index: int, replacement: str) -> None:
    lines = list(_LINES)
    lines[index] = replacement + "\n"
    _assert_located_or_valid("".join(lines))


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200), st.integers(0, len(MINIMAL)))
def test_inserted_bytes(junk: bytes, at: int) -> None:
    raw = MINIMAL.encode()
    _assert_located_or_valid(raw[:at] + junk + raw[at:])


@settings(max_examples=150, deadline=None)
@given(st.integers(0, len(MINIMAL)), st.integers(0, 60))
def test_truncated_and_cut(at: int, length: int) -> None:
    _assert_located_or_valid(MINIMAL[:at] + MINIMAL[at + length :])


def _paths(value: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    out = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            out += _paths(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out += _paths(child, (*path, index))
    return out


_ALL_PATHS = [p for p in _paths(_DOC) if p]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(_ALL_PATHS), values)
def test_structurally_replaced_value(path: tuple[object, ...], value: object) -> None:
    doc = yaml.safe_load(MINIMAL)
    target = doc
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    _assert_located_or_valid(yaml.safe_dump(doc, allow_unicode=True))
