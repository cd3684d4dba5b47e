from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from pledge.audit.sink import MemoryAudit
from pledge.consent.derive import derive_state
from pledge.consent.events import ConsentEvent
from pledge.declaration import LoadedDeclaration, parse_declaration
from pledge.policy import CompiledPolicy, Enforcer, StaticStates, SubjectState, compile_policy

# One declaration that exercises every kind of promise a decision enforces.
SHOP = textwrap.dedent(
    """\
    policy_version: "2.0"
    effective: 2024-01-01
    organisation:
      name: Acme Seminars Ltd
      country: GB
      contacts: [{kind: privacy, email: privacy@acme.test}]
    jurisdictions:
      - {id: gdpr, name: European Union}
      - {id: ccpa, name: California}
    data_sources:
      - id: order_form
        name: Order form
        kind: order
        categories: [user.name, user.contact.email, user.contact.phone_number, user.contact.address,
                     user.behavior.purchase_history, user.location.imprecise, user.device.cookie_id,
                     user.financial.credit_card]
    purposes:
      - id: orders
        name: Fulfil orders
        lawful_basis: contract
        categories: [user.name, user.contact, user.behavior.purchase_history]
        channels: [email, postal_mail]
      - id: newsletter
        name: Newsletter
        lawful_basis: consent
        categories: [user.contact.email, user.name]
        consent: {default: opt_in}
        channels: [email]
        withdraw: [unsubscribe_link, privacy_center]
      - id: offers
        name: Offers about comparable seminars
        lawful_basis: legitimate_interest
        legitimate_interest: telling customers about comparable seminars
        categories: [user.name, user.contact]
        consent: {default: opt_out, jurisdictions: {gdpr: opt_in}}
        channels: [email, postal_mail, third_party_offers]
        withdraw: [privacy_center, unsubscribe_link]
      - id: list_rental
        name: Renting the house list
        lawful_basis: legitimate_interest
        legitimate_interest: renting names and addresses to related organisations
        categories: [user.name, user.contact.address]
        objection: true
      - id: ads
        name: Interest-based advertising
        lawful_basis: consent
        categories: [user.device.cookie_id, user.behavior.purchase_history]
        consent: {default: opt_in, jurisdictions: {ccpa: opt_out}}
        withdraw: [banner]
        cookie_category: advertising
      - id: stats
        name: Click statistics
        lawful_basis: legitimate_interest
        legitimate_interest: knowing which pages work
        categories: [user.behavior]
        aggregate_only: true
      - id: tax
        name: Keeping invoices
        lawful_basis: legal_obligation
        categories: [user.name, user.contact.address, user.behavior.purchase_history]
      - id: hosting
        name: Connecting you to the nearest data centre
        lawful_basis: contract
        categories: [user.location.imprecise, user.name]
      - id: emergency
        name: Reaching someone in an emergency at a seminar
        lawful_basis: vital_interest
        categories: [user.name, user.contact.phone_number]
      - id: census
        name: Official statistics return
        lawful_basis: public_task
        categories: [user.name]
    recipients:
      - id: list_broker
        name: List broker
        kind: third_party
        purposes: [list_rental]
        categories: [user.name, user.contact.address]
        sale: true
      - id: mailer
        name: E-mail service
        kind: processor
        purposes: [newsletter, offers, orders]
        categories: [user.contact.email, user.name]
      - id: datacentre
        name: Data-centre provider
        kind: processor
        purposes: [hosting]
      - id: cdn
        name: CDN
        kind: processor
        purposes: [hosting]
        categories: [user.name]
      - id: monitoring
        name: Uptime monitoring
        kind: processor
        purposes: [hosting]
      - id: advertisers
        name: Advertisers
        kind: partner
        purposes: [stats]
        aggregate_only: true
    staff_roles:
      - id: support
        name: Support desk
        purposes: [orders]
        categories: [user.name, user.contact.email]
      - id: fulfilment
        name: Warehouse
        purposes: [orders]
    minimum_age: {age: 16}
    commitments:
      never_sold_categories: [user.contact.email, user.contact.phone_number]
      sharing_limits:
        - id: geolocation
          categories: [user.location]
          recipients: [datacentre]
    rights:
      - {right: access, deadline: P1M}
    """
)


def today() -> dt.date:
    return dt.date(2025, 6, 1)


@pytest.fixture(scope="session")
def shop() -> LoadedDeclaration:
    return parse_declaration(SHOP, "shop.yaml")


@pytest.fixture(scope="session")
def policy(shop: LoadedDeclaration) -> CompiledPolicy:
    return compile_policy(shop)


@pytest.fixture
def audit() -> MemoryAudit:
    return MemoryAudit()


@pytest.fixture
def states() -> StaticStates:
    return StaticStates()


@pytest.fixture
def enforcer(policy: CompiledPolicy, states: StaticStates, audit: MemoryAudit) -> Enforcer:
    return Enforcer(policy, states, audit, today=today, flush_interval=None)


def make_state(subject_id: str, *specs: tuple[object, ...], baseline: str | None = None) -> SubjectState:
    """A derived state from events written as (kind, purpose, channel[, value]) in ledger order."""
    events = []
    when = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    for seq, spec in enumerate(specs, start=1):
        kind, purpose, channel = (*spec, "*", "*")[:3]
        value = spec[3] if len(spec) > 3 else None
        events.append(
            ConsentEvent(
                id=seq,
                subject_id=subject_id,
                kind=str(kind),
                purpose=str(purpose),
                channel=str(channel),
                value=value,  # type: ignore[arg-type]
                jurisdiction=None,
                source="api",
                policy_version="2.0",
                declaration_digest="x",
                proof=None,
                proof_hash=None,
                occurred_at=when,
                recorded_at=when,
                audit_index=None,
            )
        )
    return derive_state(subject_id, events, baseline_version=baseline)
