"""Tables of the request workflow (Alembic branch ``requests``).

A request row holds no personal data in the clear: the identities, the parameters and the contact
address are sealed (AES-GCM under a key derived from the master key, see ``sealing``) and the
seal is wiped when the request closes; ``subject`` is a keyed hash, so requests of one person can
be grouped without knowing who they are.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from pledge.storage.db import metadata

__all__ = ["LongText", "UtcDateTime", "notices", "reminders", "requests", "steps"]


class UtcDateTime(sa.TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend.

    SQLite and MariaDB have no time zones: values are stored as naive UTC, and read back as
    aware so that comparisons with ``datetime.now(UTC)`` never mix naive and aware values.
    """

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite when read through text() queries
            value = dt.datetime.fromisoformat(value)
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


# MariaDB's TEXT stops at 64 kB; step results and sealed identities may be larger.
LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")

requests = sa.Table(
    "pledge_requests",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("right", sa.String(40), nullable=False),
    sa.Column("subject", sa.String(64), nullable=False, index=True),
    sa.Column("jurisdiction", sa.String(120), nullable=True),
    sa.Column("source", sa.String(20), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("requires_approval", sa.Boolean(), nullable=False),
    sa.Column("verification", sa.String(40), nullable=False),
    sa.Column("verified_by", sa.String(240), nullable=True),
    sa.Column("operator", sa.String(200), nullable=True),
    sa.Column("policy_version", sa.String(60), nullable=True),
    sa.Column("sealed", LongText, nullable=True),
    sa.Column("received_at", UtcDateTime(), nullable=False),
    sa.Column("verified_at", UtcDateTime(), nullable=True),
    sa.Column("approved_at", UtcDateTime(), nullable=True),
    sa.Column("started_at", UtcDateTime(), nullable=True),
    sa.Column("finished_at", UtcDateTime(), nullable=True),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("acknowledged_at", UtcDateTime(), nullable=True),
    sa.Column("ack_due_at", UtcDateTime(), nullable=True),
    sa.Column("due_at", UtcDateTime(), nullable=True),
    sa.Column("extended_due_at", UtcDateTime(), nullable=True),
    sa.Column("extension_reason", sa.Text(), nullable=True),
    sa.Column("decision_by", sa.String(200), nullable=True),
    sa.Column("decision_reason", sa.Text(), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("plan_attempts", sa.Integer(), nullable=False, default=0),
    # Claim of a worker: who runs it and until when; a dead worker's lease simply runs out.
    sa.Column("lease_owner", sa.String(100), nullable=True),
    sa.Column("lease_expires", UtcDateTime(), nullable=True),
    sa.Column("run_after", UtcDateTime(), nullable=True),
    sa.Index("ix_pledge_requests_state_run_after", "state", "run_after"),
)

steps = sa.Table(
    "pledge_request_steps",
    metadata,
    sa.Column(
        "request_id",
        sa.String(32),
        sa.ForeignKey("pledge_requests.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    # How often the step was started (a crash mid-step counts), and how often it raised: the
    # retry limit counts failures, a separate cap on starts stops a step that kills its worker.
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("failures", sa.Integer(), nullable=False),
    sa.Column("result", LongText, nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("started_at", UtcDateTime(), nullable=True),
    sa.Column("finished_at", UtcDateTime(), nullable=True),
    sa.UniqueConstraint("request_id", "name", name="uq_pledge_request_steps_name"),
)

reminders = sa.Table(
    "pledge_request_reminders",
    metadata,
    sa.Column(
        "request_id",
        sa.String(32),
        sa.ForeignKey("pledge_requests.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # The primary key is what makes each reminder go once, even with two workers racing.
    sa.Column("key", sa.String(40), primary_key=True),
    sa.Column("sent_at", UtcDateTime(), nullable=False),
)

notices = sa.Table(
    "pledge_request_notices",
    metadata,
    # A mail owed about a request (verification, completion, ...) is a row first and a mail
    # second: a mail server being down delays a notice, it never loses it.
    sa.Column(
        "request_id",
        sa.String(32),
        sa.ForeignKey("pledge_requests.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("kind", sa.String(20), primary_key=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("sent_at", UtcDateTime(), nullable=True),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("last_error", sa.Text(), nullable=True),
)
