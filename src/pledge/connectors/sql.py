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
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from pledge.connectors.base import (
    Column,
    ColumnKind,
    ForeignKey,
    Table,
)
from pledge.connectors.sql_session import SqlSession
from pledge.errors import ConfigError, ConnectorError

__all__ = ["SqlConnector", "SqlSession", "column_kind"]

_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}
_QUOTED = re.compile(r"'[^']*'")
_IDLE_SECONDS = 300.0
_HELD_READERS = 4  # threads that keep a reading connection between requests


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
