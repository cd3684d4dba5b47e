"""Field encryption's table (Alembic branch ``crypto``): one wrapped data key per subject.

A row holds no key in the clear: ``wrapped`` is the subject's AES-256 data key encrypted under the
master key identified by ``master_key_id``. Deleting the row is crypto-shredding.
"""

from __future__ import annotations

import sqlalchemy as sa

from pledge.storage.db import metadata

__all__ = ["data_keys"]

data_keys = sa.Table(
    "crypto_data_keys",
    metadata,
    sa.Column("subject_id", sa.String(200), primary_key=True),
    sa.Column("key_id", sa.String(16), nullable=False),
    sa.Column("master_key_id", sa.String(16), nullable=False),
    sa.Column("wrapped", sa.LargeBinary(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_crypto_data_keys_master_key_id", "master_key_id"),
)
