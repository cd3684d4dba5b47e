"""The Alembic migrations and the table definitions in code describe the same schema.

Every area (consent, audit, requests, ...) declares its tables in its own ``tables`` module and
ships an Alembic branch that creates them. A column added to one but not the other would pass
every test that migrates and then uses the table in the obvious way, and fail in production on
the first database migrated from an older version; comparing both here catches it.
"""

from __future__ import annotations

import importlib
import multiprocessing
import pkgutil
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import pledge
from pledge.storage import Database, metadata


def _load_every_table() -> None:
    for module in pkgutil.walk_packages(pledge.__path__, "pledge."):
        if module.name.endswith(".tables"):
            importlib.import_module(module.name)


def _differences(url: str) -> list[Any]:
    _load_every_table()
    db = Database(url)
    try:
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            found = compare_metadata(context, metadata)
    finally:
        db.dispose()
    # alembic's own bookkeeping table is not ours to describe.
    return [d for d in found if "alembic_version" not in repr(d)]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migrating_an_empty_database_gives_exactly_the_declared_tables(
    backend: str, sqlite_url: str, request: pytest.FixtureRequest
) -> None:
    url = sqlite_url if backend == "sqlite" else request.getfixturevalue("pg_url")
    db = Database(url)
    try:
        assert sa.inspect(db.engine).get_table_names() == []
        db.migrate()
        tables = set(sa.inspect(db.engine).get_table_names())
        db.migrate()  # at head already: nothing to do, nothing fails
        assert set(sa.inspect(db.engine).get_table_names()) == tables
    finally:
        db.dispose()
    _load_every_table()
    assert set(metadata.tables) <= tables
    assert _differences(url) == []


def _migrate(url: str) -> None:
    db = Database(url)
    try:
        db.migrate()
    finally:
        db.dispose()


def test_processes_migrating_postgresql_at_once_all_succeed(make_pg_url: Callable[[], str]) -> None:
    # Several workers starting together against a new database: the advisory lock serialises them.
    url = make_pg_url()
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_migrate, args=(url,)) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    assert _differences(url) == []
