"""Seed 002, Packt: click statistics never linked to a person; never sells; processors get only
what they need."""

from __future__ import annotations

from collections.abc import Callable

from .conftest import Asker

CLICKS = ("user.behavior.newsletter_clicks",)


def test_click_statistics_are_never_linked_to_a_person(ask_for: Callable[[str], Asker]) -> None:
    ask = ask_for("packtpub")
    for purpose in ("newsletter_click_stats", "content_planning"):
        assert ask((), purpose, CLICKS) == "aggregate_only"
        assert ask((("grant", "newsletters"),), purpose, CLICKS) == "aggregate_only"
        assert ask.enforcer.decide(None, purpose, CLICKS).reason == "legitimate_interest"
    # Clicks are not data any other purpose may use about a person.
    for purpose in ("newsletters", "marketing_email", "account"):
        assert ask((("grant", "newsletters"),), purpose, CLICKS) == "category_not_allowed"


def test_nothing_is_sold_and_partners_get_aggregates_only(ask_for: Callable[[str], Asker]) -> None:
    ask = ask_for("packtpub")
    assert not any(r.sale for r in ask.policy.recipients.values())
    partner = ask.policy.recipients["partner_companies"]
    assert partner.aggregate_only and not any(partner.receivable.values())
    assert (
        ask((), "order_delivery", ("user.contact.email",), "shipping") == "not_a_recipient_of_this_category"
    )
    assert ask((), "order_delivery", ("user.contact.address",), "shipping") == "contract"


def test_newsletters_only_after_opt_in(ask_for: Callable[[str], Asker]) -> None:
    ask = ask_for("packtpub")
    email = ("user.contact.email",)
    assert ask((), "newsletters", email, channel="email") == "consent_missing"
    assert ask((("grant", "newsletters", "email"),), "newsletters", email, channel="email") == "consented"
    assert ask((), "marketing_email", email, channel="email") == "opt_out_default"
    assert ask((("withdraw", "marketing_email", "email"),), "marketing_email", email, channel="email") == (
        "channel_opted_out"
    )
