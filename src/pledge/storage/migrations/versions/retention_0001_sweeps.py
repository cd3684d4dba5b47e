"""retention: sweep runs, their checkpoints, the sweep lease and purged minors.

Revision ID: retention_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "retention_0001"
down_revision = None
branch_labels = ("retention",)
depends_on = None

_LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "pledge_retention_runs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("config_digest", sa.String(64), nullable=False),
        sa.Column("clock_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("summary", _LongText, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_pledge_retention_runs"),
    )
    op.create_index(
        "ix_pledge_retention_runs_state", "pledge_retention_runs", ["kind", "state", "config_digest"]
    )
    op.create_table(
        "pledge_retention_progress",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("batches", sa.Integer(), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("counts", _LongText, nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["pledge_retention_runs.id"],
            name="fk_pledge_retention_progress_run_id_pledge_retention_runs",
        ),
        sa.PrimaryKeyConstraint("run_id", "unit", name="pk_pledge_retention_progress"),
    )
    op.create_table(
        "pledge_retention_leases",
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("acquired_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_pledge_retention_leases"),
    )
    op.create_table(
        "pledge_retention_minors",
        sa.Column("subject", sa.String(80), nullable=False),
        sa.Column("detected_by", sa.String(20), nullable=False),
        sa.Column("detected_at", sa.DateTime(), nullable=False),
        sa.Column("purged_at", sa.DateTime(), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("audit_index", sa.BigInteger(), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("subject", name="pk_pledge_retention_minors"),
    )


def downgrade() -> None:
    op.drop_table("pledge_retention_minors")
    op.drop_table("pledge_retention_leases")
    op.drop_table("pledge_retention_progress")
    op.drop_index("ix_pledge_retention_runs_state", table_name="pledge_retention_runs")
    op.drop_table("pledge_retention_runs")
