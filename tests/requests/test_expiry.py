"""Requests nobody verifies are closed after ``unverified_ttl`` (``Settings.verification_expiry``)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from email.message import EmailMessage

import pytest
import sqlalchemy as sa

from pledge.config import Settings
from pledge.errors import ConfigError, Conflict, ConnectorError
from pledge.requests.background import housekeeping
from pledge.requests.mail import MemoryMailer
from pledge.requests.steps import Identity
from pledge.requests.tables import notices, requests
from pledge.requests.workflow import VERIFICATION_EXPIRED
from tests.requests.support import EMAIL, Clock, Env
from tests.requests.test_workflow import _token


class DownMailer(MemoryMailer):
    """A mail server that refuses everything: the verification mail stays owed."""

    def send(self, message: EmailMessage) -> None:
        raise ConnectorError("mail server down")


@pytest.fixture
def env(db_url: str, make_env: Callable[..., Env]) -> Env:
    return make_env(db_url)


def _sealed(env: Env, request_id: str) -> str | None:
    with env.db.connect() as conn:
        return conn.execute(sa.select(requests.c.sealed).where(requests.c.id == request_id)).scalar()


def test_a_request_never_verified_is_closed_and_its_identities_wiped(env: Env) -> None:
    clock = env.clock
    assert isinstance(clock, Clock) and isinstance(env.mailer, MemoryMailer)
    stale = env.workflow.create_request("access", [EMAIL], jurisdiction="gdpr")
    clock.advance(days=20)
    fresh = env.workflow.create_request("access", [Identity("email", "bo@example.org")], jurisdiction="gdpr")
    staff = env.workflow.create_request(
        "access", [Identity("email", "cy@example.org")], jurisdiction="gdpr", source="cli", operator="op"
    )
    clock.advance(days=10)  # stale: exactly 30 days old, still within its time
    assert env.workflow.expire_unverified() == []
    env.workflow.resend_verification(stale.id)  # a fresh link, still valid after the expiry
    link = _token(env.mailer.sent[-1])
    clock.advance(seconds=1)
    mails = len(env.mailer.sent)
    assert env.workflow.expire_unverified() == [stale.id]
    assert env.workflow.expire_unverified() == []  # once

    closed = env.workflow.get_request(stale.id)
    assert closed.state == "rejected" and closed.decision_reason == VERIFICATION_EXPIRED
    assert closed.finished_at == clock.now and not closed.has_identities
    assert _sealed(env, stale.id) is None
    assert len(env.mailer.sent) == mails  # the address was never confirmed: nobody is told
    kind, entry = env.audit.of(stale.id)[-1]
    assert kind == "request.rejected" and entry["reason"] == VERIFICATION_EXPIRED
    assert entry["from"] == "received" and "ada" not in json.dumps(entry).lower()
    assert env.workflow.get_request(fresh.id).state == "received"
    assert env.workflow.get_request(staff.id).state == "verified"  # verified requests never expire
    with pytest.raises(Conflict):  # the old link opens nothing any more
        env.workflow.verify_request(link)

    clock.advance(days=25)
    housekeeping(env.workflow)  # the workers' periodic pass does the same
    assert env.workflow.get_request(fresh.id).state == "rejected"


def test_mail_still_owed_to_an_expired_request_is_dropped(
    sqlite_url: str, make_env: Callable[..., Env]
) -> None:
    env = make_env(sqlite_url, mailer=DownMailer())
    clock = env.clock
    assert isinstance(clock, Clock)
    record = env.workflow.create_request("access", [EMAIL], jurisdiction="gdpr")
    with env.db.connect() as conn:
        owed = conn.execute(sa.select(notices.c.kind).where(notices.c.sent_at.is_(None))).scalars().all()
    assert owed == ["verification"]
    clock.advance(days=31)
    assert env.workflow.expire_unverified() == [record.id]
    with env.db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(notices)).scalar_one() == 0
    env.services.mailer = MemoryMailer()
    assert env.workflow.deliver_pending_mail(older_than_seconds=0) == 0  # no late verification link


def test_expiry_can_be_switched_off_and_is_read_from_the_environment(
    sqlite_url: str, make_env: Callable[..., Env]
) -> None:
    env = make_env(sqlite_url)
    env.services.unverified_ttl = None
    env.workflow.create_request("access", [EMAIL], jurisdiction="gdpr")
    assert isinstance(env.clock, Clock)
    env.clock.advance(days=3650)
    assert env.workflow.expire_unverified() == []

    assert Settings().verification_expiry == dt.timedelta(days=30)
    assert Settings.from_env({}).verification_expiry == dt.timedelta(days=30)
    assert Settings.from_env({"PLEDGE_VERIFICATION_EXPIRY": "P6W"}).verification_expiry == dt.timedelta(
        weeks=6
    )
    assert Settings.from_env({"PLEDGE_VERIFICATION_EXPIRY": "PT12H"}).verification_expiry == dt.timedelta(
        hours=12
    )
    assert Settings.from_env({"PLEDGE_VERIFICATION_EXPIRY": "off"}).verification_expiry is None
    for bad in ("30", "P", "P0D", "thirty days", "P99999Y"):
        with pytest.raises(ConfigError, match="PLEDGE_VERIFICATION_EXPIRY"):
            Settings.from_env({"PLEDGE_VERIFICATION_EXPIRY": bad})


def test_many_stale_requests_close_in_batches(sqlite_url: str, make_env: Callable[..., Env]) -> None:
    env = make_env(sqlite_url)
    ids = [
        env.workflow.create_request(
            "access", [Identity("email", f"p{i}@example.org")], jurisdiction="gdpr"
        ).id
        for i in range(7)
    ]
    assert isinstance(env.clock, Clock)
    env.clock.advance(days=31)
    first = env.workflow.expire_unverified(limit=5)
    second = env.workflow.expire_unverified(limit=5)
    assert len(first) == 5 and sorted(first + second) == sorted(ids)
