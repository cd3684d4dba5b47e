"""Erasure: one collection at a time, children before parents.

Each collection's erasure is one transaction on its database: read the rows (by the primary
keys the first walk found, locked), delete those whose rows go, rewrite the fields of the rest.
A row asked to be deleted that other rows still reference (a kept invoice, a table missing from
the datamap) is not deleted — its fields are erased instead and the report says why — so no
foreign key is ever broken and nothing held by law disappears through a cascade.

Every rewrite is a fixed point (see :mod:`pledge.requests.strategies`), so a step run again after
a crash finds nothing left to change. The verification pass that follows is
:mod:`pledge.requests.erasure_check`.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from pledge.connectors.base import NO_MATCH, Connector, Row, RowChange, Session, coerce
from pledge.datamap.model import CollectionRef
from pledge.requests.plan import PlanNode, TraversalPlan
from pledge.requests.strategies import (
    CollectionErasure,
    FieldAction,
    erased_masks,
    erased_value,
    mask_seed,
    seed_prefix,
)
from pledge.requests.traverse import jsonable, jsonable_list

__all__ = [
    "apply_nested",
    "erase_collection",
    "erase_dependencies",
    "erase_order",
    "keys_of",
    "norm_key",
    "parse_doc",
    "read_by_keys",
    "row_changes",
]

_LISTED = 100  # rows listed one by one in a step's result; beyond that, counted
_OVERLAP_FROM = 2000  # rows rewritten from which reading and computing overlap
_OVERLAP_PARTS = 4


def erase_order(plan: TraversalPlan) -> list[PlanNode]:
    """Children before parents (live foreign keys), ``erase_after`` honoured, else deepest first."""
    nodes = list(plan.nodes)
    position = {n.ref: i for i, n in enumerate(nodes)}
    by_table = {(n.ref[0], n.table.name): n for n in nodes}
    before: dict[CollectionRef, set[CollectionRef]] = {n.ref: set() for n in nodes}
    for node in nodes:
        for fk in node.table.foreign_keys:
            parent = by_table.get((node.ref[0], fk.target))
            if parent is not None and parent.ref != node.ref:
                before[parent.ref].add(node.ref)  # the child goes first
        for ref in node.collection.erase_after:
            if ref in before and ref != node.ref:
                before[node.ref].add(ref)
    waiting = {ref: set(deps) for ref, deps in before.items()}
    ready = [(-position[r], r) for r, deps in waiting.items() if not deps]
    heapq.heapify(ready)
    order: list[CollectionRef] = []
    while len(order) < len(nodes):
        if not ready:  # a cycle of foreign keys: break it at the deepest collection left
            rest = max((r for r in waiting if r not in order), key=lambda r: position[r])
            waiting[rest] = set()
            heapq.heappush(ready, (-position[rest], rest))
        _, ref = heapq.heappop(ready)
        if ref in order:
            continue
        order.append(ref)
        for other, deps in waiting.items():
            if ref in deps:
                deps.discard(ref)
                if not deps and other not in order:
                    heapq.heappush(ready, (-position[other], other))
    return [nodes[position[r]] for r in order]


def erase_dependencies(
    order: Sequence[PlanNode], erasures: Mapping[CollectionRef, CollectionErasure]
) -> dict[CollectionRef, set[CollectionRef]]:
    """For each collection of ``order`` (:func:`erase_order`), those whose erasure must be over
    before its own starts; the others may be erased at the same time. A collection whose rows
    are deleted waits for the collections whose rows point at it (it would otherwise find them
    still there and keep its rows); ``erase_after`` is always honoured. Rewriting fields in
    place waits for nothing: it never changes a key other rows point at (strategies refuse to
    rewrite a foreign key's columns). Only pairs the order agrees with are kept (where foreign
    keys form a cycle, the order broke it)."""
    position = {n.ref: i for i, n in enumerate(order)}
    by_table = {(n.ref[0], n.table.name): n.ref for n in order}
    before: dict[CollectionRef, set[CollectionRef]] = {n.ref: set() for n in order}
    for node in order:
        erasure = erasures.get(node.ref)
        if erasure is not None and erasure.delete_row:
            for fk in node.table.referenced_by:
                child = by_table.get((node.ref[0], fk.table))
                if child is not None and child != node.ref:
                    before[node.ref].add(child)
        before[node.ref].update(r for r in node.collection.erase_after if r in position and r != node.ref)
    return {ref: {d for d in deps if position[d] < position[ref]} for ref, deps in before.items()}


def keys_of(node: PlanNode, rows: Sequence[Row]) -> list[list[Any]]:
    if len(node.key) == 1:  # the usual case, without a call per row
        (column,) = node.key
        return list(map(list, zip(jsonable_list([row.get(column) for row in rows]), strict=True)))
    return [[jsonable(row.get(c)) for c in node.key] for row in rows]


def norm_key(key: Sequence[Any]) -> tuple[Any, ...]:
    """A key comparable whether it came from the database or back from JSON (cheap for the
    usual integer and text keys)."""
    return tuple(v if type(v) in (int, str) else str(jsonable(v)) for v in key)


def read_by_keys(
    session: Session,
    node: PlanNode,
    keys: Sequence[Sequence[Any]],
    *,
    lock: bool = False,
    columns: Sequence[str] | None = None,
) -> list[Row]:
    """The rows of ``node`` with these primary keys (as found earlier, possibly JSON-decoded):
    ``columns`` (always with the key), else every mapped column."""
    if not keys or not node.key:
        return []
    selected = node.columns if columns is None else list(dict.fromkeys([*node.key, *columns]))
    if len(node.key) == 1:
        return session.read(node.table.name, selected, node.key[0], [k[0] for k in keys], lock=lock)
    by_whole_key: Callable[..., list[Row]] | None = getattr(session, "read_keys", None)
    if callable(by_whole_key):  # locks only these rows, not every row sharing the first column
        rows = by_whole_key(node.table.name, selected, node.key, keys, lock=lock)
    else:
        rows = session.read(node.table.name, selected, node.key[0], [k[0] for k in keys], lock=lock)
    wanted = {norm_key(k) for k in keys}
    return [r for r in rows if norm_key([r.get(c) for c in node.key]) in wanted]


# --- one collection ------------------------------------------------------------------------------


def parse_doc(value: Any) -> tuple[Any, bool]:
    if isinstance(value, str):
        try:
            return json.loads(value), True
        except ValueError:
            return None, True
    return value, False


def apply_nested(doc: Any, path: Sequence[str], trail: list[Any], change: Any) -> bool:
    """Apply ``change(value, trail)`` at ``path`` inside a JSON document (lists: every element)."""
    if isinstance(doc, list):
        changed = False
        for i, item in enumerate(doc):  # every element, no short cut
            changed |= apply_nested(item, path, [*trail, i], change)
        return changed
    if not isinstance(doc, dict) or not path or path[0] not in doc:
        return False
    if len(path) == 1:
        new = change(doc[path[0]], [*trail, path[0]])
        if new is not doc[path[0]] and new != doc[path[0]]:
            doc[path[0]] = new
            return True
        return False
    return apply_nested(doc[path[0]], path[1:], [*trail, path[0]], change)


class RowRewriter:
    """What erasing does to one row of a collection, prepared once for all its rows: a bulk
    erasure rewrites tens of thousands of rows with the same few actions."""

    def __init__(self, node: PlanNode, actions: Sequence[FieldAction], *, hash_key: bytes | None) -> None:
        self.node = node
        self.hash_key = hash_key
        writing = [a for a in actions if a.strategy not in ("keep", "delete_row")]
        self.plain = [
            (a, a.path[0], seed_prefix(node.collection, a.path), node.table.columns[a.path[0]].length)
            for a in writing
            if len(a.path) == 1
        ]
        self.nested = [a for a in writing if len(a.path) > 1]

    def __call__(self, row: Row) -> dict[str, Any]:
        """The new values of the columns that change (empty when the row is already erased)."""
        node, hash_key = self.node, self.hash_key
        key = [row.get(c) for c in node.key]
        key_text = "\x1e".join(map(str, key))  # as mask_seed joins the key
        changes: dict[str, Any] = {}
        for action, column, prefix, length in self.plain:
            current = row.get(column)
            if current is None:
                continue  # nothing to erase in any strategy
            new = erased_value(action, current, prefix + key_text, hash_key=hash_key, length=length)
            if new is not current and (type(new) is not type(current) or new != current):
                changes[column] = new
        if self.nested:
            self._nested(row, key, changes)
        return changes

    def many(self, rows: Sequence[Row]) -> list[RowChange]:
        """The changes of many rows (none for those already erased): the masks of all of them
        computed together (see :func:`~pledge.requests.strategies.mask_many`)."""
        node, hash_key = self.node, self.hash_key
        keys = [tuple(row.get(c) for c in node.key) for row in rows]
        key_texts = ["\x1e".join(map(str, key)) for key in keys]  # as mask_seed joins the key
        changes: list[dict[str, Any]] = [{} for _ in rows]
        for action, column, prefix, length in self.plain:
            if action.strategy == "mask":
                # Only text is masked (erased_value leaves anything else for the report).
                at = [i for i, row in enumerate(rows) if type(row.get(column)) is str]
                values = [rows[i][column] for i in at]
                masked = erased_masks(values, [prefix + key_texts[i] for i in at], hash_key=hash_key)
                for i, old, new in zip(at, values, masked, strict=True):
                    if new != old:
                        changes[i][column] = new
                continue
            for i, row in enumerate(rows):
                current = row.get(column)
                if current is None:
                    continue
                new = erased_value(action, current, prefix + key_texts[i], hash_key=hash_key, length=length)
                if new is not current and (type(new) is not type(current) or new != current):
                    changes[i][column] = new
        if self.nested:
            for i, row in enumerate(rows):
                self._nested(row, keys[i], changes[i])
        return [RowChange(keys[i], values) for i, values in enumerate(changes) if values]

    def _nested(self, row: Row, key: Sequence[Any], changes: dict[str, Any]) -> None:
        node, hash_key = self.node, self.hash_key
        docs: dict[str, tuple[Any, bool, bool]] = {}
        for action in self.nested:
            column = action.path[0]
            doc, was_text, dirty = docs.get(column) or (*parse_doc(row.get(column)), False)

            def change(value: Any, trail: list[Any], action: FieldAction = action) -> Any:
                if isinstance(value, list) and action.strategy != "null":  # string[]: each element
                    return [change(item, [*trail, i]) for i, item in enumerate(value)]
                seed = mask_seed(node.collection, [str(t) for t in trail], key)
                return erased_value(action, value, seed, hash_key=hash_key, length=None)

            dirty |= apply_nested(doc, action.path[1:], [column], change)
            docs[column] = (doc, was_text, dirty)
        for column, (doc, was_text, dirty) in docs.items():
            if dirty:
                changes[column] = json.dumps(doc, ensure_ascii=False, sort_keys=True) if was_text else doc


def row_changes(
    node: PlanNode, actions: Sequence[FieldAction], row: Row, *, hash_key: bytes | None
) -> dict[str, Any]:
    """One row's changes (see :class:`RowRewriter`, which prepares once for many rows)."""
    return RowRewriter(node, actions, hash_key=hash_key)(row)


def _still_referenced(session: Session, node: PlanNode, rows: Sequence[Row]) -> dict[tuple[Any, ...], str]:
    """Rows other rows still point at (by a live foreign key), with the referencing table."""
    blocked: dict[tuple[Any, ...], str] = {}
    doomed = {norm_key([r.get(c) for c in node.key]) for r in rows}
    for fk in node.table.referenced_by:
        targets = [r.get(fk.target_columns[0]) for r in rows if r.get(fk.target_columns[0]) is not None]
        if not targets:
            continue
        columns = list(fk.columns)
        if fk.table == node.table.name:
            columns += list(node.key)
        children = session.read(fk.table, columns, fk.columns[0], targets)
        if fk.table == node.table.name:  # a row pointing at another row deleted with it is fine
            children = [c for c in children if norm_key([c.get(k) for k in node.key]) not in doomed]
        pointed = {norm_key([c.get(col) for col in fk.columns]) for c in children}
        for row in rows:
            if norm_key([row.get(col) for col in fk.target_columns]) in pointed:
                blocked.setdefault(norm_key([row.get(c) for c in node.key]), fk.table)
    return blocked


def erase_collection(
    node: PlanNode,
    erasure: CollectionErasure,
    connector: Connector,
    keys: Sequence[Sequence[Any]],
    *,
    hash_key: bytes | None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Erase this collection's rows named by ``keys``; returns counts and the rows kept (by key)."""
    fallback = [replace(a, strategy=a.fallback) if a.strategy == "delete_row" else a for a in erasure.actions]
    result: dict[str, Any] = {"collection": node.name, "dry_run": dry_run}
    with connector.session(write=not dry_run) as session:
        if erasure.delete_row and not dry_run and _keys_suffice(node):
            # Deleting needs no values: name the rows by their keys, read only those kept.
            return _delete_by_keys(node, erasure, session, keys, fallback, hash_key, result)
        if not erasure.delete_row and not dry_run and len(keys) >= _OVERLAP_FROM:
            rewrite = RowRewriter(node, erasure.actions, hash_key=hash_key)
            found, updated = _rewrite_overlapped(node, erasure, session, keys, rewrite)
            result.update(found=found, deleted=0, updated=updated, kept_rows=[], kept_row_count=0)
            return result
        rows = read_by_keys(session, node, keys, lock=not dry_run, columns=_written_columns(node, erasure))
        result["found"] = len(rows)
        kept: list[dict[str, Any]] = []
        to_update = rows
        deleted = 0
        if erasure.delete_row and rows:
            blocked = _still_referenced(session, node, rows)
            doomed = [r for r in rows if norm_key([r.get(c) for c in node.key]) not in blocked]
            to_update = [r for r in rows if norm_key([r.get(c) for c in node.key]) in blocked]
            for row in to_update:
                child = blocked[norm_key([row.get(c) for c in node.key])]
                kept.append(
                    {
                        "key": [jsonable(row.get(c)) for c in node.key],
                        "reason": f"still referenced by rows of '{child}' (kept, or not in the datamap): "
                        "its fields are erased instead of deleting the row",
                    }
                )
            if doomed and not dry_run:
                deleted = session.delete(
                    node.table.name, node.key, [tuple(r.get(c) for c in node.key) for r in doomed]
                )
            elif doomed:
                deleted = len(doomed)
        rewrite = RowRewriter(node, fallback if erasure.delete_row else erasure.actions, hash_key=hash_key)
        changes = rewrite.many(to_update)
        updated = len(changes)
        if changes and not dry_run:
            updated = session.update(node.table.name, node.key, changes)
    result.update(deleted=deleted, updated=updated, kept_rows=kept[:_LISTED], kept_row_count=len(kept))
    return result


def _rewrite_overlapped(
    node: PlanNode,
    erasure: CollectionErasure,
    session: Session,
    keys: Sequence[Sequence[Any]],
    rewrite: RowRewriter,
) -> tuple[int, int]:
    """Rewrite many rows with the database and Python working at the same time: the rows are
    locked and read in a few parts, each part's new values computed on a worker thread (masks
    and hashes are HMACs: for 10,000 people, as long as a statement) while the next part is read,
    then each part written. One transaction and the same rows, locks and values as reading
    everything first; only the waiting overlaps."""
    size = -(-len(keys) // _OVERLAP_PARTS)
    columns = _written_columns(node, erasure)
    pending: list[Future[list[RowChange]]] = []
    found = updated = 0
    # One worker, parts in order: the first part's values are ready first (threads computing
    # every part at once would share the interpreter and all finish at the end).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pledge-rewrite") as worker:
        try:
            for start in range(0, len(keys), size):
                rows = read_by_keys(session, node, keys[start : start + size], lock=True, columns=columns)
                found += len(rows)
                pending.append(worker.submit(rewrite.many, rows))
            for future in pending:
                changes = future.result()
                if changes:
                    updated += session.update(node.table.name, node.key, changes)
        finally:
            for future in pending:
                future.cancel()
    return found, updated


def _written_columns(node: PlanNode, erasure: CollectionErasure) -> list[str]:
    """What erasing reads of each row: the columns it rewrites, and those other rows point at
    (only they decide whether a row can go). Not the rest: 10,000 rows of timestamps decoded
    for nothing cost more than the read itself."""
    columns = [a.path[0] for a in erasure.actions if a.strategy != "keep"]
    columns += [c for fk in node.table.referenced_by for c in fk.target_columns]
    return list(dict.fromkeys(columns))


def _keys_suffice(node: PlanNode) -> bool:
    """True when every foreign key pointing here targets the primary key (the usual case)."""
    return bool(node.key) and all(set(fk.target_columns) <= set(node.key) for fk in node.table.referenced_by)


def _cascades(node: PlanNode) -> bool:
    """Would deleting here change other rows through ``ON DELETE CASCADE / SET NULL``?"""
    return any(
        (fk.on_delete or "NO ACTION").upper() not in ("NO ACTION", "RESTRICT")
        for fk in node.table.referenced_by
    )


def _typed_keys(node: PlanNode, keys: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """Keys back from JSON in the columns' own types (a UUID was text in JSON)."""
    columns = [node.table.columns[c] for c in node.key]
    if len(columns) == 1 and columns[0].kind in ("integer", "string"):
        wanted = int if columns[0].kind == "integer" else str
        if all(type(k[0]) is wanted for k in keys):  # the usual case, without a call per key
            return [(v,) for v in dict.fromkeys(k[0] for k in keys)]
    typed = (tuple(coerce(col, v) for col, v in zip(columns, key, strict=True)) for key in keys)
    return list(dict.fromkeys(k for k in typed if NO_MATCH not in k))


def _delete_by_keys(
    node: PlanNode,
    erasure: CollectionErasure,
    session: Session,
    keys: Sequence[Sequence[Any]],
    fallback: Sequence[FieldAction],
    hash_key: bytes | None,
    result: dict[str, Any],
) -> dict[str, Any]:
    typed = _typed_keys(node, keys)
    blocked: dict[tuple[Any, ...], str] = {}
    deleted: int | None = None
    try_delete = getattr(session, "try_delete", None)
    if typed and node.table.referenced_by and callable(try_delete) and not _cascades(node):
        # Usually nothing points at these rows any more (their children went first): delete,
        # and only if a foreign key objects, look for the referencing rows and spare those.
        deleted = try_delete(node.table.name, node.key, typed)
    if deleted is None:
        if typed and node.table.referenced_by:
            blocked = _still_referenced(session, node, [dict(zip(node.key, k, strict=True)) for k in typed])
        doomed = [k for k in typed if norm_key(k) not in blocked] if blocked else typed
        deleted = session.delete(node.table.name, node.key, doomed) if doomed else 0
    spared = [list(k) for k in blocked]
    rows = (
        read_by_keys(session, node, spared, lock=True, columns=_written_columns(node, erasure))
        if spared
        else []
    )
    kept = [
        {
            "key": [jsonable(row.get(c)) for c in node.key],
            "reason": f"still referenced by rows of '{blocked[norm_key([row.get(c) for c in node.key])]}' "
            "(kept, or not in the datamap): its fields are erased instead of deleting the row",
        }
        for row in rows
    ]
    changes = RowRewriter(node, fallback, hash_key=hash_key).many(rows)
    updated = session.update(node.table.name, node.key, changes) if changes else 0
    result.update(
        found=deleted + len(rows),
        deleted=deleted,
        updated=updated,
        kept_rows=kept[:_LISTED],
        kept_row_count=len(kept),
    )
    return result
