"""The cache of consent state the enforcer keeps and ``ConsentLedger.current`` reads: a write in
this process hands over the state it leads to (no reload), the change feed's report of that same
write keeps it, and nothing later is ever hidden by it: another write (in any process, at any
moment) drops it, and what is cached always equals what the ledger says."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from sqlalchemy.engine import Connection

from pledge.consent import ConsentLedger, open_enforcer
from pledge.consent.feeds import PollingChangeFeed
from pledge.consent.snapshot import HISTORY_KEPT, LedgerState
from pledge.policy import CompiledPolicy, Enforcer, StaticStates
from pledge.storage import Database

from .conftest import HASH_KEY, LockedAudit

NEWSLETTER = "newsletter"


class Loads:
    """Counts the ledger reads the cache makes (``load_state``)."""

    def __init__(self, ledger: ConsentLedger, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = ledger.load_state

        def counted(subject_id: str) -> LedgerState:
            self.count += 1
            return original(subject_id)

        monkeypatch.setattr(ledger, "load_state", counted)
        self.fresh = original
        """The ledger read itself, uncounted: what the cache must agree with."""


@pytest.fixture
def served(ledger: ConsentLedger) -> Iterator[Enforcer]:
    """The ledger with an enforcer serving its reads (and a change feed, as in production)."""
    enforcer = open_enforcer(ledger)
    yield enforcer
    enforcer.close()


def _other(db: Database, policy: CompiledPolicy) -> tuple[ConsentLedger, Database]:
    """Another "process": its own engine and ledger, nothing here subscribed to it."""
    other_db = Database(db.url)
    return ConsentLedger(other_db, policy, LockedAudit(), hash_key=HASH_KEY), other_db


def test_a_write_hands_its_state_to_the_cache(
    ledger: ConsentLedger, served: Enforcer, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads = Loads(ledger, monkeypatch)
    subject = ledger.directory.resolve("email", "ann@example.com")
    assert not ledger.current(subject).exists or ledger.current(subject).last_event == 0
    before = loads.count
    for step, (on, gpc) in enumerate([(True, None), (False, None), (True, "Sec-GPC: 1"), (True, None)]):
        written = ledger.set_consent(
            subject, {NEWSLETTER: on}, source="banner", proof=f"#{step}", gpc_signal=gpc
        )
        assert written or step == 3  # the last is what the ledger says already
        state = ledger.current(subject)
        assert state == loads.fresh(subject)  # state, marks, history, counts: all of it
        assert served.decide(subject, NEWSLETTER, ("user.name",), channel="email").allowed is on
    if db.dialect == "sqlite":
        # Polling feed: it reports this process's own writes with their ids, and the states
        # handed over already reflect them: not one reload.
        assert loads.count == before
    assert [h.kind for h in ledger.current(subject).history or ()] == [
        "grant",
        "withdraw",
        "grant",
        "gpc_signal",
    ]


def test_a_long_history_is_handed_over_as_the_ledger_would_give_it(
    ledger: ConsentLedger, served: Enforcer, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads = Loads(ledger, monkeypatch)
    subject = ledger.directory.resolve("email", "bob@example.com")
    for n in range(HISTORY_KEPT + 2):
        ledger.set_consent(subject, {NEWSLETTER: n % 2 == 0}, source="banner")
        state = ledger.current(subject)
        assert state == loads.fresh(subject)
        assert (state.history is None) is (n + 1 > HISTORY_KEPT)
        assert state.event_count == n + 1


def test_another_process_s_write_is_never_hidden(
    ledger: ConsentLedger, served: Enforcer, db: Database, policy: CompiledPolicy
) -> None:
    other, other_db = _other(db, policy)
    try:
        subject = ledger.directory.resolve("email", "cy@example.com")
        for n in range(6):
            writer = ledger if n % 2 == 0 else other
            writer.set_consent(subject, {NEWSLETTER: n % 2 == 0}, source="banner", proof=str(n))
            # Read right after, here: every committed write shows, whoever wrote it.
            fresh = ledger.load_state(subject)
            assert ledger.current(subject) == fresh
            assert fresh.last_event and fresh.event_count == n + 1
    finally:
        other_db.dispose()


def test_a_write_decides_from_the_ledger_when_the_cached_state_went_stale(
    ledger: ConsentLedger, served: Enforcer, db: Database, policy: CompiledPolicy
) -> None:
    """Between reading the cached state and taking the subject's lock another process grants;
    the write must see that under the lock (and record nothing twice)."""
    other, other_db = _other(db, policy)
    try:
        subject = ledger.directory.resolve("email", "dee@example.com")
        ledger.set_consent(subject, {NEWSLETTER: False}, source="banner")
        read = ledger.current

        def racing(subject_id: str) -> LedgerState:
            state = read(subject_id)
            other.set_consent(subject_id, {NEWSLETTER: True}, source="privacy_center")
            return state

        ledger.current = racing  # type: ignore[method-assign]
        written = ledger.set_consent(subject, {NEWSLETTER: True}, source="banner")
        del ledger.current
        assert written == []  # the other process's grant is the ledger's state: nothing to add
        assert [e.source for e in ledger.events(subject)] == ["banner", "privacy_center"]
        assert ledger.current(subject) == ledger.load_state(subject)
        assert ledger.current(subject).consent_mark(NEWSLETTER, None)[0].on  # type: ignore[union-attr]
    finally:
        other_db.dispose()


class HookedAudit(LockedAudit):
    """Runs ``during`` inside each append (the writing transaction, lock held, not committed)."""

    def __init__(self) -> None:
        super().__init__()
        self.during: list[Callable[[], None]] = []

    def append(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        subject: str | None = None,
        conn: Connection | None = None,
    ) -> int:
        for action in self.during:
            action()
        return super().append(kind, payload, subject=subject, conn=conn)


def test_a_state_handed_over_after_an_invalidation_is_dropped(
    db: Database, policy: CompiledPolicy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An invalidation between the write taking its lock and handing its state over may come
    from a later write (elsewhere): the handed state is then forgotten, and read again."""
    audit = HookedAudit()
    ledger = ConsentLedger(db, policy, audit, hash_key=HASH_KEY)
    enforcer = open_enforcer(ledger, cross_process=False)
    try:
        loads = Loads(ledger, monkeypatch)
        subject = ledger.directory.resolve("email", "eve@example.com")
        ledger.current(subject)
        audit.during.append(lambda: enforcer.invalidate(subject))
        ledger.set_consent(subject, {NEWSLETTER: True}, source="banner")
        audit.during.clear()
        before = loads.count
        assert ledger.current(subject) == loads.fresh(subject)
        assert loads.count == before + 1  # not taken from the write: read again
        # Without one, the next write's state is taken as it is.
        ledger.set_consent(subject, {NEWSLETTER: False}, source="banner")
        assert ledger.current(subject) == loads.fresh(subject)
        assert loads.count == before + 1
    finally:
        enforcer.close()


def test_merged_subjects_are_written_and_read_through_their_root(
    ledger: ConsentLedger, served: Enforcer, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads = Loads(ledger, monkeypatch)
    visitor = ledger.directory.resolve("cookie_id", "visitor-0123456789abcdef")
    ledger.set_consent(visitor, {NEWSLETTER: True}, source="banner")
    person = ledger.directory.resolve("email", "fay@example.com")
    ledger.set_consent(person, {NEWSLETTER: False}, source="privacy_center")
    root = ledger.link(person, "cookie_id", "visitor-0123456789abcdef")
    assert root == person
    for subject, on in ((visitor, True), (person, True), (visitor, False), (person, True)):
        ledger.current(subject)
        ledger.set_consent(subject, {NEWSLETTER: on}, source="banner")
        for each in (visitor, person):
            assert ledger.current(each) == loads.fresh(each)
            assert ledger.current(each).consent_mark(NEWSLETTER, None)[0].on is on  # type: ignore[union-attr]


def test_concurrent_writers_here_and_elsewhere_leave_the_cache_equal_to_the_ledger(
    ledger: ConsentLedger, served: Enforcer, db: Database, policy: CompiledPolicy
) -> None:
    other, other_db = _other(db, policy)
    subjects = [ledger.directory.resolve("email", f"p{n}@example.com") for n in range(3)]
    failures: list[BaseException] = []

    def work(writer: ConsentLedger, seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(25):
                subject = rng.choice(subjects)
                if rng.random() < 0.3:
                    writer.current(subject)
                writer.set_consent(subject, {NEWSLETTER: rng.random() < 0.5}, source="banner")
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(ledger, n)) for n in range(6)]
    threads += [threading.Thread(target=work, args=(other, 100 + n)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    other_db.dispose()
    assert not failures, failures
    for subject in subjects:
        assert ledger.current(subject) == ledger.load_state(subject)


# --- the cache's own rules (an enforcer over fixed states) ---------------------------------------


def _state(subject_id: str, last_event: int) -> LedgerState:
    return LedgerState(subject_id=subject_id, root=subject_id, last_event=last_event, event_count=last_event)


class Fixed(StaticStates):
    def __init__(self) -> None:
        super().__init__()
        self.during_load: list[Callable[[], None]] = []

    def load_state(self, subject_id: str) -> Any:
        for action in self.during_load:
            action()
        return super().load_state(subject_id)


@pytest.fixture
def fixed() -> Fixed:
    return Fixed()


@pytest.fixture
def cache(policy: CompiledPolicy, fixed: Fixed) -> Enforcer:
    return Enforcer(policy, fixed, LockedAudit(), flush_interval=None)


def test_refresh_stores_unless_the_subject_was_invalidated_since(cache: Enforcer, fixed: Fixed) -> None:
    token = cache.token("s")
    cache.refresh("s", _state("s", 3), token)
    assert cache.state("s").last_event == 3
    stale = cache.token("s")
    cache.invalidate("s")  # e.g. a later write, reported before the refresh below
    fixed.states["s"] = _state("s", 9)
    cache.refresh("s", _state("s", 5), stale)
    assert cache.state("s").last_event == 9  # read again, not the handed-over 5
    assert cache.token("s") != stale
    cache.invalidate_all()
    cache.refresh("s", _state("s", 10), stale)  # a token from before invalidate_all: forgotten
    fixed.states["s"] = _state("s", 11)
    assert cache.state("s").last_event == 11
    token = cache.token("s")
    assert cache.state("s").last_event == 11  # reads do not move it
    cache.refresh("s", _state("s", 12), token)
    assert cache.state("s").last_event == 12


def test_a_reported_event_keeps_only_states_that_already_reflect_it(cache: Enforcer, fixed: Fixed) -> None:
    cache.refresh("s", _state("s", 7), cache.token("s"))
    cache.invalidate("s", seen_event=7)
    cache.invalidate("s", seen_event=6)
    assert cache.state("s").last_event == 7  # kept: no load
    fixed.states["s"] = _state("s", 8)
    cache.invalidate("s", seen_event=8)
    assert cache.state("s").last_event == 8
    cache.invalidate("s")  # no event named: always forgotten
    fixed.states["s"] = _state("s", 9)
    assert cache.state("s").last_event == 9
    # A pending write (in a caller's transaction) is never assumed seen.
    cache.invalidate("s", pending_event=10)
    cache.refresh("s", _state("s", 9), cache.token("s"))
    fixed.states["s"] = _state("s", 10)
    assert cache.state("s").last_event == 10


def test_a_load_racing_with_a_refresh_never_replaces_it(cache: Enforcer, fixed: Fixed) -> None:
    fixed.states["s"] = _state("s", 1)  # what a load read before the write committed
    fixed.during_load.append(lambda: cache.refresh("s", _state("s", 2), cache.token("s")))
    assert cache.state("s").last_event == 1  # this caller gets what it read ...
    fixed.during_load.clear()
    assert cache.state("s").last_event == 2  # ... but the cache keeps the write's state


def test_the_polling_feed_reports_each_subject_with_its_latest_event(ledger: ConsentLedger) -> None:
    feed = PollingChangeFeed(ledger.db, interval=3600)
    reported: list[tuple[str, int | None]] = []
    feed.start(lambda subject_id, *, seen_event=None: reported.append((subject_id, seen_event)), lambda: None)
    try:
        ann = ledger.directory.resolve("email", "ann@example.com")
        bob = ledger.directory.resolve("email", "bob@example.com")
        first = ledger.grant(ann, NEWSLETTER, source="api")
        second = ledger.withdraw(ann, NEWSLETTER, source="api")
        third = ledger.grant(bob, NEWSLETTER, source="api")
        feed.sync()
        assert sorted(reported) == sorted([(ann, second.id), (bob, third.id)])
        assert first.id < second.id
    finally:
        feed.stop()
