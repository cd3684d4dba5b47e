"""Tables shared by every area. Area tables live beside their code (e.g. ``pledge.audit.tables``)."""

from __future__ import annotations

import sqlalchemy as sa

from pledge.storage.db import metadata

meta = sa.Table(
    "pledge_meta",
    metadata,
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text(), nullable=False),
)
