"""The verification pass after an erasure: search again, and account for every personal field left.

What the report proves, for every collection of the plan:

1. **Nothing still matches.** No row has, in a column the first walk searched, any value it
   searched by — the person's identities, the keys of rows that led here, across databases —
   unless it is a row the erasure kept (rewrote instead of deleting), which 2. then covers.
2. **What is kept is erased.** Every row kept is read again by its primary key, with any row 1.
   turned up, and each erased field must hold its erased form (NULL, a fixed point of the mask, a
   marked hash); each field kept is counted with its reason, and a legal hold with its end date.

Anything else is listed as residual and fails the check. Asking 1. costs no row: one
``SELECT EXISTS (…)`` per searched column, leaving out the kept rows by key, which the database
answers from an index (see ``SqlSession.exists``); only when it says yes are the matching rows
read, exactly as a plain search would. So a bulk erasure pays for its verification mostly with
index probes, not with reading and decoding rows it has just deleted. Connectors without
``exists`` are searched by ``read``, as before. For many people, every collection's check, in
pieces (the kept rows, each searched column), runs at once, each on its own connection.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pledge.connectors.base import Connector, Row, Session
from pledge.declaration.durations import parse_duration
from pledge.requests.erasure import norm_key, parse_doc, read_by_keys
from pledge.requests.plan import PlanNode, TraversalPlan
from pledge.requests.strategies import CollectionErasure, FieldAction, is_erased, seed_prefix
from pledge.requests.traverse import jsonable, row_key, shared_pool

__all__ = ["verify_erasure"]

_LISTED = 100  # residual rows listed one by one; beyond that, counted
_SIDE_BY_SIDE_FROM = 100  # keys and values searched from which databases are checked at once


@dataclass
class _Collection:
    """One collection's share of the check: what to look for, and what was found."""

    node: PlanNode
    erasure: CollectionErasure | None
    kept_keys: list[list[Any]]
    """Rows the erasure kept (all rows found, unless it deleted them): read by key and checked."""
    searched: dict[str, list[Any]]
    spared: set[tuple[Any, ...]] = field(default_factory=set)
    many_spared: bool = False
    rows: dict[tuple[Any, ...], Row] = field(default_factory=dict)
    searched_any: bool = False


def _step_result(step_results: Mapping[str, Mapping[str, Any]], name: str) -> Mapping[str, Any]:
    return next((r for r in step_results.values() if r.get("collection") == name), {})


def _plan_checks(
    plan: TraversalPlan,
    erasures: Mapping[Any, CollectionErasure],
    collected: Mapping[str, Any],
    step_results: Mapping[str, Mapping[str, Any]],
) -> list[_Collection]:
    searched = collected.get("searched", {})
    checks: list[_Collection] = []
    for node in plan.nodes:
        erasure = erasures.get(node.ref)
        keys = list(collected.get("keys", {}).get(node.name, []))
        result = _step_result(step_results, node.name)
        listed = [k["key"] for k in result.get("kept_rows", [])]
        many = result.get("kept_row_count", 0) > len(listed)
        if erasure is not None and erasure.delete_row and not many:
            # Deleted rows need no key search: one still there is found by the searched values.
            keys = listed
        checks.append(
            _Collection(
                node,
                erasure,
                keys if node.key else [],
                {c: list(v) for c, v in searched.get(node.name, {}).items()},
                spared={norm_key(k) for k in listed},
                many_spared=many,
            )
        )
    return checks


def _checked_columns(node: PlanNode, erasure: CollectionErasure | None) -> list[str]:
    """The key and every column whose value the check looks at (a keyless table: all, since
    the whole row stands for its key)."""
    if not node.key or erasure is None:
        return list(node.columns)
    columns = [*node.key]
    for action in erasure.actions:
        if action.strategy != "keep":
            columns.append(action.path[0])
        if action.hold is not None and action.hold.start and action.hold.start in node.table.columns:
            columns.append(action.hold.start)
    return list(dict.fromkeys(columns))


_KEPT = "\x00kept"
"""A piece of a check (see ``_pieces``): the kept rows, and the search by the key column."""


def _search(session: Session, check: _Collection, piece: str | None = None) -> None:
    """Fill ``check.rows``: the kept rows by key, then rows still matching a searched value.
    ``piece``: only part of it (see ``_pieces``), run on its own; None: all of it."""
    node = check.node
    table = node.table.name
    columns = _checked_columns(node, check.erasure)
    single = node.key[0] if len(node.key) == 1 else None
    read_keys: set[Any] = set()
    if piece is None or piece == _KEPT:
        for row in read_by_keys(session, node, check.kept_keys, columns=columns):
            check.rows.setdefault(row_key(node, row), row)
        if check.kept_keys:
            check.searched_any = True
        if single:  # list() of a dict is one step for other threads adding rows to it
            read_keys = {k[0] for k in list(check.rows)}
    exists: Callable[..., bool] | None = getattr(session, "exists", None)
    for column, values in check.searched.items():
        wanted = piece is None or column == (single if piece == _KEPT else piece)
        if not wanted:
            continue
        if column == single:
            values = [v for v in values if v not in read_keys]  # those were just read by key
        if not values:
            continue
        check.searched_any = True
        fold = {"fold": True} if column in node.folded else {}
        if callable(exists) and single is not None:
            besides = (single, [k[0] for k in check.kept_keys]) if check.kept_keys else None
            if not exists(table, column, values, besides=besides, **fold):
                continue
        elif callable(exists) and not check.kept_keys and not exists(table, column, values, **fold):
            continue
        for row in session.read(table, columns, column, values, **fold):
            check.rows.setdefault(row_key(node, row), row)


def _pieces(check: _Collection) -> list[tuple[_Collection, str | None]]:
    """A collection's check in independent pieces: the kept rows (with the search by the key
    column, which leaves out the keys just read), and the search by each other column. Without
    a single-column key the searches leave out the kept rows by reading them: one piece."""
    single = check.node.key[0] if len(check.node.key) == 1 else None
    if single is None:
        return [(check, None)]
    return [(check, _KEPT), *((check, column) for column in check.searched if column != single)]


def _search_all(checks: Sequence[_Collection], connectors: Mapping[str, Connector]) -> None:
    volume = sum(len(c.kept_keys) + sum(map(len, c.searched.values())) for c in checks)
    if volume < _SIDE_BY_SIDE_FROM or len(checks) < 2:
        # One person: handing work to threads costs more than it saves.
        by_dataset: dict[str, list[_Collection]] = {}
        for check in checks:
            by_dataset.setdefault(check.node.ref[0], []).append(check)
        for dataset, group in by_dataset.items():
            with connectors[dataset].session() as session:
                for check in group:
                    _search(session, check)
        return

    # Many people: every piece of every collection's check at once, each on its own reading
    # connection (these reads share no transaction anyway).
    def run(piece: tuple[_Collection, str | None]) -> None:
        check, part = piece
        with connectors[check.node.ref[0]].session() as session:
            _search(session, check, part)

    pieces = [piece for check in checks for piece in _pieces(check)]
    futures = [shared_pool().submit(run, piece) for piece in pieces]
    for future in futures:
        future.result()  # re-raises a connector error here


# --- accounting for what was found ----------------------------------------------------------------


def _leaves(value: Any, path: Sequence[str], trail: list[Any]) -> list[tuple[list[Any], Any]]:
    if isinstance(value, list):
        return [leaf for i, item in enumerate(value) for leaf in _leaves(item, path, [*trail, i])]
    if not path:
        return [(trail, value)]
    if isinstance(value, dict) and path[0] in value:
        return _leaves(value[path[0]], path[1:], [*trail, path[0]])
    return []


def _hold_until(action: FieldAction, rows: Sequence[Row]) -> str | None:
    hold = action.hold
    if hold is None or not hold.start:
        return None
    latest: dt.date | None = None
    for row in rows:
        raw = row.get(hold.start)
        if isinstance(raw, str):
            try:
                raw = dt.datetime.fromisoformat(raw)
            except ValueError:
                continue
        if isinstance(raw, dt.datetime):
            raw = raw.date()
        if isinstance(raw, dt.date):
            until = parse_duration(str(hold.period)).add_to(raw)
            latest = until if latest is None or until > latest else latest
    return latest.isoformat() if latest else None


def _account(
    check: _Collection,
    hash_key: bytes | None,
    residual: list[dict[str, Any]],
    kept: dict[tuple[str, str], dict[str, Any]],
) -> None:
    node, erasure = check.node, check.erasure
    rows = list(check.rows.values())
    if erasure is None or not rows:
        return
    collection = node.collection
    actions = [replace(a, strategy=a.fallback) if a.strategy == "delete_row" else a for a in erasure.actions]
    held = [a for a in actions if a.strategy == "keep"]
    erased = [(a, seed_prefix(collection, a.path)) for a in actions if a.strategy != "keep"]
    for row in rows:
        key = [row.get(c) for c in node.key]
        if erasure.delete_row and not check.many_spared and norm_key(jsonable(key)) not in check.spared:
            residual.append(
                {"collection": node.name, "key": jsonable(key), "why": "row should have been deleted"}
            )
            continue
        for action in held:
            entry = kept.setdefault(
                (node.name, action.label),
                {"collection": node.name, "field": action.label, "reason": action.reason, "rows": 0},
            )
            entry["rows"] += 1
        key_text = "\x1e".join(map(str, key))
        for action, prefix in erased:
            value = row.get(action.path[0])
            if len(action.path) == 1:
                if value is None or is_erased(action, value, prefix + key_text, hash_key=hash_key):
                    continue
                wrong = True
            else:
                wrong = any(
                    not is_erased(
                        action,
                        leaf,
                        seed_prefix(collection, [str(t) for t in trail]) + key_text,
                        hash_key=hash_key,
                    )
                    for trail, leaf in _leaves(parse_doc(value)[0], action.path[1:], [action.path[0]])
                )
            if wrong:
                residual.append(
                    {
                        "collection": node.name,
                        "key": jsonable(key),
                        "field": action.label,
                        "why": f"expected {action.strategy}",
                    }
                )
    for action in held:
        held_entry = kept.get((node.name, action.label))
        if held_entry is not None and action.hold is not None:
            held_entry["law"] = action.hold.law
            held_entry["until"] = _hold_until(action, rows)


def verify_erasure(
    plan: TraversalPlan,
    erasures: Mapping[Any, CollectionErasure],
    connectors: Mapping[str, Connector],
    collected: Mapping[str, Any],
    step_results: Mapping[str, Mapping[str, Any]],
    *,
    hash_key: bytes | None,
) -> dict[str, Any]:
    """Search again by everything the first walk searched by and by the keys of the rows kept,
    and account for every personal field still stored (see the module docstring)."""
    checks = _plan_checks(plan, erasures, collected, step_results)
    _search_all(checks, connectors)
    residual: list[dict[str, Any]] = []
    kept: dict[tuple[str, str], dict[str, Any]] = {}
    for check in checks:
        _account(check, hash_key, residual, kept)
    return {
        "verified": not residual,
        "searched_collections": sorted(c.node.name for c in checks if c.searched_any),
        "remaining_rows": {c.node.name: len(c.rows) for c in checks},
        "kept": list(kept.values()),
        "residual": residual[:_LISTED],
        "residual_count": len(residual),
    }
