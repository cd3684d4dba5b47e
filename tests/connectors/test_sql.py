"""``SqlConnector`` against real SQLite, PostgreSQL and MariaDB: schema, batched reads and
writes, quoting of hostile names, and values that must never match by accident."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from pledge.connectors import RowChange, open_connector
from pledge.connectors.sql import SqlConnector, SqlSession
from pledge.errors import ConnectorError

HOSTILE_TABLE = 'we"ird`; DROP TABLE people; --'
HOSTILE_COLUMN = "co'l%s_"

meta = sa.MetaData()
people = sa.Table(
    "people",
    meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("email", sa.String(64), nullable=False),
    sa.Column("nick", sa.String(20), nullable=True),
    sa.Column("born", sa.Date, nullable=True),
)
pets = sa.Table(
    "pets",
    meta,
    sa.Column("owner_id", sa.Integer, sa.ForeignKey("people.id"), primary_key=True, autoincrement=False),
    sa.Column("n", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(20), nullable=False),
)
weird = sa.Table(
    HOSTILE_TABLE,
    meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column(HOSTILE_COLUMN, sa.String(40), nullable=True),
)


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        made = f"sqlite:///{tmp_path / 'c.db'}"
    else:
        factory: Callable[[], str] = request.getfixturevalue(
            "make_pg_url" if request.param == "postgresql" else "make_mariadb_url"
        )
        made = factory()
    engine = sa.create_engine(made)
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            people.insert(),
            [
                {"id": i, "email": f"p{i}@example.com", "nick": None if i % 2 else f"n{i}", "born": None}
                for i in range(0, 1200)
            ],
        )
        conn.execute(
            pets.insert(), [{"owner_id": 1, "n": 1, "name": "Rex"}, {"owner_id": 1, "n": 2, "name": "Tom"}]
        )
        conn.execute(weird.insert(), [{"id": 1, HOSTILE_COLUMN: "x"}, {"id": 2, HOSTILE_COLUMN: "y"}])
    engine.dispose()
    return made


@pytest.fixture
def connector(url: str) -> Iterator[SqlConnector]:
    made = open_connector("db", url)
    assert isinstance(made, SqlConnector)
    yield made
    made.close()


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement the connector sends to the driver, in order."""
    seen: list[str] = []
    real = SqlSession._run

    def spy(self: SqlSession, sql: str, params: Any) -> Any:
        seen.append(sql)
        return real(self, sql, params)

    monkeypatch.setattr(SqlSession, "_run", spy)
    return seen


def test_describe_reports_columns_keys_and_foreign_keys(connector: SqlConnector) -> None:
    schema = connector.describe()
    person = schema["people"]
    assert person.primary_key == ("id",)
    assert person.columns["email"].kind == "string" and person.columns["email"].length == 64
    assert not person.columns["email"].nullable and person.columns["nick"].nullable
    assert person.columns["id"].kind == "integer" and person.columns["born"].kind == "date"
    assert [fk.table for fk in person.referenced_by] == ["pets"]
    pet = schema["pets"]
    assert pet.primary_key == ("owner_id", "n")
    assert [(fk.columns, fk.target, fk.target_columns) for fk in pet.foreign_keys] == [
        (("owner_id",), "people", ("id",))
    ]
    assert schema[HOSTILE_TABLE].columns[HOSTILE_COLUMN].kind == "string"
    assert connector.describe() is schema  # cached
    assert connector.describe(refresh=True) is not schema


def test_reads_are_batched_and_exact(connector: SqlConnector, statements: list[str]) -> None:
    wanted = [f"p{i}@example.com" for i in range(1000)] + ["P1@EXAMPLE.COM", "p2@example.com ", "nobody"]
    with connector.session() as session:
        rows = session.read("people", ["id", "email"], "email", wanted)
    assert sorted(r["id"] for r in rows) == list(range(1000))
    expected = 1 if connector.dialect == "postgresql" else 3  # ANY(array) vs IN lists of 500
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT") and "pg_class" not in s]
    assert len(reads) == expected


def test_big_postgresql_tables_are_searched_in_index_sized_arrays(
    make_pg_url: Callable[[], str], statements: list[str]
) -> None:
    made = make_pg_url()
    engine = sa.create_engine(made)
    meta.create_all(engine)
    big = 100_000  # ids past smallint: psycopg types them integer[], people.id's own type
    with engine.begin() as conn:
        conn.execute(people.insert(), [{"id": big + i, "email": f"p{i}@example.com"} for i in range(2500)])
    engine.dispose()
    connector = open_connector("db", made)
    assert isinstance(connector, SqlConnector)

    def sent(prefix: str) -> int:
        return len([s for s in statements if s.startswith(prefix)])

    try:
        wanted = [f"p{i}@example.com" for i in range(2500)]
        with connector.session() as session:
            assert len(session.read("people", ["id"], "email", wanted)) == 2500
        assert sent("SELECT reltuples") == 1 and connector._sizes["people"] < 500_000
        assert sent("SELECT id") == 1  # a small table: one statement
        # As the planner would see a table of 1.2 million rows: arrays of 1,200 values.
        connector._sizes["people"] = 1_200_000.0
        statements.clear()
        with connector.session(write=True) as session:
            assert len(session.read("people", ["id"], "email", wanted, lock=True)) == 2500
            assert len(session.read("people", ["id"], "id", [big + i for i in range(2500)])) == 2500
            assert session.delete("people", ["id"], [(big + i,) for i in range(1000, 2500)]) == 1500
        assert sent("SELECT id") == 3 + 3 and sent("DELETE") == 2
        assert sent("SELECT reltuples") == 0  # asked once per table
        # Keys typed smallint[] or bigint[] are never hashed against an integer column: one
        # statement, the planner probes the index anyway.
        statements.clear()
        with connector.session() as session:
            assert len(session.read("people", ["id"], "id", list(range(2000)))) == 0
            assert len(session.read("people", ["id"], "id", [*range(big, big + 1000), 2**40])) == 1000
        assert sent("SELECT id") == 2
        connector.describe(refresh=True)
        assert connector._sizes == {}
    finally:
        connector.close()


HOSTILE = [
    "' OR '1'='1",
    "%",
    "p_@example.com",
    "p%@example.com",
    "p1@example.com\x00",
    "p1@example.com" + "x" * 10_000,
    "pé@example.com",
    "\U0001f600",
    "",
    None,
]


def test_hostile_values_never_match_and_never_fail(connector: SqlConnector) -> None:
    with connector.session() as session:
        for value in HOSTILE:
            assert session.read("people", ["id"], "email", [value]) == [], value
        assert session.read("people", ["id"], "email", HOSTILE) == []
        assert session.read_any("people", ["id"], {"email": HOSTILE, "nick": HOSTILE}) == []


def test_integers_match_only_integers(connector: SqlConnector) -> None:
    # MySQL compares 'abc' = 0 as true: row 0 exists to catch exactly that.
    with connector.session() as session:
        for value in ["abc", "0abc", "1 OR 1=1", "1e3", 2**70, True, "", " "]:
            assert session.read("people", ["id"], "id", [value]) == [], value
        assert [r["id"] for r in session.read("people", ["id"], "id", ["0", " 7 ", 12.0])] == [0, 7, 12]


def test_updates_are_batched_whether_values_are_shared_or_per_row(
    connector: SqlConnector, statements: list[str]
) -> None:
    shared = [RowChange((i,), {"nick": None}) for i in range(0, 600)]
    per_row = [RowChange((i,), {"nick": f"m{i}", "email": f"q{i}@example.com"}) for i in range(600, 900)]
    with connector.session(write=True) as session:
        assert session.update("people", ["id"], shared + per_row) == 900
    writes = [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
    assert len(writes) == (
        2 if connector.dialect == "postgresql" else 2 + 3
    )  # 600 shared: 2 IN chunks; 300: 3 CASEs
    with connector.session() as session:
        rows = {r["id"]: r for r in session.read("people", ["id", "nick", "email"], "id", [5, 650, 950])}
    assert rows[5]["nick"] is None
    assert (rows[650]["nick"], rows[650]["email"]) == ("m650", "q650@example.com")
    assert rows[950]["nick"] == "n950"  # untouched


def test_deletes_by_single_and_composite_keys(connector: SqlConnector) -> None:
    with connector.session(write=True) as session:
        assert session.delete("pets", ["owner_id", "n"], [(1, 2), (1, 99)]) == 1
        assert session.delete("people", ["id"], [(i,) for i in range(900, 1200)]) == 300
    with connector.session() as session:
        assert [r["name"] for r in session.read("pets", ["name"], "owner_id", [1])] == ["Rex"]
        assert session.read("people", ["id"], "id", [950]) == []


def test_reads_by_whole_composite_keys(connector: SqlConnector, statements: list[str]) -> None:
    with connector.session(write=True) as session:
        # Keys come back from JSON: "1" is owner 1; None, "x" and a bool can match nothing.
        found = session.read_keys(
            "pets",
            ["name"],
            ["owner_id", "n"],
            [(1, 2), ("1", 2), (1, 3), (None, 1), ("x", 1), (True, 1)],
            lock=True,
        )
        assert [(r["owner_id"], r["n"], r["name"]) for r in found] == [(1, 2, "Tom")]
        assert session.read_keys("pets", ["name"], ["owner_id", "n"], []) == []
        with pytest.raises(ConnectorError, match="no column 'legs'"):
            session.read_keys("pets", ["legs"], ["owner_id", "n"], [(1, 1)])
    (sql,) = [s for s in statements if s.startswith("SELECT") and "pets" in s]
    assert f"WHERE ({connector.quote('owner_id')}, {connector.quote('n')}) IN" in sql  # the whole key
    if connector.dialect != "sqlite":
        assert sql.endswith("FOR UPDATE")


def test_a_failed_write_rolls_back_the_whole_session(connector: SqlConnector) -> None:
    with pytest.raises(ConnectorError) as caught, connector.session(write=True) as session:
        session.update("people", ["id"], [RowChange((3,), {"nick": "gone"})])
        session.delete("people", ["id"], [(1,)])  # pets still point at person 1
    assert "p1@example.com" not in caught.value.message
    with connector.session() as session:
        assert session.read("people", ["nick"], "id", [3]) == [{"nick": None}]


def test_hostile_table_and_column_names_are_quoted(connector: SqlConnector, url: str) -> None:
    with connector.session(write=True) as session:
        assert session.read(HOSTILE_TABLE, ["id", HOSTILE_COLUMN], HOSTILE_COLUMN, ["x"]) == [
            {"id": 1, HOSTILE_COLUMN: "x"}
        ]
        session.update(
            HOSTILE_TABLE,
            ["id"],
            [RowChange((1,), {HOSTILE_COLUMN: "%s'; --"}), RowChange((2,), {HOSTILE_COLUMN: "z"})],
        )
        session.delete(HOSTILE_TABLE, ["id"], [(2,)])
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.select(weird)).all() == [(1, "%s'; --")]
        assert conn.execute(sa.select(sa.func.count()).select_from(people)).scalar() == 1200
    engine.dispose()


def test_unknown_tables_and_columns_are_refused(connector: SqlConnector) -> None:
    with connector.session() as session, pytest.raises(ConnectorError, match="no table"):
        session.read("nope", ["id"], "id", [1])
    with connector.session() as session, pytest.raises(ConnectorError, match="no column"):
        session.read("people", ["id", "secret"], "id", [1])


def test_postgresql_specific_types(make_pg_url: Callable[[], str]) -> None:
    url = make_pg_url()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id uuid PRIMARY KEY, doc jsonb, at timestamptz)")
        conn.exec_driver_sql(
            "INSERT INTO t VALUES ('6f1c2b1e-0000-4000-8000-000000000001', '{\"a\": 1}', now())"
        )
    engine.dispose()
    connector = open_connector("db", url)
    key = uuid.UUID("6f1c2b1e-0000-4000-8000-000000000001")
    with connector.session(write=True) as session:
        assert session.read("t", ["id"], "id", ["not-a-uuid", str(key)]) == [{"id": key}]
        session.update("t", ["id"], [RowChange((str(key),), {"doc": {"a": None, "b": "é"}})])
    with connector.session() as session:
        assert session.read("t", ["doc"], "id", [key]) == [{"doc": {"a": None, "b": "é"}}]
    connector.close()


def test_connection_failures_are_connector_errors_without_the_password() -> None:
    connector = open_connector("shop", "postgresql://app:s3cret@127.0.0.1:1/shop")
    with pytest.raises(ConnectorError) as caught:
        connector.test()
    assert "s3cret" not in caught.value.message + (caught.value.hint or "")
    assert "s3cret" not in repr(connector)
    connector.close()


def test_many_threads_read_at_once(make_pg_url: Callable[[], str]) -> None:
    import threading

    url = make_pg_url()
    engine = sa.create_engine(url)
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(people.insert(), [{"id": i, "email": f"p{i}@example.com"} for i in range(50)])
    engine.dispose()
    connector = open_connector("db", url)
    assert isinstance(connector, SqlConnector)
    found: list[int] = []
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(20):
                with connector.session() as session:
                    found.extend(r["id"] for r in session.read("people", ["id"], "id", [(n * 20 + i) % 50]))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert not errors and len(found) == 200
        assert len(connector._held) <= 4  # the rest borrowed from the pool and gave back
    finally:
        connector.close()


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_opens_its_own_connections(make_pg_url: Callable[[], str]) -> None:
    import os

    url = make_pg_url()
    engine = sa.create_engine(url)
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(people.insert(), [{"id": 1, "email": "p1@example.com"}])
    engine.dispose()
    connector = open_connector("db", url)
    assert isinstance(connector, SqlConnector)
    try:
        with connector.session() as session:
            assert session.read("people", ["id"], "id", [1]) == [{"id": 1}]
        pid = os.fork()
        if pid == 0:  # the child: must not touch the parent's held connection
            code = 0
            try:
                with connector.session() as session:
                    code = 0 if session.read("people", ["id"], "id", [1]) == [{"id": 1}] else 3
            except BaseException:
                code = 4
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 0
        with connector.session() as session:  # and the parent's still works
            assert session.read("people", ["id"], "id", [1]) == [{"id": 1}]
    finally:
        connector.close()
