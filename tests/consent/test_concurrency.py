"""Concurrent writers lose nothing, and a withdrawal reaches every enforcer, in any process."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable

import sqlalchemy as sa

from pledge.consent import ConsentLedger, open_enforcer
from pledge.consent.feeds import PostgresChangeFeed
from pledge.consent.tables import events
from pledge.policy import CompiledPolicy, Enforcer
from pledge.storage import Database
from tests.conftest import ROOT

from .conftest import HASH_KEY, LockedAudit

WRITERS = 50
SHARED = 5
ROUNDS = 6


def test_fifty_concurrent_writers_lose_nothing(
    db: Database, policy: CompiledPolicy, audit: LockedAudit
) -> None:
    setup = ConsentLedger(db, policy, audit, hash_key=HASH_KEY)
    shared = [setup.directory.resolve("email", f"shared{n}@example.com") for n in range(SHARED)]
    barrier = threading.Barrier(WRITERS)
    failures: list[BaseException] = []
    own: dict[int, str] = {}

    def writer(i: int) -> None:
        # Each writer has its own engine and connection, as separate processes would.
        mine = Database(db.url)
        try:
            ledger = ConsentLedger(mine, policy, audit, hash_key=HASH_KEY)
            barrier.wait()
            own[i] = ledger.directory.resolve("email", f"writer{i}@example.com")
            # Everyone also races to register the same new identity.
            ledger.directory.resolve("email", "everyone@example.com")
            target = shared[i % SHARED]
            for n in range(ROUNDS):
                kind = "grant" if n % 2 == 0 else "withdraw"
                ledger.record(target, kind, purpose="newsletter", source="api", proof=f"{i}:{n}")
            ledger.grant(own[i], "newsletter", "email", source="banner", proof=f"{i}:own")
            ledger.object_to(own[i], "list_rental", source="privacy_center", proof=f"{i}:object")
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)
        finally:
            mine.dispose()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:3]

    with db.connect() as conn:
        rows = conn.execute(sa.select(events).order_by(events.c.id)).all()
        subjects = conn.execute(sa.text("SELECT count(*) FROM consent_subjects")).scalar_one()
    assert len(rows) == WRITERS * (ROUNDS + 2)
    proofs = {r.proof for r in rows}
    assert proofs == {f"{i}:{n}" for i in range(WRITERS) for n in [*range(ROUNDS), "own", "object"]}
    assert len(audit.entries) == len(rows)
    assert sorted(r.audit_index for r in rows) == list(range(len(rows)))
    assert subjects == SHARED + WRITERS + 1  # no duplicate subject for the raced identity

    for subject in shared:
        history = [r for r in rows if r.subject_id == subject]
        assert len(history) == ROUNDS * (WRITERS // SHARED)
        # Each writer's own events keep their order...
        for i in range(WRITERS):
            mine = [int(r.proof.split(":")[1]) for r in history if r.proof.split(":")[0] == str(i)]
            assert mine == sorted(mine)
        # ...and the derived state is the latest event's.
        last = history[-1]
        mark, _ = setup.load_state(subject).consent_mark("newsletter", None)
        assert mark is not None and mark.on is (last.kind == "grant") and mark.seq == last.id
    for subject in own.values():
        state = setup.load_state(subject)
        assert state.objected("list_rental")
        assert state.consent_mark("newsletter", "email")[0].on  # type: ignore[union-attr]


def wait_for(check: Callable[[], bool], timeout: float = 5.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.002)
    raise AssertionError("the change never arrived")


def test_a_withdrawal_in_this_process_affects_the_very_next_decision(ledger: ConsentLedger) -> None:
    enforcer = open_enforcer(ledger, cross_process=False)
    subject = ledger.directory.resolve("email", "ann@example.com")
    ledger.grant(subject, "newsletter", "email", source="privacy_center")
    assert enforcer.decide(subject, "newsletter", ("user.contact.email",), channel="email").allowed
    ledger.withdraw(subject, "newsletter", "email", source="privacy_center")
    assert enforcer.decide(subject, "newsletter", ("user.contact.email",), channel="email").reason == (
        "channel_opted_out"
    )
    # Inside a caller's transaction: not cached while uncommitted, right once committed.
    with ledger.db.begin() as conn:
        ledger.grant(subject, "newsletter", "email", source="api", conn=conn)
        enforcer.decide(subject, "newsletter", ("user.contact.email",), channel="email")
    assert enforcer.decide(subject, "newsletter", ("user.contact.email",), channel="email").allowed


def test_a_withdrawal_in_another_process_reaches_this_one(
    db: Database, ledger: ConsentLedger, policy: CompiledPolicy
) -> None:
    enforcer = open_enforcer(ledger)
    try:
        subject = ledger.directory.resolve("email", "ann@example.com")
        ledger.grant(subject, "newsletter", "email", source="privacy_center")
        assert enforcer.decide(subject, "newsletter", ("user.name",)).allowed
        # Another "process": its own engine and ledger, nothing subscribed to it here.
        other_db = Database(db.url)
        other = ConsentLedger(other_db, policy, LockedAudit(), hash_key=HASH_KEY)
        other.withdraw(subject, "newsletter", source="email_link")
        latency = wait_for(lambda: not enforcer.decide(subject, "newsletter", ("user.name",)).allowed)
        assert latency < 2.0
        other.grant(subject, "newsletter", "email", source="privacy_center")
        wait_for(lambda: enforcer.decide(subject, "newsletter", ("user.name",)).allowed)
        other_db.dispose()

        # And a real separate process.
        script = (
            "import sys; sys.path.insert(0, sys.argv[1])\n"
            "from tests.policy.conftest import SHOP\n"
            "from pledge.declaration import parse_declaration\n"
            "from pledge.policy import compile_policy\n"
            "from pledge.audit.sink import MemoryAudit\n"
            "from pledge.consent import ConsentLedger\n"
            "from pledge.storage import Database\n"
            "db = Database(sys.argv[2])\n"
            "ledger = ConsentLedger(db, compile_policy(parse_declaration(SHOP, 'shop.yaml')), MemoryAudit(),"
            " hash_key=b'k' * 32)\n"
            "ledger.withdraw(sys.argv[3], 'newsletter', source='operator')\n"
        )
        subprocess.run([sys.executable, "-c", script, str(ROOT), db.url, subject], check=True, timeout=60)
        wait_for(lambda: enforcer.decide(subject, "newsletter", ("user.name",)).reason == "consent_withdrawn")
    finally:
        enforcer.close()


def test_the_postgres_feed_survives_a_dropped_connection(pg_url: str, policy: CompiledPolicy) -> None:
    db = Database(pg_url)
    db.migrate()
    ledger = ConsentLedger(db, policy, LockedAudit(), hash_key=HASH_KEY)
    enforcer = Enforcer(policy, ledger, LockedAudit())
    feed = PostgresChangeFeed(pg_url, reconnect_delay=0.05)
    enforcer.attach(feed)
    try:
        subject = ledger.directory.resolve("email", "ann@example.com")
        ledger.grant(subject, "newsletter", source="api")
        assert enforcer.decide(subject, "newsletter", ()).allowed
        with db.begin() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": feed._conn.info.backend_pid})
        ledger.withdraw(subject, "newsletter", source="api")  # maybe while the feed is away
        wait_for(lambda: not enforcer.decide(subject, "newsletter", ()).allowed)
        ledger.grant(subject, "newsletter", source="api")  # after it is back
        wait_for(lambda: enforcer.decide(subject, "newsletter", ()).allowed)
    finally:
        enforcer.close()
        db.dispose()
