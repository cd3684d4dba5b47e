"""consent: the subject directory, the append-only consent ledger, redeemed single-use tokens.

Revision ID: consent_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "consent_0001"
down_revision = None
branch_labels = ("consent",)
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_PROOF = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "consent_subjects",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("merged_into", sa.String(40), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("minor_flagged_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_consent_subjects"),
        sa.ForeignKeyConstraint(
            ["merged_into"],
            ["consent_subjects.id"],
            name="fk_consent_subjects_merged_into_consent_subjects",
        ),
    )
    op.create_index("ix_consent_subjects_merged_into", "consent_subjects", ["merged_into"])
    op.create_index("ix_consent_subjects_minor_flagged_at", "consent_subjects", ["minor_flagged_at"])
    op.create_table(
        "consent_identities",
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("subject_id", sa.String(40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "digest", name="pk_consent_identities"),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["consent_subjects.id"],
            name="fk_consent_identities_subject_id_consent_subjects",
        ),
    )
    op.create_index("ix_consent_identities_subject_id", "consent_identities", ["subject_id"])
    op.create_table(
        "consent_events",
        sa.Column("id", _BIG_ID, nullable=False, autoincrement=True),
        sa.Column("subject_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("purpose", sa.String(120), nullable=False),
        sa.Column("channel", sa.String(40), nullable=False),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column("jurisdiction", sa.String(120), nullable=True),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("declaration_digest", sa.String(64), nullable=False),
        sa.Column("proof", _PROOF, nullable=True),
        sa.Column("proof_hash", sa.String(64), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("audit_index", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_consent_events"),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["consent_subjects.id"],
            name="fk_consent_events_subject_id_consent_subjects",
        ),
    )
    op.create_index("ix_consent_events_subject_id_id", "consent_events", ["subject_id", "id"])
    op.create_table(
        "tokens_redeemed",
        sa.Column("token_id", sa.String(64), nullable=False),
        sa.Column("use", sa.String(60), nullable=False),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_id", name="pk_tokens_redeemed"),
    )
    op.create_index("ix_tokens_redeemed_expires_at", "tokens_redeemed", ["expires_at"])


def downgrade() -> None:
    op.drop_table("tokens_redeemed")
    op.drop_table("consent_events")
    op.drop_table("consent_identities")
    op.drop_table("consent_subjects")
