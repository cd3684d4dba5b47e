"""Cross-checks: promises in one part of a declaration that another part contradicts.

Each check is a small function ``(Context) -> Iterator[Problem]``, listed in ``CHECKS``. They run
on a declaration pydantic already accepted, and they all run, so every inconsistency is reported
at once. Locations come from the YAML source map by the path of the offending value. The checks
live in three modules by theme: ``checks_structure`` (names, ids, references), ``checks_data``
(collection, storage, access) and ``checks_promises`` (sale, consent, rights, commitments).
"""

from __future__ import annotations

from collections import defaultdict

from pledge.declaration.check_context import Check, Context
from pledge.declaration.checks_data import (
    check_cookie_purposes,
    check_forward_only,
    check_minors,
    check_purposes_use_collected,
    check_recipient_minimum,
    check_staff_roles,
    check_statistics,
    check_storage_regions,
)
from pledge.declaration.checks_promises import (
    check_authorities,
    check_choice_points,
    check_never_sold_categories,
    check_pixels,
    check_processor_purposes,
    check_processor_role,
    check_rights,
    check_sale,
    check_sharing_limits,
    check_staff_least_privilege,
    check_withdrawal,
)
from pledge.declaration.checks_structure import (
    check_custom_categories,
    check_duplicate_ids,
    check_references,
    check_unknown_categories,
)
from pledge.declaration.model import Declaration
from pledge.declaration.taxonomy import Taxonomy
from pledge.declaration.yamlpos import SourceMap
from pledge.errors import Problem

__all__ = ["CHECKS", "Context", "cross_check"]


CHECKS: tuple[Check, ...] = (
    check_unknown_categories,
    check_custom_categories,
    check_duplicate_ids,
    check_references,
    check_purposes_use_collected,
    check_recipient_minimum,
    check_sale,
    check_withdrawal,
    check_storage_regions,
    check_cookie_purposes,
    check_forward_only,
    check_rights,
    check_minors,
    check_staff_roles,
    check_statistics,
    check_processor_role,
    check_authorities,
    check_never_sold_categories,
    check_sharing_limits,
    check_processor_purposes,
    check_choice_points,
    check_pixels,
    check_staff_least_privilege,
)


def cross_check(decl: Declaration, source: SourceMap, taxonomy: Taxonomy) -> list[Problem]:
    """Run every check; problems sorted by position so output reads top to bottom."""
    ctx = Context(decl, source, taxonomy)
    problems = [problem for check in CHECKS for problem in check(ctx)]
    seen: defaultdict[tuple[object, ...], int] = defaultdict(int)
    unique: list[Problem] = []
    for p in problems:
        key = (p.line, p.column, p.message)
        seen[key] += 1
        if seen[key] == 1:
            unique.append(p)
    return sorted(unique, key=lambda p: (p.line or 0, p.column or 0))
