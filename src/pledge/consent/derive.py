"""Fold a subject's ledger events into the state decisions read (never stored, always derived)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from pledge.consent.events import EventKind
from pledge.consent.snapshot import HistoryItem, LedgerState
from pledge.policy.state import Mark, SaleMark, SubjectState

__all__ = ["derive_snapshot", "derive_state"]


class Folded(Protocol):
    """What folding needs of an event: a :class:`ConsentEvent`, or a row of just these columns."""

    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def purpose(self) -> str: ...
    @property
    def channel(self) -> str: ...
    @property
    def value(self) -> Mapping[str, Any] | None: ...
    @property
    def jurisdiction(self) -> str | None: ...
    @property
    def occurred_at(self) -> dt.datetime: ...


_SALE = {
    EventKind.OPT_OUT_OF_SALE: "opt_out",
    EventKind.OPT_IN_TO_SALE: "opt_in",
    EventKind.GPC_SIGNAL: "gpc",
}


def derive_state(
    subject_id: str, events: Iterable[Folded], *, baseline_version: str | None = None
) -> SubjectState:
    """The state after ``events`` (in ledger order: by id). Later events override earlier ones at
    the same scope; between scopes the latest wins too (see :mod:`pledge.policy.state`)."""
    return SubjectState(subject_id=subject_id, baseline_version=baseline_version, **_fold(events))


def derive_snapshot(
    subject_id: str,
    root: str | None,
    events: Iterable[Folded],
    *,
    baseline_version: str | None,
    history: tuple[HistoryItem, ...] | None,
) -> LedgerState:
    """:func:`derive_state` plus the root subject and the history the state was derived from."""
    return LedgerState(
        subject_id=subject_id, baseline_version=baseline_version, root=root, history=history, **_fold(events)
    )


def _fold(events: Iterable[Folded]) -> dict[str, Any]:
    consent: dict[tuple[str, str], Mark] = {}
    objections: dict[str, Mark] = {}
    restrictions: dict[str, Mark] = {}
    sale: SaleMark | None = None
    birth_date: dt.date | None = None
    jurisdiction: str | None = None
    last = 0
    for event in sorted(events, key=lambda e: e.id):
        kind = event.kind
        last = max(last, event.id)
        if event.jurisdiction:
            jurisdiction = event.jurisdiction
        if kind in (EventKind.GRANT, EventKind.WITHDRAW):
            consent[(event.purpose, event.channel)] = Mark(kind == EventKind.GRANT, event.id)
        elif kind in (EventKind.OBJECT, EventKind.WITHDRAW_OBJECTION):
            objections[event.purpose] = Mark(kind == EventKind.OBJECT, event.id)
        elif kind in (EventKind.RESTRICT, EventKind.LIFT_RESTRICTION):
            restrictions[event.purpose] = Mark(kind == EventKind.RESTRICT, event.id)
        elif kind in _SALE:
            sale = SaleMark(_SALE[EventKind(kind)], event.id)  # type: ignore[arg-type]
        elif kind == EventKind.AGE_DECLARED:
            birth_date = _youngest_birth_date(event.value, event.occurred_at.date())
        elif kind == EventKind.BIRTH_DATE_DECLARED and event.value is not None:
            birth_date = dt.date.fromisoformat(str(event.value["birth_date"]))
    return {
        "consent": consent,
        "objections": objections,
        "restrictions": restrictions,
        "sale": sale,
        "birth_date": birth_date,
        "jurisdiction": jurisdiction,
        "last_event": last,
    }


def _youngest_birth_date(value: Any, on: dt.date) -> dt.date | None:
    """Someone who says they are N on day D may have turned N that very day: treat them as that
    young, so a minor is never mistaken for an adult."""
    if not value or "age" not in value:
        return None
    age = int(value["age"])
    try:
        return on.replace(year=on.year - age)
    except ValueError:  # 29 February
        return on.replace(year=on.year - age, day=28)
