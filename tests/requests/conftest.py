"""Fixtures of the workflow tests; builders and doubles live in ``support.py``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.requests.support import Env, build


@pytest.fixture
def make_env(tmp_path: Path) -> Iterator[Callable[..., Env]]:
    """``make_env(url, **options)``: a wired workflow + runner; engines are disposed afterwards."""
    made: list[Env] = []

    def make(url: str, **options: Any) -> Env:
        env = build(url, tmp_path / f"env{len(made)}", **options)
        made.append(env)
        return env

    yield make
    for env in made:
        env.db.dispose()
