"""How consent scopes, channels, GPC, age and jurisdictions combine."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from pledge.audit.sink import MemoryAudit
from pledge.declaration import parse_declaration
from pledge.policy import Enforcer, StaticStates, compile_policy

from .conftest import SHOP, make_state, today


def ask(
    enforcer: Enforcer, states: StaticStates, events: tuple[tuple[Any, ...], ...], *args: Any, **kw: Any
) -> str:
    states.states["s"] = make_state("s", *events)
    enforcer.invalidate("s")
    return str(enforcer.decide("s", *args, **kw).reason)


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ((("withdraw", "*"), ("grant", "newsletter", "email")), "consented"),
        ((("grant", "newsletter", "email"), ("withdraw", "*")), "consent_withdrawn"),
        ((("grant", "newsletter"), ("withdraw", "newsletter", "email")), "channel_opted_out"),
        ((("withdraw", "newsletter", "email"), ("grant", "newsletter")), "consented"),
        ((("grant", "newsletter", "email"), ("withdraw", "*", "email")), "channel_opted_out"),
        ((("withdraw", "newsletter"), ("withdraw", "newsletter"), ("grant", "newsletter")), "consented"),
    ],
)
def test_latest_event_wins_across_scopes(
    enforcer: Enforcer, states: StaticStates, events: tuple[tuple[Any, ...], ...], expected: str
) -> None:
    assert ask(enforcer, states, events, "newsletter", ("user.contact.email",), channel="email") == expected


def test_question_without_channel_is_open_while_any_channel_is(
    enforcer: Enforcer, states: StaticStates
) -> None:
    args = ("offers", ("user.name",))
    kw = {"jurisdiction": "ccpa"}
    assert ask(enforcer, states, (("withdraw", "offers", "email"),), *args, **kw) == "opt_out_default"
    everything = tuple(("withdraw", "offers", ch) for ch in ("email", "postal_mail", "third_party_offers"))
    assert ask(enforcer, states, everything, *args, **kw) == "channel_opted_out"
    assert ask(enforcer, states, (("withdraw", "offers"),), *args, **kw) == "consent_withdrawn"


def test_jurisdiction_sets_the_default(enforcer: Enforcer, states: StaticStates) -> None:
    args = ("offers", ("user.contact.email",))
    assert ask(enforcer, states, (), *args, channel="email", jurisdiction="ccpa") == "opt_out_default"
    assert ask(enforcer, states, (), *args, channel="email", jurisdiction="gdpr") == "consent_missing"
    assert (
        ask(enforcer, states, (("grant", "offers", "email"),), *args, channel="email", jurisdiction="gdpr")
        == "consented"
    )


def test_recorded_jurisdiction_applies_when_none_is_given(enforcer: Enforcer, states: StaticStates) -> None:
    state = make_state("s")
    from dataclasses import replace

    states.states["s"] = replace(state, jurisdiction="gdpr")
    enforcer.invalidate("s")
    assert enforcer.decide("s", "offers", ("user.name",), channel="email").reason == "consent_missing"
    assert enforcer.decide("s", "offers", ("user.name",), channel="email", jurisdiction="ccpa").reason == (
        "opt_out_default"
    )


def test_objection_scopes(enforcer: Enforcer, states: StaticStates) -> None:
    args = ("list_rental", ("user.name",), "list_broker")
    assert ask(enforcer, states, (("object",),), *args) == "objection"
    assert ask(enforcer, states, (("object",), ("withdraw_objection", "list_rental")), *args) == (
        "legitimate_interest"
    )
    assert ask(enforcer, states, (("object", "list_rental"), ("withdraw_objection",)), *args) == (
        "legitimate_interest"
    )
    # Objection does not reach purposes nobody may object to (a contract).
    assert ask(enforcer, states, (("object",),), "orders", ("user.name",)) == "contract"


def test_restriction_spares_legal_obligation_and_vital_interest(
    enforcer: Enforcer, states: StaticStates
) -> None:
    restricted = (("restrict",),)
    assert ask(enforcer, states, restricted, "orders", ("user.name",)) == "restricted"
    assert ask(enforcer, states, restricted, "tax", ("user.name",)) == "legal_obligation"
    assert ask(enforcer, states, restricted, "emergency", ("user.name",)) == "vital_interest"
    lifted = (("restrict",), ("lift_restriction",))
    assert ask(enforcer, states, lifted, "orders", ("user.name",)) == "contract"
    one = (("restrict", "list_rental"),)
    assert ask(enforcer, states, one, "orders", ("user.name",)) == "contract"
    assert ask(enforcer, states, one, "list_rental", ("user.name",)) == "restricted"


def test_gpc_and_explicit_opt_in(enforcer: Enforcer, states: StaticStates) -> None:
    sale = ("list_rental", ("user.name",), "list_broker")
    assert ask(enforcer, states, (("gpc_signal",),), *sale) == "gpc_opt_out"
    assert ask(enforcer, states, (("gpc_signal",), ("opt_in_to_sale",)), *sale) == "legitimate_interest"
    assert ask(enforcer, states, (("opt_in_to_sale",), ("gpc_signal",)), *sale) == "gpc_opt_out"
    # A live GPC header yields to an explicit opt-in (CCPA regulations § 7025(c)(3)).
    assert ask(enforcer, states, (("opt_in_to_sale",),), *sale, gpc=True) == "legitimate_interest"
    assert ask(enforcer, states, (("opt_out_of_sale",), ("opt_in_to_sale",)), *sale) == "legitimate_interest"
    # GPC is about sales and targeted ads, not about selling-free purposes.
    assert ask(enforcer, states, (), "orders", ("user.name",), gpc=True) == "contract"
    ads = ("ads", ("user.device.cookie_id",))
    assert ask(enforcer, states, (), *ads, jurisdiction="ccpa", gpc=True) == "gpc_opt_out"
    assert ask(enforcer, states, (), *ads, jurisdiction="ccpa") == "opt_out_default"
    assert (
        ask(enforcer, states, (("gpc_signal",), ("grant", "ads")), *ads, jurisdiction="ccpa") == "consented"
    )


def test_age_from_a_declared_age_assumes_the_youngest(enforcer: Enforcer, states: StaticStates) -> None:
    # Said "15" on 2025-01-01: may have turned 15 that day, so is 15 on 2025-06-01 (minimum 16).
    events = (("grant", "newsletter"), ("age_declared", "*", "*", {"age": 15}))
    assert ask(enforcer, states, events, "newsletter", ("user.name",)) == "under_minimum_age"
    events = (("grant", "newsletter"), ("age_declared", "*", "*", {"age": 16}))
    assert ask(enforcer, states, events, "newsletter", ("user.name",)) == "consented"
    minor = (("birth_date_declared", "*", "*", {"birth_date": "2012-03-04"}),)
    for purpose in ("orders", "list_rental", "census"):
        assert ask(enforcer, states, minor, purpose, ("user.name",)) == "under_minimum_age"
    assert ask(enforcer, states, minor, "tax", ("user.name",)) == "legal_obligation"


def test_taxonomy_expands_below_the_declared_category(enforcer: Enforcer) -> None:
    for category in ("user.contact", "user.contact.address", "user.contact.address.postal_code"):
        assert enforcer.decide("s", "orders", (category,)).allowed
    assert not enforcer.decide("s", "orders", ("user.financial.credit_card",)).allowed
    # The parent of an allowed category is not allowed: it would include more.
    assert enforcer.decide("s", "newsletter", ("user.contact",)).reason == "category_not_allowed"


def test_precedence_names_the_most_fundamental_problem(enforcer: Enforcer, states: StaticStates) -> None:
    everything_wrong = (("object",), ("restrict",), ("opt_out_of_sale",))
    assert ask(enforcer, states, everything_wrong, "nope", ("user.name",)) == "unknown_purpose"
    assert ask(enforcer, states, everything_wrong, "list_rental", ("user.contact.email",), "list_broker") == (
        "category_not_allowed"
    )
    assert (
        ask(enforcer, states, everything_wrong, "list_rental", ("user.name",), "list_broker") == "restricted"
    )


CONSENT_FOR_NEW = textwrap.dedent(
    """\
    policy_version: "{version}"
    effective: 2024-01-01
    organisation:
      name: Example BV
      contacts: [{{kind: privacy, email: privacy@example.test}}]
    commitments: {{consent_for_new_purposes: true}}
    purposes:
      - {{id: service, name: Service, lawful_basis: contract, categories: [user.name]}}
    {extra}
    rights: [{{right: access, deadline: P1M}}]
    """
)


def test_a_purpose_added_later_needs_consent_from_earlier_subjects() -> None:
    extra = (
        "  - {id: profiling, name: Profiling, lawful_basis: legitimate_interest,"
        " legitimate_interest: better offers, categories: [user.name]}"
    )
    v1 = parse_declaration(CONSENT_FOR_NEW.format(version="1", extra=""))
    v2 = parse_declaration(CONSENT_FOR_NEW.format(version="2", extra=extra))
    policy = compile_policy(v2, history=[v1])
    states = StaticStates(
        {
            "old": make_state("old", baseline="1"),
            "new": make_state("new", baseline="2"),
            "agreed": make_state("agreed", ("grant", "profiling"), baseline="1"),
            "unknown": make_state("unknown", baseline="0.9"),
        }
    )
    enforcer = Enforcer(policy, states, MemoryAudit(), today=today, flush_interval=None)
    assert enforcer.decide("old", "profiling", ("user.name",)).reason == "consent_missing"
    assert enforcer.decide("new", "profiling", ("user.name",)).reason == "legitimate_interest"
    assert enforcer.decide("agreed", "profiling", ("user.name",)).reason == "consented"
    assert enforcer.decide("unknown", "profiling", ("user.name",)).reason == "consent_missing"
    assert enforcer.decide("old", "service", ("user.name",)).reason == "contract"
    # Without the history nothing is "new": the promise needs the versions to compare.
    plain = Enforcer(compile_policy(v2), states, MemoryAudit(), today=today, flush_interval=None)
    assert plain.decide("old", "profiling", ("user.name",)).reason == "legitimate_interest"


def test_anonymous_questions(enforcer: Enforcer) -> None:
    assert enforcer.decide(None, "stats", ("user.behavior.browsing_history",)).reason == "legitimate_interest"
    assert enforcer.decide(None, "newsletter", ("user.contact.email",)).reason == "consent_missing"


def test_shop_declaration_is_the_one_compiled(enforcer: Enforcer) -> None:
    assert enforcer.policy.version == "2.0"
    assert "list_broker" in SHOP
