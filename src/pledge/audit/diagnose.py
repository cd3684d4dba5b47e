"""Say *what* happened at the first entry verification rejected: tampered, removed, inserted, reordered.

Runs only when something is wrong, so it may re-read and re-hash a window of entries around the
bad one. The evidence used:

- an entry's leaf data contains its original index, so an entry that hashes correctly under some
  *other* index was moved there (entries before it removed, or inserted, or it was swapped);
- its chain value commits to its original predecessor, so an entry whose chain value follows some
  other entry's tells which entry really came before it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pledge.audit.entry import leaf_data
from pledge.audit.tables import audit_entries

__all__ = ["Finding", "diagnose"]

WINDOW = 4096


@dataclass(frozen=True, slots=True)
class Finding:
    reason: str
    """tampered | removed | inserted | reordered | truncated | bad_signature"""
    message: str
    index: int | None = None
    """The first bad entry (None when the finding is about a head or the tip)."""
    head_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "index": self.index, "head_id": self.head_id, "message": self.message}


def _leaf(row: Any, index: int) -> bytes:
    data = leaf_data(index, row.recorded_at, row.kind, row.subject, row.payload)
    return hashlib.sha256(b"\x00" + data.encode("utf-8", "surrogatepass")).digest()


def _entries(n: int) -> str:
    return "1 entry" if n == 1 else f"{n} entries"


def diagnose(conn: Connection, index: int, code: str) -> Finding:
    """Explain the failure ``code`` (from the scan) at entry ``index``."""
    if code == "gap":
        following = conn.execute(
            sa.select(sa.func.min(audit_entries.c.seq)).where(audit_entries.c.seq > index)
        ).scalar()
        missing = 1 if following is None else int(following) - index
        what = f"entry {index}" if missing == 1 else f"entries {index} to {index + missing - 1}"
        return Finding("removed", f"{what} missing: removed from the log", index)
    if code == "order":
        return Finding("inserted", f"index {index} occurs more than once: an entry was inserted", index)
    if code == "field":
        return Finding(
            "tampered",
            f"entry {index} was edited: its kind, subject or time column holds a character or type the log "
            "never writes",
            index,
        )
    rows = {
        int(row.seq): row
        for row in conn.execute(
            sa.select(audit_entries)
            .where(audit_entries.c.seq >= max(0, index - WINDOW), audit_entries.c.seq <= index + WINDOW)
            .order_by(audit_entries.c.seq)
        )
    }
    row = rows[index]
    if code == "leaf":
        return _moved_or_tampered(index, row, rows)
    return _misplaced(index, row, rows)


def _moved_or_tampered(index: int, row: Any, rows: dict[int, Any]) -> Finding:
    stored = bytes(row.leaf)
    # Nearest first: a small shift is the likely story.
    candidates = sorted(
        (j for j in range(index - WINDOW, index + WINDOW + 1) if j >= 0 and j != index),
        key=lambda j: abs(j - index),
    )
    origin = next((j for j in candidates if _leaf(row, j) == stored), None)
    if origin is None:
        return Finding("tampered", f"entry {index} was modified: it no longer matches its hash", index)
    if origin < index:
        twin = rows.get(origin)
        if twin is not None and bytes(twin.leaf) == stored:
            return Finding("inserted", f"entry {index} was inserted: it is a copy of entry {origin}", index)
        count = index - origin
        return Finding(
            "inserted",
            f"{_entries(count)} inserted at index {origin}: the entry now at {index} was written "
            f"as entry {origin}",
            origin,
        )
    for later, other in rows.items():
        if later > index and _leaf(other, index) == bytes(other.leaf):
            return Finding(
                "reordered",
                f"entry {index} was moved to index {later}, and entry {origin} was moved to {index}",
                index,
            )
    count = origin - index
    return Finding(
        "removed",
        f"{_entries(count)} removed at index {index} and later entries renumbered: the entry now "
        f"at {index} was written as entry {origin}",
        index,
    )


def _misplaced(index: int, row: Any, rows: dict[int, Any]) -> Finding:
    """The entry matches its hash but does not follow its predecessor: who did it follow?"""
    leaf, chain = bytes(row.leaf), bytes(row.chain)
    for seq, other in sorted(rows.items(), key=lambda item: abs(item[0] - index)):
        if seq == index - 1 or seq == index:
            continue
        if hashlib.sha256(b"\x02" + bytes(other.chain) + leaf).digest() != chain:
            continue
        if seq > index:
            return Finding(
                "reordered", f"entry {index} was written after entry {seq}, which now comes after it", index
            )
        return Finding(
            "inserted",
            f"{_entries(index - seq - 1)} inserted at index {seq + 1}: entry {index} was written "
            f"right after entry {seq}",
            seq + 1,
        )
    return Finding(
        "tampered",
        f"entry {index} does not follow entry {index - 1}: it was modified and re-hashed, or entries "
        "before it were removed",
        index,
    )
