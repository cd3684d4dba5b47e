"""Rectification: set a category to a corrected value wherever the datamap maps it.

The new value is checked before anything runs — against the category (an e-mail address must
look like one) and against every column it will be written to (length, type, NULL) — so a bad
value is refused whole instead of landing in some tables and not others. Fields that must not
change are left alone and reported: primary keys, ``read_only`` fields, fields under a legal hold
(records the law requires to be kept as they were), and columns in a foreign key.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pledge.connectors.base import Column
from pledge.datamap.model import Field
from pledge.declaration.model import Declaration
from pledge.declaration.taxonomy import is_within
from pledge.errors import InputError, Problem
from pledge.requests.holds import hold_for, hold_scopes
from pledge.requests.plan import PlanNode, TraversalPlan

__all__ = ["RectifyTarget", "check_value", "parse_assignments", "rectify_targets"]

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()./-]{2,38}$")
_MAX = 4000


@dataclass(frozen=True, slots=True)
class RectifyTarget:
    node: PlanNode
    field: Field
    value: Any
    """The value converted for this column."""
    skip: str | None = None
    """Why this field is left as it is (None: it is written)."""


def parse_assignments(params: Mapping[str, Any]) -> dict[str, str]:
    """``{"set": {category: value}}`` or ``{"category": c, "value": v}`` → ``{category: value}``."""
    raw = params.get("set")
    if raw is None and "category" in params:
        raw = {params["category"]: params.get("value")}
    if not isinstance(raw, Mapping) or not raw:
        raise InputError(
            "rectify needs a category and its new value", hint="e.g. --set user.contact.email=new@example.com"
        )
    out: dict[str, str] = {}
    for category, value in raw.items():
        if not isinstance(category, str) or not isinstance(value, str):
            raise InputError("rectify: categories and values must be text")
        out[category] = value
    return out


def check_value(category: str, value: str) -> str | None:
    """Why ``value`` cannot be a ``category`` (None: it can)."""
    if len(value) > _MAX:
        return f"longer than {_MAX} characters"
    if any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\t" for ch in value):
        return "contains control characters"
    if value != value.strip():
        return "has leading or trailing blanks"
    if is_within(category, "user.contact.email") and not _EMAIL.match(value):
        return "is not an e-mail address"
    if is_within(category, "user.contact.phone_number") and not _PHONE.match(value):
        return "is not a phone number (digits, spaces, + ( ) . / -)"
    if is_within(category, "user.demographic.date_of_birth"):
        try:
            born = dt.date.fromisoformat(value)
        except ValueError:
            return "is not a date (YYYY-MM-DD)"
        if not dt.date(1900, 1, 1) <= born <= dt.date.today():
            return "is not a plausible date of birth"
    return None


def _for_column(column: Column, value: str) -> tuple[Any, str | None]:
    if column.kind == "string":
        if column.length is not None and len(value) > column.length:
            return None, f"longer than the column's {column.length} characters"
        return value, None
    if column.kind == "integer":
        return (int(value), None) if re.fullmatch(r"[+-]?\d{1,18}", value) else (None, "not a whole number")
    if column.kind in ("date", "datetime"):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            return None, "not a date"
        return (parsed.date() if column.kind == "date" else parsed), None
    if column.kind == "boolean":
        lowered = value.lower()
        if lowered in ("true", "false"):
            return lowered == "true", None
        return None, "not true or false"
    return None, f"a {column.type} column cannot be set from text"


def rectify_targets(
    plan: TraversalPlan, assignments: Mapping[str, str], declaration: Declaration | None
) -> list[RectifyTarget]:
    """Every mapped field each assignment touches; ``InputError`` for any bad value or category."""
    problems: list[Problem] = []
    targets: list[RectifyTarget] = []
    scopes = hold_scopes(declaration, plan)
    for category, value in assignments.items():
        why = check_value(category, value)
        if why is not None:
            problems.append(Problem(f"the new {category} {why}", code="bad_value"))
            continue
        hits = 0
        for node in plan.nodes:
            linked = {c for fk in node.table.foreign_keys for c in fk.columns} | {
                c for fk in node.table.referenced_by for c in fk.target_columns
            }
            for f in node.collection.all_fields():
                if f.fields or not any(is_within(c, category) for c in f.categories):
                    continue
                hits += 1
                hold = hold_for(declaration, scopes, node.ref, f.categories)
                skip = None
                if f.read_only:
                    skip = "read_only in the datamap"
                elif hold is not None:
                    skip = f"legal hold '{hold.id}' ({hold.law}): kept as recorded"
                elif not f.nested and f.column in node.key:
                    skip = "primary key"
                elif not f.nested and f.column in linked:
                    skip = "part of a foreign key"
                converted: Any = value
                if skip is None and not f.nested:
                    converted, bad = _for_column(node.table.columns[f.column], value)
                    if bad is not None:
                        problems.append(
                            f.origin.problem(
                                f"the new {category} does not fit {node.name}.{f.column}: {bad}",
                                code="bad_value",
                            )
                        )
                        continue
                targets.append(RectifyTarget(node, f, converted, skip))
        if hits == 0:
            problems.append(
                Problem(
                    f"no mapped field holds {category}",
                    hint="rectify sets a data category; see the datamap's data_categories",
                    code="unknown_category",
                )
            )
    if problems:
        raise InputError("cannot rectify", problems=problems)
    return targets


def group_targets(targets: Sequence[RectifyTarget]) -> dict[str, list[RectifyTarget]]:
    grouped: dict[str, list[RectifyTarget]] = {}
    for target in targets:
        grouped.setdefault(target.node.name, []).append(target)
    return grouped
