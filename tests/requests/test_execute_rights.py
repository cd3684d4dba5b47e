"""Restriction, objection and withdrawal land in the consent ledger, once per request."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from pledge.audit.sink import MemoryAudit
from pledge.consent import ConsentLedger
from pledge.declaration import parse_declaration
from pledge.errors import InputError
from pledge.policy import compile_policy
from pledge.requests.rights import LedgerRights, ledger_decisions, subject_of
from pledge.requests.steps import Identity
from pledge.storage import Database

DECLARATION = textwrap.dedent(
    """\
    policy_version: "1.0"
    effective: 2024-01-01
    organisation:
      name: Example Shop Ltd
      contacts: [{kind: privacy, email: privacy@shop.test}]
    data_sources:
      - {id: signup, name: Sign-up, kind: form, categories: [user.contact.email, user.name]}
    purposes:
      - {id: orders, name: Orders, lawful_basis: contract, categories: [user.name, user.contact.email]}
      - id: newsletter
        name: Newsletter
        lawful_basis: consent
        categories: [user.contact.email]
        channels: [email]
        withdraw: [unsubscribe_link]
        consent: {default: opt_in}
      - id: analytics
        name: Analytics
        lawful_basis: legitimate_interest
        legitimate_interest: Improve the shop
        categories: [user.contact.email]
    rights: [{right: access, deadline: P1M}]
    """
)
ALICE = [
    Identity("shop:orders.id", "7"),
    Identity("phone_number", "+44 20 7946 0001"),
    Identity("email", "Alice@Example.com"),
]


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[ConsentLedger]:
    database = Database(f"sqlite:///{tmp_path / 'pledge.db'}")
    database.migrate()
    policy = compile_policy(parse_declaration(DECLARATION, "privacy.yaml"))
    yield ConsentLedger(database, policy, MemoryAudit(), hash_key=b"h" * 32)
    database.dispose()


def test_each_right_is_recorded_once_per_request(ledger: ConsentLedger) -> None:
    rights = LedgerRights(ledger, source="operator")
    first = rights.record_right("restrict", ALICE, {"purposes": ["orders", "analytics"]}, request_id="r1")
    again = rights.record_right("restrict", ALICE, {"purposes": ["orders", "analytics"]}, request_id="r1")
    assert len(first["recorded"]) == 2 and again["recorded"] == []
    rights.record_right("object", ALICE, {"purpose": "analytics"}, request_id="r2")
    rights.record_right("withdraw", ALICE, {"purpose": "newsletter", "channel": "email"}, request_id="r3")
    subject = subject_of(ledger, ALICE, create=False)
    assert subject == first["subject"]  # found by the e-mail address, whatever its case
    events = [(e.kind, e.purpose, e.channel, e.proof) for e in ledger.events(subject)]
    assert events == [
        ("restrict", "orders", "*", "request:r1"),
        ("restrict", "analytics", "*", "request:r1"),
        ("object", "analytics", "*", "request:r2"),
        ("withdraw", "newsletter", "email", "request:r3"),
    ]
    state = ledger_decisions(ledger)(ALICE)
    assert state["known_to_consent_ledger"] is True
    assert {p["purpose"]: p["allowed"] for p in state["purposes"]} == {
        "orders": False,
        "newsletter": False,
        "analytics": False,
    }


def test_what_the_ledger_refuses_is_an_input_error(ledger: ConsentLedger) -> None:
    rights = LedgerRights(ledger)
    with pytest.raises(InputError):
        rights.record_right("restrict", ALICE, {"purposes": ["no_such_purpose"]}, request_id="r1")
    with pytest.raises(InputError):
        rights.record_right("erase", ALICE, {}, request_id="r1")
    with pytest.raises(InputError, match="none of the identities"):
        rights.record_right("restrict", [Identity("shop:orders.id", "7")], {}, request_id="r1")
    assert (
        ledger_decisions(ledger)([Identity("email", "nobody@example.com")])["known_to_consent_ledger"]
        is False
    )
