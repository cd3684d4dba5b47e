"""What every cross-check receives: the declaration, where each part came from, the taxonomy."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from pledge.declaration.model import Declaration
from pledge.declaration.taxonomy import Taxonomy
from pledge.declaration.yamlpos import Path, SourceMap
from pledge.errors import Problem

__all__ = ["Check", "Context", "category_refs"]


@dataclass(frozen=True)
class Context:
    decl: Declaration
    source: SourceMap
    taxonomy: Taxonomy

    def problem(
        self,
        path: Path,
        message: str,
        hint: str | None = None,
        *,
        code: str,
        severity: str = "error",
        key: bool = False,
    ) -> Problem:
        return self.source.problem(path, message, hint=hint, code=code, severity=severity, key=key)

    @property
    def purpose_ids(self) -> set[str]:
        return {p.id for p in self.decl.purposes}


Check = Callable[[Context], Iterable[Problem]]


def category_refs(decl: Declaration) -> Iterator[tuple[Path, str]]:
    """Every place a category id is used, with its path."""
    for i, src in enumerate(decl.data_sources):
        for field in ("categories", "optional", "forward_only"):
            for j, cat in enumerate(getattr(src, field)):
                yield ("data_sources", i, field, j), cat
    for i, store in enumerate(decl.stores):
        for j, cat in enumerate(store.categories):
            yield ("stores", i, "categories", j), cat
    for i, purpose in enumerate(decl.purposes):
        for j, cat in enumerate(purpose.categories):
            yield ("purposes", i, "categories", j), cat
    for i, recipient in enumerate(decl.recipients):
        for j, cat in enumerate(recipient.categories):
            yield ("recipients", i, "categories", j), cat
    for i, role in enumerate(decl.staff_roles):
        for j, cat in enumerate(role.categories or ()):
            yield ("staff_roles", i, "categories", j), cat
    for i, rule in enumerate(decl.retention):
        for j, cat in enumerate(rule.categories):
            yield ("retention", i, "categories", j), cat
    for i, hold in enumerate(decl.legal_holds):
        for j, cat in enumerate(hold.categories):
            yield ("legal_holds", i, "categories", j), cat
    for i, erasure_rule in enumerate(decl.erasure):
        for j, cat in enumerate(erasure_rule.categories):
            yield ("erasure", i, "categories", j), cat
    if decl.server_logs is not None:
        for j, cat in enumerate(decl.server_logs.categories):
            yield ("server_logs", "categories", j), cat
    for j, cat in enumerate(decl.commitments.never_sold_categories):
        yield ("commitments", "never_sold_categories", j), cat
    for i, limit in enumerate(decl.commitments.sharing_limits):
        for j, cat in enumerate(limit.categories):
            yield ("commitments", "sharing_limits", i, "categories", j), cat
