"""The object the rest of Pledge calls before using personal data: ``Enforcer.decide``.

It holds the compiled policy, a cache of derived consent state per subject and an audit sink.

**Hot path.** A decision about a cached subject touches no database and allocates one small tuple
(the memo key): the subject's cache entry memoises every distinct question it has been asked, and
the answer is a pre-built immutable :class:`Decision`. An allowed answer is counted
(``AuditSink.count_allowed``) unless ``log_allowed``; a denial is appended to the audit log.

**Denials are appended in batches.** Appending to the real audit log is a database transaction;
doing it inside ``decide()`` would put the database back on the hot path (a mailing loop over
100,000 people, a third of whom opted out, would wait for 33,000 commits). So a denial is queued
(a lock-free ``deque`` append) and the queue is written with ``AuditSink.append_many`` when it
holds ``batch_size`` entries, every ``flush_interval`` seconds from a background thread, and on
:meth:`flush` / :meth:`close`. The cost: a crash can lose at most the last interval's denial
records (never a consent event or a disclosure: those are written in their own transaction).
``flush_interval=None`` appends each one inline instead.

**Invalidation.** Consent state is derived from the ledger, so the cache must forget a subject the
moment the ledger changes for them, in this process and in every other one:

* in-process, the ledger calls :meth:`Enforcer.invalidate` after its transaction commits;
* across processes, a :class:`ChangeFeed` delivers the same call (PostgreSQL ``LISTEN/NOTIFY``,
  or polling on SQLite; see :mod:`pledge.consent.feeds` for why each);
* a load that raced with a write is never cached: every invalidation bumps a counter for the
  subject (one of :data:`_STRIPES`, by hash, so unrelated subjects rarely share one), and a state
  read while its counter moved is used once and dropped. When a write happens inside a caller's
  transaction (so the ledger cannot know when it commits), the ledger names the event id it wrote
  and the subject is not cached again until a load sees that event.

**Writes through this process's ledger refresh instead.** The ledger derives the state a write
leads to under the subject's lock anyway, so it hands that state over (:meth:`Enforcer.refresh`)
rather than have the next read load it again; it reads the subject's counter (:meth:`token`)
while it still holds the lock, and the state is cached only if nothing invalidated the subject
since (else it is forgotten, as before). The polling change feed later reports that same write
with its event id; a cached state already derived from that event or a later one is kept
(``seen_event``): within a subject, event ids follow commit order (writers take the subject's
lock first), so it already reflects the write.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Container, Mapping
from typing import Any, Protocol

from pledge.audit.sink import AuditSink
from pledge.errors import InputError
from pledge.policy.compiled import CompiledPolicy
from pledge.policy.decision import Decision
from pledge.policy.evaluate import evaluate, normalise_categories
from pledge.policy.state import EMPTY_STATE, SubjectState

__all__ = ["ChangeFeed", "Enforcer", "StateSource", "StaticStates"]

log = logging.getLogger(__name__)

_MEMO_LIMIT = 512
"""Distinct questions remembered per subject; a caller asking endless variations just recomputes."""
_PENDING_SECONDS = 60.0
"""How long to wait for an uncommitted write to show before assuming it was rolled back."""
_STRIPES = 4096
"""How many invalidation counters (a power of two); a subject's is number ``hash(id) % _STRIPES``."""

Token = tuple[int, int]
"""What :meth:`Enforcer.token` returns: compare, don't interpret."""


class StateSource(Protocol):
    def load_state(self, subject_id: str) -> SubjectState:
        """The subject's current derived state (defaults for someone unknown)."""
        ...


class OnChange(Protocol):
    def __call__(self, subject_id: str, *, seen_event: int | None = None) -> None:
        """``subject_id`` changed (``seen_event``: by the event with that id, when known)."""
        ...


class ChangeFeed(Protocol):
    """Tells an enforcer which subjects changed, from wherever the change happened."""

    def start(self, on_change: OnChange, on_reset: Callable[[], None]) -> None:
        """Begin delivering; returns once deliveries are guaranteed (e.g. after LISTEN)."""
        ...

    def stop(self) -> None: ...


class StaticStates:
    """A fixed set of states (tests, and callers who keep consent elsewhere)."""

    def __init__(self, states: Mapping[str, SubjectState] | None = None) -> None:
        self.states: dict[str, SubjectState] = dict(states or {})

    def load_state(self, subject_id: str) -> SubjectState:
        found = self.states.get(subject_id)
        return found if found is not None else SubjectState(subject_id=subject_id)


class _Entry:
    __slots__ = ("expires", "memo", "payloads", "state")

    def __init__(self, state: SubjectState, expires: int) -> None:
        self.state = state
        self.memo: dict[Any, Decision] = {}
        self.payloads: dict[Any, dict[str, Any]] = {}
        """Audit payloads of memoised decisions that get logged (sinks must not mutate them)."""
        self.expires = expires
        """Day ordinal from which the state must be re-derived (0: never): a minor comes of age."""


_CHANNELS = frozenset({"email", "postal_mail", "phone", "push", "sms", "third_party_offers", "in_app"})
_SUBJECT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+/=~-]{0,199}")
UNKNOWN = "<unknown>"


def _known(value: Any, names: Container[str]) -> Any:
    if value is None:
        return None
    return value if isinstance(value, str) and value in names else UNKNOWN


def _utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


class Enforcer:
    def __init__(
        self,
        policy: CompiledPolicy,
        states: StateSource,
        audit: AuditSink,
        *,
        log_allowed: bool = False,
        max_subjects: int = 100_000,
        today: Callable[[], dt.date] = _utc_today,
        flush_interval: float | None = 1.0,
        batch_size: int = 500,
    ) -> None:
        self.policy = policy
        self._states = states
        self._audit = audit
        self._log_allowed = log_allowed
        self._count = audit.count_allowed
        self._max_subjects = max(1, max_subjects)
        self._today = today
        self._cache: dict[str | None, _Entry] = {None: _Entry(EMPTY_STATE, 0)}
        self._epoch = 0  # moved by invalidate_all
        self._stripes = [0] * _STRIPES  # moved by invalidating (or refreshing) a subject
        self._pending: dict[str, tuple[int, float]] = {}
        self._feeds: list[ChangeFeed] = []
        self._lock = threading.Lock()
        self._queue: deque[tuple[str, dict[str, Any], str | None]] = deque()
        self._flush_interval = flush_interval
        self._batch_size = max(1, batch_size)
        self._flush_lock = threading.Lock()
        self._flusher: threading.Thread | None = None
        self._stop = threading.Event()

    # --- the hot path ---------------------------------------------------------------------------

    def decide(
        self,
        subject_id: str | None,
        purpose: str,
        categories: Any = (),
        recipient: str | None = None,
        *,
        channel: str | None = None,
        jurisdiction: str | None = None,
        gpc: bool | None = None,
    ) -> Decision:
        """May ``purpose`` use ``categories`` of ``subject_id`` (and may ``recipient`` receive
        them)? ``subject_id=None`` asks about nobody in particular (aggregate use).
        ``categories`` is a category id or an iterable of them; pass a tuple for speed."""
        entry = self._cache.get(subject_id)
        if entry is None or (entry.expires and self._today().toordinal() >= entry.expires):
            entry = self._load(subject_id)  # type: ignore[arg-type]  # None is always cached
        key = (purpose, categories, recipient, channel, jurisdiction, gpc)
        try:
            decision = entry.memo[key]
        except (KeyError, TypeError):
            decision = self._evaluate(entry, key)
        if decision.allowed:
            if self._log_allowed:
                self._record("decision.allowed", self._logged(entry, key, decision), subject_id)
            else:
                self._count(decision.purpose, decision.categories)
            return decision
        self._record("decision.denied", self._logged(entry, key, decision), subject_id)
        return decision

    def state(self, subject_id: str) -> SubjectState:
        """The subject's derived state exactly as :meth:`decide` sees it (cached the same way)."""
        entry = self._cache.get(subject_id)
        if entry is None or (entry.expires and self._today().toordinal() >= entry.expires):
            entry = self._load(subject_id)
        return entry.state

    # --- audit records --------------------------------------------------------------------------

    def _record(self, kind: str, payload: dict[str, Any], subject_id: str | None) -> None:
        if self._flush_interval is None:
            self._audit.append(kind, payload, subject=subject_id)
            return
        queue = self._queue
        queue.append((kind, payload, subject_id))
        if len(queue) >= self._batch_size:
            self.flush()
        elif self._flusher is None and not self._stop.is_set():
            self._start_flusher()

    def flush(self) -> int:
        """Write the queued decision records to the audit sink now; returns how many."""
        with self._flush_lock:
            batch: list[tuple[str, dict[str, Any], str | None]] = []
            queue = self._queue
            while True:
                try:
                    batch.append(queue.popleft())
                except IndexError:
                    break
            if not batch:
                return 0
            many = getattr(self._audit, "append_many", None)
            if many is not None:
                try:
                    many(batch)
                    return len(batch)
                except InputError:
                    pass  # one record is refused: write them one by one below
                except BaseException:
                    queue.extendleft(reversed(batch))  # keep them for the next attempt
                    raise
            for done, (kind, payload, subject) in enumerate(batch):
                try:
                    self._audit.append(kind, payload, subject=subject)
                except InputError as exc:
                    # Refused as input: retrying cannot help, and it must not block every later
                    # record. Say so, without its contents, and go on.
                    log.warning("the audit log refused a %s record: %s", kind, exc.message)
                except BaseException:
                    queue.extendleft(reversed(batch[done:]))
                    raise
            return len(batch)

    def _start_flusher(self) -> None:
        with self._flush_lock:
            if self._flusher is not None:
                return
            interval = float(self._flush_interval or 1.0)

            def run() -> None:
                while not self._stop.wait(interval):
                    try:
                        self.flush()
                    except Exception as exc:  # the audit store is down: retry next round
                        log.warning("could not write decision records: %s", type(exc).__name__)

            self._flusher = threading.Thread(target=run, name="pledge-decision-flush", daemon=True)
            self._flusher.start()

    # --- the slow paths -------------------------------------------------------------------------

    def _evaluate(self, entry: _Entry, key: tuple[Any, ...]) -> Decision:
        purpose, categories, recipient, channel, jurisdiction, gpc = key
        decision = evaluate(
            self.policy,
            entry.state,
            purpose,
            normalise_categories(categories),
            recipient,
            channel=channel,
            jurisdiction=jurisdiction,
            gpc=gpc,
            today=self._today(),
        )
        try:
            if len(entry.memo) >= _MEMO_LIMIT:
                entry.memo.clear()
                entry.payloads.clear()
            entry.memo[key] = decision
        except TypeError:  # unhashable categories (a list): fine, just not memoised
            pass
        return decision

    def _logged(self, entry: _Entry, key: tuple[Any, ...], decision: Decision) -> dict[str, Any]:
        """The audit payload for ``decision``, built once per memoised question."""
        try:
            payload = entry.payloads.get(key)
        except TypeError:  # unhashable key: not memoised either
            return self._payload(decision, key)
        if payload is None:
            payload = self._payload(decision, key)
            if key in entry.memo:
                entry.payloads[key] = payload
        return payload

    def _load(self, subject_id: str) -> _Entry:
        # Checked once per subject, on the way into the cache: a pseudonymous id, never an
        # e-mail address (which would otherwise end up in the audit log with the denial).
        if not isinstance(subject_id, str) or not _SUBJECT.fullmatch(subject_id):
            raise InputError(
                "a subject id is a pseudonymous id (letters, digits, _.:+/=~-; at most 200)",
                hint="resolve the person's e-mail address to a subject id first (SubjectDirectory)",
            )
        token = self.token(subject_id)
        state = self._states.load_state(subject_id)
        entry = _Entry(state, self._expiry(state))
        # Checked and stored under the lock invalidate() and refresh() take, so a write's
        # invalidation cannot fall between the check and the store.
        with self._lock:
            if not self._unblocked(subject_id, state):
                return entry  # the write we were told about has not committed (yet): don't cache
            if self.token(subject_id) != token:
                return entry  # raced with a write: use it once
            cache = self._cache
            held = cache.get(subject_id)
            if held is not None and held.state.last_event > state.last_event and not held.expires:
                return entry  # a later state was stored meanwhile (a refresh): keep that one
            if len(cache) > self._max_subjects:
                # Forget the oldest entries (dicts keep insertion order); None stays.
                for stale in list(itertools.islice(cache, 1, 1 + len(cache) // 10)):
                    cache.pop(stale, None)
            cache[subject_id] = entry
        return entry

    def _unblocked(self, subject_id: str, state: SubjectState) -> bool:
        """False while a write named by ``invalidate(pending_event=...)`` is not in ``state``
        (and has not timed out). Under ``_lock``."""
        pending = self._pending.get(subject_id)
        if pending is None:
            return True
        event_id, deadline = pending
        if state.last_event >= event_id or time.monotonic() > deadline:
            self._pending.pop(subject_id, None)
            return True
        return False

    def _expiry(self, state: SubjectState) -> int:
        minimum = self.policy.minimum_age
        if minimum is None or state.birth_date is None:
            return 0
        born = state.birth_date
        try:
            of_age = born.replace(year=born.year + minimum)
        except ValueError:  # born on 29 February
            of_age = dt.date(born.year + minimum, 3, 1)
        return of_age.toordinal() if of_age > self._today() else 0

    def _payload(self, decision: Decision, key: tuple[Any, ...]) -> dict[str, Any]:
        # Only declared names reach the audit log: a caller's typo could be anything (even an
        # e-mail address pasted into the wrong argument), and the audit log cannot be erased.
        policy = self.policy
        return {
            "purpose": _known(decision.purpose, policy.purposes),
            "categories": [_known(c, policy.categories) for c in decision.categories],
            "recipient": _known(decision.recipient, policy.recipients),
            "reason": str(decision.reason),
            "lawful_basis": decision.lawful_basis,
            "channel": _known(key[3], _CHANNELS),
            "jurisdiction": _known(key[4], policy.jurisdictions),
            "gpc": bool(key[5]) if key[5] is not None else None,
        }

    # --- invalidation ---------------------------------------------------------------------------

    def invalidate(
        self, subject_id: str, *, pending_event: int | None = None, seen_event: int | None = None
    ) -> None:
        """Forget ``subject_id``'s state. ``pending_event``: the id of an event written in a
        transaction that may not have committed yet; the subject is not cached again until a load
        sees it. ``seen_event``: the id of the committed event that changed the subject, from a
        feed whose event ids follow commit order; a cached state derived from it (or a later one)
        is kept."""
        stripe = hash(subject_id) & (_STRIPES - 1)
        with self._lock:
            if pending_event is not None:
                self._pending[subject_id] = (pending_event, time.monotonic() + _PENDING_SECONDS)
            elif seen_event is not None:
                held = self._cache.get(subject_id)
                if held is not None and held.state.last_event >= seen_event:
                    return
            self._stripes[stripe] += 1
            self._cache.pop(subject_id, None)

    def token(self, subject_id: str) -> Token:
        """Changes whenever ``subject_id``'s cached state is forgotten or replaced (for
        :meth:`refresh`)."""
        return (self._epoch, self._stripes[hash(subject_id) & (_STRIPES - 1)])

    def refresh(self, subject_id: str, state: SubjectState, token: Token) -> None:
        """Cache ``state``, derived by a write this process committed, as the subject's state.
        ``token``: :meth:`token`, read while the write held the subject's lock; if the subject was
        invalidated since (by another write, which may be later than this one), ``state`` is
        forgotten instead, as :meth:`invalidate` would."""
        stripe = hash(subject_id) & (_STRIPES - 1)
        with self._lock:
            fresh = self.token(subject_id) == token
            self._stripes[stripe] += 1  # loads begun before the write must not store theirs
            if not fresh or not self._unblocked(subject_id, state):
                self._cache.pop(subject_id, None)
                return
            self._cache[subject_id] = _Entry(state, self._expiry(state))

    def invalidate_all(self) -> None:
        with self._lock:
            self._epoch += 1
            none = self._cache[None]
            self._cache.clear()
            self._cache[None] = none

    def attach(self, feed: ChangeFeed) -> None:
        """Receive invalidations from ``feed`` (another process's writes) until :meth:`close`."""
        feed.start(self.invalidate, self.invalidate_all)
        self._feeds.append(feed)

    def close(self) -> None:
        """Stop the change feeds and the flusher, and write what is still queued."""
        for feed in self._feeds:
            feed.stop()
        self._feeds.clear()
        self._stop.set()
        flusher, self._flusher = self._flusher, None
        if flusher is not None:
            flusher.join()
        self.flush()

    def __enter__(self) -> Enforcer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def cached_subjects(self) -> int:
        return len(self._cache) - 1
