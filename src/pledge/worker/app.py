"""Where a worker's step planner comes from when it is not the datamap's executor.

A worker is a :class:`~pledge.system.Pledge` like the web app (``pledge worker`` opens one): its
planner is the request executor over the datamap and connections, fed by the consent ledger, so
``restrict``, ``object`` and ``withdraw`` and the access archive's disclosures work there as they
do anywhere. ``--planner MODULE:CALLABLE`` names a factory ``(settings, declaration) ->
StepPlanner`` instead, for businesses whose steps are not SQL (and for tests).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from pledge.errors import ConfigError

__all__ = ["load_planner_factory"]


def load_planner_factory(spec: str) -> Callable[..., Any]:
    """``package.module:callable`` → the callable (its import errors become config errors)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"--planner {spec[:200]!r}: expected MODULE:CALLABLE")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"--planner {spec[:200]!r}: {exc}") from None
    if not callable(factory):
        raise ConfigError(f"--planner {spec[:200]!r} is not callable")
    return factory  # type: ignore[no-any-return]
