"""Disclosure records: who received what about whom, when, why, on what legal basis.

Created by the ``consent`` Alembic branch (``consent_0002``): disclosures are checked against the
same ledger and decisions, and ship with them.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from pledge.storage.db import metadata

__all__ = ["disclosures"]

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

disclosures = sa.Table(
    "sharing_disclosures",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
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
    sa.Index("ix_sharing_disclosures_subject_id_id", "subject_id", "id"),
    sa.Index("ix_sharing_disclosures_recipient_occurred_at", "recipient", "occurred_at"),
    sa.Index("ix_sharing_disclosures_occurred_at", "occurred_at"),
)
