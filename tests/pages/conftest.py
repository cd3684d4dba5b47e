"""Declarations the policy renderer is tested on: every example, the minimal one, a full fixture."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from pledge.declaration import LoadedDeclaration, load_declaration, parse_declaration
from tests.conftest import EXAMPLES
from tests.declaration.conftest import MINIMAL

FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = Path(__file__).parent / "golden"


def declaration_cases() -> list[tuple[str, Path | None]]:
    """(name, path) for each declaration with golden files; MINIMAL has no path."""
    cases: list[tuple[str, Path | None]] = [("minimal", None), ("full", FIXTURES / "full.yaml")]
    cases += [(p.parent.name, p) for p in sorted(EXAMPLES.glob("*/privacy.yaml"))]
    return cases


@cache  # loading is the slow part and a LoadedDeclaration is immutable: share it across tests
def load_case(path: Path | None) -> LoadedDeclaration:
    return parse_declaration(MINIMAL, "minimal.yaml") if path is None else load_declaration(path)


CASES = declaration_cases()


@pytest.fixture(params=[path for _, path in CASES], ids=[name for name, _ in CASES])
def case(request: pytest.FixtureRequest) -> tuple[str, LoadedDeclaration]:
    name = next(n for n, p in CASES if p == request.param)
    return name, load_case(request.param)
