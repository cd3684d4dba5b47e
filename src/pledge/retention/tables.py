"""Tables of the retention sweeps (Alembic branch ``retention``).

* ``pledge_retention_runs``: one row per sweep run. ``clock_at`` is the moment the run measures
  every period against, fixed when it starts, so a run resumed after a crash selects exactly the
  rows it would have selected without the crash.
* ``pledge_retention_progress``: the checkpoint of each unit (one rule in one collection, or the
  audit entry of a rule) of a run: batches finished, the last key done, counts so far.
* ``pledge_retention_leases``: a named lease, so that one sweep runs at a time across processes.
* ``pledge_retention_minors``: subjects found under the minimum age and purged (so a subject is
  never purged twice, and readers of ``ConsentLedger.flagged_minors()`` can tell who is done).

No table holds a personal value: units are named by rule id and collection, keys of rows only
ever appear as a cursor (a primary key), and subjects by a pseudonymous id or a keyed hash.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from pledge.storage.db import metadata

__all__ = ["leases", "minors", "progress", "runs"]

# MariaDB's TEXT stops at 64 kB; a run summary of a large datamap may be larger.
_LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")

runs = sa.Table(
    "pledge_retention_runs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),  # "sweep" | "minors"
    sa.Column("state", sa.String(20), nullable=False),  # running | done | failed | abandoned
    sa.Column("config_digest", sa.String(64), nullable=False),
    sa.Column("clock_at", sa.DateTime(), nullable=False),  # naive UTC on every backend
    sa.Column("started_at", sa.DateTime(), nullable=False),
    sa.Column("updated_at", sa.DateTime(), nullable=False),
    sa.Column("finished_at", sa.DateTime(), nullable=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("summary", _LongText, nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Index("ix_pledge_retention_runs_state", "kind", "state", "config_digest"),
)

progress = sa.Table(
    "pledge_retention_progress",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("pledge_retention_runs.id"), primary_key=True),
    sa.Column("unit", sa.String(64), primary_key=True),  # SHA-256 of the unit's name
    sa.Column("name", sa.Text(), nullable=False),  # "rule-id @ dataset:collection"
    sa.Column("batches", sa.Integer(), nullable=False),
    sa.Column("cursor", sa.Text(), nullable=True),  # JSON of the last primary key done
    sa.Column("counts", _LongText, nullable=False),  # JSON
    sa.Column("done", sa.Boolean(), nullable=False),
    sa.Column("updated_at", sa.DateTime(), nullable=False),
)

leases = sa.Table(
    "pledge_retention_leases",
    metadata,
    sa.Column("name", sa.String(60), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("run_id", sa.String(32), nullable=True),
    sa.Column("acquired_at", sa.DateTime(), nullable=False),
    sa.Column("expires_at", sa.DateTime(), nullable=False),
)

minors = sa.Table(
    "pledge_retention_minors",
    metadata,
    # A consent-ledger subject id, or "k:" + a keyed hash of how the business data names the person.
    sa.Column("subject", sa.String(80), primary_key=True),
    sa.Column("detected_by", sa.String(20), nullable=False),  # birth_date | consent_ledger | report
    sa.Column("detected_at", sa.DateTime(), nullable=False),
    sa.Column("purged_at", sa.DateTime(), nullable=False),
    sa.Column("run_id", sa.String(32), nullable=True),
    sa.Column("audit_index", sa.BigInteger(), nullable=True),
    sa.Column("details", sa.Text(), nullable=False),  # JSON counts, laws of what was kept; no values
)
