from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pledge.consent import ConsentLedger, EventKind
from pledge.consent.tables import events, subjects
from pledge.errors import InputError, NotFound
from pledge.policy import CompiledPolicy
from pledge.storage import Database

from .conftest import HASH_KEY, LockedAudit


def count_events(db: Database) -> int:
    with db.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one())


def test_grant_and_withdraw_are_appended_and_the_state_derived(
    ledger: ConsentLedger, audit: LockedAudit
) -> None:
    subject = ledger.directory.resolve("email", "ann@example.com")
    granted = ledger.grant(subject, "newsletter", "email", source="privacy_center", proof="Yes, send me news")
    assert ledger.load_state(subject).consent_mark("newsletter", "email")[0].on  # type: ignore[union-attr]
    withdrawn = ledger.withdraw(subject, "newsletter", source="email_link")
    assert withdrawn.id > granted.id
    state = ledger.load_state(subject)
    mark, specific = state.consent_mark("newsletter", "email")
    assert mark is not None and not mark.on and not specific
    assert state.last_event == withdrawn.id
    history = ledger.events(subject)
    assert [e.kind for e in history] == ["grant", "withdraw"]
    first = history[0]
    assert first.proof == "Yes, send me news"
    assert first.proof_hash == hashlib.sha256(b"Yes, send me news").hexdigest()
    assert first.policy_version == "2.0" and first.declaration_digest == ledger.policy.digest
    assert first.source == "privacy_center" and first.channel == "email"
    assert first.occurred_at.tzinfo is not None
    # Each event has its audit entry, without the proof text (only its hash).
    assert audit.kinds() == ["consent.grant", "consent.withdraw"]
    assert first.audit_index == 0 and history[1].audit_index == 1
    assert audit.entries[0].subject == subject
    assert audit.entries[0].payload["proof_hash"] == first.proof_hash
    assert "Yes, send me news" not in repr(audit.entries[0].payload)


def test_every_event_kind_is_accepted(ledger: ConsentLedger) -> None:
    subject = ledger.directory.resolve("account_id", "42")
    ledger.grant(subject, "offers", "postal_mail", source="banner", jurisdiction="gdpr")
    ledger.withdraw(subject, "offers", "email", source="email_link")
    ledger.object_to(subject, "list_rental", source="privacy_center")
    ledger.withdraw_objection(subject, "list_rental", source="privacy_center")
    ledger.restrict(subject, source="operator")
    ledger.lift_restriction(subject, source="operator")
    ledger.opt_out_of_sale(subject, source="privacy_center")
    ledger.opt_in_to_sale(subject, source="privacy_center")
    ledger.gpc_signal(subject, source="banner")
    ledger.declare_age(subject, 30, source="api")
    ledger.declare_birth_date(subject, "1990-02-03", source="api")
    kinds = [e.kind for e in ledger.events(subject)]
    assert set(kinds) == {k.value for k in EventKind} - {"linked"}
    state = ledger.load_state(subject)
    assert state.jurisdiction == "gdpr"
    assert state.birth_date == dt.date(1990, 2, 3)
    assert state.sale is not None and state.sale.kind == "gpc"
    assert not state.objected("list_rental") and not state.restricted("orders")


HOSTILE = ["'; DROP TABLE consent_events; --", "100%", "ünïcødé ☃", "x" * 10_000, ""]

BAD_INPUT: list[tuple[Any, str]] = [
    (lambda lg, s: lg.record(s, "agree", source="api"), "unknown consent event"),
    (lambda lg, s: lg.record(s, "linked", source="api", value={"merged": "x"}), "linking"),
    (lambda lg, s: lg.grant(s, "nope", source="api"), "unknown purpose"),
    (lambda lg, s: lg.grant(s, "*", source="api"), "purpose by purpose"),
    (lambda lg, s: lg.grant(s, "orders", source="api"), "no consent choice"),
    (lambda lg, s: lg.withdraw(s, "tax", source="api"), "no consent choice"),
    (lambda lg, s: lg.grant(s, "newsletter", "sms", source="api"), "does not use channel"),
    (lambda lg, s: lg.grant(s, "newsletter", "pigeon", source="api"), "unknown channel"),
    (lambda lg, s: lg.object_to(s, "orders", source="api"), "no objection"),
    (lambda lg, s: lg.object_to(s, "list_rental", channel="email", source="api"), "as a whole"),
    (lambda lg, s: lg.opt_out_of_sale(s, purpose="list_rental", source="api"), "whole subject"),
    (lambda lg, s: lg.grant(s, "newsletter", source="fax"), "unknown source"),
    (lambda lg, s: lg.grant(s, "newsletter", source="api", jurisdiction="mars"), "unknown jurisdiction"),
    (lambda lg, s: lg.grant(s, "newsletter", source="api", proof="p" * 70_000), "proof"),
    (lambda lg, s: lg.grant(s, "newsletter", source="api", value=1), "no value"),
    (lambda lg, s: lg.declare_age(s, -1, source="api"), "age"),
    (lambda lg, s: lg.declare_age(s, True, source="api"), "age"),
    (lambda lg, s: lg.declare_age(s, "12", source="api"), "age"),
    (lambda lg, s: lg.declare_birth_date(s, "2999-01-01", source="api"), "past"),
    (lambda lg, s: lg.declare_birth_date(s, "1 Jan 1990", source="api"), "not a date"),
    (lambda lg, s: lg.declare_birth_date(s, 19900101, source="api"), "birth date"),
    (
        lambda lg, s: lg.grant(s, "newsletter", source="api", occurred_at=dt.datetime(2025, 1, 1)),
        "time zone",
    ),
    (
        lambda lg, s: lg.grant(
            s, "newsletter", source="api", occurred_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        ),
        "future",
    ),
    (lambda lg, s: lg.grant(s, "newsletter", source="api", proof="a\x00b"), "NUL"),
    *[(lambda lg, s, h=h: lg.grant(s, h, source="api"), "unknown purpose") for h in [*HOSTILE, "\x00"]],
]


def test_bad_input_is_refused_and_changes_nothing(ledger: ConsentLedger, audit: LockedAudit) -> None:
    subject = ledger.directory.resolve("email", "bob@example.com")
    for call, error in BAD_INPUT:
        with pytest.raises(InputError, match=error):
            call(ledger, subject)
    assert count_events(ledger.db) == 0
    assert audit.entries == []


def test_unknown_subjects(ledger: ConsentLedger) -> None:
    for subject in ("s_missing", "", "x" * 500):
        with pytest.raises(NotFound):
            ledger.grant(subject, "newsletter", source="api")
    assert count_events(ledger.db) == 0
    # Deciding about someone the ledger never saw uses the declaration's defaults.
    assert ledger.load_state("s_missing").last_event == 0


def test_hostile_proof_is_stored_verbatim(ledger: ConsentLedger) -> None:
    subject = ledger.directory.resolve("email", "eve@example.com")
    for text in HOSTILE:
        ledger.grant(subject, "newsletter", source="banner", proof=text)
    assert [e.proof for e in ledger.events(subject)] == HOSTILE


class FailingAudit(LockedAudit):
    def append(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        subject: str | None = None,
        conn: Connection | None = None,
    ) -> int:
        raise RuntimeError("audit log is down")


def test_no_event_without_its_audit_entry(db: Database, policy: CompiledPolicy) -> None:
    ledger = ConsentLedger(db, policy, FailingAudit(), hash_key=HASH_KEY)
    subject = ledger.directory.resolve("email", "ann@example.com")
    with pytest.raises(RuntimeError):
        ledger.grant(subject, "newsletter", source="api")
    assert count_events(db) == 0


def test_an_event_inside_a_rolled_back_transaction_is_gone(ledger: ConsentLedger) -> None:
    subject = ledger.directory.resolve("email", "ann@example.com")
    with pytest.raises(ZeroDivisionError), ledger.db.begin() as conn:
        ledger.grant(subject, "newsletter", source="api", conn=conn)
        raise ZeroDivisionError
    assert ledger.events(subject) == []


def test_occurred_at_and_the_recording_time_are_kept_apart(ledger: ConsentLedger) -> None:
    subject = ledger.directory.resolve("email", "ann@example.com")
    when = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    event = ledger.grant(subject, "newsletter", source="import", occurred_at=when)
    stored = ledger.events(subject)[0]
    assert stored.occurred_at == when == event.occurred_at
    assert stored.occurred_at.utcoffset() == dt.timedelta(0)
    assert stored.recorded_at > when


def test_minors_are_flagged_for_purge(ledger: ConsentLedger, audit: LockedAudit) -> None:
    kid = ledger.directory.resolve("email", "kid@example.com")
    adult = ledger.directory.resolve("email", "adult@example.com")
    ledger.declare_age(adult, 40, source="api")
    ledger.declare_age(kid, 12, source="api")
    ledger.declare_birth_date(kid, dt.date.today() - dt.timedelta(days=365 * 10), source="api")
    flagged = ledger.flagged_minors()
    assert [f.subject_id for f in flagged] == [kid]
    assert audit.kinds().count("subject.flagged_minor") == 1
    with ledger.db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(subjects)).scalar_one() == 2
