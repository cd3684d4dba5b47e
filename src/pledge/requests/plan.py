"""The traversal plan: which collections a request visits, found by which keys, in which order.

Built from the datamap, the identity kinds given and the *live* schema of every database, before
any row is read. Everything that would make a request incomplete — a collection no identity
reaches, a mapped table or column the database lacks, an identity on a JSON key the connector
cannot search, a primary key marked on only some of the table's key columns — is reported here,
all at once, so a request either runs whole or not at all.

Order: references say which collection's values find which other collection's rows (Fides
directions). Collections are grouped into *stages*, the strongly connected parts of that graph
in dependency order; a stage of several collections (a cycle, such as two tables that reference
each other's e-mail column) is searched repeatedly until no new key turns up.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pledge.connectors.base import Table
from pledge.datamap.model import Collection, CollectionRef, Datamap, Field
from pledge.errors import InputError, Problem

__all__ = ["Lookup", "PlanNode", "TraversalPlan", "build_plan", "seed_kind"]

_ALIASES = {"phone": "phone_number", "mail": "email", "e-mail": "email"}


@dataclass(frozen=True, slots=True)
class Lookup:
    """Rows of a collection are those whose ``column`` equals a value from ``source``."""

    column: str
    identity: str | None = None
    """An identity kind (``email``) whose request values are searched directly."""
    source: CollectionRef | None = None
    source_column: str | None = None
    """Or: the values of ``source_column`` in the rows already found in ``source``."""

    def describe(self) -> str:
        if self.identity is not None:
            return f"{self.column} = identity {self.identity}"
        assert self.source is not None
        return f"{self.column} = {self.source[0]}:{self.source[1]}.{self.source_column}"


@dataclass(frozen=True, slots=True)
class PlanNode:
    collection: Collection
    table: Table
    lookups: tuple[Lookup, ...]
    columns: tuple[str, ...]
    """Columns read: every mapped column plus the live primary key."""
    key: tuple[str, ...]
    """Primary key columns (datamap first, else the live table's); empty when it has none."""
    after: frozenset[CollectionRef] = frozenset()
    """Collections searched before this one: those its lookups use, and ``after`` constraints."""
    folded: frozenset[str] = frozenset()
    """Columns searched ignoring case (the datamap's ``case_insensitive``)."""

    @property
    def ref(self) -> CollectionRef:
        return self.collection.ref

    @property
    def name(self) -> str:
        return self.collection.key

    def describe(self, lookup: Lookup) -> str:
        return lookup.describe() + (" (any case)" if lookup.column in self.folded else "")


@dataclass(frozen=True)
class TraversalPlan:
    stages: tuple[tuple[PlanNode, ...], ...]
    skipped: tuple[tuple[str, str], ...] = ()
    """``(collection key, why)`` for collections left out on purpose."""
    warnings: tuple[Problem, ...] = ()

    @property
    def nodes(self) -> tuple[PlanNode, ...]:
        return tuple(node for stage in self.stages for node in stage)

    def node(self, ref: CollectionRef) -> PlanNode | None:
        return next((n for n in self.nodes if n.ref == ref), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stages": [
                {
                    "repeat_until_stable": len(stage) > 1,
                    "collections": [
                        {
                            "collection": node.name,
                            "table": node.table.name,
                            "found_by": [node.describe(lookup) for lookup in node.lookups],
                            "columns": list(node.columns),
                            "primary_key": list(node.key),
                        }
                        for node in stage
                    ],
                }
                for stage in self.stages
            ],
            "skipped": [{"collection": key, "why": why} for key, why in self.skipped],
        }

    def lines(self) -> list[str]:
        out: list[str] = []
        for number, stage in enumerate(self.stages, 1):
            found = [
                f"{node.name}  by " + "; or ".join(node.describe(lk) for lk in node.lookups) for node in stage
            ]
            if len(stage) == 1:
                out.append(f"{number}. {found[0]}")
            else:
                out.append(f"{number}. (a cycle: searched again until no new key is found)")
                out.extend(f"   {line}" for line in found)
        for key, why in self.skipped:
            out.append(f"   skipped {key}: {why}")
        return out


def seed_kind(kind: str) -> tuple[str, str, str] | None:
    """``"shop:orders.id"`` → ``("shop", "orders", "id")``: a request may start from rows directly."""
    dataset, colon, rest = kind.partition(":")
    collection, dot, column = rest.partition(".")
    if colon and dot and dataset and collection and column:
        return dataset, collection, column
    return None


def _edges(datamap: Datamap, active: set[CollectionRef]) -> dict[CollectionRef, list[Lookup]]:
    """For each collection, the lookups through which other collections' values find its rows."""
    incoming: dict[CollectionRef, list[Lookup]] = defaultdict(list)
    for collection in datamap.collections():
        for f in collection.all_fields():
            for ref in f.references:
                there = ref.target.collection_ref
                if collection.ref not in active or there not in active:
                    continue
                if ref.direction in ("from", "both"):
                    incoming[collection.ref].append(
                        Lookup(f.column, source=there, source_column=ref.target.path[0])
                    )
                if ref.direction in ("to", "both"):
                    incoming[there].append(
                        Lookup(ref.target.path[0], source=collection.ref, source_column=f.column)
                    )
    return incoming


def _order_edges(datamap: Datamap, active: set[CollectionRef]) -> dict[CollectionRef, set[CollectionRef]]:
    """``after`` constraints: collection → collections that must come before it."""
    before: dict[CollectionRef, set[CollectionRef]] = defaultdict(set)
    for dataset in datamap.datasets:
        earlier = [c.ref for key in dataset.after if (d := datamap.dataset(key)) for c in d.collections]
        for collection in dataset.collections:
            before[collection.ref].update(r for r in (*earlier, *collection.after) if r in active)
    return before


def _stages(
    nodes: Sequence[CollectionRef], preds: Mapping[CollectionRef, set[CollectionRef]]
) -> list[list[CollectionRef]]:
    """Strongly connected components in dependency order (Tarjan, iterative; stable ordering)."""
    succs: dict[CollectionRef, list[CollectionRef]] = defaultdict(list)
    for node in nodes:
        for pred in sorted(preds.get(node, ())):
            succs[pred].append(node)
    index: dict[CollectionRef, int] = {}
    low: dict[CollectionRef, int] = {}
    on_stack: set[CollectionRef] = set()
    stack: list[CollectionRef] = []
    result: list[list[CollectionRef]] = []
    counter = 0
    for start in nodes:
        if start in index:
            continue
        work: list[tuple[CollectionRef, int]] = [(start, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            children = succs.get(node, [])
            if i < len(children):
                work.append((node, i + 1))
                child = children[i]
                if child not in index:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            if low[node] == index[node]:
                component: list[CollectionRef] = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                result.append(sorted(component, key=nodes.index))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    result.reverse()  # Tarjan emits sinks first
    return result


def _check_table(
    collection: Collection, table: Table | None, problems: list[Problem], dataset_known: bool
) -> bool:
    if not dataset_known:
        return False
    if table is None:
        problems.append(
            collection.origin.problem(
                f"{collection.key}: the live database has no table '{collection.name}'",
                "correct the collection name, or run the request against the right database",
                code="missing_table",
            )
        )
        return False
    ok = True
    for f in collection.fields:
        if f.column not in table.columns:
            near = [c for c in table.columns if c.lower() == f.column.lower()]
            problems.append(
                f.origin.problem(
                    f"{collection.key}: the live table has no column '{f.column}'",
                    f"did you mean '{near[0]}'?"
                    if near
                    else f"columns: {', '.join(sorted(table.columns))[:300]}",
                    code="missing_column",
                )
            )
            ok = False
    return ok


def _nested_keys(collection: Collection, problems: list[Problem]) -> None:
    for f in collection.all_fields():
        for ref in f.references:
            if len(ref.target.path) > 1 and not f.nested:
                problems.append(
                    ref.origin.problem(
                        f"{collection.key}.{f.column}: a reference to a key inside a JSON column "
                        f"({ref.target}) is not supported by the SQL connector",
                        code="unsupported_nested",
                    )
                )
        if not f.nested:
            continue
        if f.identity:
            problems.append(
                f.origin.problem(
                    f"{collection.key}.{'.'.join(f.path)}: an identity inside a JSON column cannot be "
                    "searched by the SQL connector",
                    "map the identity to a plain column",
                    code="unsupported_nested",
                )
            )
        for ref in f.references:
            problems.append(
                ref.origin.problem(
                    f"{collection.key}.{'.'.join(f.path)}: references from inside a JSON column are "
                    "not supported by the SQL connector",
                    code="unsupported_nested",
                )
            )
    return None


def build_plan(
    datamap: Datamap,
    schemas: Mapping[str, Mapping[str, Table]],
    identity_kinds: Iterable[str],
    *,
    skip_unreachable: bool = False,
) -> TraversalPlan:
    """Check and order a traversal; raises ``InputError`` listing every problem found."""
    problems: list[Problem] = []
    kinds = set(identity_kinds)
    known = set(datamap.identity_kinds)
    seeds: list[tuple[CollectionRef, str]] = []
    for kind in sorted(kinds):
        seed = seed_kind(kind)
        if seed is not None:
            ref = (seed[0], seed[1])
            collection = datamap.collection(ref)
            if collection is None or collection.field((seed[2],)) is None:
                problems.append(
                    Problem(
                        f"'{kind}' names no mapped field",
                        hint="a starting point is written dataset:collection.field",
                        code="unknown_identity",
                    )
                )
            else:
                seeds.append((ref, seed[2]))
        elif kind not in known:
            alias = _ALIASES.get(kind)
            problems.append(
                Problem(
                    f"no collection is searched by identity '{kind}'",
                    hint=(f"did you mean '{alias}'? " if alias in known else "")
                    + f"the datamap's identities: {', '.join(sorted(known)) or 'none'}",
                    code="unknown_identity",
                )
            )
    if problems:
        raise InputError("cannot plan the request", problems=problems)

    active = {c.ref for c in datamap.collections() if not c.skip_processing}
    skipped = [
        (c.key, "skip_processing is set in the datamap") for c in datamap.collections() if c.skip_processing
    ]
    incoming = _edges(datamap, active)
    roots: dict[CollectionRef, list[Lookup]] = defaultdict(list)
    for collection in datamap.collections():
        if collection.ref not in active:
            continue
        for f in collection.fields:
            if f.identity and f.identity in kinds:
                roots[collection.ref].append(Lookup(f.column, identity=f.identity))
    for ref, column in seeds:
        roots[ref].append(Lookup(column, identity=f"{ref[0]}:{ref[1]}.{column}"))

    # Reachability from what the request knows.
    reached: list[CollectionRef] = [r for c in datamap.collections() if (r := c.ref) in roots]
    frontier = list(reached)
    outgoing: dict[CollectionRef, set[CollectionRef]] = defaultdict(set)
    for target, lookups in incoming.items():
        for lookup in lookups:
            assert lookup.source is not None
            outgoing[lookup.source].add(target)
    while frontier:
        here = frontier.pop(0)
        for there in sorted(outgoing.get(here, ())):
            if there not in reached:
                reached.append(there)
                frontier.append(there)
    for collection in datamap.collections():
        if collection.ref not in active or collection.ref in reached:
            continue
        if seeds or skip_unreachable:
            why = "not reached from the starting rows" if seeds else "no given identity reaches it"
            skipped.append((collection.key, why))
            continue
        needs = sorted({f.identity for f in collection.identities if f.identity})
        hint = (
            f"it is found by identity {', '.join(needs)}: add --identity {needs[0]}=..."
            if needs
            else "give an identity that reaches it, or pass skip_unreachable to leave it out"
        )
        problems.append(
            collection.origin.problem(
                f"{collection.key} cannot be reached from the identities given ({', '.join(sorted(kinds))})",
                hint,
                code="unreachable_collection",
            )
        )

    nodes: dict[CollectionRef, PlanNode] = {}
    for ref in reached:
        collection = datamap.collection(ref)
        assert collection is not None
        schema = schemas.get(ref[0])
        table = schema.get(collection.name) if schema is not None else None
        if schema is None:
            problems.append(
                collection.origin.problem(
                    f"no connection for dataset '{ref[0]}'",
                    f"add --connect {ref[0]}=URL",
                    code="no_connection",
                )
            )
        _nested_keys(collection, problems)
        if not _check_table(collection, table, problems, schema is not None) or table is None:
            continue
        mapped = [f.column for f in collection.fields]
        key = tuple(f.column for f in collection.primary_key) or table.primary_key
        if set(key) < set(table.primary_key):
            # Rows sharing the part would be taken for one row: missing from an access archive,
            # masked alike, deleted or rewritten together by a key other rows share.
            problems.append(
                collection.primary_key[0].origin.problem(
                    f"{collection.key}: the datamap's primary key ({', '.join(key)}) is only part of the "
                    f"table's ({', '.join(table.primary_key)})",
                    "mark every column of the table's primary key with fides_meta.primary_key, or none "
                    "(the table's own key is used then)",
                    code="partial_primary_key",
                )
            )
            continue
        node_lookups = tuple(
            dict.fromkeys(
                [*roots.get(ref, []), *(lk for lk in incoming.get(ref, []) if lk.source in reached)]
            )
        )
        nodes[ref] = PlanNode(
            collection=collection,
            table=table,
            lookups=node_lookups,
            columns=tuple(dict.fromkeys([*key, *mapped])),
            key=key,
            folded=frozenset(f.column for f in collection.fields if f.case_insensitive),
        )
    if problems:
        raise InputError("cannot plan the request", problems=problems)

    preds: dict[CollectionRef, set[CollectionRef]] = defaultdict(set)
    for ref, node in nodes.items():
        preds[ref].update(lk.source for lk in node.lookups if lk.source is not None and lk.source != ref)
    for ref, before in _order_edges(datamap, set(nodes)).items():
        if ref in nodes:
            preds[ref].update(before - {ref})
    order = [r for r in reached if r in nodes]
    nodes = {ref: replace(node, after=frozenset(preds[ref])) for ref, node in nodes.items()}
    stages = tuple(tuple(nodes[r] for r in stage) for stage in _stages(order, preds))
    return TraversalPlan(stages=stages, skipped=tuple(skipped), warnings=datamap.warnings)


def field_for(collection: Collection, column: str) -> Field | None:
    return next((f for f in collection.fields if f.column == column), None)
