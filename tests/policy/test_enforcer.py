"""The enforcer around the pure decision: caching, invalidation, audit."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pledge.audit.sink import MemoryAudit
from pledge.policy import CompiledPolicy, Enforcer, StaticStates, SubjectState, evaluate, normalise_categories

from .conftest import make_state, today


class CountingStates(StaticStates):
    def __init__(self) -> None:
        super().__init__()
        self.loads = 0
        self.during_load: list[object] = []

    def load_state(self, subject_id: str) -> SubjectState:
        self.loads += 1
        for action in self.during_load:
            action()  # type: ignore[operator]
        return super().load_state(subject_id)


@pytest.fixture
def counting() -> CountingStates:
    return CountingStates()


@pytest.fixture
def cached(policy: CompiledPolicy, counting: CountingStates, audit: MemoryAudit) -> Enforcer:
    return Enforcer(policy, counting, audit, today=today, flush_interval=None)


def test_a_cached_subject_is_loaded_once_and_answers_are_shared(
    cached: Enforcer, counting: CountingStates
) -> None:
    first = cached.decide("s", "orders", ("user.name",))
    for _ in range(100):
        assert cached.decide("s", "orders", ("user.name",)) is first
    assert counting.loads == 1
    assert cached.cached_subjects == 1


def test_categories_may_be_a_string_list_or_tuple(cached: Enforcer) -> None:
    a = cached.decide("s", "orders", "user.name")
    b = cached.decide("s", "orders", ["user.name", "user.name"])
    c = cached.decide("s", "orders", ("user.name",))
    assert a.categories == b.categories == c.categories == ("user.name",)
    assert cached.decide("s", "orders", {"user.name", "user.contact.email"}).categories == (
        "user.contact.email",
        "user.name",
    )
    with pytest.raises(TypeError):
        cached.decide("s", "orders", 42)
    with pytest.raises(TypeError):
        cached.decide("s", "orders", [b"user.name"])


def test_denials_are_logged_and_allowed_decisions_counted(cached: Enforcer, audit: MemoryAudit) -> None:
    cached.decide("s", "orders", ("user.name",))
    cached.decide("s", "orders", ("user.name",))
    cached.decide("s", "newsletter", ("user.contact.email",), channel="email")
    assert audit.allowed == {("orders", ("user.name",)): 2}
    assert audit.kinds() == ["decision.denied"]
    entry = audit.entries[0]
    assert entry.subject == "s"
    assert entry.payload["reason"] == "consent_missing"
    assert entry.payload["channel"] == "email"
    assert entry.payload["categories"] == ["user.contact.email"]


def test_every_allowed_decision_is_logged_when_configured(policy: CompiledPolicy) -> None:
    audit = MemoryAudit()
    enforcer = Enforcer(policy, StaticStates(), audit, log_allowed=True, today=today, flush_interval=None)
    enforcer.decide("s", "orders", ("user.name",))
    enforcer.decide("s", "orders", ("user.name",))
    assert audit.kinds() == ["decision.allowed", "decision.allowed"]
    assert audit.allowed == {}


def test_invalidation_makes_the_next_decision_use_the_new_state(
    cached: Enforcer, counting: CountingStates
) -> None:
    counting.states["s"] = make_state("s", ("grant", "newsletter"))
    assert cached.decide("s", "newsletter", ("user.name",)).allowed
    counting.states["s"] = make_state("s", ("grant", "newsletter"), ("withdraw", "newsletter"))
    assert cached.decide("s", "newsletter", ("user.name",)).allowed  # not told yet: cached
    cached.invalidate("s")
    assert cached.decide("s", "newsletter", ("user.name",)).reason == "consent_withdrawn"
    cached.invalidate_all()
    assert cached.cached_subjects == 0
    assert cached.decide(None, "stats", ()).allowed


def test_a_load_racing_with_a_write_is_not_cached(cached: Enforcer, counting: CountingStates) -> None:
    # The state is read, then (before it is cached) a write invalidates the subject.
    counting.during_load.append(lambda: cached.invalidate("s"))
    cached.decide("s", "orders", ("user.name",))
    counting.during_load.clear()
    cached.decide("s", "orders", ("user.name",))
    cached.decide("s", "orders", ("user.name",))
    assert counting.loads == 2


def test_a_pending_write_blocks_caching_until_it_is_seen(cached: Enforcer, counting: CountingStates) -> None:
    counting.states["s"] = make_state("s", ("grant", "newsletter"))  # last_event = 1
    cached.invalidate("s", pending_event=2)
    for _ in range(3):
        assert cached.decide("s", "newsletter", ("user.name",)).allowed
    assert counting.loads == 3  # event 2 has not shown up: every call reloads
    counting.states["s"] = make_state("s", ("grant", "newsletter"), ("withdraw", "newsletter"))
    assert not cached.decide("s", "newsletter", ("user.name",)).allowed
    assert not cached.decide("s", "newsletter", ("user.name",)).allowed
    assert counting.loads == 4


def test_a_minor_is_re_derived_on_coming_of_age(policy: CompiledPolicy) -> None:
    day = [dt.date(2025, 6, 1)]
    states = StaticStates(
        {
            "kid": make_state(
                "kid",
                ("grant", "newsletter"),
                ("birth_date_declared", "*", "*", {"birth_date": "2009-06-03"}),
            )
        }
    )
    enforcer = Enforcer(policy, states, MemoryAudit(), today=lambda: day[0], flush_interval=None)
    assert enforcer.decide("kid", "newsletter", ("user.name",)).reason == "under_minimum_age"
    day[0] = dt.date(2025, 6, 2)
    assert enforcer.decide("kid", "newsletter", ("user.name",)).reason == "under_minimum_age"
    day[0] = dt.date(2025, 6, 3)
    assert enforcer.decide("kid", "newsletter", ("user.name",)).reason == "consented"


def test_the_cache_is_bounded(policy: CompiledPolicy) -> None:
    enforcer = Enforcer(
        policy, StaticStates(), MemoryAudit(), max_subjects=50, today=today, flush_interval=None
    )
    for n in range(500):
        enforcer.decide(f"s{n}", "orders", ("user.name",))
    assert enforcer.cached_subjects <= 51
    assert enforcer.decide(None, "orders", ("user.name",)).allowed


def test_concurrent_deciders_and_invalidators_agree_with_the_state(policy: CompiledPolicy) -> None:
    states = StaticStates({"s": make_state("s", ("grant", "newsletter"))})
    enforcer = Enforcer(policy, states, MemoryAudit(), today=today, flush_interval=None)
    stop = threading.Event()
    errors: list[BaseException] = []

    def hammer() -> None:
        try:
            while not stop.is_set():
                enforcer.decide("s", "newsletter", ("user.name",))
                enforcer.decide(f"x{threading.get_ident() % 7}", "orders", ("user.name",))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for n in range(200):
        states.states["s"] = make_state(
            "s", ("grant", "newsletter"), *([("withdraw", "newsletter")] * (n % 2))
        )
        enforcer.invalidate("s")
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    # The last write withdrew consent: once invalidated, every later decision says so.
    assert enforcer.decide("s", "newsletter", ("user.name",)).reason == "consent_withdrawn"


EVENTS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "grant",
                "withdraw",
                "object",
                "withdraw_objection",
                "restrict",
                "lift_restriction",
                "opt_out_of_sale",
                "opt_in_to_sale",
                "gpc_signal",
            ]
        ),
        st.sampled_from(["*", "newsletter", "offers", "list_rental", "ads"]),
        st.sampled_from(["*", "email", "postal_mail"]),
    ),
    max_size=8,
)
QUESTIONS = st.tuples(
    st.sampled_from(["newsletter", "offers", "list_rental", "ads", "orders", "tax"]),
    st.sampled_from([(), ("user.name",), ("user.contact.email",), ("user.contact.address",)]),
    st.sampled_from([None, "list_broker", "mailer"]),
    st.sampled_from([None, "email", "postal_mail"]),
    st.sampled_from([None, "gdpr", "ccpa"]),
    st.sampled_from([None, True]),
)


@settings(max_examples=150, deadline=None)
@given(events=EVENTS, questions=st.lists(QUESTIONS, min_size=1, max_size=6))
def test_cached_answers_equal_fresh_evaluation(
    policy: CompiledPolicy, events: list[tuple[str, str, str]], questions: list[tuple[object, ...]]
) -> None:
    state = make_state("s", *events)
    enforcer = Enforcer(policy, StaticStates({"s": state}), MemoryAudit(), today=today, flush_interval=None)
    for _round in range(2):  # the second round is answered from the memo
        for purpose, cats, recipient, channel, jurisdiction, gpc in questions:
            got = enforcer.decide(
                "s", purpose, cats, recipient, channel=channel, jurisdiction=jurisdiction, gpc=gpc
            )  # type: ignore[arg-type]
            fresh = evaluate(
                policy,
                state,
                purpose,
                normalise_categories(cats),
                recipient,  # type: ignore[arg-type]
                channel=channel,
                jurisdiction=jurisdiction,
                gpc=gpc,
                today=today(),  # type: ignore[arg-type]
            )
            assert got == fresh


class BatchAudit(MemoryAudit):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []
        self.fail = False

    def append_many(self, items: list[tuple[str, dict[str, object], str | None]]) -> list[int]:
        if self.fail:
            raise RuntimeError("audit store down")
        self.batches.append(len(items))
        return [self.append(kind, payload, subject=subject) for kind, payload, subject in items]


def test_denials_are_written_in_batches(policy: CompiledPolicy) -> None:
    audit = BatchAudit()
    enforcer = Enforcer(policy, StaticStates(), audit, today=today, flush_interval=60, batch_size=10)
    try:
        for n in range(25):
            enforcer.decide(f"s{n}", "newsletter", ("user.contact.email",))
        assert audit.batches == [10, 10]  # full batches go at once, from the deciding thread
        assert enforcer.flush() == 5
        assert audit.batches == [10, 10, 5]
        assert [e.subject for e in audit.entries] == [f"s{n}" for n in range(25)]
        assert enforcer.flush() == 0
    finally:
        enforcer.close()


def test_a_failed_write_keeps_the_records_for_the_next_attempt(policy: CompiledPolicy) -> None:
    audit = BatchAudit()
    enforcer = Enforcer(policy, StaticStates(), audit, today=today, flush_interval=60, batch_size=1000)
    enforcer.decide("a", "newsletter", ("user.contact.email",))
    enforcer.decide("b", "newsletter", ("user.contact.email",))
    audit.fail = True
    with pytest.raises(RuntimeError):
        enforcer.flush()
    enforcer.decide("c", "newsletter", ("user.contact.email",))
    audit.fail = False
    enforcer.close()  # close writes what is left, in order
    assert [e.subject for e in audit.entries] == ["a", "b", "c"]


def test_the_background_flusher_writes_without_being_asked(policy: CompiledPolicy) -> None:
    audit = MemoryAudit()  # no append_many: one append per record
    with Enforcer(policy, StaticStates(), audit, today=today, flush_interval=0.01) as enforcer:
        enforcer.decide("a", "newsletter", ("user.contact.email",))
        deadline = time.monotonic() + 5
        while not audit.entries and time.monotonic() < deadline:
            time.sleep(0.005)
        assert audit.kinds() == ["decision.denied"]


@pytest.mark.parametrize("subject", ["ann@example.com", "", " s1", "a" * 300, "s/1\n", 42])
def test_subject_ids_must_be_pseudonymous(cached: Enforcer, subject: object) -> None:
    from pledge.errors import InputError

    with pytest.raises(InputError):
        cached.decide(subject, "orders", ("user.name",))  # type: ignore[arg-type]


def test_only_declared_names_reach_the_audit_log(cached: Enforcer, audit: MemoryAudit) -> None:
    cached.decide("s", "newsletter", ("ann@example.com", "user.name"), "10.0.0.1", channel="me@x.org")
    cached.decide("s", "call ann@example.com", ("user.name",), jurisdiction="99.1.2.3")
    first, second = (e.payload for e in audit.entries)
    assert first["categories"] == ["<unknown>", "user.name"]
    assert first["recipient"] == "<unknown>" and first["channel"] == "<unknown>"
    assert second["purpose"] == "<unknown>" and second["jurisdiction"] == "<unknown>"
    assert "@" not in repr(audit.entries) and "10.0.0.1" not in repr(audit.entries)


class PickyAudit(BatchAudit):
    def append_many(self, items: list[tuple[str, dict[str, object], str | None]]) -> list[int]:
        from pledge.errors import InputError

        if any(subject == "bad" for _k, _p, subject in items):
            raise InputError("refused")
        return super().append_many(items)

    def append(self, kind: str, payload: object, *, subject: str | None = None, conn: object = None) -> int:
        from pledge.errors import InputError

        if subject == "bad":
            raise InputError("refused")
        return super().append(kind, payload, subject=subject)  # type: ignore[arg-type]


def test_a_refused_record_does_not_block_the_others(policy: CompiledPolicy) -> None:
    audit = PickyAudit()
    enforcer = Enforcer(policy, StaticStates(), audit, today=today, flush_interval=60)
    for subject in ("a", "bad", "c"):
        enforcer.decide(subject, "newsletter", ("user.contact.email",))
    assert enforcer.flush() == 3
    assert [e.subject for e in audit.entries] == ["a", "c"]
    enforcer.close()
