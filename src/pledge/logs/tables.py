"""Tables of the differential-privacy budget ledger (Alembic branch ``stats``).

``pledge_stats_budget`` holds what has been spent per budget scope and period, in integer units
(nano-epsilon, atto-delta) so that sums are exact and a conditional ``UPDATE`` can both check and
spend atomically on every backend. ``pledge_stats_releases`` records each release: what it cost,
which periods it charged and how its noise was calibrated. Rows of releases are never updated.
"""

from __future__ import annotations

import sqlalchemy as sa

from pledge.storage.db import metadata

__all__ = ["budget", "releases"]

budget = sa.Table(
    "pledge_stats_budget",
    metadata,
    sa.Column("scope", sa.String(100), primary_key=True),
    # ISO date the budget period starts, or "all" when the budget never renews.
    sa.Column("period", sa.String(32), primary_key=True),
    sa.Column("spent_epsilon_nano", sa.BigInteger(), nullable=False),
    sa.Column("spent_delta_atto", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", sa.DateTime(), nullable=False),  # naive UTC on every backend
)

releases = sa.Table(
    "pledge_stats_releases",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("scope", sa.String(100), nullable=False, index=True),
    sa.Column("periods", sa.Text(), nullable=False),
    sa.Column("epsilon_nano", sa.BigInteger(), nullable=False),
    sa.Column("delta_atto", sa.BigInteger(), nullable=False),
    sa.Column("mechanism", sa.String(20), nullable=False),
    sa.Column("details", sa.Text(), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
)
