"""The ledger's and the directory's statements, built once.

Building a SQLAlchemy statement per call (``sa.select(...).where(...)``) costs more than SQLite
takes to run it: a consent read spent most of its time constructing seven statements. Built once
at import, a statement keeps its compiled form in the engine's cache, and each call only binds
values. Every value is a bound parameter (never text pasted into SQL).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import bindparam

from pledge.consent.tables import clock, events, identities, subjects

__all__ = [
    "ALIASES",
    "ALL_EVENTS",
    "CLOCK",
    "FIND",
    "GROUP_EVENTS",
    "GROUP_STATS",
    "INSERT_EVENT",
    "INSERT_SUBJECT",
    "MAX_EVENT",
    "NEW_EVENTS",
    "NOTIFY",
    "NOTIFY_CHANNEL",
    "OWNER",
    "POLL_LIMIT",
    "ROOT",
    "SNAPSHOT",
    "TICK",
    "TOUCH",
    "TOUCH_RETURNING",
]

_S = subjects.c
_E = events.c
_I = identities.c

# A subject and everyone merged into it (merges are compressed to one hop: see ledger.link).
_GROUP = sa.select(_S.id).where(sa.or_(_S.id == bindparam("root"), _S.merged_into == bindparam("root")))

ROOT = sa.select(_S.id, _S.merged_into).where(_S.id == bindparam("sid"))
ALIASES = sa.select(_S.id).where(_S.merged_into == bindparam("root")).order_by(_S.id)

# ``value`` as the driver gives it (JSON text, except on PostgreSQL): it matters to the state
# for two rare kinds of event only, so derive.py decodes it for those, not for every row read.
_RAW_VALUE = sa.type_coerce(_E.value, sa.Text()).label("value")
_EVENT_COLUMNS = (
    *(_E.id, _E.kind, _E.purpose, _E.channel, _RAW_VALUE, _E.jurisdiction, _E.source),
    *(_E.policy_version, _E.occurred_at),
)

GROUP_EVENTS = sa.select(*_EVENT_COLUMNS).where(_E.subject_id.in_(_GROUP)).order_by(_E.id)
"""What a state and a history need of a subject's events (no proof text)."""

_MEMBER = subjects.alias("member")
GROUP_STATS = (
    sa.select(_MEMBER.c.id, sa.func.count(_E.id).label("events"), sa.func.max(_E.id).label("last"))
    .select_from(_MEMBER.outerjoin(events, _E.subject_id == _MEMBER.c.id))
    .where(sa.or_(_MEMBER.c.id == bindparam("root"), _MEMBER.c.merged_into == bindparam("root")))
    .group_by(_MEMBER.c.id)
    .order_by(_MEMBER.c.id)
)
"""Per member of a root's group (the root and everyone merged into it): how many events, and
the latest. What a write checks a cached state against, and whom it changes, in one query."""

_ROOTS = subjects.alias("root_subject")
_MEMBERS = subjects.alias("member")
_ROOT_OF = sa.func.coalesce(_S.merged_into, _S.id)
SNAPSHOT = (
    sa.select(_S.merged_into, _S.policy_version.label("subject_version"))
    .add_columns(_ROOTS.c.policy_version.label("root_version"), *_EVENT_COLUMNS)
    .select_from(
        subjects.outerjoin(_ROOTS, _ROOTS.c.id == _S.merged_into)
        .outerjoin(_MEMBERS, sa.or_(_MEMBERS.c.id == _ROOT_OF, _MEMBERS.c.merged_into == _ROOT_OF))
        .outerjoin(events, _E.subject_id == _MEMBERS.c.id)
    )
    .where(_S.id == bindparam("sid"))
    .order_by(_E.id)
)
"""One query for a whole state: the subject's row (does it exist, its root, the baseline
version: the root's) joined with the events of its root and everyone merged into it. Plain joins
(no correlated subquery in an ON clause, which MariaDB's compile path reports as a cartesian
product); a member without events adds a row with NULL event columns, which the reader drops."""

ALL_EVENTS = sa.select(events).where(_E.subject_id.in_(_GROUP)).order_by(_E.id)

FIND = (
    sa.select(_I.subject_id, sa.func.coalesce(_S.merged_into, _S.id).label("root"))
    .select_from(identities.join(subjects, subjects.c.id == _I.subject_id))
    .where(_I.kind == bindparam("kind"), _I.digest == bindparam("digest"))
)
"""The subject an identity was registered to, and the subject holding its history now."""

OWNER = sa.select(_I.subject_id).where(_I.kind == bindparam("kind"), _I.digest == bindparam("digest"))

TOUCH = subjects.update().where(_S.id == bindparam("sid")).values(updated_at=bindparam("now"))
TOUCH_RETURNING = TOUCH.returning(_S.merged_into, _S.policy_version)

INSERT_EVENT = events.insert()
INSERT_SUBJECT = subjects.insert()

POLL_LIMIT = 10_000
_NEW = sa.select(_E.id, _E.subject_id).where(_E.id > bindparam("seen")).order_by(_E.id).limit(POLL_LIMIT)
_NEWS = _NEW.subquery("new_event")
_MERGED = subjects.alias("merged")
NEW_EVENTS = (
    sa.select(_NEWS.c.id, _NEWS.c.subject_id, _MERGED.c.id.label("alias"))
    .select_from(_NEWS.outerjoin(_MERGED, _MERGED.c.merged_into == _NEWS.c.subject_id))
    .order_by(_NEWS.c.id)
)
"""Events after ``seen`` (a page of them), each with the subjects merged into its subject (one
row per alias, or one with ``alias`` NULL): every subject whose derived state they change."""
MAX_EVENT = sa.select(sa.func.coalesce(sa.func.max(_E.id), 0))

TICK = clock.update().where(clock.c.id == 1).values(tick=clock.c.tick + 1).returning(clock.c.tick)
"""PostgreSQL: count a write; the row lock keeps ticks in commit order (see consent.feeds)."""
CLOCK = sa.select(clock.c.tick).where(clock.c.id == 1)
NOTIFY_CHANNEL = "pledge_consent"
NOTIFY = sa.select(sa.func.pg_notify(NOTIFY_CHANNEL, bindparam("payload", type_=sa.String())))
