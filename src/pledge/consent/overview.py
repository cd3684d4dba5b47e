"""A person's consent at a glance: every purpose's status, and per channel where it has channels.

For the operator CLI, the privacy center and access reports: the same pure decision code as
``decide()``, asked about the purpose as a whole (no categories, no recipient).

**Memoised by the state's shape.** A declaration with twenty purposes is forty-odd evaluations
per person, the dearest part of showing someone their consent. Yet most people's states look
alike (a banner visitor who accepted analytics and refused advertising is one of thousands), and
the decision code only ever *compares* event sequence numbers, never uses their values. So the
rows are remembered per *shape*: the state with each sequence number replaced by its rank among
the state's own, plus everything else decisions read (age, jurisdiction, baseline version) and
the day. Equal shapes give equal rows, by construction of the key.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Hashable, Mapping
from typing import Any

from pledge.policy.compiled import CompiledPolicy
from pledge.policy.evaluate import evaluate
from pledge.policy.state import Mark, SaleMark, SubjectState

__all__ = ["overview"]

_SHAPES = 4096
"""Shapes remembered per policy (each a list of rows)."""
_POLICIES = 8
"""Policies remembered (each process normally has one; tests build many)."""

_memo: dict[int, tuple[CompiledPolicy, dict[Hashable, list[dict[str, Any]]]]] = {}
_lock = threading.Lock()


def overview(
    policy: CompiledPolicy,
    state: SubjectState | None,
    *,
    jurisdiction: str | None = None,
    today: dt.date | None = None,
) -> list[dict[str, Any]]:
    """One row per purpose, in declaration order: allowed, reason, mode and per-channel reasons.
    ``state`` None: someone the ledger does not know (the declaration's defaults)."""
    state = state or SubjectState(subject_id="")
    day = today or dt.datetime.now(dt.UTC).date()
    key = _shape(state, jurisdiction, day)
    shapes = _shapes_of(policy)
    rows = shapes.get(key)
    if rows is None:
        rows = _rows(policy, state, jurisdiction, day)
        if len(shapes) >= _SHAPES:
            shapes.clear()  # rare: a cheap reset beats bookkeeping on every hit
        shapes[key] = rows
    return [{**row, "channels": dict(row["channels"])} for row in rows]  # the memo's stay intact


def _rows(
    policy: CompiledPolicy, state: SubjectState, jurisdiction: str | None, day: dt.date
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for purpose in policy.purposes.values():
        decision = evaluate(policy, state, purpose.id, (), jurisdiction=jurisdiction, today=day)
        channels = {
            channel: str(
                evaluate(
                    policy, state, purpose.id, (), channel=channel, jurisdiction=jurisdiction, today=day
                ).reason
            )
            for channel in sorted(purpose.channels)
        }
        rows.append(
            {
                "purpose": purpose.id,
                "lawful_basis": purpose.lawful_basis,
                "mode": purpose.mode(jurisdiction if jurisdiction is not None else state.jurisdiction),
                "allowed": decision.allowed,
                "reason": str(decision.reason),
                "channels": channels,
            }
        )
    return rows


def _shapes_of(policy: CompiledPolicy) -> dict[Hashable, list[dict[str, Any]]]:
    # Keyed by identity, holding the policy itself so its id cannot be reused meanwhile.
    found = _memo.get(id(policy))
    if found is not None and found[0] is policy:
        return found[1]
    with _lock:
        if len(_memo) >= _POLICIES:
            _memo.pop(next(iter(_memo)))
        shapes: dict[Hashable, list[dict[str, Any]]] = {}
        _memo[id(policy)] = (policy, shapes)
        return shapes


def _shape(state: SubjectState, jurisdiction: str | None, day: dt.date) -> Hashable:
    """Everything :func:`pledge.policy.evaluate.evaluate` reads of ``state``, with sequence
    numbers replaced by their order (the only way decisions use them)."""
    seqs = [m.seq for m in state.consent.values()]
    seqs += [m.seq for m in state.objections.values()]
    seqs += [m.seq for m in state.restrictions.values()]
    if state.sale is not None:
        seqs.append(state.sale.seq)
    rank = {seq: n for n, seq in enumerate(sorted(set(seqs)))}
    return (
        _marks(state.consent, rank),
        _marks(state.objections, rank),
        _marks(state.restrictions, rank),
        _sale(state.sale, rank),
        state.subject_id is None,
        state.birth_date,
        state.jurisdiction,
        state.baseline_version,
        jurisdiction,
        day,
    )


def _marks(marks: Mapping[Any, Mark], rank: Mapping[int, int]) -> tuple[Any, ...]:
    return tuple(sorted((key, mark.on, rank[mark.seq]) for key, mark in marks.items()))


def _sale(mark: SaleMark | None, rank: Mapping[int, int]) -> tuple[str, int] | None:
    return None if mark is None else (mark.kind, rank[mark.seq])
