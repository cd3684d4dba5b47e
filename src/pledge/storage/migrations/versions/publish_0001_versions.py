"""publish: the published versions of the privacy policy.

Revision ID: publish_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "publish_0001"
down_revision = None
branch_labels = ("publish",)
depends_on = None

_LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "pledge_policy_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("version", sa.String(200), nullable=False),
        sa.Column("effective", sa.Date(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("declaration", _LONG_TEXT, nullable=False),
        sa.Column("markdown", _LONG_TEXT, nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.Column("previous_version", sa.String(200), nullable=True),
        sa.Column("changes", _LONG_TEXT, nullable=False),
        sa.Column("material", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pledge_policy_versions"),
        sa.UniqueConstraint("version", name="uq_pledge_policy_versions_version"),
    )


def downgrade() -> None:
    op.drop_table("pledge_policy_versions")
