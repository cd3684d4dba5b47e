"""base: key/value metadata about this Pledge instance.

Revision ID: base_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "base_0001"
down_revision = None
branch_labels = ("base",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pledge_meta",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("pledge_meta")
