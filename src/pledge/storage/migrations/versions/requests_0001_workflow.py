"""requests: durable data-subject requests, their steps, the mails owed and the reminders sent.

Revision ID: requests_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "requests_0001"
down_revision = None
branch_labels = ("requests",)
depends_on = None

_LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "pledge_requests",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("right", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("jurisdiction", sa.String(120), nullable=True),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("requires_approval", sa.Boolean(), nullable=False),
        sa.Column("verification", sa.String(40), nullable=False),
        sa.Column("verified_by", sa.String(240), nullable=True),
        sa.Column("operator", sa.String(200), nullable=True),
        sa.Column("policy_version", sa.String(60), nullable=True),
        sa.Column("sealed", _LONG_TEXT, nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("verified_at", sa.DateTime(), nullable=True),
        sa.Column("approved_at", sa.DateTime(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=True),
        sa.Column("ack_due_at", sa.DateTime(), nullable=True),
        sa.Column("due_at", sa.DateTime(), nullable=True),
        sa.Column("extended_due_at", sa.DateTime(), nullable=True),
        sa.Column("extension_reason", sa.Text(), nullable=True),
        sa.Column("decision_by", sa.String(200), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("plan_attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(100), nullable=True),
        sa.Column("lease_expires", sa.DateTime(), nullable=True),
        sa.Column("run_after", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_pledge_requests"),
    )
    op.create_index("ix_pledge_requests_subject", "pledge_requests", ["subject"])
    op.create_index("ix_pledge_requests_state_run_after", "pledge_requests", ["state", "run_after"])
    op.create_table(
        "pledge_request_steps",
        sa.Column("request_id", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("result", _LONG_TEXT, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["pledge_requests.id"],
            name="fk_pledge_request_steps_request_id_pledge_requests",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_id", "position", name="pk_pledge_request_steps"),
        sa.UniqueConstraint("request_id", "name", name="uq_pledge_request_steps_name"),
    )
    op.create_table(
        "pledge_request_reminders",
        sa.Column("request_id", sa.String(32), nullable=False),
        sa.Column("key", sa.String(40), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["pledge_requests.id"],
            name="fk_pledge_request_reminders_request_id_pledge_requests",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_id", "key", name="pk_pledge_request_reminders"),
    )
    op.create_table(
        "pledge_request_notices",
        sa.Column("request_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["pledge_requests.id"],
            name="fk_pledge_request_notices_request_id_pledge_requests",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_id", "kind", name="pk_pledge_request_notices"),
    )


def downgrade() -> None:
    op.drop_table("pledge_request_notices")
    op.drop_table("pledge_request_reminders")
    op.drop_table("pledge_request_steps")
    op.drop_index("ix_pledge_requests_state_run_after", table_name="pledge_requests")
    op.drop_index("ix_pledge_requests_subject", table_name="pledge_requests")
    op.drop_table("pledge_requests")
