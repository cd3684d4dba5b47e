"""Verification's fast path on SQLite: read a chunk as a few long values, not one row at a time.

Python's ``sqlite3`` module takes SQLite's connection mutex around every column of every row and
builds a tuple per row. Here one statement returns each column of a chunk as one ``group_concat``
value, ``bytes.split`` cuts the text columns apart in C, and the stored hashes are compared as one
string each. (That saves about a sixth of verification's CPU time: the three SHA-256 calls per
entry — leaf, chain value, Merkle node — and SQLite's own work per row are most of what is left.)

This path only ever says "this chunk is clean". Whenever anything is unusual — a row missing, a
NULL, a number where text belongs, a quote or backslash where the log never writes one, a leaf or
chain value that does not match — :func:`leaves_and_check` returns None and the caller re-reads
the chunk row by row (``_scan.scan_rows``), which names the first bad entry exactly as before. So
what it must get right is that it never passes a chunk ``scan_rows`` would fail, and that when it
passes, its leaf hashes are the ones ``scan_rows`` would compute. Why it does:

- **The right rows, in order.** :func:`supports` admits a database only if ``seq`` is the table's
  rowid (an integer, unique, never NULL) and text is UTF-8 (``group_concat`` then hands over the
  very bytes the row-by-row read sees). All aggregates of one statement step through the same rows
  in the same order, and ``group_concat(seq - start)`` must read exactly ``0,1,...,n-1``: so the
  ``j``-th value of every other column belongs to entry ``start+j``, whatever order SQLite chose.
- **One piece per row.** ``group_concat`` skips NULLs, so every column is wrapped in ``ifnull``
  with a value the checks see: ``\\x01`` for text (no kind, time or payload the checks below accept;
  for subjects see below), an empty string for hashes. With no row dropped, ``n`` text values
  joined by newlines split into ``n`` pieces only if none holds a newline, and then each piece is
  its row's value. Hashes are joined by :data:`_HASH_SEP`, eight distinct bytes (so no two
  occurrences can overlap): if the joined stored values hold it exactly ``n-1`` times and equal the
  expected 32-byte hashes joined the same way, every stored value equals its expected hash — an
  empty piece, a number's digits, a value shifted into its neighbour or one holding the separator
  cannot. (An honest hash holds the separator by a 2^-59 chance, which costs a fallback.)
- **Text, not numbers.** A number (possible after a raw edit of the file, whatever the column's
  type) would be turned into digits here but fail the row-by-row check. Every kind must start with
  a lower-case letter, every time be 27 bytes, every payload start with ``{``: no number looks
  like that (nor does anything else the log never writes: stricter only means a fallback).
  Subjects can be digits, so ``min(subject)``, which is a number if any subject is one, tells.
- **Subjects.** ``count(subject)`` says how many rows are not NULL; the ``\\x01`` count must match
  the NULL rows exactly, so a ``\\x01`` piece is a NULL row, written ``null``, and every other
  subject is wrapped in quotes — all by ``bytes.replace``.
- **No quote or backslash** in kind, time or subject (``_scan._odd_columns``' rule: the leaf text
  splits back into columns one way only).
- **Same hashes.** The leaf data is formatted exactly as ``_scan._leaves_binary`` formats it. Chain
  values are recomputed from the previous *computed* value; when every one equals the stored one,
  that is the same as recomputing each from the previous *stored* value, as row by row.
"""

from __future__ import annotations

import functools
import hashlib
import sqlite3
from operator import itemgetter
from typing import Any

__all__ = ["CHUNK_SQL", "leaves_and_check", "supports"]

_NULL = b"\x01"
_HASH_SEP = b"\x1f\x1e\x1d\x1c\x1b\x1a\x19\x18"
_TIME_BYTES = len("2026-11-23T13:39:08.251698Z")
_first_byte = itemgetter(0)

# Separators and sentinels are SQL literals: written as char(10), SQLite evaluates them per row.
CHUNK_SQL = (
    "SELECT count(subject), min(subject), group_concat(seq - ?), "
    "group_concat(ifnull(kind, '\x01'), '\n'), "
    "group_concat(ifnull(payload, '\x01'), '\n'), "
    "group_concat(ifnull(subject, '\x01'), '\n'), "
    "group_concat(ifnull(recorded_at, '\x01'), '\n'), "
    "group_concat(ifnull(leaf, ''), '\x1f\x1e\x1d\x1c\x1b\x1a\x19\x18'), "
    "group_concat(ifnull(chain, ''), '\x1f\x1e\x1d\x1c\x1b\x1a\x19\x18') "
    "FROM audit_entries WHERE seq >= ? AND seq < ?"
)
"""One row for the chunk ``start..stop-1``; parameters ``(start, start, stop)``. The hashes'
separator is :data:`_HASH_SEP`."""

_LEAF = b'\x00{"index":%d,"kind":"%s","payload":%s,"subject":%s,"time":"%s"}'  # as _scan._LEAF_BYTES


def supports(conn: sqlite3.Connection) -> bool:
    """Whether the fast path's reasoning holds for ``conn``'s audit table: ``seq`` is the rowid
    (declared ``INTEGER PRIMARY KEY``: no separate primary-key index) and text is stored as UTF-8."""
    try:
        encoding = conn.execute("PRAGMA encoding").fetchone()[0]
        columns = conn.execute("SELECT name, type, pk FROM pragma_table_info('audit_entries')").fetchall()
        pk_indexes = conn.execute(
            "SELECT count(*) FROM pragma_index_list('audit_entries') WHERE origin = 'pk'"
        ).fetchone()[0]
    except sqlite3.Error:
        return False
    keys = [(_text(name), _text(kind).upper()) for name, kind, pk in columns if pk]
    return _text(encoding) == "UTF-8" and keys == [("seq", "INTEGER")] and pk_indexes == 0


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@functools.lru_cache(maxsize=4)
def _offsets(n: int) -> bytes:
    """What ``group_concat(seq - start)`` reads when a chunk holds entries ``start..start+n-1`` in
    order: the same for every full chunk, so built once."""
    return ",".join(map(str, range(n))).encode()


def leaves_and_check(
    row: tuple[Any, ...], start: int, stop: int, prev_chain: bytes | None
) -> list[bytes] | None:
    """The chunk's leaf hashes when every entry's leaf and chain value check out, else None.

    ``row`` is :data:`CHUNK_SQL`'s one row for ``start, stop``; ``prev_chain`` entry ``start-1``'s
    stored chain value (None when it is missing: the row-by-row path tells that story)."""
    n = stop - start
    subjects_n, least_subject, seqs, kinds, payloads, subjects, times, leaf_blob, chain_blob = row
    if n <= 0 or prev_chain is None:
        return None
    blobs = (seqs, kinds, payloads, subjects, times, leaf_blob, chain_blob)
    if not all(type(v) is bytes for v in blobs) or not isinstance(least_subject, (bytes, type(None))):
        return None
    if seqs != _offsets(n):
        return None
    for column in (kinds, times, subjects):
        if b'"' in column or b"\\" in column:
            return None
    if subjects.count(_NULL) != n - subjects_n:
        return None
    # Every time 27 bytes: the n-1 newlines a split needs sit exactly between them.
    if len(times) != (_TIME_BYTES + 1) * n - 1 or times[_TIME_BYTES :: _TIME_BYTES + 1] != b"\n" * (n - 1):
        return None
    if leaf_blob.count(_HASH_SEP) != n - 1 or chain_blob.count(_HASH_SEP) != n - 1:
        return None
    quoted = (b'"' + subjects.replace(b"\n", b'"\n"') + b'"').replace(b'"\x01"', b"null")
    columns = (kinds.split(b"\n"), payloads.split(b"\n"), quoted.split(b"\n"), times.split(b"\n"))
    if any(len(c) != n for c in columns):
        return None
    if not all(kind[:1].islower() for kind in set(columns[0])):
        return None
    try:
        if set(map(_first_byte, columns[1])) != {ord("{")}:
            return None
    except IndexError:  # an empty payload
        return None
    sha, fmt = hashlib.sha256, _LEAF
    leaves = [sha(fmt % fields).digest() for fields in zip(range(start, stop), *columns, strict=True)]
    if _HASH_SEP.join(leaves) != leaf_blob:
        return None
    chains: list[bytes] = []
    append, value = chains.append, prev_chain
    for leaf in leaves:  # chain[i] = SHA-256(0x02 || chain[i-1] || leaf[i])
        value = sha(b"\x02" + value + leaf).digest()
        append(value)
    if _HASH_SEP.join(chains) != chain_blob:
        return None
    return leaves
