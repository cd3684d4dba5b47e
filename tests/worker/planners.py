"""Planner factories for ``pledge worker --planner tests.worker.planners:NAME`` in the CLI tests."""

from __future__ import annotations

from typing import Any

from tests.requests.support import ListPlanner


def three_steps(settings: Any, loaded: Any) -> ListPlanner:
    return ListPlanner(["find", "act", "check"])
