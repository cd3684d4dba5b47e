"""Checks on where data comes from, where it is kept and who may see it.

Each check is ``(Context) -> Iterator[Problem]`` and is listed in ``validate.CHECKS``.
"""

from __future__ import annotations

from collections.abc import Iterator

from pledge.declaration.check_context import Context
from pledge.declaration.taxonomy import is_within, overlaps
from pledge.errors import Problem


def check_purposes_use_collected(ctx: Context) -> Iterator[Problem]:
    """A purpose may only use categories some data source collects."""
    decl = ctx.decl
    if not decl.data_sources:
        return
    collected = [c for s in decl.data_sources for c in (*s.categories, *s.optional)]
    if decl.server_logs is not None:
        collected.extend(decl.server_logs.categories)
    for i, purpose in enumerate(decl.purposes):
        for j, cat in enumerate(purpose.categories):
            if cat in ctx.taxonomy and not any(overlaps(cat, c) for c in collected):
                yield ctx.problem(
                    ("purposes", i, "categories", j),
                    f"purpose '{purpose.id}' uses '{cat}', which no data source collects",
                    "add it to a data source's categories, or remove it from the purpose",
                    code="undeclared_category",
                )


def check_recipient_minimum(ctx: Context) -> Iterator[Problem]:
    """A recipient may get only what one of its purposes allows (minimum necessary)."""
    for i, recipient in enumerate(ctx.decl.recipients):
        allowed = [c for pid in recipient.purposes if (p := ctx.decl.purpose(pid)) for c in p.categories]
        if recipient.categories and not recipient.purposes:
            yield ctx.problem(
                ("recipients", i, "purposes"),
                f"recipient '{recipient.id}' receives personal data but serves no purpose",
                "list the purposes it receives data for",
                code="recipient_without_purpose",
                key=True,
            )
            continue
        for j, cat in enumerate(recipient.categories):
            if cat in ctx.taxonomy and not any(is_within(cat, a) for a in allowed):
                yield ctx.problem(
                    ("recipients", i, "categories", j),
                    f"recipient '{recipient.id}' receives '{cat}', which none of its purposes "
                    f"({', '.join(recipient.purposes)}) allows",
                    "remove the category, or add it to one of those purposes",
                    code="recipient_exceeds_purpose",
                )


def check_storage_regions(ctx: Context) -> Iterator[Problem]:
    regions = {r.id for r in ctx.decl.storage_regions}
    for i, store in enumerate(ctx.decl.stores):
        if store.region not in regions:
            hint = (
                f"declared regions: {', '.join(sorted(regions))}"
                if regions
                else "declare it under 'storage_regions:'"
            )
            yield ctx.problem(
                ("stores", i, "region"),
                f"store '{store.id}' is in region '{store.region}', which is not declared",
                hint,
                code="undeclared_region",
            )


def check_cookie_purposes(ctx: Context) -> Iterator[Problem]:
    covered = {p.cookie_category for p in ctx.decl.purposes if p.cookie_category}
    for i, cookie in enumerate(ctx.decl.cookies):
        if cookie.category == "strictly_necessary":
            continue
        if cookie.purpose is not None:
            purpose = ctx.decl.purpose(cookie.purpose)
            if purpose is not None and purpose.cookie_category not in (None, cookie.category):
                yield ctx.problem(
                    ("cookies", i, "category"),
                    f"cookie '{cookie.name}' is {cookie.category}, but its purpose "
                    f"'{purpose.id}' is for {purpose.cookie_category} cookies",
                    code="cookie_category_mismatch",
                )
            continue
        if cookie.category not in covered:
            yield ctx.problem(
                ("cookies", i, "category"),
                f"cookie '{cookie.name}' is in category '{cookie.category}', but no purpose covers "
                "that category",
                f"add cookie_category: {cookie.category} to a purpose, or set the cookie's purpose",
                code="cookie_without_purpose",
            )


def check_forward_only(ctx: Context) -> Iterator[Problem]:
    """Card numbers (or anything) said to be only forwarded must not be kept anywhere."""
    decl = ctx.decl
    forwarded = {c for s in decl.data_sources for c in s.forward_only}
    if not forwarded:
        return
    for i, store in enumerate(decl.stores):
        for j, cat in enumerate(store.categories):
            for fwd in forwarded:
                if is_within(cat, fwd):
                    yield ctx.problem(
                        ("stores", i, "categories", j),
                        f"store '{store.id}' keeps '{cat}', but the declaration says it is only "
                        f"forwarded to a processor and never kept",
                        "remove it from the store, or drop it from forward_only",
                        code="forwarded_data_kept",
                    )
    for i, rule in enumerate(decl.retention):
        for j, cat in enumerate(rule.categories):
            if any(is_within(cat, fwd) for fwd in forwarded):
                yield ctx.problem(
                    ("retention", i, "categories", j),
                    f"retention rule '{rule.id}' keeps '{cat}', which is only forwarded, never kept",
                    code="forwarded_data_kept",
                )
    for i, src in enumerate(decl.data_sources):
        if src.forward_only and not src.forward_to:
            yield ctx.problem(
                ("data_sources", i, "forward_only"),
                f"data source '{src.id}' forwards data but names no recipient",
                "add forward_to: [<recipient id>]",
                code="forward_without_recipient",
            )
        for k, target in enumerate(src.forward_to):
            recipient = decl.recipient(target)
            if recipient is None:
                continue
            for cat in src.forward_only:
                if not any(is_within(cat, allowed) for allowed in recipient.categories):
                    yield ctx.problem(
                        ("data_sources", i, "forward_to", k),
                        f"'{cat}' is forwarded to '{target}', which may not receive it",
                        f"add {cat} to recipient '{target}' categories",
                        code="forward_not_allowed",
                    )


def check_minors(ctx: Context) -> Iterator[Problem]:
    decl = ctx.decl
    audience, minimum = decl.audience, decl.minimum_age
    if audience is None or minimum is None:
        return
    if audience.min_age is not None and audience.min_age < minimum.age:
        yield ctx.problem(
            ("audience", "min_age"),
            f"the audience starts at age {audience.min_age}, below the minimum age {minimum.age}",
            "raise audience.min_age, or lower minimum_age.age with parental consent",
            code="audience_below_minimum_age",
        )
    if audience.child_directed and minimum.age >= 13 and minimum.on_detection == "purge":
        yield ctx.problem(
            ("audience", "child_directed"),
            f"the service is directed at children, but data of anyone under {minimum.age} is purged",
            "a child-directed service needs parental consent (on_detection: parental_consent)",
            code="audience_below_minimum_age",
        )


def check_staff_roles(ctx: Context) -> Iterator[Problem]:
    for i, role in enumerate(ctx.decl.staff_roles):
        allowed = [c for pid in role.purposes if (p := ctx.decl.purpose(pid)) for c in p.categories]
        for j, cat in enumerate(role.categories or ()):
            if cat in ctx.taxonomy and not any(is_within(cat, a) for a in allowed):
                yield ctx.problem(
                    ("staff_roles", i, "categories", j),
                    f"staff role '{role.id}' sees '{cat}', which none of its purposes needs",
                    code="role_exceeds_purpose",
                )


def check_statistics(ctx: Context) -> Iterator[Problem]:
    stats = ctx.decl.statistics
    if stats is None:
        return
    if stats.mode in ("differential_privacy", "both") and stats.privacy_budget is None:
        yield ctx.problem(
            ("statistics", "mode"),
            "differential privacy needs a privacy budget",
            "add privacy_budget: {epsilon: 1.0}",
            code="no_budget",
        )
    budget = stats.privacy_budget
    if budget is not None and budget.per_release is not None and budget.per_release > budget.epsilon:
        yield ctx.problem(
            ("statistics", "privacy_budget", "per_release"),
            "one release would spend more than the whole budget",
            code="release_over_budget",
        )
    if stats.mechanism == "gaussian" and budget is not None and budget.delta == 0:
        yield ctx.problem(
            ("statistics", "mechanism"),
            "the Gaussian mechanism needs delta > 0",
            "set privacy_budget.delta (e.g. 1e-6) or use laplace",
            code="gaussian_without_delta",
        )
