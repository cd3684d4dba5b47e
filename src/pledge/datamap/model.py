"""The datamap as immutable objects: where personal data lives in the business's databases.

A datamap is one or more Fides dataset files. Each *dataset* (one database, keyed by its
``fides_key``) holds *collections* (tables), each with *fields* (columns; a field with nested
``fields`` is a JSON column whose inner keys are mapped too). Identities and references between
fields say how to find a person's rows starting from what we know about them.

One key is Pledge's own: a field's ``fides_meta.case_insensitive: true`` makes searches of that
column ignore case (``lower(column) = lower(value)``, or the database's case-insensitive
collation), for e-mail addresses stored with capitals while requests compare them in lower case.

Every object keeps its ``origin`` (file, line, column) so problems found later — a column missing
from the live database, say — can still point at the line of the datamap that mentions it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pledge.errors import Problem

__all__ = [
    "Collection",
    "CollectionRef",
    "Datamap",
    "Dataset",
    "Direction",
    "Field",
    "FieldRef",
    "MaskingOverride",
    "Origin",
    "Reference",
    "Strategy",
]

Direction = Literal["from", "to", "both"]
Strategy = Literal["delete_row", "null", "mask", "hash", "keep"]
"""Erasure strategies. ``keep`` is only ever a decision, never configured."""

CollectionRef = tuple[str, str]
"""``(fides_key, collection name)``."""


@dataclass(frozen=True, slots=True)
class Origin:
    file: str
    line: int | None = None
    column: int | None = None

    def problem(self, message: str, hint: str | None = None, *, code: str = "invalid") -> Problem:
        return Problem(message, file=self.file, line=self.line, column=self.column, hint=hint, code=code)

    def __str__(self) -> str:
        if self.line is None:
            return self.file
        return f"{self.file}:{self.line}:{self.column or 1}"


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A field named across datasets: ``dataset``, ``collection`` and the (possibly nested) path."""

    dataset: str
    collection: str
    path: tuple[str, ...]

    @property
    def collection_ref(self) -> CollectionRef:
        return (self.dataset, self.collection)

    def __str__(self) -> str:
        return f"{self.dataset}:{self.collection}.{'.'.join(self.path)}"


@dataclass(frozen=True, slots=True)
class Reference:
    """``target`` holds the same values as the field this reference is declared on.

    ``direction`` says which way values may flow while searching (Fides semantics): ``from`` —
    the target's values find rows of this field's collection; ``to`` — this field's values find
    rows of the target's collection; ``both`` (no direction given) — either way.
    """

    target: FieldRef
    direction: Direction
    origin: Origin


@dataclass(frozen=True, slots=True)
class MaskingOverride:
    """A field- or collection-level ``masking_strategy_override``, mapped to our strategies."""

    strategy: Strategy
    fides_name: str
    """The name as written (``null_rewrite``, ``hmac``, ``delete``, or one of ours)."""
    origin: Origin


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    path: tuple[str, ...]
    """From the column down: ``("profile", "address", "city")`` for a key inside a JSON column."""
    categories: tuple[str, ...]
    origin: Origin
    identity: str | None = None
    primary_key: bool = False
    data_type: str | None = None
    length: int | None = None
    read_only: bool = False
    references: tuple[Reference, ...] = ()
    masking: MaskingOverride | None = None
    fields: tuple[Field, ...] = ()
    """Nested fields (JSON columns): mapped keys inside this one."""
    category_origins: tuple[Origin, ...] = ()
    """Where each of ``categories`` is written, for located messages."""
    case_insensitive: bool = False
    """Pledge's ``fides_meta.case_insensitive``: the column is searched ignoring case (e-mail
    addresses stored as ``Alice@Example.com`` found by ``alice@example.com``), see
    ``docs/case-insensitive-matching.md``."""

    @property
    def column(self) -> str:
        """The column in the live table (the first element of the path)."""
        return self.path[0]

    @property
    def nested(self) -> bool:
        return len(self.path) > 1

    def walk(self) -> Iterator[Field]:
        """This field and every field nested in it, parents first."""
        yield self
        for child in self.fields:
            yield from child.walk()


@dataclass(frozen=True, slots=True)
class Collection:
    dataset: str
    name: str
    fields: tuple[Field, ...]
    origin: Origin
    after: tuple[CollectionRef, ...] = ()
    """Search this collection only after these (``fides_meta.after``)."""
    erase_after: tuple[CollectionRef, ...] = ()
    """Erase this collection only after these (``fides_meta.erase_after``)."""
    skip_processing: bool = False
    masking: MaskingOverride | None = None
    """Collection-level override; only ``delete_row`` (Fides ``delete``) applies to whole rows."""

    @property
    def ref(self) -> CollectionRef:
        return (self.dataset, self.name)

    @property
    def key(self) -> str:
        """``"<fides_key>:<collection>"``, the name used in reports and in the access archive."""
        return f"{self.dataset}:{self.name}"

    def all_fields(self) -> Iterator[Field]:
        for f in self.fields:
            yield from f.walk()

    def field(self, path: Sequence[str]) -> Field | None:
        wanted = tuple(path)
        return next((f for f in self.all_fields() if f.path == wanted), None)

    @property
    def primary_key(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.primary_key)

    @property
    def identities(self) -> tuple[Field, ...]:
        return tuple(f for f in self.all_fields() if f.identity)


@dataclass(frozen=True, slots=True)
class Dataset:
    fides_key: str
    name: str
    collections: tuple[Collection, ...]
    origin: Origin
    description: str | None = None
    after: tuple[str, ...] = ()
    """Datasets searched before this one (dataset-level ``fides_meta.after``)."""

    def collection(self, name: str) -> Collection | None:
        return next((c for c in self.collections if c.name == name), None)


@dataclass(frozen=True)
class Datamap:
    """Every dataset of a business, checked; built by :func:`pledge.datamap.load_datamap`."""

    datasets: tuple[Dataset, ...]
    warnings: tuple[Problem, ...] = ()
    _index: Mapping[CollectionRef, Collection] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = {c.ref: c for d in self.datasets for c in d.collections}
        object.__setattr__(self, "_index", index)

    def dataset(self, fides_key: str) -> Dataset | None:
        return next((d for d in self.datasets if d.fides_key == fides_key), None)

    def collection(self, ref: CollectionRef) -> Collection | None:
        return self._index.get(ref)

    def collections(self) -> Iterator[Collection]:
        for dataset in self.datasets:
            yield from dataset.collections

    def resolve(self, ref: FieldRef) -> Field | None:
        collection = self._index.get(ref.collection_ref)
        return collection.field(ref.path) if collection else None

    @property
    def identity_kinds(self) -> tuple[str, ...]:
        kinds = {f.identity for c in self.collections() for f in c.all_fields() if f.identity}
        return tuple(sorted(kinds))
