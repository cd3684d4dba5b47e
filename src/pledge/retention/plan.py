"""Compile the declaration's retention rules into sweep units over the datamapped collections.

A rule applies in a collection when the collection holds a personal field of the rule's
categories (its own, and those of its purposes) *and* the rule's event has a clock there (see
:mod:`pledge.retention.bindings`). Each such pair is a :class:`SweepUnit`. A rule whose
categories are stored somewhere but whose event is bound nowhere is an error located at the rule:
a promise Pledge cannot keep must not pass silently.

What may keep a field of an expired row, decided row by row when the sweep runs:

- a **legal hold** covering the field's categories, anchored where its ``from`` event has a clock
  (that collection, and the collections linked to it: an invoice keeps the customer's name). A
  hold whose event is bound nowhere keeps its categories everywhere, with no known end (the
  cautious reading, as in requests), and the plan warns about it;
- **another rule** bound in the same collection whose period for that row is still running (an
  order's name is needed seven years even after the account closed), or an ``indefinite`` rule.

Units run children before parents (live foreign keys), so a parent row whose children are swept
in the same run can be deleted rather than merely emptied.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pledge.connectors.base import Table
from pledge.datamap.model import Collection, CollectionRef, Datamap, Field
from pledge.declaration.durations import IsoDuration
from pledge.declaration.load import LoadedDeclaration
from pledge.declaration.model import Declaration, LegalHold, RetentionRule
from pledge.declaration.taxonomy import is_within
from pledge.errors import InputError, Problem
from pledge.requests.erasure import erase_order
from pledge.requests.plan import PlanNode, TraversalPlan
from pledge.requests.strategies import FieldAction, personal, resolve_collection
from pledge.retention.bindings import DEFAULT_EVENTS, BindingSpec, Clock, ClockIndex
from pledge.retention.clock import Delay
from pledge.retention.links import links_between

__all__ = ["HoldGuard", "Keeper", "RuleStatus", "SweepPlan", "SweepUnit", "compile_plan", "rule_categories"]

FieldPath = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Keeper:
    """Another rule that may still need some fields of a row (``clock`` None: ``indefinite``)."""

    rule: RetentionRule
    clock: Clock | None
    delay: Delay
    paths: frozenset[FieldPath]


@dataclass(frozen=True, slots=True)
class HoldGuard:
    """A legal hold over some fields of a collection, dated by ``clock`` (None: end unknown)."""

    hold: LegalHold
    clock: Clock | None
    paths: frozenset[FieldPath]
    note: str

    @property
    def delay(self) -> Delay:
        return Delay(self.hold.period)


@dataclass(frozen=True)
class SweepUnit:
    """One rule in one collection."""

    rule: RetentionRule
    node: PlanNode
    clock: Clock
    delay: Delay
    fields: tuple[Field, ...]
    """The personal fields the rule covers here (leaves)."""
    personal: tuple[Field, ...]
    """Every personal field of the collection (what deleting a row removes)."""
    actions: Mapping[FieldPath, FieldAction]
    """How each personal field is erased (datamap override, declaration erasure rule, default)."""
    keepers: tuple[Keeper, ...] = ()
    holds: tuple[HoldGuard, ...] = ()
    blocked_delete: str | None = None
    """Why rows are never deleted here although the rule says delete (a read_only field)."""

    @property
    def name(self) -> str:
        return f"{self.rule.id} @ {self.node.name}"

    @property
    def strategy(self) -> str:
        """What happens to an expired row, in words (``delete row``, ``null: phone; mask: name``)."""
        if self.rule.action == "delete" and self.blocked_delete is None:
            return "delete row"
        by: dict[str, list[str]] = {}
        for f in self.fields:
            action = self.actions[f.path]
            strategy = action.fallback if action.strategy == "delete_row" else action.strategy
            by.setdefault(strategy, []).append(action.label)
        return "; ".join(f"{s}: {', '.join(labels)}" for s, labels in sorted(by.items()))

    def columns(self) -> list[str]:
        """Columns of the collection's own table a batch reads."""
        wanted = [*self.node.key]
        clocks = [self.clock, *(k.clock for k in self.keepers), *(h.clock for h in self.holds)]
        for clock in clocks:
            if clock is None:
                continue
            wanted.append(clock.column if clock.link is None else clock.link.column)
        return list(dict.fromkeys(wanted))


@dataclass(frozen=True)
class RuleStatus:
    rule: RetentionRule
    status: str
    """``swept`` | ``indefinite`` | ``not_stored`` (no datamapped collection holds its categories)
    | ``not_selected``."""
    event: str | None
    categories: tuple[str, ...]
    collections: tuple[str, ...] = ()
    """Where it is swept (or, indefinite: where its data lies)."""
    unbound: tuple[str, ...] = ()
    """Collections holding its categories where its event has no clock (not swept there)."""


@dataclass(frozen=True)
class SweepPlan:
    units: tuple[SweepUnit, ...]
    rules: tuple[RuleStatus, ...]
    warnings: tuple[Problem, ...] = ()
    digest: str = ""
    """Identifies the configuration: a run is resumed only under the same one."""
    holds: tuple[LegalHold, ...] = field(default_factory=tuple)

    def units_of(self, rule_id: str) -> list[SweepUnit]:
        return [u for u in self.units if u.rule.id == rule_id]


def rule_categories(declaration: Declaration, rule: RetentionRule) -> tuple[str, ...]:
    """The rule's categories, and the categories of its purposes."""
    found = list(rule.categories)
    for purpose_id in rule.purposes:
        purpose = declaration.purpose(purpose_id)
        if purpose is not None:
            found.extend(purpose.categories)
    return tuple(dict.fromkeys(found))


def _kind(rule: RetentionRule) -> str:
    return rule.period if isinstance(rule.period, str) else "duration"


def _event(rule: RetentionRule) -> str:
    return rule.start or DEFAULT_EVENTS[_kind(rule)]


def _delay(rule: RetentionRule) -> Delay:
    return Delay(rule.period if isinstance(rule.period, IsoDuration) else None, rule.grace)


def _covered(fields: Sequence[Field], categories: Sequence[str]) -> tuple[Field, ...]:
    return tuple(f for f in fields if any(is_within(c, want) for c in f.categories for want in categories))


def _leaves(collection: Collection) -> tuple[Field, ...]:
    return tuple(f for f in collection.all_fields() if not f.fields and personal(f))


class _Compiler:
    def __init__(
        self,
        loaded: LoadedDeclaration | Declaration,
        datamap: Datamap,
        specs: Sequence[BindingSpec],
        schemas: Mapping[str, Mapping[str, Table]],
        hash_key: bool,
    ) -> None:
        self.loaded = loaded if isinstance(loaded, LoadedDeclaration) else None
        self.decl = loaded.declaration if isinstance(loaded, LoadedDeclaration) else loaded
        self.datamap = datamap
        self.schemas = schemas
        self.hash_key = hash_key
        self.index = ClockIndex(specs, datamap, schemas)
        self.problems: list[Problem] = list(self.index.problems.items)
        self.warnings: list[Problem] = []
        self.collections = [c for c in datamap.collections() if not c.skip_processing]
        self.leaves = {c.ref: _leaves(c) for c in self.collections}
        self._nodes: dict[CollectionRef, PlanNode | None] = {}
        # Erasure strategies without holds: holds are decided row by row, with their dates.
        self._plain = self.decl.model_copy(update={"legal_holds": []})

    def at_rule(
        self, index: int, message: str, hint: str | None = None, *, code: str = "retention"
    ) -> Problem:
        if self.loaded is not None:
            return self.loaded.source.problem(("retention", index), message, hint=hint, code=code)
        return Problem(message, hint=hint, code=code)

    def node(self, collection: Collection) -> PlanNode | None:
        if collection.ref in self._nodes:
            return self._nodes[collection.ref]
        table = self.schemas.get(collection.dataset, {}).get(collection.name)
        node: PlanNode | None = None
        if table is None:
            self.problems.append(
                collection.origin.problem(
                    f"{collection.key}: the live database has no table '{collection.name}'",
                    "correct the collection name, or connect the right database",
                    code="missing_table",
                )
            )
        else:
            missing = [f for f in collection.fields if f.column not in table.columns]
            for f in missing:
                self.problems.append(
                    f.origin.problem(
                        f"{collection.key}: the live table has no column '{f.column}'",
                        f"columns: {', '.join(sorted(table.columns))[:300]}",
                        code="missing_column",
                    )
                )
            key = tuple(f.column for f in collection.primary_key) or table.primary_key
            if not key:
                self.problems.append(
                    collection.origin.problem(
                        f"{collection.key}: a retention sweep names rows by their primary key, and this "
                        "table has none",
                        "add a primary key, or mark one with fides_meta.primary_key",
                        code="no_primary_key",
                    )
                )
            if not missing and key:
                columns = tuple(dict.fromkeys([*key, *(f.column for f in collection.fields)]))
                node = PlanNode(collection=collection, table=table, lookups=(), columns=columns, key=key)
        self._nodes[collection.ref] = node
        return node

    def check_clock(self, index: int, rule: RetentionRule, clock: Clock) -> bool:
        if not clock.marker:
            return True
        if _kind(rule) != "until_sent":
            self.problems.append(
                self.at_rule(
                    index,
                    f"rule '{rule.id}': event '{clock.event}' is bound to a true/false column "
                    f"({clock.source_table}.{clock.column}, {clock.written_at}), which says only that "
                    "something happened, not when",
                    "bind the event to a date or time column; true/false markers suit until_sent",
                    code="bad_clock",
                )
            )
            return False
        if _delay(rule).timed:
            self.problems.append(
                self.at_rule(
                    index,
                    f"rule '{rule.id}' has a grace period, but its sent marker {clock.source_table}."
                    f"{clock.column} is true/false and says nothing of when it was sent",
                    "bind 'sent' to the time the message was sent, or drop the grace period",
                    code="bad_clock",
                )
            )
            return False
        return True

    def keepers(self, rule: RetentionRule, collection: Collection) -> tuple[Keeper, ...]:
        found: list[Keeper] = []
        for other in self.decl.retention:
            if other.id == rule.id:
                continue
            paths = frozenset(
                f.path for f in _covered(self.leaves[collection.ref], rule_categories(self.decl, other))
            )
            if not paths:
                continue
            if other.period == "indefinite":
                found.append(Keeper(other, None, Delay(), paths))
                continue
            clock = self.index.clock(collection.ref, _event(other))
            if clock is not None and not (clock.marker and _delay(other).timed):
                found.append(Keeper(other, clock, _delay(other), paths))
        return tuple(found)

    def holds(self, collection: Collection) -> tuple[HoldGuard, ...]:
        guards: list[HoldGuard] = []
        for hold in self.decl.legal_holds:
            paths = frozenset(f.path for f in _covered(self.leaves[collection.ref], hold.categories))
            if not paths:
                continue
            anchors = [c for c in self.index.bound_anywhere(hold.start) if not c.marker] if hold.start else []
            if not anchors:
                guards.append(
                    HoldGuard(hold, None, paths, "its event is bound to no column: kept everywhere")
                )
                continue
            own = next((c for c in anchors if c.collection == collection.ref), None)
            if own is not None:
                guards.append(HoldGuard(hold, own, paths, f"records dated by {own.describe()}"))
                continue
            for anchor in anchors:
                if anchor.link is not None:
                    continue  # one hop only, from records dated by their own column
                for link in links_between(self.datamap, self.schemas, collection.ref, anchor.collection):
                    clock = Clock(
                        anchor.event,
                        collection.ref,
                        anchor.collection,
                        anchor.source_table,
                        anchor.column,
                        anchor.kind,
                        link,
                        f"linked to {anchor.collection[1]} ({link.describe()})",
                    )
                    guards.append(
                        HoldGuard(hold, clock, paths, f"linked to records dated by {anchor.describe()}")
                    )
        return tuple(guards)

    def unit(
        self, rule: RetentionRule, collection: Collection, clock: Clock, fields: tuple[Field, ...]
    ) -> SweepUnit | None:
        node = self.node(collection)
        if node is None:
            return None
        erasure = resolve_collection(
            collection, node.table, node.key, self._plain, hash_key=self.hash_key, categories=None
        )
        actions = {a.path: a for a in erasure.actions}
        blocked = next(
            (
                f"{actions[f.path].label} is read_only in the datamap"
                for f in self.leaves[collection.ref]
                if f.read_only
            ),
            None,
        )
        return SweepUnit(
            rule=rule,
            node=node,
            clock=clock,
            delay=_delay(rule),
            fields=fields,
            personal=self.leaves[collection.ref],
            actions=actions,
            keepers=self.keepers(rule, collection),
            holds=self.holds(collection),
            blocked_delete=blocked if rule.action == "delete" else None,
        )

    def compile(self, selected: set[str] | None) -> tuple[list[SweepUnit], list[RuleStatus]]:
        units: list[SweepUnit] = []
        statuses: list[RuleStatus] = []
        for index, rule in enumerate(self.decl.retention):
            categories = rule_categories(self.decl, rule)
            holding = [(c, f) for c in self.collections if (f := _covered(self.leaves[c.ref], categories))]
            where = tuple(c.key for c, _ in holding)
            if rule.period == "indefinite":
                statuses.append(RuleStatus(rule, "indefinite", None, categories, where))
                continue
            event = _event(rule)
            if selected is not None and rule.id not in selected:
                statuses.append(RuleStatus(rule, "not_selected", event, categories))
                continue
            if not holding:
                statuses.append(RuleStatus(rule, "not_stored", event, categories))
                if selected is not None:
                    self.problems.append(
                        self.at_rule(
                            index,
                            f"rule '{rule.id}': no collection of the datamap holds its categories "
                            f"({', '.join(categories)[:200]}), so there is nothing to sweep",
                            "pass the datamap of the store that keeps this data",
                            code="unbound_rule",
                        )
                    )
                continue
            bound: list[str] = []
            unbound: list[str] = []
            for collection, fields in holding:
                clock = self.index.clock(collection.ref, event)
                if clock is None:
                    unbound.append(collection.key)
                    continue
                if not self.check_clock(index, rule, clock):
                    continue
                made = self.unit(rule, collection, clock, fields)
                if made is not None:
                    units.append(made)
                    bound.append(collection.key)
            if not bound and unbound:
                example = max(holding, key=lambda pair: len(pair[1]))[0]  # most of its data
                self.problems.append(
                    self.at_rule(
                        index,
                        f"rule '{rule.id}' cannot be bound: its period runs from '{event}', and no "
                        f"collection holding its data ({', '.join(unbound)[:300]}) says which column "
                        f"dates '{event}'",
                        f"in the datamap of '{example.dataset}', add under the dataset: meta: {{pledge: "
                        f"{{retention_clocks: {{{example.name}: {{{event}: <date or time column>}}}}}}}}",
                        code="unbound_rule",
                    )
                )
            statuses.append(RuleStatus(rule, "swept", event, categories, tuple(bound), tuple(unbound)))
        return units, statuses

    def hold_warnings(self) -> None:
        for i, hold in enumerate(self.decl.legal_holds):
            if hold.start and self.index.bound_anywhere(hold.start):
                continue
            message = (
                f"legal hold '{hold.id}' ({hold.law}): its event '{hold.start}' is bound to no column, "
                "so it keeps its categories everywhere with no known end"
                if hold.start
                else f"legal hold '{hold.id}' ({hold.law}) names no 'from' event: it keeps its categories "
                "everywhere with no known end"
            )
            hint = (
                f"bind '{hold.start}' in a datamap's meta.pledge.retention_clocks to the column dating "
                "the records the law keeps"
                if hold.start
                else "add 'from: <event>' to the hold and bind the event to a column"
            )
            if self.loaded is not None:
                self.warnings.append(
                    self.loaded.source.problem(
                        ("legal_holds", i), message, hint=hint, code="unbound_hold", severity="warning"
                    )
                )
            else:
                self.warnings.append(Problem(message, hint=hint, code="unbound_hold", severity="warning"))


def _ordered(units: list[SweepUnit], rule_order: Mapping[str, int]) -> tuple[SweepUnit, ...]:
    nodes = list({u.node.ref: u.node for u in units}.values())
    order = {n.ref: i for i, n in enumerate(erase_order(TraversalPlan(stages=tuple((n,) for n in nodes))))}
    return tuple(sorted(units, key=lambda u: (order[u.node.ref], rule_order[u.rule.id])))


def _digest(decl: Declaration, units: Sequence[SweepUnit]) -> str:
    text = json.dumps(
        {
            "declaration": decl.model_dump(mode="json", by_alias=True),
            "units": [[u.name, u.clock.describe(), list(u.node.key)] for u in units],
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def compile_plan(
    loaded: LoadedDeclaration | Declaration,
    datamap: Datamap,
    specs: Sequence[BindingSpec],
    schemas: Mapping[str, Mapping[str, Table]],
    *,
    rules: Sequence[str] | None = None,
    hash_key: bool = False,
) -> SweepPlan:
    """Check and compile; raises ``InputError`` (every problem located) when anything is wrong."""
    compiler = _Compiler(loaded, datamap, specs, schemas, hash_key)
    decl = compiler.decl
    selected: set[str] | None = None
    if rules is not None:
        known = [r.id for r in decl.retention]
        selected = set(rules)
        for rule_id in rules:
            if rule_id not in known:
                near = difflib.get_close_matches(rule_id, known, n=1)
                compiler.problems.append(
                    Problem(
                        f"the declaration has no retention rule '{rule_id[:80]}'",
                        hint=(f"did you mean '{near[0]}'? " if near else "")
                        + f"rules: {', '.join(known)[:300]}",
                        code="unknown_rule",
                    )
                )
    units, statuses = compiler.compile(selected)
    compiler.hold_warnings()
    errors = [p for p in compiler.problems if p.severity == "error"]
    if errors:
        raise InputError("cannot plan the retention sweep", problems=compiler.problems)
    order = {r.id: i for i, r in enumerate(decl.retention)}
    ordered = _ordered(units, order)
    warnings = [p for p in compiler.problems if p.severity != "error"] + compiler.warnings
    return SweepPlan(
        units=ordered,
        rules=tuple(statuses),
        warnings=tuple(warnings),
        digest=_digest(decl, ordered),
        holds=tuple(decl.legal_holds),
    )
