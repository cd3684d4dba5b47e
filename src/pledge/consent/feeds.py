"""Change feeds: how an enforcer in one process hears that the ledger changed in another.

Why two designs:

* **PostgreSQL: LISTEN/NOTIFY.** The ledger sends ``NOTIFY pledge_consent, '<tick>:<subject
  ids>'`` inside the writing transaction. PostgreSQL delivers a notification only when that
  transaction commits (never for a rollback), to every listening session, in commit order. So
  each API process evicts exactly the subjects that changed, typically within a millisecond of
  the commit, with no per-decision query and no extra infrastructure (no Redis). If the listening
  connection drops, notifications in between are lost, so the feed empties the whole cache on
  every reconnect.
* **SQLite: polling the ledger.** SQLite has no notifications, and is the single-host default.
  Its writers are serialised, so event ids commit in order and "events with id > the last one
  seen" is an exact change feed. A background thread polls it (default every 20 ms, one indexed
  query), so another process's write is seen within one interval. In-process writes don't wait
  for the poll: the ledger invalidates its own subscribers directly after commit.

Neither adds work to ``decide()``: the hot path stays a dictionary lookup, and a decision may
trail another process's write by that millisecond or interval.

**Reads that must not trail: ``sync()``.** Showing a person their consent (or deciding whether a
banner choice changes anything) must reflect every write committed before the request, in any
process. ``sync()`` makes a feed deliver exactly that, synchronously:

* polling: one poll right now (one indexed query, straight to SQLite's driver);
* PostgreSQL: event ids are not in commit order there (two writers take ids, the later id may
  commit first), so each write also increments the one ``consent_clock`` row; its row lock,
  held until commit, makes the *tick* a gapless counter in commit order, and the notification
  carries it. ``sync()`` reads the clock (one primary-key query) and waits until the feed has
  heard that tick: then every earlier write has been delivered.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import sqlalchemy as sa

from pledge.consent import queries as q
from pledge.consent.ledger import NOTIFY_CHANNEL, SyncFeed
from pledge.errors import StorageError
from pledge.policy.enforcer import ChangeFeed, OnChange
from pledge.policy.state import ANY
from pledge.storage.db import Database

__all__ = ["Feed", "PollingChangeFeed", "PostgresChangeFeed", "open_feed"]

log = logging.getLogger(__name__)

OnReset = Callable[[], None]


class Feed(ChangeFeed, SyncFeed, Protocol):
    """A change feed for an enforcer that readers can also bring up to date on demand."""


def open_feed(db: Database, *, interval: float = 0.02) -> Feed:
    """The right feed for ``db``'s database."""
    if db.dialect == "postgresql":
        return PostgresChangeFeed(db.url)
    return PollingChangeFeed(db, interval=interval)


class PostgresChangeFeed:
    def __init__(self, url: str, *, reconnect_delay: float = 0.5, sync_timeout: float = 2.0) -> None:
        parsed = sa.make_url(url)
        # psycopg wants a libpq URL: drop SQLAlchemy's "+psycopg" driver suffix.
        self._dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        self._delay = reconnect_delay
        self._sync_timeout = sync_timeout
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: Any = None
        self._on_reset: OnReset | None = None
        # Every write with a tick <= _heard has been delivered (ticks: see the module docstring).
        self._heard = 0
        self._early: set[int] = set()  # ticks heard out of order (not expected: commit order)
        self._cond = threading.Condition()
        self._reader: Any = None  # sync()'s connection
        self._reader_lock = threading.Lock()

    def start(self, on_change: OnChange, on_reset: OnReset) -> None:
        self._conn = self._listen()  # before returning: from now on no commit goes unheard
        self._on_reset = on_reset
        self._restart_clock()
        self._thread = threading.Thread(
            target=self._run, args=(on_change, on_reset), name="pledge-consent-listen", daemon=True
        )
        self._thread.start()

    def _listen(self) -> Any:
        import psycopg

        try:
            conn = psycopg.connect(self._dsn, autocommit=True)
            conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        except psycopg.Error as exc:
            raise StorageError(f"cannot listen for consent changes: {exc}") from None
        return conn

    def _run(self, on_change: OnChange, on_reset: OnReset) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                for note in self._conn.notifies(timeout=0.25):
                    tick, _, subjects = note.payload.rpartition(":")
                    for subject_id in subjects.split(","):
                        if subject_id == ANY:
                            on_reset()
                        elif subject_id:
                            on_change(subject_id)
                    if tick.isdigit():
                        self._heard_tick(int(tick))  # only once its subjects are forgotten
            except psycopg.Error:
                if self._stop.is_set():
                    return
                log.warning("consent change feed lost its connection; reconnecting")
                on_reset()
                with contextlib.suppress(Exception):
                    self._conn.close()
                while not self._stop.wait(self._delay):
                    try:
                        self._conn = self._listen()
                        self._restart_clock()
                    except StorageError:
                        continue
                    on_reset()  # anything committed while we were away is unknown: forget all
                    break

    def _heard_tick(self, tick: int) -> None:
        with self._cond:
            if tick <= self._heard:
                return
            self._early.add(tick)
            while self._heard + 1 in self._early:
                self._heard += 1
                self._early.discard(self._heard)
            self._cond.notify_all()

    def _restart_clock(self) -> None:
        """After LISTEN (and a reset of everything cached): writes up to the clock's current
        tick need no notification; every later one will send one."""
        tick = self._read_clock()
        with self._cond:
            self._heard = max(self._heard, tick)
            self._early = {t for t in self._early if t > self._heard}
            self._cond.notify_all()

    def _read_clock(self) -> int:
        import psycopg

        with self._reader_lock:
            for attempt in (1, 2):  # a dropped connection is reopened once
                try:
                    if self._reader is None or self._reader.closed:
                        self._reader = psycopg.connect(self._dsn, autocommit=True)
                    row = self._reader.execute(_CLOCK_SQL).fetchone()
                    return int(row[0]) if row is not None else 0
                except psycopg.Error as exc:
                    with contextlib.suppress(Exception):
                        self._reader.close()
                    self._reader = None
                    if attempt == 2:
                        raise StorageError(f"cannot read the consent clock: {exc}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def sync(self) -> None:
        """Wait until every write committed before this call has been delivered: read the
        clock (one primary-key query), then wait for its notification if it is not in yet
        (normally well under a millisecond). A notification that never comes (the listening
        connection is down) costs the whole cache instead of a stale answer."""
        tick = self._read_clock()
        with self._cond:
            if self._cond.wait_for(lambda: self._heard >= tick, timeout=self._sync_timeout):
                return
        log.warning("consent change feed is behind the ledger; cached consent state dropped")
        if self._on_reset is not None:
            self._on_reset()
        with self._cond:
            self._heard = max(self._heard, tick)
            self._early = {t for t in self._early if t > self._heard}
            self._cond.notify_all()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with contextlib.suppress(Exception):
            self._conn.close()
        with self._reader_lock, contextlib.suppress(Exception):
            if self._reader is not None:
                self._reader.close()


_CLOCK_SQL = "SELECT tick FROM consent_clock WHERE id = 1"


class PollingChangeFeed:
    def __init__(self, db: Database, *, interval: float = 0.02) -> None:
        self._db = db
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen = 0
        self._lock = threading.Lock()
        self._on_change: OnChange | None = None
        self._own: Any = None  # SQLite: a connection of the feed's own (see _new_rows)
        self._sql = ""

    def start(self, on_change: OnChange, on_reset: OnReset) -> None:
        with self._db.connect() as conn:
            self._seen = int(conn.execute(q.MAX_EVENT).scalar_one())
        if self._db.dialect == "sqlite" and not _in_memory(self._db):
            compiled = q.NEW_EVENTS.compile(dialect=self._db.engine.dialect)
            assert compiled.positiontup == ["seen", "param_1", "param_2"], compiled.positiontup
            self._sql = str(compiled)
            self._own = self._db.engine.raw_connection()
        self._on_change = on_change
        self._thread = threading.Thread(
            target=self._run, args=(on_change, on_reset), name="pledge-consent-poll", daemon=True
        )
        self._thread.start()

    def sync(self) -> None:
        """Deliver every change committed before this call, now (one indexed query when there
        is none): what lets a read answer from a cache without ever being behind the ledger."""
        if self._on_change is not None:
            self.poll(self._on_change)

    def poll(self, on_change: OnChange) -> int:
        """One round: report every subject with events since the last round, each with the
        latest of those events' ids (ids follow commit order here: see the module docstring)."""
        # One round at a time: two at once could both report, but the later must not finish
        # first and leave `_seen` behind (or a caller of sync() before the change is delivered).
        with self._lock:
            seen = self._seen
            changed: dict[str, int] = {}
            while True:  # pages, for a long backlog
                rows = self._new_rows(seen)
                for event_id, subject_id, alias in rows:
                    changed[subject_id] = event_id  # oldest first: the last one is the latest
                    if alias is not None:
                        changed[alias] = event_id
                    seen = max(seen, event_id)
                if len({row[0] for row in rows}) < q.POLL_LIMIT:
                    break
            for subject_id in sorted(changed):
                on_change(subject_id, seen_event=changed[subject_id])
            self._seen = seen  # only once delivered: a failed round is repeated
            return len(changed)

    def _new_rows(self, seen: int) -> list[tuple[int, str, str | None]]:
        """``(id, subject_id, alias)`` of events after ``seen`` (see ``queries.NEW_EVENTS``),
        oldest first. On SQLite through the
        feed's own connection, straight to the driver: a sync() runs before every cached read,
        and SQLAlchemy's checkout and execution machinery costs ten times the query. (Outside a
        transaction each statement reads the latest commit: pysqlite begins none for a SELECT.)"""
        own = self._own
        if own is not None:
            try:
                cursor = own.driver_connection.execute(self._sql, (seen, q.POLL_LIMIT, 0))
                return cursor.fetchall()  # type: ignore[no-any-return]
            except sqlite3.Error as exc:
                raise StorageError(f"storage unavailable: {exc}") from exc
        with self._db.connect() as conn:
            return [(int(r.id), r.subject_id, r.alias) for r in conn.execute(q.NEW_EVENTS, {"seen": seen})]

    def _run(self, on_change: OnChange, on_reset: OnReset) -> None:
        failing = False
        while not self._stop.wait(self._interval):
            try:
                self.poll(on_change)
                failing = False
            except (sa.exc.SQLAlchemyError, StorageError):
                if not failing:
                    log.warning(
                        "consent change feed cannot read the ledger; "
                        "cached consent state is dropped each round until it can"
                    )
                failing = True
                on_reset()
                time.sleep(self._interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            own, self._own = self._own, None
            if own is not None:
                with contextlib.suppress(Exception):
                    own.close()


def _in_memory(db: Database) -> bool:
    return sa.make_url(db.url).database in (None, "", ":memory:")
