"""A subject's consent state as decisions see it: derived from the ledger, never stored.

``pledge.consent.derive`` folds a subject's events into a :class:`SubjectState`; decisions read
only this snapshot, so the decision code knows nothing of tables or transactions. Every mark keeps
the sequence number of the event that set it: between marks at different scopes (one purpose and
channel, the whole purpose, every purpose) the **latest event wins**, so "withdraw everything" then
"grant the newsletter" leaves the newsletter granted, and the reverse leaves it withdrawn.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["ANY", "EMPTY_STATE", "Mark", "SaleMark", "SubjectState"]

ANY = "*"
"""The wildcard purpose or channel: an event about every purpose (or every channel)."""


@dataclass(frozen=True, slots=True)
class Mark:
    on: bool
    """granted / objected / restricted (False: withdrawn / objection withdrawn / lifted)."""
    seq: int
    """The event's position in the ledger; larger is later."""


@dataclass(frozen=True, slots=True)
class SaleMark:
    kind: Literal["opt_out", "opt_in", "gpc"]
    seq: int


@dataclass(frozen=True, slots=True)
class SubjectState:
    subject_id: str | None
    consent: Mapping[tuple[str, str], Mark] = field(default_factory=dict)
    """(purpose or ``*``, channel or ``*``) → the latest grant/withdraw at exactly that scope."""
    objections: Mapping[str, Mark] = field(default_factory=dict)
    """purpose or ``*`` → the latest object/withdraw_objection at that scope."""
    restrictions: Mapping[str, Mark] = field(default_factory=dict)
    sale: SaleMark | None = None
    """The latest of opt-out of sale, opt-in to sale and a recorded GPC signal."""
    birth_date: dt.date | None = None
    """Declared, or the latest birth date consistent with a declared age (the youngest the
    person can be, so a minor is never taken for an adult)."""
    jurisdiction: str | None = None
    """The latest jurisdiction an event was recorded under (a banner knows where you are)."""
    baseline_version: str | None = None
    """The policy version in force when the subject first appeared."""
    last_event: int = 0

    # --- scope resolution ----------------------------------------------------------------------

    def consent_mark(self, purpose: str, channel: str | None) -> tuple[Mark | None, bool]:
        """The mark deciding consent for ``purpose`` over ``channel`` (None: the purpose as a
        whole), and whether it was set for that channel specifically."""
        best: Mark | None = None
        channel_specific = False
        keys: tuple[tuple[str, str], ...]
        if channel is None:
            keys = ((purpose, ANY), (ANY, ANY))
        else:
            keys = ((purpose, channel), (ANY, channel), (purpose, ANY), (ANY, ANY))
        for key in keys:
            mark = self.consent.get(key)
            if mark is not None and (best is None or mark.seq > best.seq):
                best = mark
                channel_specific = key[1] != ANY
        return best, channel_specific

    def objected(self, purpose: str) -> bool:
        return _latest_on(self.objections, purpose)

    def restricted(self, purpose: str) -> bool:
        return _latest_on(self.restrictions, purpose)

    def granted_after(self, purpose: str, seq: int) -> bool:
        """An explicit grant of ``purpose`` (any channel) later than event ``seq``."""
        return any(
            mark.on and mark.seq > seq for (p, _c), mark in self.consent.items() if p in (purpose, ANY)
        )

    def age_on(self, day: dt.date) -> int | None:
        if self.birth_date is None:
            return None
        born = self.birth_date
        years = day.year - born.year - ((day.month, day.day) < (born.month, born.day))
        return max(years, 0)


def _latest_on(marks: Mapping[str, Mark], purpose: str) -> bool:
    own, every = marks.get(purpose), marks.get(ANY)
    if own is None:
        return every is not None and every.on
    if every is None:
        return own.on
    return own.on if own.seq > every.seq else every.on


EMPTY_STATE = SubjectState(subject_id=None)
"""The state of someone the ledger knows nothing about: every default applies."""
