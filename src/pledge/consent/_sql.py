"""Small SQL helpers shared by the ledger, the subject directory and tokens."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["as_utc", "insert_ignore", "utcnow"]


def insert_ignore(conn: Connection, table: sa.Table, values: Mapping[str, Any]) -> bool:
    """Insert one row unless its key exists; True when this call inserted it.

    ``ON CONFLICT DO NOTHING`` instead of catching an integrity error: on PostgreSQL a failed
    statement aborts the whole transaction (the caller's too), and under concurrency the database
    itself decides the single winner, waiting for the other transaction if it must.
    """
    dialect = conn.dialect.name
    key = list(table.primary_key.columns)
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        # rowcount is not reliable here (psycopg reports -1): ask for the inserted key instead.
        stmt = pg_insert(table).values(**values).on_conflict_do_nothing().returning(*key)
        return conn.execute(stmt).first() is not None
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt_lite = sqlite_insert(table).values(**values).on_conflict_do_nothing().returning(*key)
        return conn.execute(stmt_lite).first() is not None
    if dialect in ("mysql", "mariadb"):
        result = conn.execute(sa.insert(table).values(**values).prefix_with("IGNORE"))
        return bool(result.rowcount == 1)
    try:  # pragma: no cover - other databases: a savepoint keeps the caller's transaction usable
        with conn.begin_nested():
            conn.execute(sa.insert(table).values(**values))
    except sa.exc.IntegrityError:  # pragma: no cover
        return False
    return True  # pragma: no cover


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands timestamps back without a zone; everything Pledge stores is UTC."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
