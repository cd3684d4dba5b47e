"""Fixtures shared by the whole suite: real services, skipped only when absent and CI is unset.

Each database fixture creates a fresh, uniquely named database and drops it afterwards, so tests
never see each other's rows and can run against the machine's real servers.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

PG_ADMIN_URL = os.environ.get("PLEDGE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MARIADB_ADMIN_URL = os.environ.get("PLEDGE_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/test")
REDIS_URL = os.environ.get("PLEDGE_TEST_REDIS", "redis://127.0.0.1:6379/15")
RABBITMQ_URL = os.environ.get("PLEDGE_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672/")

_SERVICE_FIXTURES = {
    "pg_url": "postgres",
    "make_pg_url": "postgres",
    "mariadb_url": "mariadb",
    "make_mariadb_url": "mariadb",
    "redis_url": "redis",
    "rabbitmq_url": "rabbitmq",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture, marker in _SERVICE_FIXTURES.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(getattr(pytest.mark, marker))


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip when the service is absent, unless CI is set: then its absence fails the test."""
    if _reachable(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI is set, so a missing service is a failure)")
    pytest.skip(message)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'pledge.db'}"


def _database_factory(
    admin_url: str, dialect: str, template: str | None = None
) -> Iterator[Callable[[], str]]:
    import sqlalchemy as sa

    created: list[str] = []
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    copy = f" TEMPLATE {template}" if template else ""

    def make() -> str:
        name = f"pledge_t_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}{copy}"))
        created.append(name)
        return admin_url.rsplit("/", 1)[0] + "/" + name

    yield make
    with admin.connect() as conn:
        for name in created:
            if dialect == "postgresql":
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            else:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
    admin.dispose()


@pytest.fixture
def make_pg_url() -> Iterator[Callable[[], str]]:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    yield from _database_factory(PG_ADMIN_URL, "postgresql")


@pytest.fixture
def pg_url(make_pg_url: Callable[[], str]) -> str:
    return make_pg_url()


@pytest.fixture
def make_mariadb_url() -> Iterator[Callable[[], str]]:
    require_service("MariaDB", "127.0.0.1", 3306)
    yield from _database_factory(MARIADB_ADMIN_URL, "mysql")


@pytest.fixture
def mariadb_url(make_mariadb_url: Callable[[], str]) -> str:
    return make_mariadb_url()


@pytest.fixture
def redis_url() -> str:
    require_service("Redis", "127.0.0.1", 6379)
    return REDIS_URL


@pytest.fixture
def rabbitmq_url() -> str:
    require_service("RabbitMQ", "127.0.0.1", 5672)
    return RABBITMQ_URL


@pytest.fixture(scope="session")
def _pg_migrated_template() -> Iterator[str]:
    """A PostgreSQL database migrated once per session, copied for each ``db_url`` test.

    Migrating costs about half a second on PostgreSQL and a copy a tenth of that; the tests'
    own ``migrate()`` then finds the schema at head and does nothing. Migrating from empty is
    still exercised here every session, and on its own by tests/storage/test_migrations.py."""
    import sqlalchemy as sa

    from pledge.storage import Database

    require_service("PostgreSQL", "127.0.0.1", 5432)
    name = f"pledge_tmpl_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        db = Database(PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name)
        db.migrate()
        db.dispose()  # a template must have no open connections to be copied
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh Pledge database on SQLite and on PostgreSQL: storage tests run on both."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'pledge.db'}"
        return
    template = request.getfixturevalue("_pg_migrated_template")
    factory = _database_factory(PG_ADMIN_URL, "postgresql", template)
    yield next(factory)()
    next(factory, None)  # drops the copy
