"""The SQLite fast path (``_bulk``) never changes what verification reports.

Its claim: it only ever passes a chunk the row-by-row scan would pass, with the same leaf hashes;
anything else goes back to the row-by-row scan. The property test tampers with a small log in
every way an attacker with write access could (values of any storage class, newlines, quotes,
backslashes, NULLs, NUL bytes, the separators the fast path relies on, bytes moved between
neighbours, rows deleted, swapped, copied, hashes recomputed afterwards) and checks that a scan
with the fast path reports exactly what a scan without it reports: the first bad entry and its
code, or the same Merkle subtrees.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from pledge.audit import AuditLog, _bulk, _scan, verify
from tests.audit.conftest import fill, sql

SIZE = 48
EXAMPLES = int(os.environ.get("PLEDGE_BULK_EXAMPLES", "250"))  # a few seconds; raise it to search longer
COLUMNS = ("recorded_at", "kind", "subject", "payload", "leaf", "chain")
# The table without declared types: any storage class fits in any column, as after a raw edit of
# the file (the migrated schema turns numbers into text on the way in).
TYPELESS = (
    "CREATE TABLE audit_entries (seq INTEGER PRIMARY KEY, recorded_at, kind, subject, payload, leaf, chain)"
)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, sqlite3.Connection]]:
    """A clean log of SIZE entries, as the migrated schema and as the typeless one, in memory."""
    from pledge.audit.signing import HeadSigner
    from pledge.storage import Database

    path = tmp_path_factory.mktemp("bulk") / "pledge.db"
    db = Database(f"sqlite:///{path}")
    db.migrate()
    log = AuditLog(db, signer=HeadSigner.generate(), sign_every=None, flush_interval=None)
    fill(log, SIZE)
    log.close()
    db.dispose()
    source = sqlite3.connect(path)
    rows = source.execute(f"SELECT seq, {', '.join(COLUMNS)} FROM audit_entries ORDER BY seq").fetchall()
    indexes = [
        r[0] for r in source.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND sql NOT NULL")
    ]
    typed = sqlite3.connect(":memory:")
    source.backup(typed)  # the migrated schema, indexes and all
    source.close()
    typeless = sqlite3.connect(":memory:")
    typeless.execute(TYPELESS)
    for index in indexes:
        if " audit_entries " in index:
            typeless.execute(index)
    typeless.executemany("INSERT INTO audit_entries VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    typeless.commit()
    made = {"typed": typed, "typeless": typeless}
    yield made
    for conn in made.values():
        conn.close()


def copy_of(pristine: dict[str, sqlite3.Connection], schema: str) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    pristine[schema].backup(conn)
    conn.text_factory = bytes  # as _scan.open_source reads SQLite
    return conn


def scan_both(conn: sqlite3.Connection, size: int, chunk: int) -> tuple[int, int]:
    """Scan ``[0, size)`` in chunks with and without the fast path; they must agree exactly.
    Returns (chunks, chunks the fast path vouched for)."""
    fast = _scan.Source(conn, "qmark", binary=True, bulk=True)
    slow = _scan.Source(conn, "qmark", binary=True, bulk=False)
    assert _bulk.supports(conn)
    vouched = 0
    for start in range(0, size, chunk):
        stop = min(start + chunk, size)
        sizes = tuple(sorted({stop, start + (stop - start + 1) // 2}))
        expected = _scan.scan_range(slow, start, stop, sizes)
        assert _scan.scan_range(fast, start, stop, sizes) == expected, (start, stop)
        leaves = _bulk.leaves_and_check(*bulk_inputs(conn, start, stop))
        if leaves is not None:  # the claim itself: a chunk vouched for is clean, with these leaves
            vouched += 1
            assert expected.failure is None
            assert _scan._clean(leaves, start, stop, sizes) == expected
    return -(-size // chunk), vouched


def bulk_inputs(conn: sqlite3.Connection, start: int, stop: int) -> tuple[Any, int, int, bytes | None]:
    row = conn.execute(_bulk.CHUNK_SQL, (start, start, stop)).fetchone()
    prev: bytes | None = bytes(32)
    if start:
        found = conn.execute("SELECT chain FROM audit_entries WHERE seq = ?", (start - 1,)).fetchone()
        prev = found[0] if found and isinstance(found[0], bytes) else None
    return row, start, stop, prev


def rehash(conn: sqlite3.Connection, start: int, *, leaf: bool = True, chain: bool = True) -> None:
    """What a careful attacker does after an edit: recompute leaves and chain values from ``start`` on,
    over the columns as SQLite renders them as text (digits for a number), as the fast path sees them."""
    rows = conn.execute(
        "SELECT seq, CAST(recorded_at AS TEXT), CAST(kind AS TEXT), CAST(subject AS TEXT), "
        "CAST(payload AS TEXT), leaf, chain FROM audit_entries ORDER BY seq"
    ).fetchall()
    prev = bytes(32)
    for seq, time, kind, subject, payload, stored_leaf, stored_chain in rows:
        if seq >= start and None not in (time, kind, payload):
            if leaf:
                subj = b"null" if subject is None else b'"' + subject + b'"'
                data = _scan._LEAF_BYTES % (seq, kind, payload, subj, time)
                stored_leaf = hashlib.sha256(data).digest()
            if chain and isinstance(prev, bytes) and isinstance(stored_leaf, bytes):
                stored_chain = hashlib.sha256(b"\x02" + prev + stored_leaf).digest()
            conn.execute(
                "UPDATE audit_entries SET leaf = ?, chain = ? WHERE seq = ?", (stored_leaf, stored_chain, seq)
            )
        prev = stored_chain


# --- what an attacker writes -----------------------------------------------------------------------

SPECIAL = [*'ab.:_-09{}[]"\\\n\x00\x01\x1f\x18 é,', _bulk._HASH_SEP.decode()]
strings = st.lists(st.sampled_from(SPECIAL), max_size=8).map("".join)
NASTY = ["", "null", "\x01", "\n", '"', "\\", "{}", "{", "1.5", "Inf", "consent.grant", "s_x", "\x00"]
values = st.one_of(
    st.sampled_from(NASTY),
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.binary(max_size=40),
    strings,
    st.binary(min_size=31, max_size=33),
)
indices = st.integers(min_value=0, max_value=SIZE - 1)
edits = st.one_of(
    st.tuples(st.just("set"), indices, st.sampled_from(COLUMNS), values),
    st.tuples(
        st.just("append"),
        indices,
        st.sampled_from(COLUMNS),
        strings,
    ),
    st.tuples(st.just("as"), indices, st.sampled_from(COLUMNS), st.sampled_from(["BLOB", "TEXT"])),
    st.tuples(st.just("truncate"), indices, st.sampled_from(COLUMNS)),
    st.tuples(st.just("shift"), st.integers(0, SIZE - 2), st.sampled_from(COLUMNS)),
    st.tuples(st.just("swap column"), st.integers(0, SIZE - 2), st.sampled_from(COLUMNS)),
    st.tuples(st.just("delete"), indices),
    st.tuples(st.just("swap rows"), indices, indices),
    st.tuples(st.just("copy row"), indices, indices),
    st.tuples(st.just("rehash"), indices, st.booleans(), st.booleans()),
    # The edits a careful attacker makes: one value changed and every hash from there recomputed.
    st.tuples(st.just("set and rehash"), indices, st.sampled_from(COLUMNS[:4]), values),
    st.tuples(st.just("append and rehash"), indices, st.sampled_from(COLUMNS[:4]), strings),
)


def apply(conn: sqlite3.Connection, edit: tuple[Any, ...]) -> None:
    op, i = edit[0], edit[1]
    column = edit[2] if len(edit) > 2 and edit[2] in COLUMNS else None
    where = " WHERE seq = ?"
    if op == "set":
        conn.execute(f"UPDATE audit_entries SET {column} = ?" + where, (edit[3], i))
    elif op == "append":
        conn.execute(f"UPDATE audit_entries SET {column} = {column} || ?" + where, (edit[3], i))
    elif op == "as":
        conn.execute(f"UPDATE audit_entries SET {column} = CAST({column} AS {edit[3]})" + where, (i,))
    elif op == "truncate":
        conn.execute(
            f"UPDATE audit_entries SET {column} = substr({column}, 1, length({column}) - 1)" + where, (i,)
        )
    elif op == "shift":  # the last byte of entry i's value moves to the front of entry i+1's
        conn.execute(
            f"UPDATE audit_entries SET {column} = CAST(substr(CAST((SELECT {column} FROM audit_entries "
            f"WHERE seq = ?1) AS BLOB), -1) AS BLOB) || CAST({column} AS BLOB) WHERE seq = ?1 + 1",
            (i,),
        )
        conn.execute(
            f"UPDATE audit_entries SET {column} = substr(CAST({column} AS BLOB), 1, "
            f"length(CAST({column} AS BLOB)) - 1)" + where,
            (i,),
        )
    elif op == "swap column":
        a, b = (
            conn.execute(f"SELECT {column} FROM audit_entries" + where, (k,)).fetchone() for k in (i, i + 1)
        )
        if a and b:
            conn.execute(f"UPDATE audit_entries SET {column} = ?" + where, (b[0], i))
            conn.execute(f"UPDATE audit_entries SET {column} = ?" + where, (a[0], i + 1))
    elif op == "delete":
        conn.execute("DELETE FROM audit_entries" + where, (i,))
    elif op == "swap rows" and i != edit[2]:
        j = edit[2]
        conn.execute("UPDATE audit_entries SET seq = -1" + where, (i,))
        conn.execute("UPDATE audit_entries SET seq = ?" + where, (i, j))
        conn.execute("UPDATE audit_entries SET seq = ? WHERE seq = -1", (j,))
    elif op == "copy row":  # entries from i on move up one; a copy of entry j goes in at i
        j = edit[2]
        copy = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM audit_entries" + where, (j,)).fetchone()
        conn.execute("UPDATE audit_entries SET seq = -seq - 1 WHERE seq >= ?", (i,))
        conn.execute("UPDATE audit_entries SET seq = -seq WHERE seq < 0")
        if copy:
            conn.execute("INSERT INTO audit_entries VALUES (?, ?, ?, ?, ?, ?, ?)", (i, *copy))
    elif op == "rehash":
        rehash(conn, i, leaf=edit[2], chain=edit[3])
    elif op in ("set and rehash", "append and rehash"):
        value = f"{column} || ?" if op.startswith("append") else "?"
        conn.execute(f"UPDATE audit_entries SET {column} = {value}" + where, (edit[3], i))
        rehash(conn, i)


@settings(max_examples=EXAMPLES, deadline=None)
@given(schema=st.sampled_from(["typed", "typeless"]), tampering=st.lists(edits, min_size=1, max_size=4))
def test_the_fast_path_reports_exactly_what_the_row_by_row_scan_reports(
    pristine: dict[str, sqlite3.Connection], schema: str, tampering: list[tuple[Any, ...]]
) -> None:
    conn = copy_of(pristine, schema)
    for edit in tampering:
        try:
            apply(conn, edit)
        except sqlite3.IntegrityError:  # NULL into a NOT NULL column of the migrated schema
            event("an edit the schema refused")
    count = conn.execute("SELECT count(*) FROM audit_entries").fetchone()[0]
    for size, chunk in ((SIZE, 16), (SIZE, 64), (count, 8)):
        if size:
            chunks, vouched = scan_both(conn, size, chunk)
            event(
                f"fast path vouched for {'all' if vouched == chunks else 'some' if vouched else 'no'} chunks"
            )
    conn.close()


@pytest.mark.parametrize("schema", ["typed", "typeless"])
def test_clean_chunks_and_harmless_rewrites_stay_on_the_fast_path(
    pristine: dict[str, sqlite3.Connection], schema: str
) -> None:
    # The property test above would pass if the fast path never vouched for anything: check it does,
    # including for the rewrites that leave every hash valid.
    conn = copy_of(pristine, schema)
    assert scan_both(conn, SIZE, 16) == (3, 3)
    for column in COLUMNS:  # the same bytes as a BLOB read the same on both paths
        conn.execute(f"UPDATE audit_entries SET {column} = CAST({column} AS BLOB) WHERE seq % 3 = 0")
    assert scan_both(conn, SIZE, 16) == (3, 3)
    conn.execute('UPDATE audit_entries SET payload = \'{"n":-1,"note":"a\\nb \\\\ \\"q\\""}\' WHERE seq = 20')
    rehash(conn, 20)  # an edit with every later hash recomputed: only a signed head can tell
    assert scan_both(conn, SIZE, 16) == (3, 3)


def scan_fast(conn: sqlite3.Connection, start: int, stop: int) -> _scan.ChunkResult:
    fast = _scan.Source(conn, "qmark", binary=True, bulk=True)
    result = _scan.scan_range(fast, start, stop, (stop,))
    assert result == _scan.scan_range(_scan.Source(conn, "qmark", binary=True), start, stop, (stop,))
    return result


def merge(column: str, glue: str) -> str:
    return f"{column} = {column} || {glue} || (SELECT {column} FROM audit_entries WHERE seq = 22)"


@pytest.mark.parametrize(
    ("statements", "rehash_from", "failure"),
    [
        # A number where text belongs reads as digits in group_concat, but is not text row by row.
        (["UPDATE audit_entries SET kind = 12345 WHERE seq = 9"], 9, (9, "field")),
        (["UPDATE audit_entries SET subject = 12345 WHERE seq = 9"], 9, (9, "field")),
        (["UPDATE audit_entries SET payload = 1.5 WHERE seq = 9"], 9, (9, "field")),
        (
            [  # the total length of the times kept by lengthening the next one
                "UPDATE audit_entries SET recorded_at = 20261123 WHERE seq = 9",
                "UPDATE audit_entries SET recorded_at = recorded_at || '0123456789012345678' WHERE seq = 10",
            ],
            9,
            (9, "field"),
        ),
        # A subject reading "\x01" must not be taken for a missing one (entry 10 has none).
        (["UPDATE audit_entries SET subject = char(1) WHERE seq = 10"], None, (10, "leaf")),
        (["UPDATE audit_entries SET subject = char(1) WHERE seq = 10"], 10, None),
        # Quotes and backslashes, newlines, an empty kind.
        (["UPDATE audit_entries SET kind = kind || '\"' WHERE seq = 13"], 13, (13, "field")),
        (["UPDATE audit_entries SET subject = subject || '\\' WHERE seq = 13"], 13, (13, "field")),
        (["UPDATE audit_entries SET kind = kind || char(10) || 'x' WHERE seq = 13"], 13, None),
        (["UPDATE audit_entries SET kind = '' WHERE seq = 14"], 14, None),
        (
            [  # the last byte of one hash moved into the next: their concatenation is unchanged
                "UPDATE audit_entries SET leaf = substr((SELECT leaf FROM audit_entries WHERE seq = 12), -1) "
                "|| leaf WHERE seq = 13",
                "UPDATE audit_entries SET leaf = substr(leaf, 1, 31) WHERE seq = 12",
            ],
            None,
            (12, "leaf"),
        ),
        (
            [  # entry 22 removed and its columns folded into entry 21's, separators and all
                "UPDATE audit_entries SET "
                + ", ".join(
                    [
                        *(merge(c, "char(10)") for c in ("kind", "payload", "subject", "recorded_at")),
                        *(merge(c, "X'1f1e1d1c1b1a1918'") for c in ("leaf", "chain")),
                    ]
                )
                + " WHERE seq = 21",
                "DELETE FROM audit_entries WHERE seq = 22",
                # ... and one more "\x01" subject where a NULL was, for the row now missing
                "UPDATE audit_entries SET subject = char(1) WHERE seq = 20",
            ],
            None,
            (22, "gap"),
        ),
    ],
)
def test_edits_the_fast_path_must_not_read_as_clean(
    pristine: dict[str, sqlite3.Connection],
    statements: list[str],
    rehash_from: int | None,
    failure: tuple[int, str] | None,
) -> None:
    conn = copy_of(pristine, "typeless")
    for statement in statements:
        conn.execute(statement)
    if rehash_from is not None:
        rehash(conn, rehash_from)  # every hash recomputed over the text the fast path would see
    assert scan_fast(conn, 0, SIZE).failure == failure
    assert _bulk.leaves_and_check(*bulk_inputs(conn, 0, SIZE)) is None


def test_a_separator_inside_a_hash_cannot_move_a_boundary(
    pristine: dict[str, sqlite3.Connection], monkeypatch: pytest.MonkeyPatch
) -> None:
    # With a one-byte separator that real hashes contain, bytes can move between two stored hashes
    # across it and leave the joined string unchanged: counting separators is what catches that.
    conn = copy_of(pristine, "typed")
    leaves = [row[0] for row in conn.execute("SELECT leaf FROM audit_entries ORDER BY seq")]
    a, p = next(
        (a, p)
        for a, leaf in enumerate(leaves[:-1])
        for p in range(1, 31)
        if chr(leaf[p]).isalnum() and leaf[p] < 128
    )
    sep = leaves[a][p : p + 1]
    monkeypatch.setattr(_bulk, "CHUNK_SQL", _bulk.CHUNK_SQL.replace(_bulk._HASH_SEP.decode(), sep.decode()))
    monkeypatch.setattr(_bulk, "_HASH_SEP", sep)
    conn.execute("UPDATE audit_entries SET leaf = ? WHERE seq = ?", (leaves[a][:p], a))
    conn.execute(
        "UPDATE audit_entries SET leaf = ? WHERE seq = ?", (leaves[a][p + 1 :] + sep + leaves[a + 1], a + 1)
    )
    assert scan_fast(conn, 0, SIZE).failure == (a, "leaf")
    assert _bulk.leaves_and_check(*bulk_inputs(conn, 0, SIZE)) is None


def test_a_hash_holding_the_separator_goes_back_to_the_row_by_row_scan(
    pristine: dict[str, sqlite3.Connection],
) -> None:
    conn = copy_of(pristine, "typed")
    stored = conn.execute("SELECT leaf FROM audit_entries WHERE seq = 5").fetchone()[0]
    conn.execute("UPDATE audit_entries SET leaf = ? WHERE seq = 5", (stored[:24] + _bulk._HASH_SEP,))
    assert _bulk.leaves_and_check(*bulk_inputs(conn, 0, SIZE)) is None
    assert scan_fast(conn, 0, SIZE).failure == (5, "leaf")


def test_a_chunk_too_long_for_one_sqlite_value_is_read_row_by_row(
    pristine: dict[str, sqlite3.Connection],
) -> None:
    conn = copy_of(pristine, "typed")
    conn.execute(
        "UPDATE audit_entries SET payload = json_object('pad', printf('%.5000c', 'x')) WHERE seq = 7"
    )
    rehash(conn, 7)
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 6000)  # each value fits, the chunk's payloads do not
    with pytest.raises(sqlite3.DataError):
        conn.execute(_bulk.CHUNK_SQL, (0, 0, SIZE)).fetchone()
    assert scan_fast(conn, 0, SIZE).failure is None
    conn.execute("UPDATE audit_entries SET payload = '{}' WHERE seq = 30")
    assert scan_fast(conn, 0, SIZE).failure == (30, "leaf")


@pytest.mark.parametrize(
    ("schema", "supported"),
    [
        (TYPELESS, True),
        ("CREATE TABLE audit_entries (seq INTEGER, kind TEXT, PRIMARY KEY (seq))", True),
        # seq not the rowid: an integer column like any other, which could hold text.
        ("CREATE TABLE audit_entries (seq BIGINT PRIMARY KEY, kind TEXT)", False),
        ("CREATE TABLE audit_entries (seq INTEGER PRIMARY KEY DESC, kind TEXT)", False),
        ("CREATE TABLE audit_entries (seq INTEGER PRIMARY KEY, kind TEXT) WITHOUT ROWID", False),
        ("CREATE TABLE audit_entries (seq INTEGER, kind TEXT)", False),
        ("CREATE VIEW audit_entries AS SELECT 1 AS seq", False),
        ("CREATE TABLE other (seq INTEGER PRIMARY KEY)", False),
    ],
)
def test_the_fast_path_is_used_only_where_its_reasoning_holds(schema: str, supported: bool) -> None:
    conn = sqlite3.connect(":memory:")
    conn.text_factory = bytes
    conn.execute(schema)
    assert _bulk.supports(conn) is supported
    conn.close()


def test_not_on_a_utf16_database(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "utf16.db")
    conn.execute("PRAGMA encoding = 'UTF-16le'")
    conn.execute(TYPELESS)
    assert not _bulk.supports(conn)
    conn.close()


# --- through verify() ------------------------------------------------------------------------------


@pytest.fixture
def log(sqlite_log: AuditLog) -> AuditLog:
    fill(sqlite_log, 200)
    sqlite_log.sign_head()
    return sqlite_log


def reports(log: AuditLog, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    key = log.signer.public_key  # type: ignore[union-attr]
    fast = verify(log.db, key, workers=1, chunk_size=64)
    with monkeypatch.context() as patched:
        patched.setattr(_bulk, "supports", lambda conn: False)
        slow = verify(log.db, key, workers=1, chunk_size=64)
    return fast, slow


def test_a_clean_log_is_verified_without_the_row_by_row_scan(
    log: AuditLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unexpected(*args: object, **kwargs: object) -> None:
        raise AssertionError("a clean chunk was read row by row")

    monkeypatch.setattr(_scan, "scan_rows", unexpected)
    report = verify(log.db, log.signer.public_key, workers=1, chunk_size=64)  # type: ignore[union-attr]
    assert report.ok and report.root == log.current_root()[1]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_entries SET payload = '{\"n\":-1}' WHERE seq = 70",
        "UPDATE audit_entries SET kind = kind || '\"' WHERE seq = 3",
        "UPDATE audit_entries SET subject = NULL WHERE seq = 131",
        "UPDATE audit_entries SET subject = 's_' || char(10) WHERE seq = 64",
        "UPDATE audit_entries SET chain = zeroblob(32) WHERE seq = 127",
        "UPDATE audit_entries SET leaf = CAST(leaf AS TEXT) WHERE seq = 128",
        "UPDATE audit_entries SET recorded_at = CAST(recorded_at AS BLOB) WHERE seq = 129",
        "DELETE FROM audit_entries WHERE seq = 64",
        "UPDATE audit_entries SET seq = 1000 WHERE seq = 199",
    ],
)
def test_verify_reports_the_same_with_and_without_the_fast_path(
    log: AuditLog, monkeypatch: pytest.MonkeyPatch, statement: str
) -> None:
    sql(log, statement)
    fast, slow = reports(log, monkeypatch)
    assert fast.findings == slow.findings and fast.root == slow.root and fast.ok == slow.ok


def test_worker_processes_take_the_fast_path_too(log: AuditLog, monkeypatch: pytest.MonkeyPatch) -> None:
    sql(log, "UPDATE audit_entries SET kind = 'consent.forged' WHERE seq = 150")
    key = log.signer.public_key  # type: ignore[union-attr]
    report = verify(log.db, key, workers=2, chunk_size=64)
    assert report.first is not None and (report.first.reason, report.first.index) == ("tampered", 150)
    assert verify(log.db, key, workers=1, chunk_size=64).findings == report.findings
