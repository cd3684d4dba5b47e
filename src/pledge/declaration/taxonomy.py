"""The data-category taxonomy: built-in fideslang names plus a declaration's own children.

Categories form a tree by their dotted names: ``user.contact.email`` sits under ``user.contact``.
A purpose allowed ``user.contact`` may use every category below it; the helpers here answer those
"is this within that" questions for validation, decisions and sharing.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

__all__ = ["Category", "Taxonomy", "builtin_taxonomy", "is_within", "overlaps"]


@dataclass(frozen=True, slots=True)
class Category:
    id: str
    label: str
    description: str
    builtin: bool = True
    sensitive: bool = False

    @property
    def parent(self) -> str | None:
        head, dot, _ = self.id.rpartition(".")
        return head if dot else None


# GDPR Art. 9 / Art. 10 special categories (and their fideslang homes), flagged for the policy text.
_SENSITIVE_PREFIXES = (
    "user.biometric",
    "user.biometrics",
    "user.health",
    "user.health_and_medical",
    "user.criminal_history",
    "user.demographic.political_opinion",
    "user.demographic.race_ethnicity",
    "user.demographic.religious_belief",
    "user.demographic.sexual_orientation",
    "user.demographic.philosophical_belief",
    "user.demographic.union_membership",
    "user.government_id",
)


def is_within(category: str, ancestor: str) -> bool:
    """True when ``category`` is ``ancestor`` or lies below it in the tree."""
    return category == ancestor or category.startswith(ancestor + ".")


def overlaps(a: str, b: str) -> bool:
    """True when one category contains the other."""
    return is_within(a, b) or is_within(b, a)


class Taxonomy:
    """An immutable set of known categories with tree queries."""

    def __init__(self, categories: Mapping[str, Category]) -> None:
        self._categories = dict(categories)

    def __contains__(self, category_id: object) -> bool:
        return category_id in self._categories

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._categories.values())

    def __len__(self) -> int:
        return len(self._categories)

    def get(self, category_id: str) -> Category | None:
        return self._categories.get(category_id)

    def label(self, category_id: str) -> str:
        found = self._categories.get(category_id)
        return found.label if found else category_id

    def closest(self, category_id: str, *, limit: int = 1) -> list[str]:
        """Names that look like a misspelt ``category_id``, best first."""
        names = list(self._categories)
        matches = difflib.get_close_matches(category_id, names, n=limit, cutoff=0.6)
        if matches:
            return matches
        # A misspelt last segment ("user.contact.emial") is closest among its siblings.
        head, _, tail = category_id.rpartition(".")
        siblings = [n.rpartition(".")[2] for n in names if n.rpartition(".")[0] == head]
        near = difflib.get_close_matches(tail, siblings, n=limit, cutoff=0.5)
        return [f"{head}.{n}" for n in near]

    def descendants(self, category_id: str) -> list[str]:
        return [c for c in self._categories if is_within(c, category_id)]

    def is_sensitive(self, category_id: str) -> bool:
        found = self._categories.get(category_id)
        if found is not None and found.sensitive:
            return True
        return any(is_within(category_id, prefix) for prefix in _SENSITIVE_PREFIXES)

    def extended(self, extra: Iterable[Category]) -> Taxonomy:
        merged = dict(self._categories)
        for category in extra:
            merged[category.id] = category
        return Taxonomy(merged)


@cache
def builtin_taxonomy() -> Taxonomy:
    text = resources.files("pledge.declaration").joinpath("taxonomy.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    categories: dict[str, Category] = {}
    for key, value in raw.items():
        label, _, description = str(value).partition("|")
        categories[key] = Category(key, label.strip(), description.strip())
    return Taxonomy(categories)
