"""The connector contract: how Pledge reads and changes rows in a business's database.

Small on purpose, so a new kind of store (a document database, a SaaS API) needs only these few
methods. Everything is batched: ``read`` takes many values, ``update`` and ``delete`` many rows,
and an implementation must turn each call into a handful of statements, never one per row.

Values handed to a connector come from outside (a person's e-mail address) or from other rows;
``coerce`` turns them into the column's type or rules them out, so a hostile string can never
match by accident (MySQL compares ``'abc' = 0`` as true) nor break a query (PostgreSQL rejects
NUL bytes).
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
import uuid
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

__all__ = [
    "NO_MATCH",
    "Column",
    "ColumnKind",
    "Connector",
    "ForeignKey",
    "Row",
    "RowChange",
    "Session",
    "Table",
    "coerce",
    "coerce_many",
    "fold_text",
    "read_each",
]

Row = dict[str, Any]
ColumnKind = Literal[
    "string", "integer", "number", "boolean", "date", "datetime", "uuid", "json", "binary", "other"
]


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str
    """The database's own type name, for messages and casts (``VARCHAR(320)``)."""
    kind: ColumnKind
    nullable: bool
    length: int | None = None


@dataclass(frozen=True, slots=True)
class ForeignKey:
    table: str
    """The table holding the foreign key (the child)."""
    columns: tuple[str, ...]
    target: str
    target_columns: tuple[str, ...]
    on_delete: str | None = None


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: Mapping[str, Column]
    primary_key: tuple[str, ...]
    foreign_keys: tuple[ForeignKey, ...] = ()
    """Foreign keys declared on this table (it is the child)."""
    referenced_by: tuple[ForeignKey, ...] = field(default=())
    """Foreign keys of other tables pointing at this one (they are its children)."""


@dataclass(frozen=True, slots=True)
class RowChange:
    """New values for some columns of the row whose primary key is ``key``."""

    key: tuple[Any, ...]
    values: Mapping[str, Any]


class Session(Protocol):
    """One transaction on one database: everything commits together or not at all."""

    def read(
        self,
        table: str,
        columns: Sequence[str],
        where: str,
        values: Sequence[Any],
        *,
        lock: bool = False,
        fold: bool = False,
    ) -> list[Row]:
        """Rows of ``table`` whose ``where`` column equals one of ``values`` (exactly; strings
        compare case- and space-sensitively whatever the database's collation). ``lock`` takes
        row locks for a following update where the database has them. ``fold``: text compares
        ignoring case (the datamap's ``case_insensitive``); callers pass it only when true, so a
        connector without the feature fails only where a datamap asks for it."""
        ...

    def read_any(
        self,
        table: str,
        columns: Sequence[str],
        where: Mapping[str, Sequence[Any]],
        *,
        fold: Collection[str] = (),
    ) -> list[Row]:
        """Rows matching any of several ``column: values`` at once (a table found both by an
        e-mail address and by a customer id). May return a row twice; callers deduplicate.
        ``fold``: the columns compared ignoring case. :func:`read_each` implements it with
        ``read`` for connectors with nothing better."""
        ...

    def update(self, table: str, key: Sequence[str], changes: Sequence[RowChange]) -> int:
        """Apply each change to the row with that primary key; returns rows updated."""
        ...

    def delete(self, table: str, key: Sequence[str], keys: Sequence[tuple[Any, ...]]) -> int:
        """Delete the rows with these primary keys; returns rows deleted."""
        ...


@runtime_checkable
class Connector(Protocol):
    """A business database known by its datamap ``fides_key``. Register new kinds under the
    ``pledge.connectors`` entry-point group; ``accepts(url)`` says which URLs a kind serves."""

    scheme_help: ClassVar[str]
    key: str
    dialect: str

    @classmethod
    def accepts(cls, url: str) -> bool: ...

    def test(self) -> None:
        """Raise ``ConnectorError`` when the database cannot be reached."""
        ...

    def describe(self, *, refresh: bool = False) -> Mapping[str, Table]:
        """The live schema: every table with its columns, key and foreign keys (cached)."""
        ...

    def session(self, *, write: bool = False) -> AbstractContextManager[Session]: ...

    def close(self) -> None: ...


class _NoMatch:
    """A value that cannot equal anything stored in the column."""

    def __repr__(self) -> str:
        return "NO_MATCH"


NO_MATCH: Any = _NoMatch()
_INT = re.compile(r"^[+-]?\d{1,19}$")
_INT64 = (-(2**63), 2**63 - 1)


def coerce(column: Column, value: Any, *, nul_allowed: bool = True) -> Any:
    """``value`` in the column's type, or ``NO_MATCH`` when no stored value could equal it."""
    if value is None:
        return NO_MATCH  # NULL never equals anything
    kind = column.kind
    if kind == "integer":
        if isinstance(value, bool):
            return NO_MATCH
        if isinstance(value, int):
            number = value
        elif isinstance(value, str) and _INT.match(value.strip()):
            number = int(value.strip())
        elif isinstance(value, float | decimal.Decimal) and _finite(value) and value == int(value):
            number = int(value)  # infinities and NaN (Python's JSON reads them) have no integer form
        else:
            return NO_MATCH
        return number if _INT64[0] <= number <= _INT64[1] else NO_MATCH
    if kind == "number":
        if isinstance(value, bool):
            return NO_MATCH
        if isinstance(value, int | float | decimal.Decimal):
            return value
        try:
            return decimal.Decimal(str(value).strip()) if len(str(value)) < 100 else NO_MATCH
        except decimal.InvalidOperation:
            return NO_MATCH
    if kind == "uuid":
        if isinstance(value, uuid.UUID):
            return value
        try:
            return uuid.UUID(str(value)) if len(str(value)) <= 64 else NO_MATCH
        except ValueError:
            return NO_MATCH
    if kind in ("date", "datetime"):
        return _when(value, kind)
    if kind == "string":
        text = value if isinstance(value, str) else str(value)
        if column.length is not None and len(text) > column.length:
            return NO_MATCH
        if not nul_allowed and "\x00" in text:
            return NO_MATCH
        return text
    if kind in ("json", "binary"):
        return NO_MATCH  # never searched by value
    return value


def coerce_many(column: Column, values: Sequence[Any], *, nul_allowed: bool = True) -> list[Any]:
    """:func:`coerce` of every value, leaving out those that cannot match, each once, in order.
    The usual batch (all ints for an integer column, all text for a text one) is checked in a
    few C-level passes instead of a call per value."""
    kinds = set(map(type, values))
    if column.kind == "integer" and kinds == {int}:
        if _INT64[0] <= min(values) and max(values) <= _INT64[1]:
            return list(dict.fromkeys(values))
    elif column.kind == "string" and kinds == {str}:
        fits = column.length is None or max(map(len, values)) <= column.length
        if fits and (nul_allowed or "\x00" not in "".join(values)):
            return list(dict.fromkeys(values))
    elif not values:
        return []
    seen: dict[Any, None] = {}
    for value in values:
        found = coerce(column, value, nul_allowed=nul_allowed)
        if found is not NO_MATCH:
            seen.setdefault(found, None)
    return list(seen)


def _finite(value: float | decimal.Decimal) -> bool:
    return value.is_finite() if isinstance(value, decimal.Decimal) else math.isfinite(value)


def _when(value: Any, kind: str) -> Any:
    if isinstance(value, dt.datetime):
        return value if kind == "datetime" else value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and len(value) <= 40:
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            return NO_MATCH
        return parsed if kind == "datetime" else parsed.date()
    return NO_MATCH


def read_each(
    session: Session,
    table: str,
    columns: Sequence[str],
    where: Mapping[str, Sequence[Any]],
    *,
    fold: Collection[str] = (),
) -> list[Row]:
    """``Session.read_any`` by one ``read`` per column."""
    rows: list[Row] = []
    for column, values in where.items():
        if column in fold:
            rows.extend(session.read(table, columns, column, values, fold=True))
        else:
            rows.extend(session.read(table, columns, column, values))
    return rows


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def fold_text(value: Any) -> Any:
    """A value as a case-insensitive column compares it: ``str.lower``, as the request workflow
    compares e-mail addresses (not the wider ``casefold``, which takes ``straße`` for ``STRASSE``)."""
    return value.lower() if isinstance(value, str) else value
