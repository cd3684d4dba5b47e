"""stats: the differential-privacy budget ledger and its releases.

Revision ID: stats_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "stats_0001"
down_revision = None
branch_labels = ("stats",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pledge_stats_budget",
        sa.Column("scope", sa.String(100), nullable=False),
        sa.Column("period", sa.String(32), nullable=False),
        sa.Column("spent_epsilon_nano", sa.BigInteger(), nullable=False),
        sa.Column("spent_delta_atto", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "period", name="pk_pledge_stats_budget"),
    )
    op.create_table(
        "pledge_stats_releases",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("scope", sa.String(100), nullable=False),
        sa.Column("periods", sa.Text(), nullable=False),
        sa.Column("epsilon_nano", sa.BigInteger(), nullable=False),
        sa.Column("delta_atto", sa.BigInteger(), nullable=False),
        sa.Column("mechanism", sa.String(20), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pledge_stats_releases"),
    )
    op.create_index("ix_pledge_stats_releases_scope", "pledge_stats_releases", ["scope"])


def downgrade() -> None:
    op.drop_index("ix_pledge_stats_releases_scope", table_name="pledge_stats_releases")
    op.drop_table("pledge_stats_releases")
    op.drop_table("pledge_stats_budget")
