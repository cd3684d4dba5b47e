"""Every reason code, produced by the situation it names (and nothing else)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from pledge.policy import ALLOWED_REASONS, DENIED_REASONS, Enforcer, Reason, StaticStates, describe

from .conftest import make_state


@dataclass(frozen=True)
class Case:
    name: str
    reason: Reason
    purpose: str
    categories: tuple[str, ...] = ()
    recipient: str | None = None
    events: tuple[tuple[Any, ...], ...] = ()
    kw: dict[str, Any] = field(default_factory=dict)


CASES = [
    # --- allowed --------------------------------------------------------------------------------
    Case(
        "explicit opt-in",
        Reason.CONSENTED,
        "newsletter",
        ("user.contact.email",),
        events=(("grant", "newsletter", "email"),),
        kw={"channel": "email"},
    ),
    Case(
        "opt-out purpose, nothing said",
        Reason.OPT_OUT_DEFAULT,
        "offers",
        ("user.contact.address",),
        kw={"channel": "postal_mail", "jurisdiction": "ccpa"},
    ),
    Case("contract", Reason.CONTRACT, "orders", ("user.contact.address.city",)),
    Case("legitimate interest", Reason.LEGITIMATE_INTEREST, "list_rental", ("user.name",)),
    Case("legal obligation", Reason.LEGAL_OBLIGATION, "tax", ("user.name",)),
    Case("vital interest", Reason.VITAL_INTEREST, "emergency", ("user.contact.phone_number",)),
    Case("public task", Reason.PUBLIC_TASK, "census", ("user.name",)),
    # --- denied ---------------------------------------------------------------------------------
    Case("no such purpose", Reason.UNKNOWN_PURPOSE, "profiling", ("user.name",)),
    Case(
        "no such jurisdiction",
        Reason.UNKNOWN_JURISDICTION,
        "orders",
        ("user.name",),
        kw={"jurisdiction": "mars"},
    ),
    Case(
        "category outside the purpose",
        Reason.CATEGORY_NOT_ALLOWED,
        "newsletter",
        ("user.contact.phone_number",),
    ),
    Case(
        "category not in the taxonomy",
        Reason.CATEGORY_NOT_ALLOWED,
        "newsletter",
        ("user.contact.email.work",),
    ),
    Case(
        "channel the purpose never uses",
        Reason.CHANNEL_NOT_DECLARED,
        "newsletter",
        ("user.contact.email",),
        events=(("grant", "newsletter", "email"),),
        kw={"channel": "sms"},
    ),
    Case("undeclared recipient", Reason.UNKNOWN_RECIPIENT, "list_rental", ("user.name",), "acme_brokers"),
    Case(
        "recipient of another purpose",
        Reason.RECIPIENT_NOT_FOR_PURPOSE,
        "orders",
        ("user.name",),
        "list_broker",
    ),
    Case("aggregate-only recipient", Reason.AGGREGATE_ONLY, "stats", (), "advertisers"),
    Case(
        "aggregate-only purpose about a person",
        Reason.AGGREGATE_ONLY,
        "stats",
        ("user.behavior.browsing_history",),
    ),
    Case(
        "category beyond the recipient's minimum",
        Reason.NOT_A_RECIPIENT_OF_THIS_CATEGORY,
        "orders",
        ("user.contact.address",),
        "mailer",
    ),
    Case(
        "sharing limit keeps location at the data centre",
        Reason.NOT_A_RECIPIENT_OF_THIS_CATEGORY,
        "hosting",
        ("user.location.imprecise",),
        "monitoring",
    ),
    Case(
        "a minor",
        Reason.UNDER_MINIMUM_AGE,
        "newsletter",
        ("user.contact.email",),
        events=(
            ("grant", "newsletter", "email"),
            ("birth_date_declared", "*", "*", {"birth_date": "2012-03-04"}),
        ),
    ),
    Case("restricted processing", Reason.RESTRICTED, "orders", ("user.name",), events=(("restrict",),)),
    Case(
        "objection",
        Reason.OBJECTION,
        "list_rental",
        ("user.name",),
        "list_broker",
        events=(("object", "list_rental"),),
    ),
    Case(
        "opted out of sale",
        Reason.SALE_OPTED_OUT,
        "list_rental",
        ("user.name",),
        "list_broker",
        events=(("opt_out_of_sale",),),
    ),
    Case(
        "GPC in the request, a sale",
        Reason.GPC_OPT_OUT,
        "list_rental",
        ("user.name",),
        "list_broker",
        kw={"gpc": True},
    ),
    Case(
        "recorded GPC, targeted ads",
        Reason.GPC_OPT_OUT,
        "ads",
        ("user.device.cookie_id",),
        events=(("gpc_signal",),),
        kw={"jurisdiction": "ccpa"},
    ),
    Case("opt-in never given", Reason.CONSENT_MISSING, "newsletter", ("user.contact.email",)),
    Case(
        "consent withdrawn",
        Reason.CONSENT_WITHDRAWN,
        "newsletter",
        ("user.contact.email",),
        events=(("grant", "newsletter", "email"), ("withdraw", "newsletter")),
    ),
    Case(
        "one channel opted out",
        Reason.CHANNEL_OPTED_OUT,
        "offers",
        ("user.contact.email",),
        events=(("withdraw", "offers", "email"),),
        kw={"channel": "email", "jurisdiction": "ccpa"},
    ),
]


def decide(enforcer: Enforcer, states: StaticStates, case: Case) -> Any:
    states.states["s"] = make_state("s", *case.events)
    enforcer.invalidate("s")
    return enforcer.decide("s", case.purpose, case.categories, case.recipient, **case.kw)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_reason(enforcer: Enforcer, states: StaticStates, case: Case) -> None:
    decision = decide(enforcer, states, case)
    assert decision.reason == case.reason, decision.detail
    assert decision.allowed is (case.reason in ALLOWED_REASONS)
    assert bool(decision) is decision.allowed
    assert decision.purpose == case.purpose
    assert decision.recipient == case.recipient
    assert decision.detail


def test_every_reason_code_has_a_case_and_a_description() -> None:
    assert {c.reason for c in CASES} == set(Reason)
    assert set(Reason) == ALLOWED_REASONS | DENIED_REASONS
    assert not ALLOWED_REASONS & DENIED_REASONS
    for reason in Reason:
        assert describe(reason) != reason.value
    assert describe("something_new") == "something_new"


def test_allowed_reasons_match_lawful_bases() -> None:
    bases = {"contract", "legitimate_interest", "legal_obligation", "vital_interest", "public_task"}
    assert bases <= {r.value for r in ALLOWED_REASONS}
