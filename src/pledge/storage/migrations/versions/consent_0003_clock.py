"""consent: the ledger's commit clock (one row), so a reader can tell it has heard of every write.

Revision ID: consent_0003
Revises: consent_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "consent_0003"
down_revision = "consent_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    clock = op.create_table(
        "consent_clock",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("tick", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_consent_clock"),
    )
    op.bulk_insert(clock, [{"id": 1, "tick": 0}])


def downgrade() -> None:
    op.drop_table("consent_clock")
