"""The inner loop of verification: re-hash one aligned range ("chunk") of entries.

Every check here is local to a chunk — an entry's leaf from its own columns, its chain value from
its leaf and its predecessor's *stored* chain value, the chunk's Merkle subtrees from its leaves —
so chunks can be checked in any order, in several processes, and still name the first bad entry
(the smallest failing index). Rows are read through the driver's own cursor and hashed with list
comprehensions: at a million entries per check, Python-level overhead per row is what counts.

On SQLite a chunk is first read in one statement by :mod:`pledge.audit._bulk`, which can only
vouch for a clean chunk; anything else (a failure, or something merely unusual) is read again row
by row here, so what a scan reports never depends on which path read the chunk.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from pledge.audit import _bulk
from pledge.audit.merkle import build_levels, prefix_subtrees

__all__ = ["ChunkResult", "Source", "open_source", "scan_range", "scan_rows"]

ZERO_CHAIN = bytes(32)
_RANK = {"field": 0, "leaf": 1, "chain": 2}
_SELECT = (
    "SELECT seq, recorded_at, kind, subject, payload, leaf, chain FROM audit_entries "
    "WHERE seq >= ? AND seq < ? ORDER BY seq"
)
# kind, subject and time never hold a quote or backslash (see _odd_columns). On SQLite the check
# runs in C over one concatenation per chunk; only when it finds something is the entry located.
_ODD_ANY_SQLITE = (
    "SELECT group_concat(kind || recorded_at || ifnull(subject, ''), '') FROM audit_entries "
    "WHERE seq >= ? AND seq < ?"
)
_ODD_FIRST_SQLITE = (
    "SELECT min(seq) FROM audit_entries WHERE seq >= ? AND seq < ? AND (instr(kind, '\"') "
    "OR instr(kind, '\\') OR instr(recorded_at, '\"') OR instr(recorded_at, '\\') "
    "OR instr(subject, '\"') OR instr(subject, '\\'))"
)


@dataclass(frozen=True, slots=True)
class ChunkResult:
    start: int
    stop: int
    failure: tuple[int, str] | None
    """``(index, code)`` of the chunk's first bad entry; code is gap, order, field, leaf or chain."""
    subtrees: dict[int, list[bytes]]
    """For each requested size ``s`` in ``(start, stop]``: perfect subtrees over ``[start, s)``."""


class Source:
    """Where a scan reads rows: a driver connection, its placeholder, and whether text comes back as
    UTF-8 bytes (SQLite can hand them over undecoded, which saves a decode and an encode per row)."""

    def __init__(self, dbapi: Any, paramstyle: str, *, binary: bool = False, bulk: bool = False) -> None:
        self.dbapi = dbapi
        self.ph = "?" if paramstyle in ("qmark", "numeric") else "%s"
        self.binary = binary
        self.bulk = bulk
        """Whether chunks are tried through :mod:`pledge.audit._bulk` first (SQLite only)."""

    def query(self, sql: str, params: tuple[int, ...]) -> list[tuple[Any, ...]]:
        cursor = self.dbapi.cursor()
        try:
            cursor.execute(sql.replace("?", self.ph), params)
            return list(cursor.fetchall())
        finally:
            cursor.close()


@contextmanager
def open_source(url: str) -> Iterator[Source]:
    """A connection of its own for scanning ``url`` (read-only where the database allows)."""
    import sqlalchemy as sa

    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        conn = sqlite3.connect(str(parsed.database), timeout=30, check_same_thread=False)
        try:
            conn.text_factory = bytes
            conn.execute("PRAGMA query_only = ON")
            yield Source(conn, "qmark", binary=True, bulk=_bulk.supports(conn))
        finally:
            conn.close()
        return
    engine = sa.create_engine(parsed, poolclass=sa.pool.NullPool)
    raw = engine.raw_connection()
    try:
        yield Source(raw, engine.dialect.paramstyle)
    finally:
        raw.close()
        engine.dispose()


def scan_range(source: Source, start: int, stop: int, sizes: tuple[int, ...]) -> ChunkResult:
    prev: bytes | None = ZERO_CHAIN
    if start > 0:
        found = source.query("SELECT chain FROM audit_entries WHERE seq = ?", (start - 1,))
        prev = bytes(found[0][0]) if found and isinstance(found[0][0], bytes) else None
    if source.bulk:
        try:
            bulk = source.query(_bulk.CHUNK_SQL, (start, start, stop))[0]
        except sqlite3.DataError:  # longer than SQLite lets one value be: read it row by row
            bulk = None
        leaves = None if bulk is None else _bulk.leaves_and_check(bulk, start, stop, prev)
        if leaves is not None:
            return _clean(leaves, start, stop, sizes)
    rows = source.query(_SELECT, (start, stop))
    odd = None
    if source.binary:
        joined = source.query(_ODD_ANY_SQLITE, (start, stop))[0][0] or b""
        if not isinstance(joined, bytes) or b'"' in joined or b"\\" in joined:
            found = source.query(_ODD_FIRST_SQLITE, (start, stop))[0][0]
            odd = start if found is None else int(found)
    return scan_rows(rows, start, stop, prev, sizes, binary=source.binary, odd=odd)


def scan_rows(
    rows: list[tuple[Any, ...]],
    start: int,
    stop: int,
    prev_chain: bytes | None,
    sizes: tuple[int, ...],
    *,
    binary: bool = False,
    odd: int | None = None,
) -> ChunkResult:
    """Check rows ``(seq, recorded_at, kind, subject, payload, leaf, chain)`` meant to be exactly the
    entries ``start..stop-1``; ``prev_chain`` is entry ``start-1``'s stored chain (None if missing).
    ``binary``: text columns arrive as UTF-8 bytes. ``odd``: the first entry the database already
    found with odd columns (None: check them here)."""
    seqs = [row[0] for row in rows]
    if seqs != list(range(start, stop)):
        i = next((i for i, seq in enumerate(seqs) if seq != start + i), len(seqs))
        code = "gap" if i >= len(seqs) or seqs[i] > start + i else "order"
        return ChunkResult(start, stop, (start + i, code), {})
    failures: list[tuple[int, str]] = [] if odd is None else [(odd, "field")]
    try:
        if not binary:
            failures.extend(_odd_columns(rows, start))
        leaves = _leaves_binary(rows) if binary else _leaves_text(rows)
    except (TypeError, AttributeError, UnicodeError, ValueError):
        # A column holds the wrong type (NULL leaf, number for text...): edited behind the log's back.
        i = next((i for i, row in enumerate(rows) if not _well_typed(row, binary)), 0)
        return ChunkResult(start, stop, (start + i, "field"), {})
    stored = [row[5] for row in rows]
    if leaves != stored:
        failures.append((start + _first_difference(leaves, stored), "leaf"))
    sha = hashlib.sha256
    chains = [row[6] for row in rows]
    if prev_chain is None:  # the predecessor is missing: the gap is reported by its own chunk
        prevs, first = chains[:-1], 1
    else:
        prevs, first = [prev_chain, *chains[:-1]], 0
    try:
        expected = [sha(b"\x02" + p + leaf).digest() for p, leaf in zip(prevs, leaves[first:], strict=True)]
    except TypeError:
        i = next((i for i, row in enumerate(rows) if not _well_typed(row, binary)), 0)
        return ChunkResult(start, stop, (start + i, "field"), {})
    if expected != chains[first:]:
        failures.append((start + first + _first_difference(expected, chains[first:]), "chain"))
    if failures:
        # At one index, the most specific finding wins: an edited column explains a wrong leaf,
        # and a wrong leaf explains a wrong chain value.
        return ChunkResult(start, stop, min(failures, key=lambda f: (f[0], _RANK[f[1]])), {})
    return _clean(leaves, start, stop, sizes)


def _clean(leaves: list[bytes], start: int, stop: int, sizes: tuple[int, ...]) -> ChunkResult:
    levels = build_levels(leaves)
    subtrees = {s: prefix_subtrees(levels, s - start) for s in sizes if start < s <= stop}
    return ChunkResult(start, stop, None, subtrees)


# The leaf data rebuilt exactly as entry.leaf_data writes it, inlined (one call less per row).
_LEAF_BYTES = b'\x00{"index":%d,"kind":"%s","payload":%s,"subject":%s,"time":"%s"}'


def _leaves_binary(rows: list[tuple[Any, ...]]) -> list[bytes]:
    sha, fmt = hashlib.sha256, _LEAF_BYTES
    return [
        sha(fmt % (q, k, p, b"null" if s is None else b'"' + s + b'"', t)).digest()
        for q, t, k, s, p, _leaf, _chain in rows
    ]


def _leaves_text(rows: list[tuple[Any, ...]]) -> list[bytes]:
    sha = hashlib.sha256
    return [
        sha(
            b"\x00"
            + (
                f'{{"index":{q},"kind":"{k}","payload":{p},"subject":'
                f'{"null" if s is None else chr(34) + s + chr(34)},"time":"{t}"}}'
            ).encode()
        ).digest()
        for q, t, k, s, p, _leaf, _chain in rows
    ]


def _odd_columns(rows: list[tuple[Any, ...]], start: int) -> list[tuple[int, str]]:
    """kind, subject and time hold no quote or backslash, which makes the leaf text split back into
    columns one way only; an edit that shifts text between columns shows up here."""
    for column in (2, 3, 1):
        text = "\x00".join([row[column] or "" for row in rows])
        if '"' in text or "\\" in text:
            for i, row in enumerate(rows):
                value = row[column] or ""
                if '"' in value or "\\" in value:
                    return [(start + i, "field")]
    return []


def _well_typed(row: tuple[Any, ...], binary: bool) -> bool:
    _seq, time, kind, subject, payload, leaf, chain = row
    text = bytes if binary else str
    texts = all(isinstance(v, text) for v in (time, kind, payload)) and (
        subject is None or isinstance(subject, text)
    )
    return texts and isinstance(leaf, bytes) and isinstance(chain, bytes)


def _first_difference(a: list[bytes], b: list[bytes]) -> int:
    return next(i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)


# --- worker processes ---------------------------------------------------------------------------

_worker: dict[str, Any] = {}


def init_worker(url: str) -> None:
    # One connection per worker process, open for the process's life (it ends with the pool).
    stack = ExitStack()
    _worker["source"] = stack.enter_context(open_source(url))
    _worker["stack"] = stack


def worker_scan(task: tuple[int, int, tuple[int, ...]]) -> ChunkResult:
    start, stop, sizes = task
    return scan_range(_worker["source"], start, stop, sizes)
