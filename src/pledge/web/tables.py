"""Tables of the web layer (Alembic branch ``web``): sessions, rate limits and complaints.

- ``web_sessions``: server-side sessions. The cookie holds a random secret; the table holds only
  its SHA-256, so a copy of the database cannot be used to sign in. Revocable (sign-out deletes the
  row) and shared by every process behind a load balancer.
- ``web_rate_limits``: fixed-window counters per bucket (a keyed hash of an e-mail address or of
  an IP address, never the address itself), in the database so limits hold across processes.
- ``web_complaints``: complaints and questions from the privacy center. Who wrote and what they
  wrote is sealed (AES-GCM under a key derived from the master key); the row keeps only what the
  operator's queue needs in the clear.
"""

from __future__ import annotations

import sqlalchemy as sa

from pledge.storage.db import metadata

__all__ = ["complaints", "rate_limits", "sessions"]

sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("subject", sa.String(64), nullable=True),
    sa.Column("requests", sa.Text(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_web_sessions_expires_at", "expires_at"),
)

rate_limits = sa.Table(
    "web_rate_limits",
    metadata,
    sa.Column("bucket", sa.String(100), primary_key=True),
    sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
    sa.Column("count", sa.Integer(), nullable=False),
)

complaints = sa.Table(
    "web_complaints",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("topic", sa.String(40), nullable=False),
    sa.Column("jurisdiction", sa.String(120), nullable=True),
    sa.Column("sealed", sa.Text(), nullable=True),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_web_complaints_received_at", "received_at"),
)
