"""The audit log's tables (Alembic branch ``audit``).

``audit_entries`` holds one row per entry, keyed by its gapless index. ``audit_tip`` is a single
row (id 1) holding the log's size, last chain value and Merkle frontier: appenders lock it to
serialise, and it lets ``append`` extend the tree in O(log n) without reading old entries.
``audit_heads`` holds signed tree heads.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from pledge.storage.db import metadata

__all__ = ["audit_entries", "audit_heads", "audit_tip"]

# INTEGER PRIMARY KEY is SQLite's rowid: no second index, and inserts in key order stay cheap.
_INDEX = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class Hash(sa.LargeBinary):
    """A 32-byte hash. Every driver Pledge supports takes ``bytes`` as they are, so SQLAlchemy's
    per-value wrapping is skipped (two calls per appended entry)."""

    cache_ok = True

    def bind_processor(self, dialect: sa.Dialect) -> None:
        return None


# MariaDB's TEXT stops at 64 kB; payloads may be up to 256 kB.
_PAYLOAD = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")

audit_entries = sa.Table(
    "audit_entries",
    metadata,
    sa.Column("seq", _INDEX, primary_key=True, autoincrement=False),
    sa.Column("recorded_at", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(100), nullable=False),
    sa.Column("subject", sa.String(200), nullable=True),
    sa.Column("payload", _PAYLOAD, nullable=False),
    sa.Column("leaf", Hash(32), nullable=False),
    sa.Column("chain", Hash(32), nullable=False),
    sa.Index("ix_audit_entries_subject", "subject"),
    sa.Index("ix_audit_entries_kind", "kind"),
)

audit_tip = sa.Table(
    "audit_tip",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("size", sa.BigInteger(), nullable=False),
    sa.Column("chain", sa.LargeBinary(32), nullable=False),
    sa.Column("frontier", sa.LargeBinary(), nullable=False),
)

audit_heads = sa.Table(
    "audit_heads",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("tree_size", sa.BigInteger(), nullable=False),
    sa.Column("root", sa.LargeBinary(32), nullable=False),
    sa.Column("signed_at", sa.String(32), nullable=False),
    sa.Column("key_id", sa.String(64), nullable=False),
    sa.Column("signature", sa.LargeBinary(64), nullable=False),
    sa.Index("ix_audit_heads_tree_size", "tree_size"),
)
