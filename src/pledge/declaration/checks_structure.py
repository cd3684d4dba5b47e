"""Structural checks: names that must exist, ids that must be unique, references that must resolve.

Each check is ``(Context) -> Iterator[Problem]`` and is listed in ``validate.CHECKS``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from difflib import get_close_matches

from pledge.declaration.check_context import Context, category_refs
from pledge.declaration.yamlpos import Path
from pledge.errors import Problem


def check_unknown_categories(ctx: Context) -> Iterator[Problem]:
    for path, cat in category_refs(ctx.decl):
        if cat not in ctx.taxonomy:
            near = ctx.taxonomy.closest(cat)
            hint = (
                f"did you mean '{near[0]}'?"
                if near
                else "declare it under 'categories:' as a custom category"
            )
            yield ctx.problem(path, f"unknown data category '{cat}'", hint, code="unknown_category")


def check_custom_categories(ctx: Context) -> Iterator[Problem]:
    builtin = {c.id for c in ctx.taxonomy if c.builtin}
    for i, cat in enumerate(ctx.decl.categories):
        parent = cat.id.rpartition(".")[0]
        if cat.id in builtin:
            yield ctx.problem(
                ("categories", i, "id"),
                f"'{cat.id}' is already a built-in category",
                "remove it, or choose a new name below it",
                code="category_exists",
            )
        elif not parent or parent not in ctx.taxonomy:
            yield ctx.problem(
                ("categories", i, "id"),
                f"custom category '{cat.id}' has no known parent",
                "custom categories extend the taxonomy: name them below an existing one, "
                "e.g. user.behavior.newsletter_clicks",
                code="unknown_parent",
            )


def check_duplicate_ids(ctx: Context) -> Iterator[Problem]:
    decl = ctx.decl
    groups: dict[str, Sequence[str]] = {
        "jurisdictions": [x.id for x in decl.jurisdictions],
        "storage_regions": [x.id for x in decl.storage_regions],
        "subjects": [x.id for x in decl.subjects],
        "categories": [x.id for x in decl.categories],
        "data_sources": [x.id for x in decl.data_sources],
        "stores": [x.id for x in decl.stores],
        "purposes": [x.id for x in decl.purposes],
        "recipients": [x.id for x in decl.recipients],
        "staff_roles": [x.id for x in decl.staff_roles],
        "retention": [x.id for x in decl.retention],
        "legal_holds": [x.id for x in decl.legal_holds],
        "security": [x.id for x in decl.security],
        "cookies": [f"{x.provider}/{x.name}" for x in decl.cookies],
        "rights": [f"{x.right}@{','.join(sorted(x.jurisdictions)) or '*'}" for x in decl.rights],
    }
    for group, ids in groups.items():
        first: dict[str, int] = {}
        for index, ident in enumerate(ids):
            if ident in first:
                field = {"cookies": "name", "rights": "right"}.get(group, "id")
                line = ctx.source.locate((group, first[ident]))
                where = f" (first at line {line.line})" if line else ""
                yield ctx.problem(
                    (group, index, field),
                    f"duplicate {group} entry '{ident}'{where}",
                    "ids must be unique within a list",
                    code="duplicate_id",
                )
            else:
                first[ident] = index


def check_references(ctx: Context) -> Iterator[Problem]:
    decl = ctx.decl
    purposes = ctx.purpose_ids
    recipients = {r.id for r in decl.recipients}
    jurisdictions = {j.id for j in decl.jurisdictions}
    subjects = {s.id for s in decl.subjects}
    sources = {s.id for s in decl.data_sources}

    def ref(path: Path, value: str, known: set[str], what: str, section: str) -> Iterator[Problem]:
        if value not in known:
            near = get_close_matches(value, sorted(known), n=1)
            hint = f"did you mean '{near[0]}'?" if near else f"declare it under '{section}:'"
            yield ctx.problem(
                path, f"unknown {what} '{value}'", hint, code=f"unknown_{what.replace(' ', '_')}"
            )

    for i, rcp in enumerate(decl.recipients):
        for j, pid in enumerate(rcp.purposes):
            yield from ref(("recipients", i, "purposes", j), pid, purposes, "purpose", "purposes")
    for i, role in enumerate(decl.staff_roles):
        for j, pid in enumerate(role.purposes):
            yield from ref(("staff_roles", i, "purposes", j), pid, purposes, "purpose", "purposes")
    for i, rule in enumerate(decl.retention):
        for j, pid in enumerate(rule.purposes):
            yield from ref(("retention", i, "purposes", j), pid, purposes, "purpose", "purposes")
        for j, s in enumerate(rule.subjects):
            yield from ref(("retention", i, "subjects", j), s, subjects, "data subject", "subjects")
    for i, c in enumerate(decl.cookies):
        if c.purpose is not None:
            yield from ref(("cookies", i, "purpose"), c.purpose, purposes, "purpose", "purposes")
        if c.provider != "first_party":
            yield from ref(("cookies", i, "provider"), c.provider, recipients, "recipient", "recipients")
    for i, src in enumerate(decl.data_sources):
        for j, target in enumerate(src.forward_to):
            yield from ref(
                ("data_sources", i, "forward_to", j), target, recipients, "recipient", "recipients"
            )
        if src.provider is not None:
            yield from ref(
                ("data_sources", i, "provider"), src.provider, recipients, "recipient", "recipients"
            )
        for j, s in enumerate(src.subjects):
            yield from ref(("data_sources", i, "subjects", j), s, subjects, "data subject", "subjects")
    for i, p in enumerate(decl.purposes):
        for j, s in enumerate(p.sources):
            yield from ref(("purposes", i, "sources", j), s, sources, "data source", "data_sources")
        for j, s in enumerate(p.subjects):
            yield from ref(("purposes", i, "subjects", j), s, subjects, "data subject", "subjects")
        if p.consent is not None:
            for key in p.consent.jurisdictions:
                yield from ref(
                    ("purposes", i, "consent", "jurisdictions", key),
                    key,
                    jurisdictions,
                    "jurisdiction",
                    "jurisdictions",
                )
    for i, right in enumerate(decl.rights):
        for j, key in enumerate(right.jurisdictions):
            yield from ref(
                ("rights", i, "jurisdictions", j), key, jurisdictions, "jurisdiction", "jurisdictions"
            )
    for i, store in enumerate(decl.stores):
        if store.provider is not None:
            yield from ref(("stores", i, "provider"), store.provider, recipients, "recipient", "recipients")
    if decl.server_logs is not None:
        for j, pid in enumerate(decl.server_logs.purposes):
            yield from ref(("server_logs", "purposes", j), pid, purposes, "purpose", "purposes")
    if decl.statistics is not None:
        for j, r in enumerate(decl.statistics.shared_with):
            yield from ref(("statistics", "shared_with", j), r, recipients, "recipient", "recipients")
