"""``SqlConnector``: SQLite, PostgreSQL (psycopg 3) and MariaDB/MySQL (PyMySQL) over SQLAlchemy.

Statements are written as text with every identifier quoted by the dialect's own preparer (a
table named ``x"; DROP TABLE y; --`` stays one harmless, quoted name) and every value bound as a
parameter. SQLAlchemy provides the engines, pools, transactions and schema reflection; the few
simple statements go straight to the driver's cursor, which keeps a one-person access request
close to hand-written SQL.

Batching: PostgreSQL gets whole arrays (``= ANY(%s)``, ``unnest``), the others ``IN`` lists of a
few hundred values; rows needing different new values are updated in one statement per chunk
(``UPDATE … FROM unnest(…)`` on PostgreSQL, ``CASE`` elsewhere), never one statement per row.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from pledge.connectors.base import (
    NO_MATCH,
    Column,
    ColumnKind,
    ForeignKey,
    Row,
    RowChange,
    Table,
    chunks,
    coerce,
    coerce_many,
    read_each,
)
from pledge.errors import ConfigError, ConnectorError

__all__ = ["SqlConnector", "column_kind"]

_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}
_QUOTED = re.compile(r"'[^']*'")
_IDLE_SECONDS = 300.0
_HELD_READERS = 4  # threads that keep a reading connection between requests
_OR_LIMIT = 1000
_LARGE_TABLE = 500_000
"""PostgreSQL: from this many rows (``pg_class.reltuples``), searches by many values are split
(see ``SqlSession._batch``)."""


def column_kind(type_: Any) -> ColumnKind:
    """Map a reflected SQLAlchemy type to the few kinds erasure and matching care about."""
    if isinstance(type_, sa.Enum):
        return "other"  # an enum accepts only its labels: never masked, never free text
    if isinstance(type_, sa.JSON):
        return "json"
    if isinstance(type_, sa.String):
        return "string"
    if isinstance(type_, sa.Boolean):
        return "boolean"
    if isinstance(type_, sa.Integer):
        return "integer"
    if isinstance(type_, sa.Numeric | sa.Float):
        return "number"
    if isinstance(type_, sa.DateTime):
        return "datetime"
    if isinstance(type_, sa.Date):
        return "date"
    if isinstance(type_, sa.Uuid):
        return "uuid"
    if isinstance(type_, sa.LargeBinary):
        return "binary"
    return "other"


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Foreign keys are off by default in SQLite: turn them on so erasure cannot orphan a row.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class SqlConnector:
    scheme_help: ClassVar[str] = (
        "sqlite:///shop.db, postgresql+psycopg://user@host/db, mysql+pymysql://user@host/db"
    )

    def __init__(self, key: str, url: str) -> None:
        self.key = key
        try:
            parsed = sa.make_url(url)
        except sa.exc.ArgumentError:
            raise ConfigError(f"{key}: not a database URL", hint=f"e.g. {self.scheme_help}") from None
        if parsed.drivername in _DRIVERS:
            parsed = parsed.set(drivername=_DRIVERS[parsed.drivername])
        self.url = parsed
        kwargs: dict[str, Any] = {}
        backend = parsed.get_backend_name()
        if backend == "postgresql":
            # Registers the array dumpers on psycopg's global adapters, which connections copy
            # when they open: before this connector opens any.
            import pledge.connectors.pgarrays  # noqa: F401
        if backend == "sqlite":
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            if parsed.database in (None, "", ":memory:"):
                kwargs["poolclass"] = sa.pool.StaticPool
        else:
            # No pre-ping: it costs a round trip per request. A connection the server dropped
            # fails its statement instead, the pool is invalidated, and the step (idempotent)
            # is retried by the workflow; recycling keeps idle connections from going stale.
            kwargs["pool_recycle"] = 1800
        try:
            self.engine: Engine = sa.create_engine(parsed, **kwargs)
        except (sa.exc.ArgumentError, ModuleNotFoundError, sa.exc.NoSuchModuleError) as exc:
            raise ConfigError(
                f"{key}: cannot use {self.safe_url}: {exc}", hint=f"e.g. {self.scheme_help}"
            ) from None
        if backend == "sqlite":
            event.listen(self.engine, "connect", _sqlite_on_connect)
        self.dialect = self.engine.dialect.name
        # Reads on PostgreSQL go through a second, autocommit pool: under its default READ
        # COMMITTED every statement takes its own snapshot anyway, so BEGIN/COMMIT would only
        # add two round trips per database to every request.
        self._reader: Engine | None = (
            sa.create_engine(parsed, isolation_level="AUTOCOMMIT", **kwargs)
            if backend == "postgresql"
            else None
        )
        self._errors: tuple[type[Exception], ...] = (
            sa.exc.SQLAlchemyError,
            self.engine.dialect.loaded_dbapi.Error,
        )
        self._pg = self.dialect == "postgresql"
        self._percent = self.engine.dialect.paramstyle in ("format", "pyformat")
        self._mark = "%s" if self._percent else "?"
        self._schema: dict[str, Table] | None = None
        self._lock = threading.Lock()
        self._local = threading.local()
        self._statements: dict[tuple[Any, ...], str] = {}
        self._collations: dict[tuple[str, str], bool] = {}
        self._sizes: dict[str, float] = {}
        """PostgreSQL: the planner's row count of each table searched (see ``SqlSession._batch``)."""
        """MariaDB/MySQL: whether a column's collation already ignores case (see ``read``)."""
        self._held: list[Any] = []
        self._holders = 0
        self._pid = os.getpid()
        self.batch = 50_000 if self._pg else 500  # PostgreSQL arrays: one parameter each

    @classmethod
    def accepts(cls, url: str) -> bool:
        scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
        return scheme in ("sqlite", "postgresql", "postgres", "mysql", "mariadb")

    @property
    def safe_url(self) -> str:
        return self.url.render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"SqlConnector({self.key!r}, {self.safe_url!r})"

    def close(self) -> None:
        with self._lock:
            held, self._held = self._held, []
            self._holders = 0
        for raw in held:
            raw.invalidate()  # closes the driver connection
        self.engine.dispose()
        if self._reader is not None:
            self._reader.dispose()

    def _held_reader(self) -> Any:
        """This thread's autocommit connection, kept between requests (as an application keeps
        its connection) instead of a checkout and a check-in per request."""
        raw = getattr(self._local, "reader", None)
        now = time.monotonic()
        if raw is not None and (raw.driver_connection.closed or now - self._local.used > _IDLE_SECONDS):
            self._drop_reader(raw)  # idle for long: the server may have dropped it
            raw = None
        if raw is None:
            with self._lock:
                if self._holders >= _HELD_READERS:
                    return None  # many threads (a web server): they check out and return
                self._holders += 1
            try:
                raw = self._reader.raw_connection() if self._reader is not None else None
            except BaseException:
                with self._lock:
                    self._holders -= 1
                raise
            self._local.reader = raw
            with self._lock:
                self._held.append(raw)
        self._local.used = now
        return raw

    def _drop_reader(self, raw: Any) -> None:
        self._local.reader = None
        with self._lock:
            if raw in self._held:
                self._held.remove(raw)
                self._holders -= 1
        raw.invalidate()

    def _fail(self, action: str, exc: Exception) -> ConnectorError:
        # Database messages can quote values (MySQL: "Duplicate entry 'alice@…'"): redact them.
        orig = getattr(exc, "orig", None) or exc
        first = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
        redacted = _QUOTED.sub("'…'", first)[:300]
        return ConnectorError(
            f"{self.key}: {action} failed: {redacted}",
            hint=f"database {self.safe_url}",
        )

    def test(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail("connecting", exc) from None

    # --- schema ------------------------------------------------------------------------------------

    def describe(self, *, refresh: bool = False) -> Mapping[str, Table]:
        with self._lock:
            if self._schema is None or refresh:
                self._sizes.clear()
                try:
                    self._schema = self._reflect()
                except sa.exc.SQLAlchemyError as exc:
                    raise self._fail("reading the schema", exc) from None
            return self._schema

    def _reflect(self) -> dict[str, Table]:
        inspector = sa.inspect(self.engine)
        columns = inspector.get_multi_columns()
        keys = inspector.get_multi_pk_constraint()
        foreign = inspector.get_multi_foreign_keys()
        views = set(inspector.get_view_names())
        fks: dict[str, list[ForeignKey]] = {}
        for (_schema, name), entries in foreign.items():
            fks[name] = [
                ForeignKey(
                    table=name,
                    columns=tuple(fk["constrained_columns"]),
                    target=fk["referred_table"],
                    target_columns=tuple(fk["referred_columns"]),
                    on_delete=(fk.get("options") or {}).get("ondelete"),
                )
                for fk in entries
                if fk.get("referred_table")
            ]
        children: dict[str, list[ForeignKey]] = {}
        for entries_ in fks.values():
            for fk in entries_:
                children.setdefault(fk.target, []).append(fk)
        tables: dict[str, Table] = {}
        for (_schema, name), cols in columns.items():
            mapped = {}
            for col in cols:
                kind = column_kind(col["type"])
                mapped[col["name"]] = Column(
                    name=col["name"],
                    type=self._type_name(col["type"]),
                    kind=kind,
                    nullable=bool(col.get("nullable", True)),
                    length=getattr(col["type"], "length", None) if kind == "string" else None,
                )
            constraint = keys.get((_schema, name))
            pk = tuple(constraint["constrained_columns"] or ()) if constraint else ()
            tables[name] = Table(
                name=name,
                columns=mapped,
                primary_key=() if name in views else pk,
                foreign_keys=tuple(fks.get(name, ())),
                referenced_by=tuple(children.get(name, ())),
            )
        return tables

    def _type_name(self, type_: Any) -> str:
        try:
            return str(type_.compile(dialect=self.engine.dialect))
        except sa.exc.CompileError:
            return type(type_).__name__.upper()

    def table(self, name: str) -> Table:
        found = self.describe().get(name)
        if found is None:
            raise ConnectorError(f"{self.key}: no table '{name}' in the live database")
        return found

    # --- sessions ----------------------------------------------------------------------------------

    def _after_fork(self) -> None:
        """In a forked child the parent's connections are not ours to use (nor to close)."""
        self._pid = os.getpid()
        self._local = threading.local()
        self._held, self._holders = [], 0
        self.engine.dispose(close=False)
        if self._reader is not None:
            self._reader.dispose(close=False)

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[SqlSession]:
        if os.getpid() != self._pid:
            self._after_fork()
        try:
            if not write and self._reader is not None:
                raw = self._held_reader()
                if raw is None:
                    borrowed = self._reader.raw_connection()
                    try:
                        yield SqlSession(self, borrowed.driver_connection)
                    finally:
                        borrowed.close()  # back to the pool
                    return
                try:
                    yield SqlSession(self, raw.driver_connection)
                except BaseException:
                    self._drop_reader(raw)  # it may be broken: the next request opens another
                    raise
                return
            with self.engine.begin() as conn:
                yield SqlSession(self, conn.connection.driver_connection)
        except self._errors as exc:
            raise self._fail("writing" if write else "reading", exc) from None

    def quote(self, name: str) -> str:
        # The dialect's preparer escapes embedded quotes and, for drivers whose placeholders are
        # %s, doubles any % in the name (exactly once: do not double it again here).
        return self.engine.dialect.identifier_preparer.quote(name)

    def marks(self, count: int) -> str:
        return ", ".join([self._mark] * count)

    def bind(self, column: Column, value: Any) -> Any:
        """A value as the driver wants it for writing into ``column``."""
        if value is None:
            return None
        if isinstance(value, dict | list):
            return json.dumps(value, ensure_ascii=False, sort_keys=True)
        if self.dialect == "sqlite":
            # sqlite3's default date adapters are deprecated: store ISO text, as SQLAlchemy does.
            if isinstance(value, dt.datetime):
                return value.isoformat(sep=" ")
            if isinstance(value, dt.date):
                return value.isoformat()
            if isinstance(value, uuid.UUID):
                return str(value)
        return value

    def pg_text(self, value: Any) -> str | None:
        """A value as text for an ``unnest(text[])`` update on PostgreSQL."""
        if value is None or type(value) is str:
            return value
        if isinstance(value, dict | list):
            return json.dumps(value, ensure_ascii=False, sort_keys=True)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, dt.datetime):
            return value.isoformat(sep=" ")
        if isinstance(value, bytes):
            return "\\x" + value.hex()
        return str(value)

    def pg_array(self, column: Column, values: Sequence[Any]) -> Any:
        """An array parameter of ``column``'s values for PostgreSQL: keys and text written in
        one pass (see :mod:`pledge.connectors.pgarrays`), anything else as psycopg adapts it."""
        from pledge.connectors.pgarrays import int_array, text_array

        kind = column.kind
        if values and kind in ("integer", "string"):
            kinds = set(map(type, values))
            if kind == "integer" and kinds == {int}:
                return int_array(values)
            if kind == "string" and kinds == {str}:
                return text_array(values)
        return list(values)

    def pg_type(self, column: Column) -> str:
        # Strings are cast to text, not to VARCHAR(n): PostgreSQL truncates silently on an
        # explicit cast to VARCHAR(n), but an assignment of a too-long text is an error.
        return "text" if column.kind == "string" else column.type


class SqlSession:
    """One transaction of a :class:`SqlConnector`."""

    def __init__(self, connector: SqlConnector, dbapi: Any) -> None:
        self.c = connector
        self.dbapi = dbapi
        """The driver's own connection: statements go straight to it (see the module docstring)."""

    def _run(self, sql: str, params: Sequence[Any]) -> _Result:
        cursor = self.dbapi.cursor()
        try:
            cursor.execute(sql, tuple(params))
            rows = cursor.fetchall() if cursor.description is not None else []
            return _Result(rows, cursor.rowcount)
        finally:
            cursor.close()

    def _columns(self, table: str, names: Sequence[str]) -> list[Column]:
        schema = self.c.table(table)
        missing = [n for n in names if n not in schema.columns]
        if missing:
            raise ConnectorError(
                f"{self.c.key}: table '{table}' has no column {', '.join(map(repr, missing))}"
            )
        return [schema.columns[n] for n in names]

    def _select(
        self,
        table: str,
        selected: Sequence[str],
        conditions: Sequence[tuple[str, int]],
        tail: str,
        folded: frozenset[str] = frozenset(),
    ) -> str:
        """``SELECT … WHERE a = %s OR b = ANY(%s)`` (cached): a single value is compared with
        ``=`` (cheaper than a one-element array), several with ``= ANY`` on PostgreSQL or
        ``IN (…)`` elsewhere. A ``folded`` column compares ``lower(a) IN (lower(%s), …)``: the
        database lowers both sides alike, and an index on ``lower(a)`` serves it."""
        cache_key = (table, tuple(selected), tuple(conditions), tail, folded)
        sql = self.c._statements.get(cache_key)
        if sql is None:
            q = self.c.quote
            where = self._where(conditions, folded)
            sql = f"SELECT {', '.join(q(n) for n in selected)} FROM {q(table)} WHERE {where}{tail}"  # noqa: S608
            if len(self.c._statements) < 10_000:
                self.c._statements[cache_key] = sql
        return sql

    def _where(self, conditions: Sequence[tuple[str, int]], folded: frozenset[str]) -> str:
        q, mark = self.c.quote, self.c._mark
        tests = []
        for column, count in conditions:
            if column in folded:  # PostgreSQL needs the type: lower() also takes ranges
                value = f"lower(CAST({mark} AS TEXT))" if self.c._pg else f"lower({mark})"
                tests.append(f"lower({q(column)}) IN ({', '.join([value] * count)})")
            elif count == 1:
                tests.append(f"{q(column)} = {mark}")
            elif self.c._pg:
                tests.append(f"{q(column)} = ANY({mark})")
            else:
                tests.append(f"{q(column)} IN ({self.c.marks(count)})")
        return " OR ".join(tests)

    def _params(self, column: Column, part: Sequence[Any], *, each: bool = False) -> list[Any]:
        if len(part) == 1:
            return [self.c.bind(column, part[0])]
        if self.c._pg and not each:
            return [self.c.pg_array(column, part)]
        return [self.c.bind(column, v) for v in part]

    def _batch(self, table: str, column: Column, values: Sequence[Any]) -> int:
        """Values per ``= ANY`` array. PostgreSQL hashes a large array of the column's own type
        (text always: it arrives untyped and takes the column's; integers when psycopg's
        narrowest type is the column's), after which one sequential scan of a big table looks
        cheaper to its planner than ten thousand index probes; on a table of a million cached
        rows it is three to five times slower (0.3 s against 0.1 s for 10,000 e-mail
        addresses). Below a few thousand values the planner probes the index by itself, so on
        big tables such arrays hold about a thousandth of the table. Small tables, and arrays
        the planner cannot hash (it probes the index for those), get one statement: splitting
        would only repeat the planning, or the scan that is right for a small table."""
        c = self.c
        if not c._pg or not values:
            return c.batch
        if column.kind == "integer":
            from pledge.connectors.pgarrays import int_type

            if set(map(type, values)) != {int} or int_type(values) != column.type.lower():
                return c.batch
        elif column.kind != "string":
            return c.batch
        rows = c._sizes.get(table)
        if rows is None:
            name = '"' + table.replace('"', '""') + '"'  # a value here, not SQL text: no % doubling
            found = self._run("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", [name]).rows
            rows = float(found[0][0]) if found and found[0][0] is not None else -1.0
            c._sizes[table] = rows
        if rows < _LARGE_TABLE:
            return c.batch
        return max(1000, int(rows) // 1000)

    def _native_fold(self, table: str, column: str) -> bool:
        """MariaDB/MySQL: does the column's collation already ignore case (``utf8mb4_general_ci``,
        the default)? Then a plain ``IN`` finds every case and uses the column's index."""
        if self.c.dialect not in ("mysql", "mariadb"):
            return False
        key = (table, column)
        if key not in self.c._collations:
            mark = self.c._mark
            sql = "SELECT COLLATION_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
            sql += f"AND TABLE_NAME = {mark} AND COLUMN_NAME = {mark}"  # bound values, no names
            found = self._run(sql, [table, column]).rows
            self.c._collations[key] = bool(found) and str(found[0][0] or "").lower().endswith("_ci")
        return self.c._collations[key]

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
        names = list(dict.fromkeys(columns))
        where_col = self._columns(table, [*names, where])[-1]
        wanted = coerce_many(where_col, values, nul_allowed=not self.c._pg)
        if not wanted:
            return []
        selected = names if where in names else [*names, where]
        tail = " FOR UPDATE" if lock and self.c.dialect != "sqlite" else ""
        exact = where_col.kind == "string"
        fold = fold and exact  # only text has a case
        in_sql = frozenset({where}) if fold and not self._native_fold(table, where) else frozenset()
        batch = 500 if in_sql else self._batch(table, where_col, wanted)  # IN: a parameter per value
        rows: list[Row] = []
        for part in chunks(wanted, batch):
            sql = self._select(table, selected, [(where, len(part))], tail, in_sql)
            found = [
                dict(zip(selected, record, strict=True))
                for record in self._run(sql, self._params(where_col, part, each=bool(in_sql)))
            ]
            if exact:
                # Exact matching whatever the collation (MariaDB's default ignores case and
                # trailing blanks): keep rows equal to a value of *this* chunk, so a row is
                # never returned twice either. Folded, "equal" ignores case, nothing else.
                if fold:
                    asked = {_lower(v) for v in part}
                    found = [r for r in found if _lower(r[where]) in asked]
                else:
                    asked = set(part)
                    found = [r for r in found if r[where] in asked]
            if where not in names:
                for r in found:
                    del r[where]
            rows.extend(found)
        return rows

    def read_keys(
        self,
        table: str,
        columns: Sequence[str],
        key: Sequence[str],
        keys: Sequence[Sequence[Any]],
        *,
        lock: bool = False,
    ) -> list[Row]:
        """Rows whose primary key, all its columns (``key``), is one of ``keys``: a table keyed
        by (club, member) is read, and locked, by both, not by every row of the club. Values
        are coerced per column as ``read`` does (keys come back from JSON); callers compare the
        keys they asked for with those returned, as exactness in text is theirs to judge."""
        key_cols = self._columns(table, key)
        names = list(dict.fromkeys([*key, *columns]))
        self._columns(table, names)
        wanted: dict[tuple[Any, ...], None] = {}
        for raw in keys:
            typed = tuple(
                coerce(c, v, nul_allowed=not self.c._pg) for c, v in zip(key_cols, raw, strict=True)
            )
            if NO_MATCH not in typed:
                wanted.setdefault(typed, None)
        tail = " FOR UPDATE" if lock and self.c.dialect != "sqlite" else ""
        q = self.c.quote
        picked = ", ".join(q(n) for n in names)
        rows: list[Row] = []
        typed_keys = list(wanted)
        for part in chunks(typed_keys, self._key_batch(table, key_cols, typed_keys)):
            where, params = self._where_keys(key_cols, part)
            sql = f"SELECT {picked} FROM {q(table)} WHERE {where}{tail}"  # noqa: S608 (quoted, bound)
            rows.extend(dict(zip(names, record, strict=True)) for record in self._run(sql, params))
        return rows

    def exists(
        self,
        table: str,
        where: str,
        values: Sequence[Any],
        *,
        fold: bool = False,
        besides: tuple[str, Sequence[Any]] | None = None,
    ) -> bool:
        """Does a row have ``where`` equal to one of ``values`` — leaving out the rows whose
        ``besides[0]`` column (a primary key) is one of ``besides[1]``? Never "no" for a row
        ``read`` would return; may say "yes" for one it would not (a collation ignoring case), so
        callers read to find out which. An erasure's verification asks this of every value it
        searched: ``SELECT EXISTS (…)`` lets the planner, wanting a single row, probe the index
        (not scan the table, as it may for a 10,000-value ``ANY``), and no row is sent back."""
        where_col = self._columns(table, [where])[0]
        wanted = coerce_many(where_col, values, nul_allowed=not self.c._pg)
        if not wanted:
            return False
        fold = fold and where_col.kind == "string"
        in_sql = frozenset({where}) if fold and not self._native_fold(table, where) else frozenset()
        spared: list[Any] = []
        if besides is not None:
            spared_col = self._columns(table, [besides[0]])[0]
            spared = coerce_many(spared_col, besides[1])
        if spared and (not self.c._pg or in_sql):
            # Too many values for an IN list beside the others: read the keys and compare here
            # (a stored type the coercion does not reproduce only ever answers "yes").
            found = self.read(table, [spared_col.name], where, wanted, fold=fold)
            excluded = set(spared)
            return any(row[spared_col.name] not in excluded for row in found)
        q, mark = self.c.quote, self.c._mark
        batch = 500 if in_sql else self.c.batch
        for part in chunks(wanted, batch):
            test = self._where([(where, len(part))], in_sql)
            params = self._params(where_col, part, each=bool(in_sql))
            if spared:
                test = f"({test}) AND NOT ({q(spared_col.name)} = ANY({mark}))"
                params.append(self.c.pg_array(spared_col, spared))
            sql = f"SELECT EXISTS (SELECT 1 FROM {q(table)} WHERE {test})"  # noqa: S608 (quoted, bound)
            if self._run(sql, params).rows[0][0]:
                return True
        return False

    def read_any(
        self,
        table: str,
        columns: Sequence[str],
        where: Mapping[str, Sequence[Any]],
        *,
        fold: Collection[str] = (),
    ) -> list[Row]:
        if not self.c._pg or len(where) < 2 or fold:
            return read_each(self, table, columns, where, fold=fold)
        # PostgreSQL: one statement, "a = ANY(%s) OR b = ANY(%s)" (a BitmapOr over both indexes).
        names = list(dict.fromkeys(columns))
        cols = self._columns(table, list(where))
        wanted = {c.name: coerce_many(c, where[c.name], nul_allowed=False) for c in cols}
        wanted = {k: v for k, v in wanted.items() if v}
        if not wanted or sum(len(v) for v in wanted.values()) > _OR_LIMIT:
            # Thousands of values: separate index scans beat one bitmap OR over the table.
            return read_each(self, table, columns, wanted)
        selected = list(dict.fromkeys([*names, *wanted]))
        by_name = {c.name: c for c in cols}
        sql = self._select(table, selected, [(c, len(v)) for c, v in wanted.items()], "")
        params = [p for c, v in wanted.items() for p in self._params(by_name[c], v)]
        found = [dict(zip(selected, r, strict=True)) for r in self._run(sql, params)]
        # Keep rows equal to an asked value of some column (exact, as ``read`` does).
        asked = {column: set(values) for column, values in wanted.items()}
        found = [r for r in found if any(r[c] in asked[c] for c in asked)]
        extra = [c for c in selected if c not in names]
        for row in found:
            for column in extra:
                del row[column]
        return found

    def update(self, table: str, key: Sequence[str], changes: Sequence[RowChange]) -> int:
        if not changes:
            return 0
        schema = self.c.table(table)
        key_cols = self._columns(table, key)
        groups: dict[tuple[str, ...], list[RowChange]] = {}
        for change in changes:
            if change.values:
                groups.setdefault(tuple(sorted(change.values)), []).append(change)
        total = 0
        varied: list[RowChange] = []
        for names, group in groups.items():
            cols = [schema.columns[n] for n in names]
            first = group[0].values
            if all(_same(c.values, first) for c in group):
                total += self._update_constant(table, key_cols, cols, first, [c.key for c in group])
            elif self.c._pg:
                varied.extend(group)  # PostgreSQL: one statement for every column set, below
            else:
                total += self._update_case(table, key_cols, cols, group)
        if varied:
            union = sorted({n for change in varied for n in change.values})
            total += self._update_unnest(table, key_cols, [schema.columns[n] for n in union], varied)
        return total

    def _where_keys(
        self, key_cols: Sequence[Column], keys: Sequence[tuple[Any, ...]]
    ) -> tuple[str, list[Any]]:
        q, mark = self.c.quote, self.c._mark
        if len(key_cols) == 1:
            values = [self.c.bind(key_cols[0], k[0]) for k in keys]
            if self.c._pg:
                return f"{q(key_cols[0].name)} = ANY({mark})", [self.c.pg_array(key_cols[0], values)]
            return f"{q(key_cols[0].name)} IN ({self.c.marks(len(values))})", values
        tuple_mark = "(" + self.c.marks(len(key_cols)) + ")"
        names = ", ".join(q(c.name) for c in key_cols)
        params = [self.c.bind(col, part) for k in keys for col, part in zip(key_cols, k, strict=True)]
        return f"({names}) IN ({', '.join([tuple_mark] * len(keys))})", params

    def _key_batch(self, table: str, key_cols: Sequence[Column], keys: Sequence[tuple[Any, ...]]) -> int:
        if len(key_cols) > 1:
            return 300
        return self._batch(table, key_cols[0], [k[0] for k in keys])

    def _update_constant(
        self,
        table: str,
        key_cols: Sequence[Column],
        cols: Sequence[Column],
        values: Mapping[str, Any],
        keys: Sequence[tuple[Any, ...]],
    ) -> int:
        q, mark = self.c.quote, self.c._mark
        if self.c._pg:
            sets = ", ".join(f"{q(c.name)} = CAST({mark} AS {self.c.pg_type(c)})" for c in cols)
            set_params = [self.c.pg_text(values[c.name]) for c in cols]
        else:
            sets = ", ".join(f"{q(c.name)} = {mark}" for c in cols)
            set_params = [self.c.bind(c, values[c.name]) for c in cols]
        total = 0
        for part in chunks(keys, self._key_batch(table, key_cols, keys)):
            where, params = self._where_keys(key_cols, part)
            sql = f"UPDATE {q(table)} SET {sets} WHERE {where}"  # noqa: S608 (quoted names, bound values)
            total += self._run(sql, [*set_params, *params]).rowcount
        return total

    def _update_unnest(
        self, table: str, key_cols: Sequence[Column], cols: Sequence[Column], group: Sequence[RowChange]
    ) -> int:
        """``UPDATE … FROM unnest(keys, values, flags)``: each row sets only the columns its flag
        marks, so rows changing different columns share one statement."""
        q, mark, c = self.c.quote, self.c._mark, self.c
        aliases = (
            [f"k{i}" for i in range(len(key_cols))]
            + [f"v{i}" for i in range(len(cols))]
            + [f"f{i}" for i in range(len(cols))]
        )
        sets = ", ".join(
            f"{q(col.name)} = CASE WHEN u.f{i} THEN CAST(u.v{i} AS {c.pg_type(col)}) ELSE t.{q(col.name)} END"
            for i, col in enumerate(cols)
        )
        join = " AND ".join(
            f"t.{q(col.name)} = CAST(u.k{i} AS {c.pg_type(col)})" for i, col in enumerate(key_cols)
        )
        arrays = ", ".join(
            [f"CAST({mark} AS text[])"] * (len(key_cols) + len(cols))
            + [f"CAST({mark} AS boolean[])"] * len(cols)
        )
        sql = (
            f"UPDATE {q(table)} AS t SET {sets} "  # noqa: S608 (quoted names, bound values)
            f"FROM unnest({arrays}) AS u({', '.join(aliases)}) WHERE {join}"
        )
        from pledge.connectors.pgarrays import bool_array, text_array

        total = 0
        for part in chunks(group, c.batch):
            params = [text_array([c.pg_text(ch.key[i]) for ch in part]) for i in range(len(key_cols))]
            params += [text_array([c.pg_text(ch.values.get(col.name)) for ch in part]) for col in cols]
            params += [bool_array([col.name in ch.values for ch in part]) for col in cols]
            total += self._run(sql, params).rowcount
        return total

    def _update_case(
        self, table: str, key_cols: Sequence[Column], cols: Sequence[Column], group: Sequence[RowChange]
    ) -> int:
        q, mark, c = self.c.quote, self.c._mark, self.c
        match = " AND ".join(f"{q(k.name)} = {mark}" for k in key_cols)
        total = 0
        for part in chunks(group, 100):
            sets: list[str] = []
            params: list[Any] = []
            for col in cols:
                sets.append(
                    f"{q(col.name)} = CASE "
                    + " ".join([f"WHEN {match} THEN {mark}"] * len(part))
                    + f" ELSE {q(col.name)} END"
                )
                for ch in part:
                    params.extend(c.bind(k, v) for k, v in zip(key_cols, ch.key, strict=True))
                    params.append(c.bind(col, ch.values[col.name]))
            where, where_params = self._where_keys(key_cols, [ch.key for ch in part])
            total += self._run(
                f"UPDATE {q(table)} SET {', '.join(sets)} WHERE {where}",  # noqa: S608 (quoted, bound)
                [*params, *where_params],
            ).rowcount
        return total

    def delete(self, table: str, key: Sequence[str], keys: Sequence[tuple[Any, ...]]) -> int:
        key_cols = self._columns(table, key)
        total = 0
        unique = list(dict.fromkeys(keys))
        for part in chunks(unique, self._key_batch(table, key_cols, unique)):
            where, params = self._where_keys(key_cols, part)
            sql = f"DELETE FROM {self.c.quote(table)} WHERE {where}"  # noqa: S608 (quoted names, bound values)
            total += self._run(sql, params).rowcount
        return total

    def try_delete(self, table: str, key: Sequence[str], keys: Sequence[tuple[Any, ...]]) -> int | None:
        """Delete, or change nothing and return None when a foreign key forbids it (some other
        row still points at one of these): one statement in the usual case, instead of first
        looking for referencing rows. Callers use it only when no foreign key cascades."""
        integrity = self.c.engine.dialect.loaded_dbapi.IntegrityError
        if self.c.dialect == "sqlite" and not self.dbapi.in_transaction:
            # sqlite3 opens transactions only before its own DML: a SAVEPOINT outside one would
            # become the transaction, and RELEASE would commit it early.
            self._run("BEGIN", [])
        self._run("SAVEPOINT pledge_delete", [])
        try:
            deleted = self.delete(table, key, keys)
        except integrity:
            self._run("ROLLBACK TO SAVEPOINT pledge_delete", [])
            return None
        self._run("RELEASE SAVEPOINT pledge_delete", [])
        return deleted


class _Result:
    __slots__ = ("rowcount", "rows")

    def __init__(self, rows: Sequence[Sequence[Any]], rowcount: int) -> None:
        self.rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[Sequence[Any]]:
        return iter(self.rows)


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return all(type(a[k]) is type(b[k]) and a[k] == b[k] for k in b)


def _lower(value: Any) -> Any:
    """As the request workflow compares e-mail addresses (``str.lower``, not the wider ``casefold``
    that would take ``straße`` for ``STRASSE``)."""
    return value.lower() if isinstance(value, str) else value
