"""What one read of the ledger gives: a subject's derived state together with its history.

:class:`LedgerState` *is* a :class:`~pledge.policy.state.SubjectState` (so the enforcer caches it
and decides from it exactly as before) that also carries the root subject and the history it was
derived from. A read of someone's consent (state per purpose *and* history) is then one cached
object instead of a state query and a history query that could disagree with each other.

The history kept here is lean (no proof text, which may be 64 kB) and only for subjects with at
most :data:`HISTORY_KEPT` events; a longer history is read from the ledger when asked for, so a
cache of 100,000 subjects stays small.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pledge.policy.state import SubjectState

__all__ = ["HISTORY_KEPT", "HistoryItem", "LedgerState"]

HISTORY_KEPT = 64
"""Events kept in memory with a cached state; a longer history is read when asked for."""


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """One ledger event as a person's history shows it."""

    id: int
    kind: str
    purpose: str
    channel: str
    source: str
    policy_version: str
    occurred_at: dt.datetime


@dataclass(frozen=True, slots=True)
class LedgerState(SubjectState):
    root: str | None = None
    """The subject holding the history (``subject_id`` itself unless it was merged); None when
    the ledger has no such subject."""
    history: tuple[HistoryItem, ...] | None = ()
    """Oldest first; None when longer than :data:`HISTORY_KEPT` (read it from the ledger)."""
    event_count: int = 0
    """How many ledger events it was derived from (the ledger's writes check it is current)."""

    @property
    def exists(self) -> bool:
        return self.root is not None
