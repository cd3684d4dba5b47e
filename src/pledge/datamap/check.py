"""Cross-checks over a whole datamap (all files together), each problem located.

Run after parsing, with the declaration when one is given: categories must exist in its taxonomy,
a category the declaration says is only forwarded (card numbers passed to the card processor) may
not be mapped to a stored column, references must point at real fields, and every collection
holding personal data must be reachable from some identity, or a request would silently miss it.
"""

from __future__ import annotations

import difflib
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator, Sequence

from pledge.datamap.model import Collection, CollectionRef, Dataset, Field, Origin
from pledge.declaration.load import LoadedDeclaration
from pledge.declaration.taxonomy import Taxonomy, builtin_taxonomy, is_within
from pledge.errors import Problem

__all__ = ["check_datasets", "reachable", "search_edges"]


def _near(word: str, options: Iterable[str]) -> str | None:
    found = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"did you mean '{found[0]}'?" if found else None


def _duplicates(datasets: Sequence[Dataset]) -> Iterator[Problem]:
    seen: dict[str, Origin] = {}
    for dataset in datasets:
        first = seen.setdefault(dataset.fides_key, dataset.origin)
        if first is not dataset.origin:
            yield dataset.origin.problem(
                f"dataset '{dataset.fides_key}' is defined twice (first at {first})",
                "each fides_key names one database; rename one of them",
                code="duplicate_dataset",
            )
        names: dict[str, Origin] = {}
        for collection in dataset.collections:
            earlier = names.setdefault(collection.name, collection.origin)
            if earlier is not collection.origin:
                yield collection.origin.problem(
                    f"collection '{collection.name}' appears twice in dataset '{dataset.fides_key}' "
                    f"(first at {earlier})",
                    code="duplicate_collection",
                )
            yield from _duplicate_fields(collection.fields, collection.name)


def _duplicate_fields(fields: Sequence[Field], where: str) -> Iterator[Problem]:
    seen: dict[str, Origin] = {}
    for f in fields:
        earlier = seen.setdefault(f.name, f.origin)
        if earlier is not f.origin:
            yield f.origin.problem(
                f"field '{f.name}' appears twice in '{where}' (first at {earlier})", code="duplicate_field"
            )
        yield from _duplicate_fields(f.fields, ".".join((where, *f.path)))


def _categories(
    datasets: Sequence[Dataset], taxonomy: Taxonomy, declaration: LoadedDeclaration | None
) -> Iterator[Problem]:
    forwarded: list[tuple[str, str]] = []
    if declaration is not None:
        forwarded = [
            (category, source.id)
            for source in declaration.declaration.data_sources
            for category in source.forward_only
        ]
    for dataset in datasets:
        for collection in dataset.collections:
            for f in collection.all_fields():
                for i, category in enumerate(f.categories):
                    where = f.category_origins[i] if i < len(f.category_origins) else f.origin
                    if category not in taxonomy:
                        near = taxonomy.closest(category)
                        yield where.problem(
                            f"unknown data category '{category}' on {collection.key}.{'.'.join(f.path)}",
                            f"did you mean '{near[0]}'?"
                            if near
                            else "declare it under 'categories:' in privacy.yaml as a custom category",
                            code="unknown_category",
                        )
                    for kept_out, source_id in forwarded:
                        if is_within(category, kept_out):
                            yield where.problem(
                                f"{collection.key}.{'.'.join(f.path)} stores '{category}', but the "
                                f"declaration says '{kept_out}' from '{source_id}' is only forwarded, "
                                "never kept",
                                "drop the column, or correct the declaration's forward_only",
                                code="forwarded_category_stored",
                            )


def _references(datasets: Sequence[Dataset]) -> Iterator[Problem]:
    by_key = {d.fides_key: d for d in datasets}
    for dataset in datasets:
        for after in dataset.after:
            if after not in by_key:
                yield dataset.origin.problem(
                    f"dataset '{dataset.fides_key}' comes after unknown dataset '{after}'",
                    _near(after, by_key),
                    code="unknown_dataset",
                )
        for collection in dataset.collections:
            for label, refs in (("after", collection.after), ("erase_after", collection.erase_after)):
                for ds, name in refs:
                    target = by_key.get(ds)
                    if target is None or target.collection(name) is None:
                        yield collection.origin.problem(
                            f"{collection.key}: {label} names '{ds}.{name}', which is not in the datamap",
                            _near(
                                f"{ds}.{name}",
                                (c.key.replace(":", ".") for d in datasets for c in d.collections),
                            ),
                            code="unknown_collection",
                        )
            for f in collection.all_fields():
                for ref in f.references:
                    target_ds = by_key.get(ref.target.dataset)
                    if target_ds is None:
                        yield ref.origin.problem(
                            f"reference to unknown dataset '{ref.target.dataset}'",
                            _near(ref.target.dataset, by_key) or "pass the file defining it with --datamap",
                            code="unknown_dataset",
                        )
                        continue
                    target_coll = target_ds.collection(ref.target.collection)
                    if target_coll is None:
                        yield ref.origin.problem(
                            f"reference to unknown collection '{ref.target.collection}' in dataset "
                            f"'{target_ds.fides_key}'",
                            _near(ref.target.collection, (c.name for c in target_ds.collections)),
                            code="unknown_collection",
                        )
                        continue
                    if target_coll.field(ref.target.path) is None:
                        yield ref.origin.problem(
                            f"reference to unknown field '{'.'.join(ref.target.path)}' in {target_coll.key}",
                            _near(
                                ".".join(ref.target.path),
                                (".".join(x.path) for x in target_coll.all_fields()),
                            ),
                            code="unknown_field",
                        )


def search_edges(datasets: Iterable[Dataset]) -> dict[CollectionRef, set[CollectionRef]]:
    """Which collection's values can find rows of which other collection (Fides directions)."""
    edges: dict[CollectionRef, set[CollectionRef]] = defaultdict(set)
    for dataset in datasets:
        for collection in dataset.collections:
            for f in collection.all_fields():
                for ref in f.references:
                    there = ref.target.collection_ref
                    if ref.direction in ("from", "both"):
                        edges[there].add(collection.ref)
                    if ref.direction in ("to", "both"):
                        edges[collection.ref].add(there)
    return edges


def reachable(datasets: Iterable[Dataset], identity_kinds: Iterable[str] | None = None) -> set[CollectionRef]:
    """Collections a search can reach from the given identity kinds (all kinds when None)."""
    datasets = list(datasets)
    kinds = None if identity_kinds is None else set(identity_kinds)
    skipped = {c.ref for d in datasets for c in d.collections if c.skip_processing}
    edges = search_edges(datasets)
    roots = [
        c.ref
        for d in datasets
        for c in d.collections
        if c.ref not in skipped
        and any(f.identity and (kinds is None or f.identity in kinds) for f in c.all_fields())
    ]
    seen = set(roots)
    queue = deque(roots)
    while queue:
        here = queue.popleft()
        for there in edges.get(here, ()):
            if there not in seen and there not in skipped:
                seen.add(there)
                queue.append(there)
    return seen


def _personal(collection: Collection) -> bool:
    return any(is_within(c, "user") for f in collection.all_fields() for c in f.categories)


def _reachability(datasets: Sequence[Dataset]) -> Iterator[Problem]:
    found = reachable(datasets)
    for dataset in datasets:
        for collection in dataset.collections:
            if collection.skip_processing or collection.ref in found:
                continue
            personal = _personal(collection)
            yield Problem(
                f"collection {collection.key} cannot be reached from any identity",
                file=collection.origin.file,
                line=collection.origin.line,
                column=collection.origin.column,
                hint="mark a field with fides_meta.identity, add a reference to a reachable collection, "
                "or set fides_meta.skip_processing: true",
                code="unreachable_collection",
                severity="error" if personal else "warning",
            )


def _case_insensitive(datasets: Sequence[Dataset]) -> Iterator[Problem]:
    """``case_insensitive`` only where a search compares text: a plain (not nested) text column."""
    for dataset in datasets:
        for collection in dataset.collections:
            for f in collection.all_fields():
                if not f.case_insensitive:
                    continue
                where = f"{dataset.fides_key}:{collection.name}.{'.'.join(f.path)}"
                if f.nested:
                    yield f.origin.problem(
                        f"{where}: case_insensitive applies to a column, not to a key inside a JSON column",
                        code="bad_case_insensitive",
                    )
                elif f.data_type is not None and f.data_type.lower() not in ("string", "text"):
                    yield f.origin.problem(
                        f"{where}: case_insensitive applies to text, but data_type is {f.data_type!r}",
                        code="bad_case_insensitive",
                    )


def check_datasets(
    datasets: Sequence[Dataset], declaration: LoadedDeclaration | None = None
) -> list[Problem]:
    """Every cross-file problem of a datamap (errors and warnings)."""
    taxonomy = declaration.taxonomy if declaration is not None else builtin_taxonomy()
    problems: list[Problem] = []
    problems.extend(_duplicates(datasets))
    problems.extend(_categories(datasets, taxonomy, declaration))
    problems.extend(_references(datasets))
    problems.extend(_case_insensitive(datasets))
    if not any(p.code in ("unknown_dataset", "unknown_collection") for p in problems):
        problems.extend(_reachability(datasets))
    return problems
