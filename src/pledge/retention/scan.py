"""Finding candidate rows: a keyset-paginated scan with a loose time filter in SQL.

The connector contract reads rows by equal values; a sweep needs "rows dated before X", so SQL
connectors get this small scanner (SQLAlchemy Core, every name quoted, every value bound). The
filter is deliberately *loose* (see :meth:`Delay.loose_cutoff`): stored times come in many shapes
(text in SQLite, naive or zoned timestamps, dates, epoch numbers) and the exact decision is made
in Python for each row found, so the SQL only has to never miss a row. Text clocks are not
filtered in SQL at all (their format is unknown); boolean markers are filtered exactly.

Pages follow the primary key (``WHERE key > last ORDER BY key LIMIT n``), so a crash resumes after
the last key done, and rows deleted by earlier pages never shift later ones.

Another kind of store plugs in by giving its connector a ``retention_scanner()`` method that
returns an object with this class's ``scan`` and ``count``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa

from pledge.connectors.base import Column, Connector, Row, Table
from pledge.errors import ConfigError, ConnectorError
from pledge.retention.bindings import Clock

__all__ = ["ScanSpec", "Scanner", "SqlScanner", "decode_cursor", "encode_cursor", "scanner_for"]


@dataclass(frozen=True, slots=True)
class ScanSpec:
    """Rows of ``table`` whose ``clock`` may have ended by ``cutoff`` (or whose marker is set)."""

    table: Table
    key: tuple[str, ...]
    columns: tuple[str, ...]
    """Columns of ``table`` to return (the key among them)."""
    clock: Clock
    clock_table: Table
    cutoff: dt.datetime
    """Loose: every row that has ended was dated before it."""
    newer: bool = False
    """Rows dated *after* ``cutoff`` instead (birth dates of people who may be minors)."""


class Scanner(Protocol):
    def scan(self, spec: ScanSpec, after: Sequence[Any] | None, limit: int) -> list[Row]:
        """Up to ``limit`` candidate rows with keys after ``after``, in key order."""
        ...

    def count(self, spec: ScanSpec) -> int:
        """How many candidate rows there are (for a progress bar; may overcount)."""
        ...


def scanner_for(connector: Connector) -> Scanner:
    own = getattr(connector, "retention_scanner", None)
    if callable(own):
        found: Scanner = own()
        return found
    engine = getattr(connector, "engine", None)
    if isinstance(engine, sa.engine.Engine):
        return SqlScanner(connector, engine)
    raise ConfigError(
        f"{connector.key}: this kind of store cannot be swept (its connector has no retention_scanner())",
        hint="retention sweeps run on SQL databases, or on connectors that provide a scanner",
    )


class SqlScanner:
    def __init__(self, connector: Connector, engine: sa.engine.Engine) -> None:
        self.connector = connector
        self.engine = engine
        self.dialect = engine.dialect.name

    def _fail(self, exc: Exception) -> ConnectorError:
        fail = getattr(self.connector, "_fail", None)
        if callable(fail):
            error: ConnectorError = fail("scanning", exc)
            return error
        return ConnectorError(f"{self.connector.key}: scanning failed ({type(exc).__name__})")

    def _bound(self, column: Column, cutoff: dt.datetime) -> Any:
        """The cutoff as a value the column compares with (None: no SQL filter on this kind)."""
        if column.kind == "date":
            return cutoff.date() if self.dialect != "sqlite" else cutoff.date().isoformat()
        if column.kind == "datetime":
            if self.dialect == "sqlite":
                # SQLite stores text ('2024-05-01 10:00:00' or '2024-05-01T10:00:00'): compare the
                # date part only, which both spellings share; the slack covers the day.
                return cutoff.date().isoformat()
            zoned = "ZONE" in column.type.upper() or column.type.upper().startswith("TIMESTAMPTZ")
            return cutoff if zoned else cutoff.replace(tzinfo=None)
        if column.kind in ("integer", "number"):
            return int(cutoff.timestamp()) + 1
        return None

    def _where(self, spec: ScanSpec, clock_col: Any) -> Any:
        column = spec.clock_table.columns[spec.clock.column]
        if spec.clock.marker:
            return clock_col == sa.true()
        bound = self._bound(column, spec.cutoff)
        if bound is None:
            return clock_col.is_not(None)
        if spec.newer:
            if column.kind in ("integer", "number"):
                bound -= 2
            return sa.and_(clock_col.is_not(None), clock_col > sa.bindparam(None, bound))
        return sa.and_(clock_col.is_not(None), clock_col < sa.bindparam(None, bound))

    def _select(self, spec: ScanSpec, *, count: bool) -> tuple[Any, Any]:
        table = sa.table(spec.table.name, *(sa.column(c) for c in spec.table.columns)).alias("t")
        if spec.clock.link is None:
            source: Any = table
            clock_col = table.c[spec.clock.column]
        else:
            parent = sa.table(spec.clock_table.name, *(sa.column(c) for c in spec.clock_table.columns)).alias(
                "p"
            )
            link = spec.clock.link
            source = table.join(parent, table.c[link.column] == parent.c[link.there_column])
            clock_col = parent.c[spec.clock.column]
        where = self._where(spec, clock_col)
        if count:
            return sa.select(sa.func.count()).select_from(source).where(where), table
        columns = [table.c[c] for c in spec.columns]
        return sa.select(*columns).select_from(source).where(where), table

    def scan(self, spec: ScanSpec, after: Sequence[Any] | None, limit: int) -> list[Row]:
        query, table = self._select(spec, count=False)
        keys = [table.c[c] for c in spec.key]
        if after is not None:
            if len(keys) == 1:
                query = query.where(keys[0] > sa.bindparam(None, after[0]))
            else:
                query = query.where(sa.tuple_(*keys) > sa.tuple_(*(sa.bindparam(None, v) for v in after)))
        query = query.order_by(*keys).limit(limit)
        try:
            with self.engine.connect() as conn:
                rows = [dict(zip(spec.columns, r, strict=True)) for r in conn.execute(query)]
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc) from None
        seen: set[tuple[Any, ...]] = set()
        unique: list[Row] = []
        for row in rows:  # a clock in a table linked by a non-unique column repeats rows
            k = tuple(repr(row[c]) for c in spec.key)
            if k not in seen:
                seen.add(k)
                unique.append(row)
        return unique

    def rows(
        self,
        table: Table,
        key: Sequence[str],
        columns: Sequence[str],
        after: Sequence[Any] | None,
        limit: int,
    ) -> list[Row]:
        """A page of every row (no filter), in key order: for searches no index can serve."""
        t = sa.table(table.name, *(sa.column(c) for c in table.columns)).alias("t")
        keys = [t.c[c] for c in key]
        query = sa.select(*(t.c[c] for c in columns))
        if after is not None:
            query = query.where(
                keys[0] > sa.bindparam(None, after[0])
                if len(keys) == 1
                else sa.tuple_(*keys) > sa.tuple_(*(sa.bindparam(None, v) for v in after))
            )
        try:
            with self.engine.connect() as conn:
                found = conn.execute(query.order_by(*keys).limit(limit))
                return [dict(zip(columns, r, strict=True)) for r in found]
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc) from None

    def count(self, spec: ScanSpec) -> int:
        query, _ = self._select(spec, count=True)
        try:
            with self.engine.connect() as conn:
                return int(conn.execute(query).scalar() or 0)
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc) from None


# --- cursors, exactly as typed, through JSON ------------------------------------------------------


def encode_cursor(values: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if v is None or isinstance(v, bool | int | float | str):
            out.append(v)
        elif isinstance(v, dt.datetime):
            out.append({"datetime": v.isoformat()})
        elif isinstance(v, dt.date):
            out.append({"date": v.isoformat()})
        elif isinstance(v, decimal.Decimal):
            out.append({"decimal": str(v)})
        elif isinstance(v, uuid.UUID):
            out.append({"uuid": str(v)})
        elif isinstance(v, bytes | bytearray | memoryview):
            out.append({"bytes": bytes(v).hex()})
        else:
            out.append({"text": str(v)})
    return out


def decode_cursor(values: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if not isinstance(v, dict):
            out.append(v)
            continue
        ((kind, text),) = v.items()
        if kind == "datetime":
            out.append(dt.datetime.fromisoformat(text))
        elif kind == "date":
            out.append(dt.date.fromisoformat(text))
        elif kind == "decimal":
            out.append(decimal.Decimal(text))
        elif kind == "uuid":
            out.append(uuid.UUID(text))
        elif kind == "bytes":
            out.append(bytes.fromhex(text))
        else:
            out.append(text)
    return out
