"""Seed 001, 24sessions: consent before any new purpose; geolocation only to the data-centre
provider; per-category unsubscribe; processor for clients' data."""

from __future__ import annotations

from collections.abc import Callable

from pledge.audit.sink import MemoryAudit
from pledge.consent import ConsentLedger
from pledge.declaration import parse_declaration
from pledge.policy import Enforcer, StaticStates, compile_policy
from pledge.sharing import Sharing
from tests.conftest import EXAMPLES
from tests.policy.conftest import make_state

from .conftest import TODAY, Asker

NEW_PURPOSE = """\
  - id: webinar_recommendations
    name: Recommend webinars from how the Services are used
    lawful_basis: legitimate_interest
    legitimate_interest: Suggesting webinars a customer is likely to want.
    categories: [user.name, user.contact.email]
"""


def test_a_new_purpose_needs_consent_from_everyone_who_came_before() -> None:
    text = (EXAMPLES / "24sessions" / "privacy.yaml").read_text(encoding="utf-8")
    current = parse_declaration(text, "24sessions v1.1")
    assert current.declaration.commitments.consent_for_new_purposes
    changed = text.replace('policy_version: "1.1"', 'policy_version: "1.2"', 1)
    changed = changed.replace("\npurposes:\n", "\npurposes:\n" + NEW_PURPOSE, 1)
    policy = compile_policy(parse_declaration(changed, "24sessions v1.2"), history=[current])
    states = StaticStates(
        {
            "customer_2017": make_state("customer_2017", baseline="1.1"),
            "agreed": make_state("agreed", ("grant", "webinar_recommendations"), baseline="1.1"),
            "customer_2018": make_state("customer_2018", baseline="1.2"),
        }
    )
    enforcer = Enforcer(policy, states, MemoryAudit(), today=lambda: TODAY, flush_interval=None)
    ask = ("webinar_recommendations", ("user.contact.email",))
    assert enforcer.decide("customer_2017", *ask).reason == "consent_missing"
    assert enforcer.decide("agreed", *ask).reason == "consented"
    assert enforcer.decide("customer_2018", *ask).reason == "legitimate_interest"
    # What the 2017 customer agreed to still works without asking again.
    assert enforcer.decide("customer_2017", "service_delivery", ("user.name",)).reason == "contract"
    assert enforcer.decide("customer_2017", "product_news", ("user.name",), channel="email").reason == (
        "opt_out_default"
    )


def test_geolocation_goes_only_to_the_data_centre(ask_for: Callable[[str], Asker]) -> None:
    ask = ask_for("24sessions")
    location = ("user.location.imprecise",)
    assert ask((), "connection_optimisation", location, "datacentre") == "opt_out_default"
    for recipient, rule in ask.policy.recipients.items():
        for purpose, cats in rule.receivable.items():
            if recipient == "datacentre" and purpose == "connection_optimisation":
                assert "user.location.imprecise" in cats
            else:
                assert not any(c.startswith("user.location") for c in cats), (recipient, purpose)
    # "Opt out by contacting us": after that, not even the data centre gets it.
    assert ask(
        (("withdraw", "connection_optimisation"),), "connection_optimisation", location, "datacentre"
    ) == ("consent_withdrawn")


def test_each_category_of_mail_unsubscribes_alone(ask_for: Callable[[str], Asker]) -> None:
    ask = ask_for("24sessions")
    off = (("withdraw", "special_offers", "email"),)
    email = ("user.contact.email",)
    assert ask(off, "special_offers", email, channel="email") == "channel_opted_out"
    assert ask(off, "product_news", email, channel="email") == "opt_out_default"
    assert ask((), "newsletter", email, channel="email") == "consent_missing"


def test_analytics_results_are_never_about_one_person(ask_for: Callable[[str], Asker]) -> None:
    ask = ask_for("24sessions")
    cats = ("user.behavior.browsing_history",)
    assert ask((), "site_analytics", cats, jurisdiction="gdpr") == "consent_missing"
    assert (
        ask((("grant", "site_analytics"),), "site_analytics", cats, jurisdiction="gdpr") == "aggregate_only"
    )
    # The aggregate itself, about nobody in particular, is what the purpose is for.
    assert ask.enforcer.decide(None, "site_analytics", cats).reason == "opt_out_default"


def test_share_location(stored_for: Callable[[str], tuple[ConsentLedger, Enforcer, Sharing]]) -> None:
    ledger, _enforcer, sharing = stored_for("24sessions")
    user = ledger.directory.resolve("email", "coach@example.com")
    row = {"name": "Coach", "email": "coach@example.com", "where": "Amsterdam, NL"}
    fields = {"name": "user.name", "email": "user.contact.email", "where": "user.location.imprecise"}
    assert sharing.share(row, "datacentre", "connection_optimisation", subject_id=user, fields=fields) == {
        "where": "Amsterdam, NL"
    }
    assert sharing.share(row, "datacentre", "service_delivery", subject_id=user, fields=fields) == {
        "name": "Coach",
        "email": "coach@example.com",
    }
    assert sharing.share(row, "ad_partner", "interest_based_ads", subject_id=user, fields=fields) == {}
