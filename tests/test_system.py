"""The composition root: one ``Pledge`` object wires every core service from settings."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from pledge.config import Settings, SmtpSettings
from pledge.declaration import load_declaration
from pledge.errors import ConfigError, DeclarationError, InputError
from pledge.requests.mail import MemoryMailer
from pledge.requests.steps import Identity
from pledge.system import Pledge, resolve_declaration_path

ROOT = Path(__file__).resolve().parent.parent
PESI = ROOT / "examples" / "pesi" / "privacy.yaml"


def settings_for(tmp_path: Path, **changes: object) -> Settings:
    base = Settings(
        db_url=f"sqlite:///{tmp_path / 'db' / 'pledge.db'}",
        data_dir=tmp_path / "data",
        smtp=SmtpSettings(outbox=tmp_path / "outbox"),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def version_of(tmp_path: Path, name: str, change: dict[str, object]) -> Path:
    document = yaml.safe_load(PESI.read_text(encoding="utf-8"))
    document.update(change)
    target = tmp_path / f"{name}.yaml"
    target.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return target


@pytest.fixture
def system(tmp_path: Path) -> Pledge:
    opened = Pledge.open(settings_for(tmp_path), declaration=PESI, mailer=MemoryMailer(), cross_process=False)
    yield opened  # type: ignore[misc]
    opened.close()


def test_open_migrates_and_wires_every_service(system: Pledge, tmp_path: Path) -> None:
    assert (tmp_path / "db" / "pledge.db").is_file()  # the SQLite folder is created on first use
    assert (tmp_path / "data" / "secrets.json").is_file()
    subject = system.resolve_subject("email", "Ann@Example.com")
    assert system.find_subject("email", "ann@example.com") == subject
    denied = system.enforcer.decide(subject, "relevant_offers", ("user.contact.email",), channel="email")
    assert not denied and denied.reason == "consent_missing"
    system.ledger.grant(subject, "relevant_offers", "email", source="api")
    allowed = system.enforcer.decide(subject, "relevant_offers", ("user.contact.email",), channel="email")
    assert allowed and allowed.reason == "consented"  # the ledger invalidates the enforcer's cache
    assert system.sharing.enforcer is system.enforcer
    assert system.unsubscribe.ledger is system.ledger
    assert system.audit.size() >= 1


def test_publishing_is_idempotent_and_material_version_follows_material_changes(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    first = Pledge.open(settings, declaration=PESI, cross_process=False)
    try:
        assert first.material_version() == "2018-05-24"  # nothing published: the loaded version
        assert first.publish().created and not first.publish().created
        assert first.material_version() == "2018-05-24"
    finally:
        first.close()
    wording = version_of(tmp_path, "wording", {"policy_version": "2018-06", "summary": "Shorter words."})
    second = Pledge.open(settings, declaration=wording, cross_process=False)
    try:
        assert not second.publish().material
        assert second.material_version() == "2018-05-24"  # a wording change asks nobody again
    finally:
        second.close()
    document = yaml.safe_load(PESI.read_text(encoding="utf-8"))
    document["policy_version"] = "2019-01"
    document["purposes"].append(
        {
            "id": "surveys",
            "name": "Ask customers about seminars",
            "lawful_basis": "consent",
            "categories": ["user.contact.email"],
            "consent": {"default": "opt_in"},
            "withdraw": ["privacy_center"],
        }
    )
    material = tmp_path / "material.yaml"
    material.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    third = Pledge.open(settings, declaration=material, cross_process=False)
    try:
        assert third.publish().material
        assert third.material_version() == "2019-01"
        assert [v.version for v in third.versions()] == ["2019-01", "2018-06", "2018-05-24"]
    finally:
        third.close()


def test_an_unpublished_declaration_is_its_own_material_version(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    with Pledge.open(settings, declaration=PESI, cross_process=False) as published:
        published.publish()
    later = version_of(tmp_path, "later", {"policy_version": "2020-01"})
    with Pledge.open(settings, declaration=later, cross_process=False) as system:
        assert system.material_version() == "2020-01"


def test_requests_run_in_process_and_their_contact_is_sealed_until_closed(system: Pledge) -> None:
    record = system.workflow.create_request(
        "withdraw", [Identity("email", "Bo@Example.org")], jurisdiction="gdpr", source="privacy_center"
    )
    assert system.request_contact(record.id) == "bo@example.org"  # normalised by the workflow
    mail = system.services.mailer
    assert isinstance(mail, MemoryMailer) and len(mail.sent) == 1  # the verification link
    assert system.run_pending() == 0  # not verified yet: nothing to run
    operator = system.workflow.create_request(
        "object",
        [Identity("email", "cy@example.org")],
        jurisdiction="gdpr",
        source="cli",
        operator="ops",
        params={"purposes": ["list_rental"]},
    )
    assert system.run_pending() == 1
    done = system.workflow.get_request(operator.id)
    assert done.state == "completed", done.error
    subject = system.find_subject("email", "cy@example.org")
    assert subject is not None
    assert system.enforcer.decide(subject, "list_rental", ("user.name",)).reason == "objection"
    system.workflow.reject(record.id, "ops", "We could not confirm who asked.")
    assert system.request_contact(record.id) is None  # wiped once the last mail went out


def test_a_clock_given_to_the_system_dates_requests(tmp_path: Path) -> None:
    moment = dt.datetime(2024, 2, 29, 12, tzinfo=dt.UTC)
    with Pledge.open(
        settings_for(tmp_path),
        declaration=PESI,
        clock=lambda: moment,
        mailer=MemoryMailer(),
        cross_process=False,
    ) as system:
        record = system.workflow.create_request(
            "erase", [Identity("email", "d@example.com")], jurisdiction="gdpr"
        )
        assert record.received_at == moment and system.now() == moment


def test_bad_inputs_are_errors_before_anything_opens(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    broken = tmp_path / "broken.yaml"
    broken.write_text("policy_version: 1\norganisation: {}\n", encoding="utf-8")
    with pytest.raises(DeclarationError):
        Pledge.open(settings, declaration=broken)
    with pytest.raises(InputError):  # a connection for a dataset the datamap does not have
        Pledge.open(settings, declaration=PESI, connections=["nowhere=sqlite://"], cross_process=False)
    with pytest.raises(InputError):
        Pledge.open(settings, declaration=PESI, connections=["no equals sign"], cross_process=False)
    with pytest.raises(ConfigError):
        Pledge.open(replace(settings, db_url="not a url"), declaration=PESI)


def test_the_inline_worker_starts_and_stops_with_the_system(tmp_path: Path) -> None:
    system = Pledge.open(settings_for(tmp_path), declaration=PESI, cross_process=False).start()
    assert system.worker.alive
    system.close()
    assert not system.worker.alive
    system.close()  # closing twice is harmless


def test_with_a_task_queue_runnable_requests_are_sent_to_it(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, worker="dramatiq", broker_url="stub://")
    with Pledge.open(settings, declaration=PESI, mailer=MemoryMailer(), cross_process=False) as system:
        system.start()
        assert not system.worker.alive  # no in-process worker: the queue's workers run requests
        record = system.workflow.create_request(
            "object", [Identity("email", "q@example.org")], jurisdiction="gdpr", source="cli", operator="ops"
        )
        broker = system.services.on_runnable.__self__.broker  # type: ignore[union-attr]
        messages = list(broker.queues["pledge-requests"].queue)
        assert any(record.id.encode() in m for m in messages)
    unknown = settings_for(tmp_path, worker="cron")
    with Pledge.open(unknown, declaration=PESI, cross_process=False) as system, pytest.raises(ConfigError):
        system.start()


def test_the_declaration_path_defaults(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    assert resolve_declaration_path(PESI.parent, settings) == PESI
    assert resolve_declaration_path(None, replace(settings, declaration=PESI)) == PESI
    assert resolve_declaration_path(None, settings) == Path("privacy.yaml")
    loaded = load_declaration(PESI)
    with Pledge.open(settings, declaration=loaded, cross_process=False) as system:
        assert system.loaded is loaded


TWENTYFOUR = ROOT / "examples" / "24sessions" / "privacy.yaml"
NEW_PURPOSE = """\
  - id: webinar_recommendations
    name: Recommend webinars
    lawful_basis: legitimate_interest
    legitimate_interest: Suggesting webinars a customer is likely to want.
    categories: [user.name, user.contact.email]
"""


def test_consent_before_a_new_purpose_holds_at_run_time(tmp_path: Path) -> None:
    """24sessions promises to ask before any new purpose: the policy a ``Pledge`` compiles knows
    the versions published before it, so people from before the new purpose are asked first."""
    text = TWENTYFOUR.read_text(encoding="utf-8")
    later = tmp_path / "v1.2.yaml"
    later.write_text(
        text.replace('policy_version: "1.1"', 'policy_version: "1.2"', 1).replace(
            "\npurposes:\n", "\npurposes:\n" + NEW_PURPOSE, 1
        ),
        encoding="utf-8",
    )
    settings = settings_for(tmp_path)
    with Pledge.open(settings, declaration=TWENTYFOUR, cross_process=False) as first:
        assert first.publish().created
        early = first.resolve_subject("email", "early@example.com")  # arrived under 1.1
    question = ("webinar_recommendations", ("user.contact.email",))
    with Pledge.open(settings, declaration=later, cross_process=False) as second:
        assert second.publish().material
        assert [v.version for v in second.versions()] == ["1.2", "1.1"]
        late = second.resolve_subject("email", "late@example.com")  # arrived under 1.2
        assert second.enforcer.decide(early, *question).reason == "consent_missing"
        assert second.enforcer.decide(late, *question).reason == "legitimate_interest"
    # Another process (the worker, the web app after a restart) opened on the same database agrees.
    with Pledge.open(settings, declaration=later, cross_process=False, migrate=False) as worker:
        assert worker.enforcer.decide(early, *question).reason == "consent_missing"
        worker.ledger.grant(early, "webinar_recommendations", source="privacy_center", proof="Yes")
        assert worker.enforcer.decide(early, *question).reason == "consented"
    # Without the history (the first version unknown) the new purpose would look old to everyone.
    with Pledge.open(settings_for(tmp_path / "fresh"), declaration=later, cross_process=False) as blank:
        stranger = blank.resolve_subject("email", "early@example.com")
        assert blank.enforcer.decide(stranger, *question).reason == "legitimate_interest"


def test_a_subject_turns_adult_on_their_birthday_by_the_systems_clock(tmp_path: Path) -> None:
    moment = [dt.datetime(2024, 6, 14, 23, 59, tzinfo=dt.UTC)]  # PESI's minimum age is 18
    with Pledge.open(
        settings_for(tmp_path), declaration=PESI, clock=lambda: moment[0], cross_process=False
    ) as system:
        subject = system.resolve_subject("email", "teen@example.com")
        system.ledger.declare_birth_date(subject, "2006-06-15", source="operator")
        question = ("order_fulfilment", ("user.contact.email",))
        denied = system.enforcer.decide(subject, *question)
        assert not denied and denied.reason == "under_minimum_age"
        moment[0] = dt.datetime(2024, 6, 15, 0, 0, 1, tzinfo=dt.UTC)
        allowed = system.enforcer.decide(subject, *question)  # the cached state expires at midnight
        assert allowed and allowed.reason == "contract"
        assert system.now().date() == dt.date(2024, 6, 15)
