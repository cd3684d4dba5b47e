"""audit: the tamper-evident log (entries, tip, signed tree heads).

Revision ID: audit_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "audit_0001"
down_revision = None
branch_labels = ("audit",)
depends_on = None

_INDEX = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_PAYLOAD = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("seq", _INDEX, nullable=False, autoincrement=False),
        sa.Column("recorded_at", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("subject", sa.String(200), nullable=True),
        sa.Column("payload", _PAYLOAD, nullable=False),
        sa.Column("leaf", sa.LargeBinary(32), nullable=False),
        sa.Column("chain", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_entries"),
    )
    op.create_index("ix_audit_entries_subject", "audit_entries", ["subject"])
    op.create_index("ix_audit_entries_kind", "audit_entries", ["kind"])
    tip = op.create_table(
        "audit_tip",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("chain", sa.LargeBinary(32), nullable=False),
        sa.Column("frontier", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_tip"),
    )
    # The one tip row exists from the start, so appenders only ever lock it, never race to create it.
    op.bulk_insert(tip, [{"id": 1, "size": 0, "chain": bytes(32), "frontier": b""}])
    op.create_table(
        "audit_heads",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("signed_at", sa.String(32), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("signature", sa.LargeBinary(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_heads"),
    )
    op.create_index("ix_audit_heads_tree_size", "audit_heads", ["tree_size"])


def downgrade() -> None:
    op.drop_table("audit_heads")
    op.drop_table("audit_tip")
    op.drop_table("audit_entries")
