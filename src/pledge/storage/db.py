"""Engine creation and migrations. SQLite by default, PostgreSQL in production, MariaDB tolerated."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from pledge.errors import ConfigError, StorageError

__all__ = ["Database", "metadata", "migrate"]

# Stable constraint names make migrations portable across SQLite, PostgreSQL and MariaDB.
metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

_migrate_lock = threading.Lock()

SQLITE_POOL = 48
SERVER_POOL = 16


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the single writer; busy_timeout makes concurrent writers wait
    # instead of failing with "database is locked"; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _make_engine(url: str) -> Engine:
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise ConfigError(
            f"not a database URL: {url!r}",
            hint="e.g. sqlite:///pledge.db or postgresql+psycopg://user@host/db",
        ) from None
    kwargs: dict[str, Any] = {"future": True}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        if parsed.database in (None, "", ":memory:"):
            # One shared connection, or each connection would see its own empty database.
            kwargs["poolclass"] = sa.pool.StaticPool
        else:
            # Sized for the web server's thread pool (anyio runs up to 40 sync endpoints at once)
            # plus Pledge's background threads. SQLAlchemy's default (5, overflow 10) closes every
            # connection above five on its return, so a busy server reopened a connection (and
            # re-ran the pragmas) for most requests. An idle SQLite connection costs a file handle.
            kwargs["pool_size"] = SQLITE_POOL
            kwargs["max_overflow"] = SQLITE_POOL
    else:
        kwargs["pool_pre_ping"] = True
        # Same reason, for a server database: connections above the pool size are closed on
        # return, and a new PostgreSQL connection costs milliseconds. Kept well below the
        # server's usual max_connections (100), since several workers may each hold a pool.
        kwargs["pool_size"] = SERVER_POOL
        kwargs["max_overflow"] = SERVER_POOL
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except (sa.exc.ArgumentError, ModuleNotFoundError) as exc:
        raise ConfigError(
            f"cannot use database URL {parsed.render_as_string(hide_password=True)}: {exc}"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class Database:
    """An engine plus transaction helpers. Build one at the edge and pass it down."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _make_engine(url)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection inside a transaction that commits on success and rolls back on error."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            raise StorageError(f"storage unavailable: {exc.orig}") from exc

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            raise StorageError(f"storage unavailable: {exc.orig}") from exc

    def migrate(self) -> None:
        migrate(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()


def _alembic_config(connection: Connection) -> Any:
    from alembic.config import Config

    config = Config()
    location = resources.files("pledge.storage").joinpath("migrations")
    config.set_main_option("script_location", str(location))
    config.attributes["connection"] = connection
    return config


def migrate(engine: Engine, revision: str = "heads") -> None:
    """Bring the schema to ``revision`` (every branch head by default). Safe to call repeatedly."""
    from alembic import command

    with _migrate_lock, engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Two processes starting at once must not both create the same tables.
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(7265830193)"))
        command.upgrade(_alembic_config(conn), revision)
