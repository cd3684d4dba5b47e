"""Verification's fast path on SQLite: read a chunk as a few long values, not one row at a time.

Python's ``sqlite3`` module releases and retakes the GIL around every column of every row, and
SQLite takes its connection mutex for each of those calls: fetching seven columns costs about ten
thousand instructions per entry before anything is hashed. Here one statement returns a chunk's
columns as one ``group_concat`` each (kind, payload, subject and time joined by newlines; leaf and
chain hashes end to end), and ``bytes.split`` cuts them apart in C.

This path only ever says "this chunk is clean". Whenever anything is unusual — a row missing, a
NULL, a hash that is not 32 bytes, a newline, quote or backslash where the log never writes one, a
leaf or chain value that does not match — it returns None and the caller re-reads the chunk row by
row (``_scan.scan_rows``), which names the first bad entry exactly as before. So what it must get
right is only that it never passes a chunk that the row-by-row check would fail:

- ``count(*)`` equal to the chunk's length, with ``seq`` the primary key (unique) and the range in
  the WHERE clause, means the chunk holds exactly the entries ``start .. stop-1``.
- Every aggregate reads the rows in the same (rowid) order; if that order were ever not the index
  order, the rebuilt leaf data would carry the wrong index and fail against the stored leaf.
- ``group_concat`` skips NULLs, so NULLs are ruled out first (``ifnull`` for the subject); with no
  NULL, a chunk of ``n`` values splits into ``n`` pieces only when no value holds a newline, so
  each piece is exactly one row's value (a newline moved into a neighbour cannot pass).
- Hash columns are checked to be 32 bytes each before being compared end to end, so bytes cannot
  move between neighbouring hashes unnoticed.
- kind and time hold no quote or backslash, and every non-NULL subject contributes exactly its two
  wrapping quotes: the same "splits back one way only" rule as ``_scan._odd_columns``.

The columns are TEXT (SQLite converts numbers written to them to text); a BLOB holding the same
bytes reads the same here as on the row-by-row path (``text_factory = bytes``).
"""

from __future__ import annotations

import hashlib
from typing import Any

__all__ = ["CHUNK_SQL", "leaves_and_check"]

CHUNK_SQL = (
    "SELECT count(*), "
    "max(kind IS NULL OR recorded_at IS NULL OR payload IS NULL "
    "OR length(leaf) IS NOT 32 OR length(chain) IS NOT 32), "
    "count(subject), "
    "group_concat(kind, char(10)), "
    "group_concat(payload, char(10)), "
    "group_concat(ifnull('\"' || subject || '\"', 'null'), char(10)), "
    "group_concat(recorded_at, char(10)), "
    "group_concat(leaf, ''), "
    "group_concat(chain, '') "
    "FROM audit_entries WHERE seq >= ? AND seq < ?"
)

# entry.leaf_data with the RFC 6962 leaf prefix, subject already quoted (or null) by the query.
_LEAF = b'\x00{"index":%d,"kind":"%s","payload":%s,"subject":%s,"time":"%s"}'


def leaves_and_check(
    row: tuple[Any, ...], start: int, stop: int, prev_chain: bytes | None
) -> list[bytes] | None:
    """The chunk's leaf hashes when every entry's leaf and chain value check out, else None.

    ``row`` is :data:`CHUNK_SQL`'s one row; ``prev_chain`` entry ``start-1``'s stored chain value
    (None when it is missing: the row-by-row path tells that story)."""
    count, odd, subjects_n, kinds, payloads, subjects, times, leaf_blob, chain_blob = row
    n = stop - start
    if count != n or odd or prev_chain is None or n == 0:
        return None
    if not all(isinstance(v, bytes) for v in (kinds, payloads, subjects, times, leaf_blob, chain_blob)):
        return None
    if len(leaf_blob) != 32 * n or len(chain_blob) != 32 * n:
        return None
    if b'"' in kinds or b"\\" in kinds or b'"' in times or b"\\" in times:
        return None
    if b"\\" in subjects or subjects.count(b'"') != 2 * subjects_n:
        return None
    columns = (kinds.split(b"\n"), payloads.split(b"\n"), subjects.split(b"\n"), times.split(b"\n"))
    if any(len(c) != n for c in columns):
        return None
    sha, fmt = hashlib.sha256, _LEAF
    leaves = [sha(fmt % fields).digest() for fields in zip(range(start, stop), *columns, strict=True)]
    if b"".join(leaves) != leaf_blob:
        return None
    # chain[i] = SHA-256(0x02 || chain[i-1] || leaf[i]), from the *stored* previous value.
    prevs = prev_chain + chain_blob[:-32]
    chains = [
        sha(b"\x02" + prevs[j : j + 32] + leaf).digest()
        for j, leaf in zip(range(0, 32 * n, 32), leaves, strict=True)
    ]
    if b"".join(chains) != chain_blob:
        return None
    return leaves
