"""Walking a :class:`~pledge.requests.plan.TraversalPlan`: the rows a request is about.

One read transaction per database for the whole walk. Each collection is searched once per
lookup with every value known at that point (one batched query, never one per value); a stage
that is a cycle is searched again with the values its own rows revealed, until none is new.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from pledge.connectors.base import Connector, Row, Session
from pledge.datamap.model import CollectionRef
from pledge.requests.plan import Lookup, PlanNode, TraversalPlan
from pledge.requests.steps import Identity

__all__ = ["Found", "jsonable", "jsonable_list", "row_key", "shared_pool", "traverse"]

_MAX_ROUNDS = 25
_CONCURRENT_FROM = 100  # identities (or searched values) from which databases are searched at once
_POOLS: dict[int, ThreadPoolExecutor] = {}


def shared_pool() -> ThreadPoolExecutor:
    """Shared by every traversal of this process (a forked worker gets its own: threads do not
    survive a fork). Databases are searched side by side; statements are I/O-bound."""
    pid = os.getpid()
    if pid not in _POOLS:
        _POOLS[pid] = ThreadPoolExecutor(max_workers=8, thread_name_prefix="pledge-traverse")
    return _POOLS[pid]


Progress = Callable[[str], None]


def jsonable(value: Any) -> Any:
    """A database value as JSON: dates ISO-8601, UUIDs and decimals as text, bytes as base64."""
    kind = type(value)
    if kind is int or kind is str or value is None:  # most values: no isinstance chain
        return value
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)


_PLAIN = frozenset({int, str})


def jsonable_list(values: Sequence[Any]) -> list[Any]:
    """``[jsonable(v) for v in values]``; a list of only ints and text (the usual keys and
    identities) is already JSON, which a C-level pass over the types tells."""
    if set(map(type, values)) <= _PLAIN:
        return list(values)
    return [jsonable(v) for v in values]


def row_key(node: PlanNode, row: Row) -> tuple[Any, ...]:
    """The row's primary key; without one, the whole row stands for itself."""
    if node.key:
        return tuple(row.get(c) for c in node.key)
    return (json.dumps(jsonable(row), sort_keys=True),)


@dataclass
class Found:
    """What a traversal found: rows per collection and every value it searched by."""

    rows: dict[CollectionRef, dict[tuple[Any, ...], Row]] = field(default_factory=dict)
    searched: dict[CollectionRef, dict[str, list[Any]]] = field(default_factory=dict)

    def rows_of(self, ref: CollectionRef) -> list[Row]:
        return list(self.rows.get(ref, {}).values())

    def counts(self, plan: TraversalPlan) -> dict[str, int]:
        return {node.name: len(self.rows.get(node.ref, {})) for node in plan.nodes}

    def searched_json(self, plan: TraversalPlan) -> dict[str, dict[str, list[Any]]]:
        return {
            node.name: {column: jsonable_list(values) for column, values in self.searched[node.ref].items()}
            for node in plan.nodes
            if self.searched.get(node.ref)
        }


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def traverse(
    plan: TraversalPlan,
    connectors: Mapping[str, Connector],
    identities: Sequence[Identity],
    *,
    searched: Mapping[str, Mapping[str, Sequence[Any]]] | None = None,
    progress: Progress | None = None,
    keys_only: bool = False,
) -> Found:
    """Find every row the plan reaches from ``identities``.

    With ``searched`` (a previous traversal's ``searched_json``), search exactly those values
    instead of following references: the verification pass after an erasure looks again for
    everything the first walk looked for. ``keys_only`` reads just the primary keys and the
    columns other collections are found by (an erasure's first walk needs no more).
    """
    found = Found()
    asked: dict[tuple[CollectionRef, str], set[Any]] = {}
    columns = {node.ref: node.columns for node in plan.nodes}
    if keys_only:
        for node in plan.nodes:
            linked = [lk.source_column for n in plan.nodes for lk in n.lookups if lk.source == node.ref]
            columns[node.ref] = tuple(dict.fromkeys([*node.key, *(c for c in linked if c is not None)]))
    with ExitStack() as stack:
        sessions: dict[str, Session] = {}

        def session(dataset: str) -> Session:
            if dataset not in sessions:
                sessions[dataset] = stack.enter_context(connectors[dataset].session())
            return sessions[dataset]

        def visit(node: PlanNode) -> bool:
            if progress is not None:
                progress(node.name)
            if searched is not None:
                wanted = {c: list(v) for c, v in searched.get(node.name, {}).items()}
            else:
                wanted = _wanted(node, found, identities)
            return _search(node, columns[node.ref], wanted, found, asked, sessions[node.ref[0]])

        for dataset in dict.fromkeys(n.ref[0] for n in plan.nodes):
            session(dataset)  # opened here, in this thread, even when used from a worker
        # Side by side only when there is enough to do: for one person's request the hand-offs
        # between threads cost more than the overlap gains.
        volume = sum(len(v) for cols in (searched or {}).values() for v in cols.values()) or len(identities)
        if volume >= _CONCURRENT_FROM and len(sessions) > 1 and all(len(stage) == 1 for stage in plan.stages):
            _concurrently(plan, visit, independent=searched is not None)
            return found
        for stage in plan.stages:
            for _round in range(_MAX_ROUNDS):
                new_rows = False
                for node in stage:
                    new_rows |= visit(node)
                if len(stage) == 1 or not new_rows or searched is not None:
                    break
    return found


def _concurrently(plan: TraversalPlan, visit: Callable[[PlanNode], bool], *, independent: bool) -> None:
    """Visit each collection once its sources are done, databases side by side (one statement
    at a time on each): while the shop database finds orders, the marketing one can already
    search its newsletter list. ``independent``: the values are known up front (verification)."""
    pending = list(plan.nodes)
    done: set[CollectionRef] = set()
    running: dict[Future[bool], PlanNode] = {}
    while pending or running:
        busy = {node.ref[0] for node in running.values()}
        for node in list(pending):
            if node.ref[0] in busy or not (independent or node.after <= done):
                continue
            busy.add(node.ref[0])
            pending.remove(node)
            running[shared_pool().submit(visit, node)] = node
        if not running:  # cannot happen with an acyclic plan; never spin
            raise RuntimeError("traversal plan has unmet dependencies")
        finished, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in finished:
            node = running.pop(future)
            future.result()  # re-raises a connector error here
            done.add(node.ref)


def _wanted(node: PlanNode, found: Found, identities: Sequence[Identity]) -> dict[str, list[Any]]:
    wanted: dict[str, list[Any]] = {}
    for lookup in node.lookups:
        wanted.setdefault(lookup.column, []).extend(_values(lookup, found, identities))
    return wanted


def _values(lookup: Lookup, found: Found, identities: Sequence[Identity]) -> list[Any]:
    if lookup.identity is not None:
        return [i.value for i in identities if i.kind == lookup.identity]
    assert lookup.source is not None and lookup.source_column is not None
    column = lookup.source_column
    return [row[column] for row in found.rows.get(lookup.source, {}).values() if row.get(column) is not None]


def _search(
    node: PlanNode,
    columns: Sequence[str],
    wanted: Mapping[str, list[Any]],
    found: Found,
    asked: dict[tuple[CollectionRef, str], set[Any]],
    session: Session,
) -> bool:
    rows = found.rows.setdefault(node.ref, {})
    record = found.searched.setdefault(node.ref, {})
    before = len(rows)
    fresh_by_column: dict[str, list[Any]] = {}
    for column, values in wanted.items():
        done = asked.setdefault((node.ref, column), set())
        try:
            unique = dict.fromkeys(values)
        except TypeError:  # a value that cannot be searched by (a JSON list): left out
            unique = dict.fromkeys(v for v in values if _hashable(v))
        fresh = [v for v in unique if v not in done] if done else list(unique)
        if fresh:
            done.update(fresh)
            record.setdefault(column, []).extend(fresh)
            fresh_by_column[column] = fresh
    if fresh_by_column:
        # One query for every way the collection is found (a BitmapOr on PostgreSQL). Columns
        # the datamap marks case_insensitive are compared ignoring case; ``fold`` is passed only
        # then, so connectors without it keep working for every other datamap.
        folded = [c for c in fresh_by_column if c in node.folded]
        if folded:
            found_rows = session.read_any(node.table.name, columns, fresh_by_column, fold=folded)
        else:
            found_rows = session.read_any(node.table.name, columns, fresh_by_column)
        if len(node.key) == 1:  # row_key, inlined for the usual single-column key
            (key,) = node.key
            for row in found_rows:
                rows.setdefault((row.get(key),), row)
        else:
            for row in found_rows:
                rows.setdefault(row_key(node, row), row)
    return len(rows) > before
