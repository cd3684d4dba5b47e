"""crypto: per-subject data keys for field encryption, wrapped by the master key.

Revision ID: crypto_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "crypto_0001"
down_revision = None
branch_labels = ("crypto",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crypto_data_keys",
        sa.Column("subject_id", sa.String(200), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("master_key_id", sa.String(16), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subject_id", name="pk_crypto_data_keys"),
    )
    op.create_index("ix_crypto_data_keys_master_key_id", "crypto_data_keys", ["master_key_id"])


def downgrade() -> None:
    op.drop_table("crypto_data_keys")
