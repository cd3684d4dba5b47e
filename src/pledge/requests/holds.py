"""Which collections a legal hold covers.

A declaration's hold names categories, a law and a period counted ``from`` an event (``from:
order_date``). The law keeps *records* — an invoice with its buyer's name and address — not every
copy of the name wherever it lies. So when the event names a column some collections have (the
*anchors*: orders with ``order_date``), the hold covers the anchors and the collections linked to
them by a reference or a foreign key (the customer and address an order points at, its lines and
payments), and nothing else: the name in the newsletter list is erased. A hold whose event names
no column (or has none) covers its categories everywhere, the cautious reading.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pledge.datamap.model import CollectionRef
from pledge.declaration.model import Declaration, LegalHold
from pledge.declaration.taxonomy import is_within
from pledge.requests.plan import TraversalPlan

__all__ = ["HoldScopes", "hold_for", "hold_scopes", "scope_note"]

HoldScopes = Mapping[str, frozenset[CollectionRef] | None]
"""Hold id → the collections it covers (None: everywhere)."""


def _neighbours(plan: TraversalPlan, anchors: set[CollectionRef]) -> set[CollectionRef]:
    by_table = {(n.ref[0], n.table.name): n.ref for n in plan.nodes}
    linked: set[CollectionRef] = set()
    for node in plan.nodes:
        for f in node.collection.all_fields():
            for ref in f.references:
                there = ref.target.collection_ref
                if node.ref in anchors:
                    linked.add(there)
                if there in anchors:
                    linked.add(node.ref)
        for fk in (*node.table.foreign_keys, *node.table.referenced_by):
            other = by_table.get((node.ref[0], fk.target if fk.table == node.table.name else fk.table))
            if other is None:
                continue
            if node.ref in anchors:
                linked.add(other)
            if other in anchors:
                linked.add(node.ref)
    return linked


def hold_scopes(
    declaration: Declaration | None, plan: TraversalPlan
) -> dict[str, frozenset[CollectionRef] | None]:
    scopes: dict[str, frozenset[CollectionRef] | None] = {}
    if declaration is None:
        return scopes
    for hold in declaration.legal_holds:
        anchors = {
            n.ref
            for n in plan.nodes
            if hold.start and (hold.start in n.table.columns or n.collection.field([hold.start]))
        }
        scopes[hold.id] = frozenset(anchors | _neighbours(plan, anchors)) if anchors else None
    return scopes


def hold_for(
    declaration: Declaration | None, scopes: HoldScopes, ref: CollectionRef, categories: Sequence[str]
) -> LegalHold | None:
    """The first hold keeping one of ``categories`` in collection ``ref``."""
    if declaration is None:
        return None
    for hold in declaration.legal_holds:
        scope = scopes.get(hold.id)
        if scope is not None and ref not in scope:
            continue
        if any(is_within(c, held) for c in categories for held in hold.categories):
            return hold
    return None


def scope_note(hold: LegalHold, scopes: HoldScopes) -> str:
    scope = scopes.get(hold.id)
    if scope is None or not hold.start:
        return ""
    return f" (records dated by {hold.start} and the rows linked to them)"
