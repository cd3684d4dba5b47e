"""Tables of the published policy versions (Alembic branch ``publish``).

One row per published version: the declaration exactly as published (canonical JSON), its
Markdown edition, and the changes since the version published before it. Rows are never updated:
the history of what people were told is append-only.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from pledge.storage.db import metadata

__all__ = ["VERSION_MAX", "policy_versions"]

VERSION_MAX = 200
_LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")

policy_versions = sa.Table(
    "pledge_policy_versions",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("version", sa.String(VERSION_MAX), nullable=False, unique=True),
    sa.Column("effective", sa.Date(), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("declaration", _LONG_TEXT, nullable=False),
    sa.Column("markdown", _LONG_TEXT, nullable=False),
    sa.Column("published_at", sa.DateTime(), nullable=False),  # naive UTC on every backend
    sa.Column("previous_version", sa.String(VERSION_MAX), nullable=True),
    sa.Column("changes", _LONG_TEXT, nullable=False),
    sa.Column("material", sa.Boolean(), nullable=False),
)
