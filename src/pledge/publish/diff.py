"""Compare two declarations: every change, each classified as material or not.

The comparison walks both declarations as JSON. Lists of records are matched by their identity
(``id``; a cookie by provider and name; a right by kind and jurisdictions), never by position, so
reordering a list is no change at all. Lists of plain values (categories, channels, countries) are
sets: each added or removed value is one change. Whether a change is *material* — something a
person must be told about before it applies — is decided by the rules in
:mod:`pledge.publish.material`, which look at the meaning (is the new retention longer? is the new
consent default weaker in California?) rather than at the text.

Consent defaults are compared as the *effective* mode per jurisdiction (a purpose without a
``consent`` block is opt-in when it rests on consent, notice-only otherwise), so changing a lawful
basis or moving a jurisdiction into the default is judged by what people actually get.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pledge.declaration.model import Declaration

__all__ = ["Change", "ChangeKind", "Raw", "diff_declarations", "has_material", "item_key"]

ChangeKind = Literal["added", "removed", "changed"]


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between two declarations."""

    path: str
    """Where, e.g. ``purposes[newsletter].categories`` or ``cookies[first_party/_ga].lifetime``."""
    kind: ChangeKind
    before: Any
    after: Any
    material: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "before": self.before,
            "after": self.after,
            "material": self.material,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Change:
        return cls(
            path=str(data["path"]),
            kind=data["kind"],
            before=data.get("before"),
            after=data.get("after"),
            material=bool(data["material"]),
            reason=str(data.get("reason", "")),
        )


@dataclass(frozen=True, slots=True)
class Raw:
    """A change before classification; ``segments`` keep list-item keys as ``[key]``."""

    segments: tuple[str, ...]
    kind: ChangeKind
    before: Any
    after: Any

    @property
    def path(self) -> str:
        return _join_path(self.segments)

    @property
    def pattern(self) -> str:
        """The path with item keys blanked: ``purposes[].categories``."""
        return _join_path(tuple("[]" if s.startswith("[") else s for s in self.segments))

    def key(self, index: int = 0) -> str:
        """The ``index``-th list-item key on the path (``purposes[ads]...`` → ``ads``)."""
        keys = [s[1:-1] for s in self.segments if s.startswith("[")]
        return keys[index] if index < len(keys) else ""


def diff_declarations(old: Declaration, new: Declaration) -> list[Change]:
    """Every change from ``old`` to ``new``, in declaration order, each marked material or not."""
    from pledge.publish.material import classify, consent_changes

    before = old.model_dump(mode="json", by_alias=True)
    after = new.model_dump(mode="json", by_alias=True)
    changes: list[Change] = []
    for raw in _walk((), before, after):
        material, reason = classify(raw, old, new)
        changes.append(Change(raw.path, raw.kind, raw.before, raw.after, material, reason))
    changes.extend(consent_changes(old, new))
    order = {name: i for i, name in enumerate(Declaration.model_fields)}
    changes.sort(key=lambda c: order.get(c.path.split("[", 1)[0].split(".", 1)[0], len(order)))
    return changes


def has_material(changes: Sequence[Change]) -> bool:
    return any(c.material for c in changes)


# --- the walk -------------------------------------------------------------------------------------

# Compared by meaning in ``material.consent_changes``, not as raw values.
_SKIP = frozenset({"purposes[].consent.default", "purposes[].consent.jurisdictions"})
# Optional blocks whose parts are compared one by one even when the whole block appears or goes.
_EXPAND = frozenset({"purposes[].consent", "commitments", "statistics.privacy_budget"})


def _walk(segments: tuple[str, ...], before: Any, after: Any) -> Iterator[Raw]:
    here = Raw(segments, "changed", before, after)
    if here.pattern in _SKIP:
        return
    if here.pattern in _EXPAND and (before is None or after is None):
        before = {} if before is None else before
        after = {} if after is None else after
    if isinstance(before, dict) and isinstance(after, dict):
        for name in [*before, *(k for k in after if k not in before)]:
            old, new = before.get(name), after.get(name)
            if name not in before:
                old = [] if isinstance(new, list) else None
            if name not in after:
                new = [] if isinstance(old, list) else None
            yield from _walk((*segments, name), old, new)
        return
    if isinstance(before, list) and isinstance(after, list):
        yield from _walk_list(segments, before, after)
        return
    empty: tuple[Any, ...] = (None, [], {})
    if before == after or (before in empty and after in empty):
        return
    if before in empty:
        yield Raw(segments, "added", None, after)
    elif after in empty:
        yield Raw(segments, "removed", before, None)
    else:
        yield Raw(segments, "changed", before, after)


def _walk_list(segments: tuple[str, ...], before: list[Any], after: list[Any]) -> Iterator[Raw]:
    if all(not isinstance(x, dict) for x in (*before, *after)):
        # A set of plain values: order means nothing.
        old = {_canonical(x): x for x in before}
        new = {_canonical(x): x for x in after}
        for key, value in new.items():
            if key not in old:
                yield Raw(segments, "added", None, value)
        for key, value in old.items():
            if key not in new:
                yield Raw(segments, "removed", value, None)
        return
    field = segments[-1] if segments else ""
    old_items = _keyed(field, before)
    new_items = _keyed(field, after)
    for key, value in new_items.items():
        if key in old_items:
            yield from _walk((*segments, f"[{key}]"), old_items[key], value)
        else:
            yield Raw((*segments, f"[{key}]"), "added", None, value)
    for key, value in old_items.items():
        if key not in new_items:
            yield Raw((*segments, f"[{key}]"), "removed", value, None)


def item_key(field: str, item: Any) -> str:
    """The identity of one list item, the same one the validator uses to find duplicates."""
    if not isinstance(item, dict):
        return _canonical(item)
    if field == "cookies":
        return f"{item.get('provider', 'first_party')}/{item.get('name')}"
    if field == "rights":
        return f"{item.get('right')}@{','.join(sorted(item.get('jurisdictions') or [])) or '*'}"
    if field == "contacts":
        reach = item.get("email") or item.get("phone") or item.get("url") or item.get("address")
        return f"{item.get('kind')}:{reach}"
    if field == "representatives":
        return str(item.get("region"))
    if "id" in item:
        return str(item["id"])
    if field == "erasure" or ("categories" in item and "name" not in item):
        return ",".join(sorted(item.get("categories") or []))
    if "name" in item:
        return str(item["name"])
    return _canonical(item)


def _keyed(field: str, items: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key = item_key(field, item)
        n = 1
        while (key if n == 1 else f"{key}#{n}") in out:
            n += 1
        out[key if n == 1 else f"{key}#{n}"] = item
    return out


def _canonical(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _join_path(segments: tuple[str, ...]) -> str:
    out = ""
    for segment in segments:
        if segment.startswith("["):
            out += segment
        else:
            out += ("." if out else "") + segment
    return out
