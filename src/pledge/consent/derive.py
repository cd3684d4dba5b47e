"""Fold a subject's ledger events into the state decisions read (never stored, always derived)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from pledge.consent.events import EventKind
from pledge.consent.snapshot import HISTORY_KEPT, HistoryItem, LedgerState
from pledge.policy.state import Mark, SaleMark, SubjectState

__all__ = ["derive_snapshot", "derive_state", "extend_snapshot"]


class Folded(Protocol):
    """What folding needs of an event: a :class:`ConsentEvent`, or a row of just these columns
    (``value`` may still be its JSON text: it is decoded only for the few kinds that read it)."""

    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def purpose(self) -> str: ...
    @property
    def channel(self) -> str: ...
    @property
    def value(self) -> Mapping[str, Any] | str | None: ...
    @property
    def jurisdiction(self) -> str | None: ...
    @property
    def occurred_at(self) -> dt.datetime: ...


class Recorded(Folded, Protocol):
    """A written event, as :func:`extend_snapshot` adds it to a history."""

    @property
    def source(self) -> str: ...
    @property
    def policy_version(self) -> str: ...


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
    ordered = sorted(events, key=lambda e: e.id)
    return LedgerState(
        subject_id=subject_id,
        baseline_version=baseline_version,
        root=root,
        history=history,
        event_count=len(ordered),
        **_Fold().run(ordered),
    )


def extend_snapshot(state: LedgerState, written: Sequence[Recorded]) -> LedgerState:
    """``state`` after ``written``: events later than every event it was derived from (the
    subject's lock held from reading it to writing them), exactly as deriving it all again from
    the ledger would give, history included."""
    ordered = sorted(written, key=lambda e: e.id)
    history = state.history
    if history is not None:
        history = history + tuple(
            HistoryItem(e.id, e.kind, e.purpose, e.channel, e.source, e.policy_version, e.occurred_at)
            for e in ordered
        )
        if len(history) > HISTORY_KEPT:
            history = None
    return LedgerState(
        subject_id=state.subject_id,
        baseline_version=state.baseline_version,
        root=state.root,
        history=history,
        event_count=state.event_count + len(ordered),
        **_Fold(state).run(ordered),
    )


def _fold(events: Iterable[Folded]) -> dict[str, Any]:
    return _Fold().run(sorted(events, key=lambda e: e.id))


class _Fold:
    """The fold's running values: empty, or a state's own (to go on from it)."""

    __slots__ = ("birth_date", "consent", "jurisdiction", "last", "objections", "restrictions", "sale")

    def __init__(self, start: SubjectState | None = None) -> None:
        self.consent: dict[tuple[str, str], Mark] = dict(start.consent) if start else {}
        self.objections: dict[str, Mark] = dict(start.objections) if start else {}
        self.restrictions: dict[str, Mark] = dict(start.restrictions) if start else {}
        self.sale: SaleMark | None = start.sale if start else None
        self.birth_date: dt.date | None = start.birth_date if start else None
        self.jurisdiction: str | None = start.jurisdiction if start else None
        self.last = start.last_event if start else 0

    def run(self, ordered: Iterable[Folded]) -> dict[str, Any]:
        """Apply ``ordered`` (by id); the fields of the state they lead to."""
        consent, objections, restrictions = self.consent, self.objections, self.restrictions
        for event in ordered:
            kind = event.kind
            self.last = max(self.last, event.id)
            if event.jurisdiction:
                self.jurisdiction = event.jurisdiction
            if kind in (EventKind.GRANT, EventKind.WITHDRAW):
                consent[(event.purpose, event.channel)] = Mark(kind == EventKind.GRANT, event.id)
            elif kind in (EventKind.OBJECT, EventKind.WITHDRAW_OBJECTION):
                objections[event.purpose] = Mark(kind == EventKind.OBJECT, event.id)
            elif kind in (EventKind.RESTRICT, EventKind.LIFT_RESTRICTION):
                restrictions[event.purpose] = Mark(kind == EventKind.RESTRICT, event.id)
            elif kind in _SALE:
                self.sale = SaleMark(_SALE[EventKind(kind)], event.id)  # type: ignore[arg-type]
            elif kind == EventKind.AGE_DECLARED:
                self.birth_date = _youngest_birth_date(_decoded(event.value), event.occurred_at.date())
            elif kind == EventKind.BIRTH_DATE_DECLARED:
                value = _decoded(event.value)
                if value is not None:
                    self.birth_date = dt.date.fromisoformat(str(value["birth_date"]))
        return {
            "consent": consent,
            "objections": objections,
            "restrictions": restrictions,
            "sale": self.sale,
            "birth_date": self.birth_date,
            "jurisdiction": self.jurisdiction,
            "last_event": self.last,
        }


def _decoded(value: Mapping[str, Any] | str | None) -> Any:
    return json.loads(value) if isinstance(value, str) else value


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
