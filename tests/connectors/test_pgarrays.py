"""Array parameters written as text in one pass must reach PostgreSQL exactly as psycopg's own
adaptation would: every hostile string stays one element, NULL stays NULL, integers stay int8."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from pledge.connectors import RowChange, open_connector
from pledge.connectors.pgarrays import bool_array, int_array, text_array

HOSTILE = [
    "",
    " ",
    "NULL",
    "null",
    '"',
    '""',
    "\\",
    '\\"',
    "a,b",
    "{a}",
    "}",
    "'; DROP TABLE x; --",
    "tab\tand\nnewline",
    "  padded  ",
    "é€😀",
    "%s",
    "%(x)s",
]


@pytest.fixture
def pg(make_pg_url: Callable[[], str]) -> Iterator[psycopg.Connection]:
    url = sa.make_url(make_pg_url()).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = psycopg.connect(url, autocommit=True)
    yield conn
    conn.close()


def test_text_arrays_round_trip_hostile_values(pg: psycopg.Connection) -> None:
    values: list[str | None] = [*HOSTILE, None, "after a null"]
    (back,) = pg.execute("SELECT CAST(%s AS text[])", (text_array(values),)).fetchone()  # type: ignore[misc]
    assert back == values
    (plain,) = pg.execute("SELECT CAST(%s AS text[])", (text_array(HOSTILE),)).fetchone()  # type: ignore[misc]
    assert plain == HOSTILE
    assert pg.execute("SELECT CAST(%s AS text[])", (text_array([]),)).fetchone() == ([],)


def test_any_text_survives(pg: psycopg.Connection) -> None:
    @settings(max_examples=80, deadline=None)
    @given(st.lists(st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"))))
    def check(values: list[str]) -> None:
        (back,) = pg.execute("SELECT CAST(%s AS text[])", (text_array(values),)).fetchone()  # type: ignore[misc]
        assert back == values

    check()


@pytest.mark.parametrize(
    ("values", "typed"),
    [([1, -5], "smallint[]"), ([1, 70_000], "integer[]"), ([-40_000, 5], "integer[]"), ([2**40], "bigint[]")],
)
def test_integers_are_typed_as_psycopg_types_them(
    pg: psycopg.Connection, values: list[int], typed: str
) -> None:
    # The planner's choice between index probes and a hashed scan depends on it: keep it.
    own = pg.execute("SELECT pg_typeof(%s)::text", (values,)).fetchone()
    assert pg.execute("SELECT pg_typeof(%s)::text", (int_array(values),)).fetchone() == own == (typed,)
    assert pg.execute("SELECT %s", (int_array(values),)).fetchone() == (values,)


def test_integer_and_boolean_arrays(pg: psycopg.Connection) -> None:
    big = [0, -1, 2**63 - 1, -(2**63), 42]  # bigint: the widest
    row = pg.execute(
        "SELECT %s, pg_typeof(%s)::text, CAST(%s AS boolean[])",
        (int_array(big), int_array(big), bool_array([True, False])),
    ).fetchone()
    assert row == (big, "bigint[]", [True, False])


def test_untyped_text_compares_as_the_column_type(pg: psycopg.Connection) -> None:
    pg.execute("CREATE TABLE t (id int PRIMARY KEY, code varchar(10), label text)")
    pg.execute("INSERT INTO t VALUES (1, 'a,b', 'NULL'), (2, '\"', ''), (3, 'x', 'y')")
    found = pg.execute(
        "SELECT id FROM t WHERE code = ANY(%s) OR label = ANY(%s) ORDER BY id",
        (text_array(["a,b"]), text_array(["", "nothing"])),
    ).fetchall()
    assert found == [(1,), (2,)]
    assert pg.execute("SELECT id FROM t WHERE id = ANY(%s)", (int_array([3, 2**40]),)).fetchall() == [(3,)]


def test_connector_reads_and_writes_hostile_text(make_pg_url: Callable[[], str]) -> None:
    url = make_pg_url()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE notes (id bigint PRIMARY KEY, body text, tag varchar(40))")
        for i, text in enumerate(HOSTILE):
            conn.exec_driver_sql("INSERT INTO notes VALUES (%s, %s, %s)", (i, text, text[:40]))
    engine.dispose()
    connector = open_connector("db", url)
    try:
        with connector.session() as session:
            rows = session.read("notes", ["id", "body"], "body", HOSTILE)
            assert sorted(r["id"] for r in rows) == list(range(len(HOSTILE)))
            assert session.read("notes", ["id"], "body", ["NUL\x00L", "not there"]) == []
        changes = [
            RowChange((i,), {"body": f"{t}!", "tag": None if i % 2 else t}) for i, t in enumerate(HOSTILE)
        ]
        with connector.session(write=True) as session:
            assert session.update("notes", ["id"], changes) == len(HOSTILE)
        with connector.session() as session:
            back = {
                r["id"]: r
                for r in session.read("notes", ["id", "body", "tag"], "id", list(range(len(HOSTILE))))
            }
        assert {i: (r["body"], r["tag"]) for i, r in back.items()} == {
            i: (f"{t}!", None if i % 2 else t) for i, t in enumerate(HOSTILE)
        }
        with connector.session(write=True) as session:
            assert session.delete("notes", ["id"], [(i,) for i in range(len(HOSTILE))]) == len(HOSTILE)
    finally:
        connector.close()
