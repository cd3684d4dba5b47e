"""Fides dataset YAML → :mod:`pledge.datamap.model` objects, every problem located.

The format is Fides' own (``dataset:`` → ``collections:`` → ``fields:`` with ``fides_meta``), read
unchanged so files written for Fides work here. The legacy ``fidesops_meta`` spelling is accepted.
Keys Fides defines but Pledge does not use (``tags``, ``retention``, ``return_all_elements``...)
are ignored; keys nobody defines are reported as warnings with a "did you mean", because a typo
such as ``identiy`` would otherwise silently drop an identity.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

from pledge.datamap.model import (
    Collection,
    CollectionRef,
    Dataset,
    Direction,
    Field,
    FieldRef,
    MaskingOverride,
    Origin,
    Reference,
    Strategy,
)
from pledge.declaration.yamlpos import Path, SourceMap, YamlProblems, load_yaml
from pledge.errors import Problem, ProblemList

__all__ = ["STRATEGY_NAMES", "parse_datasets"]

_MAX_BYTES = 5 * 1024 * 1024
_FIDES_KEY = re.compile(r"^[A-Za-z0-9_.<>\-]+$")

# Known keys per level: (used by Pledge) | (defined by Fides, ignored here).
_DATASET_KEYS = {
    "fides_key", "name", "description", "collections", "fides_meta",
    "organization_fides_key", "tags", "meta", "data_categories", "data_qualifier", "retention",
    "joint_controller", "third_country_transfers", "system_key",
}  # fmt: skip
_DATASET_META = {"after", "namespace", "resource_id", "custom_request_fields"}
_COLLECTION_KEYS = {
    "name", "fields", "fides_meta", "description", "data_categories", "data_qualifier", "retention",
}  # fmt: skip
_COLLECTION_META = {"after", "erase_after", "skip_processing", "masking_strategy_override", "partitioning"}
_FIELD_KEYS = {
    "name", "data_categories", "fides_meta", "fidesops_meta", "fields", "description",
    "data_qualifier", "retention", "tags",
}  # fmt: skip
_FIELD_META = {
    "references", "identity", "primary_key", "data_type", "length", "read_only",
    "masking_strategy_override", "return_all_elements", "custom_request_field",
    "case_insensitive",  # Pledge's own: search the column ignoring case
}  # fmt: skip
_REFERENCE_KEYS = {"dataset", "field", "direction"}

STRATEGY_NAMES: Mapping[str, Strategy] = {
    # ours
    "delete_row": "delete_row",
    "null": "null",
    "mask": "mask",
    "hash": "hash",
    # Fides' names for the same ideas
    "delete": "delete_row",
    "null_rewrite": "null",
    "string_rewrite": "mask",
    "random_string_rewrite": "mask",
    "hmac": "hash",
}
"""Masking strategy names accepted in ``masking_strategy_override``, mapped to Pledge strategies."""


class _Reader:
    """Walks one file's loaded YAML, building model objects and collecting problems."""

    def __init__(self, source: SourceMap, problems: ProblemList) -> None:
        self.source = source
        self.problems = problems

    def origin(self, path: Path, *, key: bool = False) -> Origin:
        mark = self.source.locate(path, key=key)
        return Origin(self.source.file, mark.line if mark else None, mark.column if mark else None)

    def error(
        self, path: Path, message: str, hint: str | None = None, *, code: str, key: bool = False
    ) -> None:
        self.problems.add(self.source.problem(path, message, hint=hint, code=code, key=key))

    def keys(self, value: Mapping[str, Any], path: Path, known: set[str], what: str) -> None:
        for name in value:
            if name not in known:
                near = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
                self.problems.add(
                    self.source.problem(
                        (*path, name),
                        f"unknown key '{name}' in {what} (ignored)",
                        hint=f"did you mean '{near[0]}'?"
                        if near
                        else f"known here: {', '.join(sorted(known))}",
                        code="unknown_key",
                        severity="warning",
                        key=True,
                    )
                )

    def mapping(self, value: Any, path: Path, what: str) -> dict[str, Any] | None:
        if isinstance(value, dict):
            return value
        self.error(path, f"{what} must be a mapping (key: value lines)", code="not_a_mapping")
        return None

    def items(self, value: Any, path: Path, what: str) -> list[Any]:
        if value is None:
            return []
        if isinstance(value, list):
            return value
        self.error(
            path,
            f"'{what}' must be a list",
            hint=f"write each entry as '- ...' under {what}:",
            code="not_a_list",
        )
        return []

    def name(self, value: Mapping[str, Any], path: Path, what: str) -> str | None:
        name = value.get("name")
        if name is None:
            self.error(path, f"{what} has no name", hint="add 'name:'", code="missing", key=True)
            return None
        if isinstance(name, bool) or not isinstance(name, str | int):
            self.error((*path, "name"), f"{what} name must be text", code="bad_name")
            return None
        text = str(name)
        if not text.strip() or "\x00" in text or len(text) > 256:
            self.error((*path, "name"), f"{what} name {text[:40]!r} is not usable", code="bad_name")
            return None
        return text

    def flag(self, meta: Mapping[str, Any], key: str, path: Path) -> bool:
        value = meta.get(key, False)
        if value is None:
            return False
        if not isinstance(value, bool):
            self.error((*path, key), f"'{key}' must be true or false (got {value!r})", code="not_a_bool")
            return False
        return value

    def strings(self, value: Any, path: Path, what: str) -> list[tuple[Path, str]]:
        out: list[tuple[Path, str]] = []
        for i, item in enumerate(self.items(value, path, what)):
            if isinstance(item, str) and item:
                out.append(((*path, i), item))
            else:
                self.error((*path, i), f"{what} entries must be text (got {item!r})", code="not_text")
        return out

    # --- levels ------------------------------------------------------------------------------------

    def dataset(self, raw: Any, path: Path) -> Dataset | None:
        value = self.mapping(raw, path, "a dataset")
        if value is None:
            return None
        self.keys(value, path, _DATASET_KEYS, "a dataset")
        key = value.get("fides_key")
        if not isinstance(key, str) or not _FIDES_KEY.match(key):
            self.error(
                (*path, "fides_key") if key is not None else path,
                "a dataset needs a fides_key of letters, digits, '_', '-', '.'"
                + (f" (got {key!r})" if key is not None else ""),
                hint="the fides_key names the database: --connect KEY=URL uses it",
                code="bad_fides_key",
                key=key is None,
            )
            return None
        after: list[str] = []
        meta = value.get("fides_meta")
        if meta is not None and (meta := self.mapping(meta, (*path, "fides_meta"), "fides_meta")) is not None:
            self.keys(meta, (*path, "fides_meta"), _DATASET_META, "dataset fides_meta")
            after = [v for _, v in self.strings(meta.get("after"), (*path, "fides_meta", "after"), "after")]
        collections: list[Collection] = []
        for i, item in enumerate(self.items(value.get("collections"), (*path, "collections"), "collections")):
            collection = self.collection(item, (*path, "collections", i), key)
            if collection is not None:
                collections.append(collection)
        if "collections" not in value:
            self.error(path, f"dataset '{key}' has no collections", hint="add 'collections:'", code="missing")
        description = value.get("description")
        return Dataset(
            fides_key=key,
            name=str(value.get("name") or key),
            collections=tuple(collections),
            origin=self.origin(path),
            description=description if isinstance(description, str) else None,
            after=tuple(after),
        )

    def collection(self, raw: Any, path: Path, dataset: str) -> Collection | None:
        value = self.mapping(raw, path, "a collection")
        if value is None:
            return None
        self.keys(value, path, _COLLECTION_KEYS, "a collection")
        name = self.name(value, path, "a collection")
        fields: list[Field] = []
        for i, item in enumerate(self.items(value.get("fields"), (*path, "fields"), "fields")):
            parsed = self.field(item, (*path, "fields", i), dataset, name or "?", ())
            if parsed is not None:
                fields.append(parsed)
        meta_raw = value.get("fides_meta")
        after: tuple[CollectionRef, ...] = ()
        erase_after: tuple[CollectionRef, ...] = ()
        skip = False
        masking: MaskingOverride | None = None
        if meta_raw is not None:
            meta_path = (*path, "fides_meta")
            meta = self.mapping(meta_raw, meta_path, "fides_meta")
            if meta is not None:
                self.keys(meta, meta_path, _COLLECTION_META, "collection fides_meta")
                after = self.collection_refs(meta.get("after"), (*meta_path, "after"), "after")
                erase_after = self.collection_refs(
                    meta.get("erase_after"), (*meta_path, "erase_after"), "erase_after"
                )
                skip = self.flag(meta, "skip_processing", meta_path)
                if "masking_strategy_override" in meta:
                    masking = self.masking(
                        meta["masking_strategy_override"], (*meta_path, "masking_strategy_override")
                    )
                    if masking is not None and masking.strategy != "delete_row":
                        self.error(
                            (*meta_path, "masking_strategy_override"),
                            f"a collection-level override can only delete rows (got '{masking.fides_name}')",
                            hint="use strategy: delete here, or put the override on the fields",
                            code="bad_strategy",
                        )
                        masking = None
        if name is None:
            return None
        return Collection(
            dataset=dataset,
            name=name,
            fields=tuple(fields),
            origin=self.origin(path),
            after=after,
            erase_after=erase_after,
            skip_processing=skip,
            masking=masking,
        )

    def collection_refs(self, value: Any, path: Path, what: str) -> tuple[CollectionRef, ...]:
        out: list[CollectionRef] = []
        for item_path, text in self.strings(value, path, what):
            dataset, dot, collection = text.partition(".")
            if not dot or not dataset or not collection:
                self.error(item_path, f"'{text}' is not 'dataset.collection'", code="bad_reference")
                continue
            out.append((dataset, collection))
        return tuple(out)

    def field(
        self, raw: Any, path: Path, dataset: str, collection: str, parent: tuple[str, ...]
    ) -> Field | None:
        value = self.mapping(raw, path, "a field")
        if value is None:
            return None
        self.keys(value, path, _FIELD_KEYS, "a field")
        name = self.name(value, path, "a field")
        if name is None:
            return None
        own_path = (*parent, name)
        located = self.strings(value.get("data_categories"), (*path, "data_categories"), "data_categories")
        meta_key = "fides_meta" if "fides_meta" in value else "fidesops_meta"
        meta_path = (*path, meta_key)
        meta: Mapping[str, Any] = {}
        if value.get(meta_key) is not None:
            meta = self.mapping(value[meta_key], meta_path, meta_key) or {}
            self.keys(meta, meta_path, _FIELD_META, meta_key)
        if "fides_meta" in value and "fidesops_meta" in value:
            self.error(path, "give either fides_meta or fidesops_meta, not both", code="duplicate_meta")
        # Real Fides files sometimes put data_categories inside fides_meta; accept it there too.
        if not located and "data_categories" in meta:
            located = self.strings(
                meta["data_categories"], (*meta_path, "data_categories"), "data_categories"
            )
        identity = meta.get("identity")
        if identity is not None and (not isinstance(identity, str) or not identity):
            self.error(
                (*meta_path, "identity"),
                "identity must be a name such as email or phone_number",
                code="bad_identity",
            )
            identity = None
        length = meta.get("length")
        if length is not None and (isinstance(length, bool) or not isinstance(length, int) or length < 1):
            self.error(
                (*meta_path, "length"),
                f"length must be a positive whole number (got {length!r})",
                code="bad_length",
            )
            length = None
        data_type = meta.get("data_type")
        if data_type is not None and not isinstance(data_type, str):
            self.error(
                (*meta_path, "data_type"),
                "data_type must be text (string, integer, object...)",
                code="bad_type",
            )
            data_type = None
        references = tuple(
            ref
            for i, item in enumerate(
                self.items(meta.get("references"), (*meta_path, "references"), "references")
            )
            if (ref := self.reference(item, (*meta_path, "references", i))) is not None
        )
        masking = None
        if "masking_strategy_override" in meta:
            masking = self.masking(
                meta["masking_strategy_override"], (*meta_path, "masking_strategy_override")
            )
        children = tuple(
            child
            for i, item in enumerate(self.items(value.get("fields"), (*path, "fields"), "fields"))
            if (child := self.field(item, (*path, "fields", i), dataset, collection, own_path)) is not None
        )
        return Field(
            name=name,
            path=own_path,
            categories=tuple(c for _, c in located),
            category_origins=tuple(self.origin(p) for p, _ in located),
            origin=self.origin(path),
            identity=identity,
            primary_key=self.flag(meta, "primary_key", meta_path),
            data_type=data_type,
            length=length,
            read_only=self.flag(meta, "read_only", meta_path),
            case_insensitive=self.flag(meta, "case_insensitive", meta_path),
            references=references,
            masking=masking,
            fields=children,
        )

    def reference(self, raw: Any, path: Path) -> Reference | None:
        value = self.mapping(raw, path, "a reference")
        if value is None:
            return None
        self.keys(value, path, _REFERENCE_KEYS, "a reference")
        dataset, target = value.get("dataset"), value.get("field")
        if not isinstance(dataset, str) or not dataset:
            self.error(path, "a reference needs 'dataset:' (a fides_key)", code="bad_reference", key=True)
            return None
        if not isinstance(target, str) or "." not in target.strip("."):
            self.error(
                (*path, "field") if "field" in value else path,
                f"a reference needs 'field: collection.field' (got {target!r})",
                code="bad_reference",
            )
            return None
        collection, _, rest = target.partition(".")
        direction = value.get("direction")
        if direction is None:
            resolved: Direction = "both"
        elif direction in ("from", "to"):
            resolved = direction
        else:
            self.error(
                (*path, "direction"),
                f"direction must be 'from' or 'to' (got {direction!r})",
                code="bad_direction",
            )
            return None
        return Reference(FieldRef(dataset, collection, tuple(rest.split("."))), resolved, self.origin(path))

    def masking(self, raw: Any, path: Path) -> MaskingOverride | None:
        if raw is None:
            self.problems.add(
                self.source.problem(
                    path,
                    "masking_strategy_override is empty, so no override applies",
                    hint="to erase by emptying the field write `strategy: null_rewrite` "
                    '(or "null" in quotes)',
                    code="empty_override",
                    severity="warning",
                )
            )
            return None
        name: Any = raw
        if isinstance(raw, dict):
            self.keys(raw, path, {"strategy", "configuration"}, "masking_strategy_override")
            name = raw.get("strategy")
            path = (*path, "strategy")
        if not isinstance(name, str) or name not in STRATEGY_NAMES:
            near = difflib.get_close_matches(str(name), list(STRATEGY_NAMES), n=1, cutoff=0.5)
            self.error(
                path,
                f"unsupported masking strategy {name!r}",
                hint=(f"did you mean '{near[0]}'? " if near else "")
                + "supported: delete_row, null, mask, hash (and Fides' delete, null_rewrite, "
                "string_rewrite, random_string_rewrite, hmac)",
                code="bad_strategy",
            )
            return None
        return MaskingOverride(STRATEGY_NAMES[name], name, self.origin(path))


def parse_datasets(data: bytes | str, filename: str) -> tuple[list[Dataset], list[Problem], SourceMap | None]:
    """Parse one datamap file. Returns its datasets and every problem (errors and warnings)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > _MAX_BYTES:
        return (
            [],
            [
                Problem(
                    f"file is larger than {_MAX_BYTES // 1024 // 1024} MB", file=filename, code="too_large"
                )
            ],
            None,
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return (
            [],
            [
                Problem(
                    f"byte {exc.start} is not valid UTF-8",
                    file=filename,
                    line=line,
                    column=1,
                    hint="save the file as UTF-8",
                    code="encoding",
                )
            ],
            None,
        )
    try:
        value, source = load_yaml(text, filename)
    except YamlProblems as exc:
        return [], list(exc.problems), None
    problems = ProblemList()
    reader = _Reader(source, problems)
    if not isinstance(value, dict) or "dataset" not in value:
        problems.add(
            source.problem(
                (),
                "not a Fides dataset file: expected 'dataset:' at the top",
                hint="a datamap looks like: dataset: [{fides_key: shop, collections: [...]}]",
                code="not_a_datamap",
            )
        )
        return [], problems.items, source
    reader.keys(value, (), {"dataset"}, "the file")
    datasets = [
        parsed
        for i, item in enumerate(reader.items(value["dataset"], ("dataset",), "dataset"))
        if (parsed := reader.dataset(item, ("dataset", i))) is not None
    ]
    return datasets, problems.items, source
