"""The contract every part of Pledge uses to record what it did in the audit log.

Consent events, disclosures, denials and request steps are appended through an ``AuditSink``.
Passing ``conn`` writes the entry inside the caller's transaction, so the event and its audit
entry commit together or not at all (nothing accepted is ever missing from the log).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.engine import Connection

__all__ = ["AuditSink", "MemoryAudit", "Recorded"]


class AuditSink(Protocol):
    def append(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        subject: str | None = None,
        conn: Connection | None = None,
    ) -> int:
        """Append one entry; returns its index in the log (0-based, gapless)."""
        ...

    def count_allowed(self, purpose: str, categories: tuple[str, ...]) -> None:
        """Count an allowed decision instead of logging it one by one (flushed periodically)."""
        ...


@dataclass(frozen=True, slots=True)
class Recorded:
    index: int
    kind: str
    payload: Mapping[str, Any]
    subject: str | None


@dataclass
class MemoryAudit:
    """An in-memory sink for unit tests and for callers that do not need proofs."""

    entries: list[Recorded] = field(default_factory=list)
    allowed: dict[tuple[str, tuple[str, ...]], int] = field(default_factory=dict)

    def append(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        subject: str | None = None,
        conn: Connection | None = None,
    ) -> int:
        self.entries.append(Recorded(len(self.entries), kind, dict(payload), subject))
        return len(self.entries) - 1

    def count_allowed(self, purpose: str, categories: tuple[str, ...]) -> None:
        key = (purpose, categories)
        self.allowed[key] = self.allowed.get(key, 0) + 1

    def kinds(self) -> list[str]:
        return [entry.kind for entry in self.entries]
