"""consent: disclosure records (who received what, when, why, on what legal basis).

Revision ID: consent_0002
Revises: consent_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "consent_0002"
down_revision = "consent_0001"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sharing_disclosures",
        sa.Column("id", _BIG_ID, nullable=False, autoincrement=True),
        sa.Column("recipient", sa.String(200), nullable=False),
        sa.Column("recipient_kind", sa.String(40), nullable=True),
        sa.Column("subject_id", sa.String(40), nullable=True),
        sa.Column("purpose", sa.String(120), nullable=True),
        sa.Column("legal_basis", sa.String(60), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("reference", sa.String(200), nullable=True),
        sa.Column("note", sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb"), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("audit_index", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sharing_disclosures"),
    )
    op.create_index("ix_sharing_disclosures_subject_id_id", "sharing_disclosures", ["subject_id", "id"])
    op.create_index(
        "ix_sharing_disclosures_recipient_occurred_at", "sharing_disclosures", ["recipient", "occurred_at"]
    )
    op.create_index("ix_sharing_disclosures_occurred_at", "sharing_disclosures", ["occurred_at"])


def downgrade() -> None:
    op.drop_table("sharing_disclosures")
