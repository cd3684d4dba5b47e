"""The consent ledger's tables (Alembic branch ``consent``).

* ``consent_subjects``: one row per pseudonymous subject. ``merged_into`` points a subject known
  only by a banner cookie at the person it turned out to be (rows are never deleted, so the
  ledger stays append-only).
* ``consent_identities``: how a subject is found, stored as a keyed HMAC of the normalised value;
  Pledge's own database holds no plaintext e-mail addresses or phone numbers.
* ``consent_events``: the append-only ledger. State is derived from it, never stored.
* ``consent_clock``: one row counting ledger writes in commit order on PostgreSQL (where event
  ids are not), so a reader can tell whether it has heard of every write (``consent.feeds``).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from pledge.storage.db import metadata

__all__ = ["clock", "events", "identities", "subjects"]

# SQLite only auto-increments an INTEGER PRIMARY KEY; elsewhere 64 bits.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

subjects = sa.Table(
    "consent_subjects",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("policy_version", sa.String(64), nullable=False),
    sa.Column("merged_into", sa.String(40), sa.ForeignKey("consent_subjects.id"), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("minor_flagged_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_consent_subjects_merged_into", "merged_into"),
    sa.Index("ix_consent_subjects_minor_flagged_at", "minor_flagged_at"),
)

identities = sa.Table(
    "consent_identities",
    metadata,
    sa.Column("kind", sa.String(40), primary_key=True),
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("subject_id", sa.String(40), sa.ForeignKey("consent_subjects.id"), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_consent_identities_subject_id", "subject_id"),
)

events = sa.Table(
    "consent_events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("subject_id", sa.String(40), sa.ForeignKey("consent_subjects.id"), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("purpose", sa.String(120), nullable=False),
    sa.Column("channel", sa.String(40), nullable=False),
    sa.Column("value", sa.JSON(), nullable=True),
    sa.Column("jurisdiction", sa.String(120), nullable=True),
    sa.Column("source", sa.String(40), nullable=False),
    sa.Column("policy_version", sa.String(64), nullable=False),
    sa.Column("declaration_digest", sa.String(64), nullable=False),
    sa.Column("proof", sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb"), nullable=True),
    sa.Column("proof_hash", sa.String(64), nullable=True),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("audit_index", sa.BigInteger(), nullable=True),
    sa.Index("ix_consent_events_subject_id_id", "subject_id", "id"),
)

clock = sa.Table(
    "consent_clock",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("tick", sa.BigInteger(), nullable=False),
)
