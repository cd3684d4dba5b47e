"""Deadline reminders to operators: each goes once, survives a mail outage, and races safely."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from email.message import EmailMessage

import pytest

from pledge.errors import ConnectorError
from pledge.requests.mail import MemoryMailer
from tests.requests.support import EMAIL, Clock, Env


class FlakyMailer(MemoryMailer):
    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def send(self, message: EmailMessage) -> None:
        if self.down:
            raise ConnectorError("mail server down")
        super().send(message)


def _reminders(env: Env) -> list[EmailMessage]:
    assert isinstance(env.mailer, MemoryMailer)
    return [m for m in env.mailer.sent if m["To"] == "privacy@acme.test"]


@pytest.fixture
def clock() -> Clock:
    return Clock(dt.datetime(2024, 1, 31, 9, 0, tzinfo=dt.UTC))  # due 29 Feb 2024, 09:00


def test_each_reminder_goes_once_as_the_deadline_nears(
    sqlite_url: str, make_env: Callable[..., Env], clock: Clock
) -> None:
    env = make_env(sqlite_url, clock=clock)
    record = env.workflow.create_request("access", [EMAIL], jurisdiction="gdpr")
    done = env.workflow.create_request("access", [EMAIL], jurisdiction="gdpr", source="cli", operator="op")
    env.runner.run_request(done.id)
    assert env.workflow.send_due_reminders() == []
    clock.now = dt.datetime(2024, 2, 22, 9, 0, tzinfo=dt.UTC)
    assert env.workflow.send_due_reminders() == [(record.id, "7d@2024-02-29")]
    assert env.workflow.send_due_reminders() == []
    clock.now = dt.datetime(2024, 2, 27, 10, 0, tzinfo=dt.UTC)
    assert env.workflow.send_due_reminders() == [(record.id, "2d@2024-02-29")]
    clock.now = dt.datetime(2024, 3, 1, 0, 0, tzinfo=dt.UTC)
    assert env.workflow.send_due_reminders() == [(record.id, "overdue@2024-02-29")]
    assert env.workflow.send_due_reminders() == []
    subjects = [m["Subject"] for m in _reminders(env)]
    assert len(subjects) == 3 and subjects[-1].startswith("[Acme Books Ltd] OVERDUE")
    body = _reminders(env)[0].get_content()
    assert record.id in body and "ada@example.org" not in body.lower()  # never an identity
    assert env.audit.kinds(record.id).count("request.reminder_sent") == 3


def test_an_extension_re_arms_the_reminders(
    sqlite_url: str, make_env: Callable[..., Env], clock: Clock
) -> None:
    env = make_env(sqlite_url, clock=clock)
    record = env.workflow.create_request("access", [EMAIL], jurisdiction="gdpr")
    clock.now = dt.datetime(2024, 2, 23, 9, 0, tzinfo=dt.UTC)
    assert env.workflow.send_due_reminders() == [(record.id, "7d@2024-02-29")]
    env.workflow.extend(record.id, by="alice", reason="archive offline")  # now due 30 April
    clock.now = dt.datetime(2024, 3, 1, 9, 0, tzinfo=dt.UTC)
    assert env.workflow.send_due_reminders() == []
    clock.now = dt.datetime(2024, 4, 24, 9, 0, tzinfo=dt.UTC)
    assert env.workflow.send_due_reminders() == [(record.id, "7d@2024-04-30")]


def test_a_late_worker_sends_one_mail_for_all_missed_reminders(
    sqlite_url: str, make_env: Callable[..., Env], clock: Clock
) -> None:
    env = make_env(sqlite_url, clock=clock)
    record = env.workflow.create_request("access", [EMAIL], jurisdiction="gdpr")
    clock.now = dt.datetime(2024, 3, 5, 9, 0, tzinfo=dt.UTC)
    assert env.workflow.send_due_reminders() == [(record.id, "overdue@2024-02-29")]
    assert env.workflow.send_due_reminders() == []
    assert len(_reminders(env)) == 1


def test_a_reminder_the_mail_server_refused_is_sent_next_time(
    sqlite_url: str, make_env: Callable[..., Env], clock: Clock
) -> None:
    mailer = FlakyMailer()
    env = make_env(sqlite_url, clock=clock, mailer=mailer)
    record = env.workflow.create_request("access", [EMAIL], jurisdiction="gdpr")
    clock.now = dt.datetime(2024, 2, 23, 9, 0, tzinfo=dt.UTC)
    mailer.down = True
    assert env.workflow.send_due_reminders() == []
    assert env.audit.kinds(record.id).count("request.reminder_sent") == 0
    mailer.down = False
    assert env.workflow.send_due_reminders() == [(record.id, "7d@2024-02-29")]


def test_two_workers_racing_send_each_reminder_once(
    db_url: str, make_env: Callable[..., Env], clock: Clock
) -> None:
    env = make_env(db_url, clock=clock)
    ids = [env.workflow.create_request("access", [EMAIL], jurisdiction="gdpr").id for _ in range(5)]
    clock.now = dt.datetime(2024, 2, 23, 9, 0, tzinfo=dt.UTC)
    barrier = threading.Barrier(2)
    results: list[list[tuple[str, str]]] = []

    def tick() -> None:
        barrier.wait()
        results.append(env.workflow.send_due_reminders())

    threads = [threading.Thread(target=tick) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent = sorted(results[0] + results[1])
    assert sent == sorted((rid, "7d@2024-02-29") for rid in ids)
    assert len(_reminders(env)) == 5
