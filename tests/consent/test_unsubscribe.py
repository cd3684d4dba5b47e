from __future__ import annotations

import datetime as dt
import re

import pytest

from pledge.consent import ConsentLedger, open_enforcer
from pledge.consent.unsubscribe import Unsubscribe, redeem_unsubscribe
from pledge.errors import ConfigError, InputError, NotFound, TokenExpired, TokenInvalid, TokenReplayed
from pledge.tokens import TokenService

KEY = b"u" * 32


@pytest.fixture
def unsubscribe(ledger: ConsentLedger) -> Unsubscribe:
    return Unsubscribe(
        ledger, TokenService(KEY, ledger.db), "https://shop.example/", mailto="unsubscribe@shop.example"
    )


def test_rfc_8058_headers(ledger: ConsentLedger, unsubscribe: Unsubscribe) -> None:
    subject = ledger.directory.resolve("email", "ann@example.com")
    headers = unsubscribe.headers(subject, "newsletter")
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    match = re.fullmatch(
        r"<https://shop\.example/u/([A-Za-z0-9_\-.]+)>, "
        r"<mailto:unsubscribe@shop\.example\?subject=unsubscribe%20([A-Za-z0-9_\-.]+)>",
        headers["List-Unsubscribe"],
    )
    assert match is not None
    assert match.group(1) == match.group(2)
    assert "\r" not in headers["List-Unsubscribe"] and "\n" not in headers["List-Unsubscribe"]
    plain = Unsubscribe(ledger, TokenService(KEY), "http://127.0.0.1:8000")
    # Without HTTPS, one-click must not be advertised (RFC 8058 § 3.1).
    assert "List-Unsubscribe-Post" not in plain.headers(subject, "newsletter")


def test_redeeming_withdraws_exactly_that_purpose_and_channel(
    ledger: ConsentLedger, unsubscribe: Unsubscribe
) -> None:
    enforcer = open_enforcer(ledger, cross_process=False)
    subject = ledger.directory.resolve("email", "ann@example.com")
    ledger.grant(subject, "newsletter", "email", source="privacy_center")
    for channel in ("email", "postal_mail", "third_party_offers"):
        ledger.grant(subject, "offers", channel, source="privacy_center")
    email = ("user.contact.email",)
    assert enforcer.decide(subject, "offers", email, channel="email").allowed
    token = unsubscribe.token(subject, "offers", "email")

    event = unsubscribe.redeem(token)
    assert (event.kind, event.purpose, event.channel, event.source) == (
        "withdraw",
        "offers",
        "email",
        "email_link",
    )
    assert enforcer.decide(subject, "offers", email, channel="email").reason == "channel_opted_out"
    assert enforcer.decide(subject, "offers", ("user.name",), channel="postal_mail").allowed
    assert enforcer.decide(subject, "newsletter", email, channel="email").allowed
    with pytest.raises(TokenReplayed):
        redeem_unsubscribe(unsubscribe, token)
    assert [e.kind for e in ledger.events(subject)].count("withdraw") == 1


def test_bad_tokens_change_nothing(ledger: ConsentLedger, unsubscribe: Unsubscribe) -> None:
    subject = ledger.directory.resolve("email", "ann@example.com")
    ledger.grant(subject, "newsletter", "email", source="privacy_center")
    good = unsubscribe.token(subject, "newsletter")
    other_use = unsubscribe.tokens.issue(
        "verify_email", {"s": subject, "p": "newsletter", "c": "email"}, dt.timedelta(1)
    )
    forged = TokenService(b"f" * 32).issue(
        "unsubscribe", {"s": subject, "p": "newsletter", "c": "email"}, dt.timedelta(1)
    )
    no_claims = unsubscribe.tokens.issue("unsubscribe", {"x": "y"}, dt.timedelta(1))
    for bad in (good[:-1] + ("A" if good[-1] != "A" else "B"), other_use, forged, no_claims, "", "garbage"):
        with pytest.raises(TokenInvalid):
            unsubscribe.redeem(bad)
    expired = Unsubscribe(
        ledger, TokenService(KEY, ledger.db), "https://shop.example", ttl=dt.timedelta(seconds=-1)
    )
    with pytest.raises(InputError):
        expired.token(subject, "newsletter")
    old = TokenService(KEY, ledger.db, clock=lambda: dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    stale = Unsubscribe(ledger, old, "https://shop.example").token(subject, "newsletter")
    with pytest.raises(TokenExpired):
        unsubscribe.redeem(stale)
    for i in range(len(good)):  # every character of a real link, changed
        for bit in (1, 2, 4):
            tampered = good[:i] + chr(ord(good[i]) ^ bit) + good[i + 1 :]
            with pytest.raises(TokenInvalid):
                unsubscribe.redeem(tampered)
    assert [e.kind for e in ledger.events(subject)] == ["grant"]
    # The good token still works afterwards: nothing above used it up.
    unsubscribe.redeem(good)


def test_links_are_issued_only_for_mail_one_may_refuse(
    ledger: ConsentLedger, unsubscribe: Unsubscribe
) -> None:
    subject = ledger.directory.resolve("email", "ann@example.com")
    with pytest.raises(InputError):
        unsubscribe.token(subject, "orders", "email")  # contract mail: no choice to withdraw
    with pytest.raises(InputError):
        unsubscribe.token(subject, "newsletter", "sms")
    with pytest.raises(InputError):
        unsubscribe.token(subject, "nope", "email")
    with pytest.raises(NotFound):
        unsubscribe.token("s_nobody", "newsletter", "email")
    with pytest.raises(ConfigError):
        Unsubscribe(ledger, TokenService(KEY), "ftp://x")
    with pytest.raises(ConfigError):
        Unsubscribe(ledger, TokenService(KEY), "https://x", mailto="a@b>, <mailto:evil@x")
