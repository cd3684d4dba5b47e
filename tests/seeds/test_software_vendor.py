"""Seed 004, the software vendor: promotional messages only after opt-in; support tickets stay
with staff; remarketing opt-out."""

from __future__ import annotations

from collections.abc import Callable

from pledge.consent import ConsentLedger
from pledge.consent.unsubscribe import Unsubscribe
from pledge.policy import Enforcer
from pledge.sharing import Sharing
from pledge.tokens import TokenService

from .conftest import Asker

EMAIL = ("user.contact.email",)


def test_promotions_only_after_opt_in_everywhere(ask_for: Callable[[str], Asker]) -> None:
    ask = ask_for("software-vendor")
    for jurisdiction in (None, *sorted(ask.policy.jurisdictions)):
        kw = {"channel": "email", "jurisdiction": jurisdiction}
        assert ask((), "promotions", EMAIL, **kw) == "consent_missing"
        assert ask((("grant", "promotions", "email"),), "promotions", EMAIL, **kw) == "consented"
        assert ask((("grant", "promotions"), ("withdraw", "promotions")), "promotions", EMAIL, **kw) == (
            "consent_withdrawn"
        )


def test_support_tickets_go_to_no_recipient(ask_for: Callable[[str], Asker]) -> None:
    policy = ask_for("software-vendor").policy
    for recipient in policy.recipients.values():
        for cats in recipient.receivable.values():
            assert "user.content.private.support_ticket" not in cats
    assert "user.content.private.support_ticket" in policy.roles["support_staff"]
    assert "user.content.private.support_ticket" not in policy.roles["marketing"]


def test_remarketing_needs_opt_in_and_honours_gpc(ask_for: Callable[[str], Asker]) -> None:
    ask = ask_for("software-vendor")
    cookie = ("user.device.cookie_id",)
    assert ask((), "remarketing", cookie, "google_ads") == "consent_missing"
    assert ask((("grant", "remarketing"),), "remarketing", cookie, "google_ads") == "consented"
    assert (
        ask((("grant", "remarketing"), ("gpc_signal",)), "remarketing", cookie, "google_ads") == "gpc_opt_out"
    )


def test_unsubscribing_from_promotions(
    stored_for: Callable[[str], tuple[ConsentLedger, Enforcer, Sharing]],
) -> None:
    ledger, enforcer, _sharing = stored_for("software-vendor")
    user = ledger.directory.resolve("email", "dev@example.com")
    ledger.grant(user, "promotions", "email", source="privacy_center", proof="Send me offers")
    assert enforcer.decide(user, "promotions", EMAIL, channel="email").allowed
    links = Unsubscribe(ledger, TokenService(b"t" * 32, ledger.db), "https://vendor.example")
    token = links.headers(user, "promotions")["List-Unsubscribe"][1:].split(">")[0].rsplit("/", 1)[1]
    links.redeem(token)
    assert enforcer.decide(user, "promotions", EMAIL, channel="email").reason == "channel_opted_out"
