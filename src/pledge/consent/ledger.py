"""The consent ledger: append-only events per subject, purpose and channel; state derived.

Each event is written with its audit entry in one transaction (``AuditSink.append(conn=...)``):
either both are durable or neither is. Writers for one subject are serialised by an ``UPDATE`` of
the subject's row as the transaction's first statement: on PostgreSQL it is a row lock (ledger
order = commit order per subject); on SQLite it takes the write lock before any read, so a writer
waits its turn (busy timeout) instead of failing on a stale snapshot. Nothing is lost under
concurrency because nothing is ever updated in place: every event is its own row.

After a write the ledger tells its subscribers (enforcers) which subjects changed; on PostgreSQL
it also counts the write on the ``consent_clock`` row and sends ``NOTIFY pledge_consent,
'<tick>:<subject ids>'`` inside the transaction, so other processes hear of it exactly when it
commits (see :mod:`pledge.consent.feeds`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pledge.audit.sink import AuditSink
from pledge.consent import queries as q
from pledge.consent._sql import as_utc, insert_ignore, utcnow
from pledge.consent.derive import derive_snapshot, derive_state, extend_snapshot
from pledge.consent.directory import COOKIE_KINDS, SubjectDirectory
from pledge.consent.events import SOURCES, ConsentEvent, EventKind, NewEvent, check_event
from pledge.consent.snapshot import HISTORY_KEPT, HistoryItem, LedgerState
from pledge.consent.tables import identities, subjects
from pledge.errors import Conflict, InputError, NotFound
from pledge.policy.compiled import CompiledPolicy
from pledge.policy.state import ANY, SubjectState
from pledge.storage.db import Database

__all__ = ["NOTIFY_CHANNEL", "CachedStates", "ConsentLedger", "FlaggedMinor", "Invalidator", "SyncFeed"]

NOTIFY_CHANNEL = q.NOTIFY_CHANNEL
_NOTIFY_LIMIT = 7000  # PostgreSQL refuses payloads of 8000 bytes or more


class Invalidator(Protocol):
    def __call__(self, subject_id: str, *, pending_event: int | None = None) -> None: ...


class CachedStates(Protocol):
    """A cache of derived states kept current by this ledger's notifications (the enforcer)."""

    def state(self, subject_id: str) -> SubjectState: ...

    def token(self, subject_id: str) -> Any:
        """Changes whenever the subject's cached state is forgotten or replaced."""
        ...

    def refresh(self, subject_id: str, state: SubjectState, token: Any) -> None:
        """Cache ``state`` (of a write just committed) unless ``token`` moved since it was read."""
        ...


class SyncFeed(Protocol):
    """A change feed that can catch up on demand: after ``sync()`` returns, every change
    committed before it was called has been delivered (see :mod:`pledge.consent.feeds`)."""

    def sync(self) -> None: ...


@dataclass(frozen=True, slots=True)
class FlaggedMinor:
    """A subject found under the minimum age, awaiting purge by the retention sweep."""

    subject_id: str
    flagged_at: dt.datetime


class ConsentLedger:
    def __init__(
        self,
        db: Database,
        policy: CompiledPolicy,
        audit: AuditSink,
        *,
        hash_key: bytes,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.db = db
        self.policy = policy
        self.audit = audit
        self.directory = SubjectDirectory(db, hash_key, policy_version=policy.version, clock=clock)
        self._clock = clock
        self._listeners: list[tuple[Invalidator, object]] = []
        self._cache: CachedStates | None = None
        self._feed: SyncFeed | None = None

    def subscribe(self, listener: Invalidator) -> None:
        """Call ``listener(subject_id, pending_event=...)`` for every subject a write changes."""
        # Its owner too: the cache serving reads is handed the new state instead (_notify).
        self._listeners.append((listener, getattr(listener, "__self__", None)))

    def serve_reads(self, cache: CachedStates, feed: SyncFeed | None) -> None:
        """Answer :meth:`current` from ``cache`` (subscribed to this ledger), first catching up
        on other processes' writes through ``feed`` (None: this process is the only writer)."""
        self._cache, self._feed = cache, feed

    # --- writing --------------------------------------------------------------------------------

    def record(
        self,
        subject_id: str,
        kind: str,
        *,
        purpose: str = ANY,
        channel: str = ANY,
        source: str,
        value: Any = None,
        proof: str | None = None,
        jurisdiction: str | None = None,
        occurred_at: dt.datetime | None = None,
        conn: Connection | None = None,
    ) -> ConsentEvent:
        """Append one event. With ``conn`` it joins the caller's transaction (and subscribers are
        told which event to wait for, since the ledger cannot see the commit)."""
        event = check_event(
            self.policy,
            kind,
            purpose=purpose,
            channel=channel,
            source=source,
            value=value,
            proof=proof,
            jurisdiction=jurisdiction,
            occurred_at=occurred_at,
            now=self._clock(),
        )
        return self._append(subject_id, event, conn)

    def grant(self, subject_id: str, purpose: str, channel: str = ANY, **kw: Any) -> ConsentEvent:
        return self.record(subject_id, EventKind.GRANT, purpose=purpose, channel=channel, **kw)

    def withdraw(self, subject_id: str, purpose: str = ANY, channel: str = ANY, **kw: Any) -> ConsentEvent:
        return self.record(subject_id, EventKind.WITHDRAW, purpose=purpose, channel=channel, **kw)

    def object_to(self, subject_id: str, purpose: str = ANY, **kw: Any) -> ConsentEvent:
        return self.record(subject_id, EventKind.OBJECT, purpose=purpose, **kw)

    def withdraw_objection(self, subject_id: str, purpose: str = ANY, **kw: Any) -> ConsentEvent:
        return self.record(subject_id, EventKind.WITHDRAW_OBJECTION, purpose=purpose, **kw)

    def restrict(self, subject_id: str, purpose: str = ANY, **kw: Any) -> ConsentEvent:
        return self.record(subject_id, EventKind.RESTRICT, purpose=purpose, **kw)

    def lift_restriction(self, subject_id: str, purpose: str = ANY, **kw: Any) -> ConsentEvent:
        return self.record(subject_id, EventKind.LIFT_RESTRICTION, purpose=purpose, **kw)

    def opt_out_of_sale(self, subject_id: str, **kw: Any) -> ConsentEvent:
        return self.record(subject_id, EventKind.OPT_OUT_OF_SALE, **kw)

    def opt_in_to_sale(self, subject_id: str, **kw: Any) -> ConsentEvent:
        return self.record(subject_id, EventKind.OPT_IN_TO_SALE, **kw)

    def gpc_signal(self, subject_id: str, **kw: Any) -> ConsentEvent:
        return self.record(subject_id, EventKind.GPC_SIGNAL, **kw)

    def declare_age(self, subject_id: str, age: int, **kw: Any) -> ConsentEvent:
        return self.record(subject_id, EventKind.AGE_DECLARED, value=age, **kw)

    def declare_birth_date(self, subject_id: str, birth_date: dt.date | str, **kw: Any) -> ConsentEvent:
        return self.record(subject_id, EventKind.BIRTH_DATE_DECLARED, value=birth_date, **kw)

    def link(
        self,
        subject_id: str,
        kind: str,
        value: str,
        *,
        source: str = "operator",
        merge_known: bool = False,
        conn: Connection | None = None,
    ) -> str:
        """Attach identity ``kind=value`` to ``subject_id``. If it already belongs to another
        subject, that subject is merged into this one (its consent history now counts here):
        allowed without ``merge_known`` only when the other is known by cookie ids alone, so two
        known people are never merged by accident. Returns the subject holding the history."""
        digest = self.directory.digest(kind, value)
        if source not in SOURCES:
            raise InputError(f"unknown source '{source}'", hint=f"one of: {', '.join(sorted(SOURCES))}")
        if conn is not None:
            root, changed, event_id = self._link(conn, subject_id, kind, digest, source, merge_known)
            self._notify(changed, pending=event_id)
            return root
        with self.db.begin() as own:
            root, changed, _ = self._link(own, subject_id, kind, digest, source, merge_known)
        self._notify(changed, pending=None)
        return root

    def _link(
        self, conn: Connection, subject_id: str, kind: str, digest: str, source: str, merge_known: bool
    ) -> tuple[str, list[str], int | None]:
        now = self._clock()
        root = self._lock(conn, subject_id, now)
        row = {"kind": kind, "digest": digest, "subject_id": root, "created_at": now}
        if insert_ignore(conn, identities, row):
            self.audit.append("subject.identity_added", {"kind": kind}, subject=root, conn=conn)
            return root, [], None
        owner = conn.execute(q.OWNER, {"kind": kind, "digest": digest}).scalar_one()
        other = self.directory.root(owner, conn=conn)
        if other == root:
            return root, [], None
        if not merge_known:
            kinds = set(self.directory.identity_kinds(other, conn=conn))
            if kinds - COOKIE_KINDS:
                raise Conflict(
                    f"that {kind} belongs to another known subject",
                    hint="merge two known subjects only on purpose (merge_known=True)",
                )
        for sid in sorted((root, other)):
            self._lock(conn, sid, now)
        moved = self.directory.aliases(other, conn=conn)
        # Compress: everything that pointed at `other` now points at `root` (merges stay one hop).
        conn.execute(
            sa.update(subjects)
            .where(sa.or_(subjects.c.id == other, subjects.c.merged_into == other))
            .values(merged_into=root)
        )
        linked = check_event(
            self.policy,
            EventKind.LINKED,
            purpose=ANY,
            channel=ANY,
            source=source,
            value={"merged": other, "by": kind},
            proof=None,
            jurisdiction=None,
            occurred_at=None,
            now=now,
            internal=True,
        )
        written, aliases = self._write(conn, root, [linked])
        return root, sorted(set(aliases) | set(moved)), written[0].id

    def set_consent(
        self,
        subject_id: str,
        choices: Mapping[str, bool],
        *,
        source: str,
        proof: str | None = None,
        gpc_signal: str | None = None,
        jurisdiction: str | None = None,
        conn: Connection | None = None,
    ) -> list[ConsentEvent]:
        """Make the subject's consent to each purpose in ``choices`` (as a whole: every channel)
        what it says, as a banner or a form does. A grant or withdrawal is recorded only where
        the ledger's latest mark at that scope differs (a first refusal is recorded too, as proof
        of the choice); ``gpc_signal`` (its proof text) records a Global Privacy Control signal
        unless that is already the latest sale mark. Everything in one transaction.

        What to record is decided from the ledger itself under the subject's lock, never from a
        cached state alone: a stale "already granted" would silently drop a choice. (A fresh
        cached state may rule out a write beforehand: then nothing is recorded and no write
        transaction is opened. Under the lock, one query tells whether the cached state is the
        ledger's: see :meth:`_set`.)"""
        now = self._clock()
        wanted = [
            check_event(
                self.policy,
                EventKind.GRANT if on else EventKind.WITHDRAW,
                purpose=purpose,
                channel=ANY,
                source=source,
                value=None,
                proof=proof,
                jurisdiction=jurisdiction,
                occurred_at=None,
                now=now,
            )
            for purpose, on in choices.items()
        ]
        if gpc_signal is not None:
            wanted.append(
                check_event(
                    self.policy,
                    EventKind.GPC_SIGNAL,
                    purpose=ANY,
                    channel=ANY,
                    source=source,
                    value=None,
                    proof=gpc_signal,
                    jurisdiction=jurisdiction,
                    occurred_at=None,
                    now=now,
                )
            )
        if conn is not None:
            written, aliases, _ = self._set(conn, subject_id, wanted, now, known=None)
            if written:
                self._notify(aliases, pending=written[-1].id)
            return written
        known = None
        if self._cache is not None:
            known = self.current(subject_id)
            if not _differing(known, wanted):
                return []  # the ledger says so already (as of now): nothing to write
        with self.db.begin() as own:
            written, aliases, fresh = self._set(own, subject_id, wanted, now, known=known)
        self._notify(aliases, pending=None, fresh=fresh)
        return written

    def _set(
        self,
        conn: Connection,
        subject_id: str,
        wanted: list[NewEvent],
        now: dt.datetime,
        *,
        known: LedgerState | None,
    ) -> tuple[list[ConsentEvent], list[str], _Fresh | None]:
        """Under the subject's lock: what of ``wanted`` differs from the ledger, written. Also
        the state the write leads to, for the cache serving reads (when it can take it).

        ``known`` (the cached state just read) is decided from when one query proves it is the
        ledger's: same root, and the root's group holds as many events as it was derived from.
        Events are never deleted and a group only gains members while its root stays root (a
        merge *into* it; a merge of it elsewhere changes the root), so an equal count is the very
        same set of events. Otherwise the group's events are read and folded, as always."""
        root, version = self._lock_root(conn, subject_id, now)
        cache = self._cache
        # Read under the lock, before commit: an invalidation after it may come from a later write.
        token = cache.token(root) if cache is not None and root == subject_id else None
        members = conn.execute(q.GROUP_STATS, {"root": root}).all()
        aliases = [root, *(m.id for m in members if m.id != root)]
        count = sum(int(m.events) for m in members)
        if (
            isinstance(known, LedgerState)
            and known.root == root
            and known.event_count == count
            and known.last_event == max((m.last or 0 for m in members), default=0)
        ):
            state = known
        else:
            rows = conn.execute(q.GROUP_EVENTS, {"root": root}).all()
            state = _snapshot(subject_id, root, rows, version)
        needed = _differing(state, wanted)
        if not needed:
            return [], [], None
        written, _ = self._write(conn, root, needed, locked=True, aliases=aliases)
        fresh = None
        if (
            token is not None
            and len(aliases) == 1
            and state.subject_id == root
            and state.baseline_version is not None
            and conn.dialect.name in _EXACT_TIMES
        ):
            fresh = _Fresh(root, extend_snapshot(state, written), token)
        return written, aliases, fresh

    def _append(self, subject_id: str, event: NewEvent, conn: Connection | None) -> ConsentEvent:
        if conn is not None:
            written, aliases = self._write(conn, subject_id, [event])
            self._notify(aliases, pending=written[0].id)
            return written[0]
        with self.db.begin() as own:
            written, aliases = self._write(own, subject_id, [event])
        self._notify(aliases, pending=None)
        return written[0]

    def _lock(self, conn: Connection, subject_id: str, now: dt.datetime) -> str:
        """Lock the subject's row (see the module docstring) and return its root."""
        return self._lock_root(conn, subject_id, now)[0]

    def _lock_root(self, conn: Connection, subject_id: str, now: dt.datetime) -> tuple[str, str | None]:
        """:meth:`_lock`, and the root's ``policy_version`` (a state's baseline) when it is
        ``subject_id`` itself and the database returned it with the lock."""
        if not isinstance(subject_id, str) or not subject_id or len(subject_id) > 40:
            raise NotFound("no such subject")
        values = {"sid": subject_id, "now": now}
        version = None
        if conn.dialect.update_returning:  # SQLite 3.35+, PostgreSQL: lock and read in one
            row = conn.execute(q.TOUCH_RETURNING, values).first()
            if row is None:
                raise NotFound(f"no subject '{subject_id}'", hint="resolve an identity to a subject first")
            merged, version = row[0], row[1]
        else:
            if conn.execute(q.TOUCH, values).rowcount == 0:
                raise NotFound(f"no subject '{subject_id}'", hint="resolve an identity to a subject first")
            merged = conn.execute(q.ROOT, {"sid": subject_id}).one().merged_into
        if merged is None:
            return subject_id, version
        conn.execute(q.TOUCH, {"sid": merged, "now": now})
        return str(merged), None

    def _write(
        self,
        conn: Connection,
        subject_id: str,
        new: Sequence[NewEvent],
        *,
        locked: bool = False,
        aliases: list[str] | None = None,
    ) -> tuple[list[ConsentEvent], list[str]]:
        """Append ``new`` for the subject (its root once ``locked``): their audit entries under
        one lock of the audit log, then the events; returns them and the subjects whose state
        changed (the root and everyone merged into it: ``aliases``, when the caller read them
        under the lock already)."""
        now = self._clock()
        root = subject_id if locked else self._lock(conn, subject_id, now)
        version, digest = self.policy.version, self.policy.digest
        rows: list[dict[str, Any]] = []
        entries: list[tuple[str, Mapping[str, Any], str | None]] = []
        for event in new:
            value = dict(event.value) if event.value is not None else None
            payload: dict[str, Any] = {
                "kind": event.kind.value,
                "purpose": event.purpose,
                "channel": event.channel,
                "value": value,
                "jurisdiction": event.jurisdiction,
                "source": event.source,
                "policy_version": version,
                "declaration_digest": digest,
                "proof_hash": event.proof_hash,
                "occurred_at": event.occurred_at.isoformat(),
            }
            entries.append((f"consent.{event.kind.value}", payload, root))
            rows.append(
                {
                    "subject_id": root,
                    "kind": event.kind.value,
                    "purpose": event.purpose,
                    "channel": event.channel,
                    "value": value,
                    "jurisdiction": event.jurisdiction,
                    "source": event.source,
                    "policy_version": version,
                    "declaration_digest": digest,
                    "proof": event.proof,
                    "proof_hash": event.proof_hash,
                    "occurred_at": event.occurred_at,
                    "recorded_at": now,
                }
            )
        for values, index in zip(rows, self._audit_many(conn, entries), strict=True):
            values["audit_index"] = index
        written: list[ConsentEvent] = []
        for event, values in zip(new, rows, strict=True):
            key = conn.execute(q.INSERT_EVENT, values).inserted_primary_key
            assert key is not None
            written.append(ConsentEvent(id=int(key[0]), **values))
            if event.kind in (EventKind.AGE_DECLARED, EventKind.BIRTH_DATE_DECLARED):
                self._maybe_flag_minor(conn, root, event, now)
        if aliases is None:
            aliases = [root, *conn.execute(q.ALIASES, {"root": root}).scalars()]
        if conn.dialect.name == "postgresql":
            # The tick says where this write falls in commit order (the clock row stays locked
            # until commit); readers use it to know when they have heard of every write.
            tick = conn.execute(q.TICK).scalar_one()
            text = ",".join(aliases)
            conn.execute(q.NOTIFY, {"payload": f"{tick}:{text if len(text) < _NOTIFY_LIMIT else ANY}"})
        return written, aliases

    def _audit_many(
        self, conn: Connection, entries: list[tuple[str, Mapping[str, Any], str | None]]
    ) -> list[int]:
        """Audit entries for one write, in the caller's transaction; one lock of the log when the
        sink can append several at once (``AuditLog.append_many``)."""
        many = getattr(self.audit, "append_many", None)
        if many is not None and len(entries) > 1:
            return list(many(entries, conn=conn))
        return [
            self.audit.append(kind, payload, subject=subject, conn=conn) for kind, payload, subject in entries
        ]

    def _maybe_flag_minor(self, conn: Connection, root: str, event: NewEvent, now: dt.datetime) -> None:
        minimum = self.policy.minimum_age
        if minimum is None or self.policy.minor_action != "purge":
            return
        state = derive_state(root, [_as_event(root, event, now)])
        age = state.age_on(now.date())
        if age is None or age >= minimum:
            return
        flagged = conn.execute(
            sa.update(subjects)
            .where(subjects.c.id == root, subjects.c.minor_flagged_at.is_(None))
            .values(minor_flagged_at=now)
        )
        if flagged.rowcount:
            self.audit.append(
                "subject.flagged_minor", {"minimum_age": minimum, "action": "purge"}, subject=root, conn=conn
            )

    def _notify(
        self, subject_ids: Iterable[str], *, pending: int | None, fresh: _Fresh | None = None
    ) -> None:
        """Tell the listeners which subjects changed; the cache serving reads is handed the new
        state of ``fresh.subject_id`` instead of forgetting it."""
        cache = self._cache if fresh is not None else None
        for listener, owner in self._listeners:
            for sid in subject_ids:
                if cache is not None and owner is cache and fresh is not None and sid == fresh.subject_id:
                    continue
                listener(sid, pending_event=pending)
        if cache is not None and fresh is not None:
            cache.refresh(fresh.subject_id, fresh.state, fresh.token)

    # --- reading --------------------------------------------------------------------------------

    def events(self, subject_id: str, *, conn: Connection | None = None) -> list[ConsentEvent]:
        """Every event of the subject (and of subjects merged into it), oldest first."""
        if conn is None:
            with self.db.connect() as own:
                return self.events(subject_id, conn=own)
        root = self.directory.root(subject_id, conn=conn)
        rows = conn.execute(q.ALL_EVENTS, {"root": root})
        return [_row_event(r._mapping) for r in rows]

    def load_state(self, subject_id: str) -> LedgerState:
        """The subject's derived state, read from the ledger now (one query), with its root and
        history; defaults for a subject the ledger has never seen."""
        with self.db.connect() as conn:
            rows = conn.execute(q.SNAPSHOT, {"sid": subject_id}).all()
        if not rows:
            return LedgerState(subject_id=subject_id, root=None)
        first = rows[0]
        root = first.merged_into or subject_id
        baseline = first.root_version if first.merged_into is not None else first.subject_version
        # Members without events: empty join rows.
        return _snapshot(subject_id, root, [r for r in rows if r.id is not None], baseline)

    def current(self, subject_id: str) -> LedgerState:
        """The subject's state and history as of this call: from the cache :meth:`serve_reads`
        attached (after catching up on every write committed before the call, in any process),
        else straight from the ledger. What a person is shown about their consent."""
        cache = self._cache
        if cache is None:
            return self.load_state(subject_id)
        if self._feed is not None:
            self._feed.sync()
        try:
            state = cache.state(subject_id)
        except InputError:  # not an id the cache takes (it checks them): read it directly
            return self.load_state(subject_id)
        return state if isinstance(state, LedgerState) else self.load_state(subject_id)

    def history(self, subject_id: str, *, state: LedgerState | None = None) -> list[HistoryItem]:
        """The subject's events as their history shows them, oldest first: those ``state`` (from
        :meth:`current`) was derived from, else :meth:`current`'s."""
        state = state if state is not None else self.current(subject_id)
        if not state.exists:
            raise NotFound(f"no subject '{subject_id[:60]}'")
        if state.history is not None:
            return list(state.history)
        return [
            HistoryItem(e.id, e.kind, e.purpose, e.channel, e.source, e.policy_version, e.occurred_at)
            for e in self.events(subject_id)
        ]

    def flagged_minors(self) -> list[FlaggedMinor]:
        """Subjects found under the minimum age, oldest flag first (the retention sweep purges them)."""
        with self.db.connect() as conn:
            rows = conn.execute(
                sa.select(subjects.c.id, subjects.c.minor_flagged_at)
                .where(subjects.c.minor_flagged_at.is_not(None))
                .order_by(subjects.c.minor_flagged_at, subjects.c.id)
            )
            return [FlaggedMinor(r.id, as_utc(r.minor_flagged_at)) for r in rows]


@dataclass(frozen=True, slots=True)
class _Fresh:
    """The state a write led to, for the cache serving reads (see ``Enforcer.refresh``)."""

    subject_id: str
    state: LedgerState
    token: Any


_EXACT_TIMES = frozenset({"sqlite", "postgresql"})
"""Databases that give back a timestamp exactly as written (MariaDB's DATETIME drops the
microseconds), so a state built from the events as written equals one read back."""


def _snapshot(subject_id: str, root: str, rows: Sequence[Any], baseline: str | None) -> LedgerState:
    """The state and history of ``rows`` (the group's events, ``GROUP_EVENTS`` columns)."""
    history = (
        tuple(
            HistoryItem(r.id, r.kind, r.purpose, r.channel, r.source, r.policy_version, as_utc(r.occurred_at))
            for r in rows
        )
        if len(rows) <= HISTORY_KEPT
        else None
    )
    return derive_snapshot(subject_id, root, rows, baseline_version=baseline, history=history)


def _differing(state: SubjectState, wanted: Iterable[NewEvent]) -> list[NewEvent]:
    """The events of ``wanted`` that would change ``state`` (see :meth:`ConsentLedger.set_consent`)."""
    needed = []
    for event in wanted:
        if event.kind is EventKind.GPC_SIGNAL:
            if state.sale is None or state.sale.kind != "gpc":
                needed.append(event)
            continue
        # The mark in effect for the purpose as a whole (a later "withdraw everything" counts).
        mark, _ = state.consent_mark(event.purpose, None if event.channel == ANY else event.channel)
        if mark is None or mark.on != (event.kind is EventKind.GRANT):
            needed.append(event)
    return needed


def _as_event(subject_id: str, event: NewEvent, now: dt.datetime) -> ConsentEvent:
    return ConsentEvent(
        id=1,
        subject_id=subject_id,
        kind=event.kind.value,
        purpose=event.purpose,
        channel=event.channel,
        value=event.value,
        jurisdiction=event.jurisdiction,
        source=event.source,
        policy_version="",
        declaration_digest="",
        proof=None,
        proof_hash=None,
        occurred_at=event.occurred_at,
        recorded_at=now,
        audit_index=None,
    )


def _row_event(row: Any) -> ConsentEvent:
    return ConsentEvent(
        id=int(row["id"]),
        subject_id=row["subject_id"],
        kind=row["kind"],
        purpose=row["purpose"],
        channel=row["channel"],
        value=row["value"],
        jurisdiction=row["jurisdiction"],
        source=row["source"],
        policy_version=row["policy_version"],
        declaration_digest=row["declaration_digest"],
        proof=row["proof"],
        proof_hash=row["proof_hash"],
        occurred_at=as_utc(row["occurred_at"]),
        recorded_at=as_utc(row["recorded_at"]),
        audit_index=row["audit_index"],
    )
