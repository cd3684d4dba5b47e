"""The contract between request *execution* (what a step does to the business's databases) and the
request *workflow* (which step runs when, persisted so a crash resumes without doing a step twice).

Execution (``pledge.requests.execute`` and friends) turns a request into an ordered list of
``StepSpec``; the workflow (``pledge.requests.workflow``) persists each step's state and result
and calls ``run`` for steps not yet completed, in order. A step may be interrupted at any point
(kill -9) and then run again from the start, so every ``run`` must be **idempotent**: running it
twice leaves the databases and its result exactly as running it once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

__all__ = ["Identity", "RequestKind", "StepContext", "StepPlanner", "StepSpec"]

RequestKind = Literal["exists", "access", "portability", "rectify", "erase", "restrict", "object", "withdraw"]


@dataclass(frozen=True, slots=True)
class Identity:
    """How the person is known: ``kind`` is a datamap identity name (email, phone_number, ...)."""

    kind: str
    value: str

    def __repr__(self) -> str:  # never print the value: it is personal data
        return f"Identity({self.kind}=<redacted>)"


@dataclass(frozen=True)
class StepContext:
    request_id: str
    kind: RequestKind
    identities: Sequence[Identity]
    params: Mapping[str, Any]
    """Request parameters, e.g. for rectify: {"category": ..., "value": ...}."""
    results: Mapping[str, Mapping[str, Any]]
    """Results of the steps already completed, by step name (JSON-able)."""
    workdir: Path
    """Where a step may write artifacts (the access archive); stable across re-runs."""
    attempt: int = 1


@dataclass(frozen=True)
class StepSpec:
    name: str
    """Unique within the request and stable across re-planning, e.g. ``erase:shop:orders``."""
    run: Callable[[StepContext], Mapping[str, Any]]
    description: str = ""
    depends_on: Sequence[str] = field(default_factory=tuple)


class StepPlanner(Protocol):
    def plan(
        self, kind: RequestKind, identities: Sequence[Identity], params: Mapping[str, Any]
    ) -> list[StepSpec]:
        """The ordered steps for one request. Raises ``InputError`` before any step runs when the
        request cannot be carried out (unreachable collection, missing column, bad parameter)."""
        ...
