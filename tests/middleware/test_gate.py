from __future__ import annotations

import logging

import pytest

from pledge.declaration import LoadedDeclaration
from pledge.errors import ConfigError
from pledge.middleware import ConsentGate, DroppedCookie

from .conftest import KEY, VISITOR, MakeCookie


def gate(site: LoadedDeclaration, **options: object) -> ConsentGate:
    options.setdefault("signing_key", KEY)
    return ConsentGate(site, **options)  # type: ignore[arg-type]


def test_no_cookie_means_nothing_optional(site: LoadedDeclaration) -> None:
    state = gate(site).consent(None)
    assert not state.decided and state.visitor_id is None
    assert state.allows("strictly_necessary")
    assert not any(state.allows(c) for c in ("preferences", "analytics", "advertising"))


def test_signed_grant_is_honoured(site: LoadedDeclaration, consent_cookie: MakeCookie) -> None:
    state = gate(site).consent("other=1; " + consent_cookie({"analytics": True}))
    assert state.decided and state.signed and state.visitor_id == VISITOR
    assert state.allows("analytics") and not state.allows("advertising")


def test_unsigned_or_forged_grant_is_not_trusted(site: LoadedDeclaration, consent_cookie: MakeCookie) -> None:
    g = gate(site)
    assert not g.consent(consent_cookie({"analytics": True}, signed=False)).allows("analytics")
    assert not g.consent(consent_cookie({"analytics": True}, key=b"z" * 32)).allows("analytics")
    # ... but the same cookie is trusted when the operator opted into unsigned cookies.
    trusting = gate(site, signing_key=None, trust_unsigned=True)
    assert trusting.consent(consent_cookie({"analytics": True}, signed=False)).allows("analytics")


def test_refusal_counts_even_unsigned(site: LoadedDeclaration, consent_cookie: MakeCookie) -> None:
    state = gate(site, trust_unsigned=True).consent(consent_cookie({"analytics": False}, signed=False))
    assert state.decided and not state.allows("analytics")


def test_consent_before_the_last_material_change_is_stale(
    site: LoadedDeclaration, consent_cookie: MakeCookie
) -> None:
    header = consent_cookie({"analytics": True}, version="2.0", material="2.0")
    assert gate(site, material_version="2.0").consent(header).allows("analytics")
    stale = gate(site).consent(header)  # default marker: the current policy version, 2.1
    assert not stale.decided and not stale.allows("analytics")
    assert gate(site, material_version="2.1").consent(header).choices == {
        "preferences": False,
        "analytics": False,
        "advertising": False,
    }


def test_gpc_opts_out_of_advertising_and_sale(site: LoadedDeclaration, consent_cookie: MakeCookie) -> None:
    g = gate(site)
    header = consent_cookie({"analytics": True, "advertising": True})
    assert g.consent(header, "0").allows("advertising")
    state = g.consent(header, " 1 ")
    assert state.gpc and state.allows("analytics") and not state.allows("advertising")
    assert not state.allows("analytics", sale=True)
    assert not state.allows("strictly_necessary", sale=True)


def test_first_well_formed_consent_cookie_wins(site: LoadedDeclaration, consent_cookie: MakeCookie) -> None:
    header = "pledge_consent=garbage; " + consent_cookie({"analytics": True}) + "; " + consent_cookie({})
    assert gate(site).consent(header).allows("analytics")


def test_custom_cookie_name(site: LoadedDeclaration, consent_cookie: MakeCookie) -> None:
    g = gate(site, cookie_name="cc")
    assert g.consent(consent_cookie({"analytics": True}, name="cc")).allows("analytics")
    assert not g.consent(consent_cookie({"analytics": True})).allows("analytics")
    assert g.allow_set_cookie("cc=x; Path=/", g.consent(None))


def test_set_cookie_judgement(site: LoadedDeclaration, consent_cookie: MakeCookie) -> None:
    dropped: list[DroppedCookie] = []
    g = gate(site, on_drop=dropped.append)
    none = g.consent(None)
    analytics = g.consent(consent_cookie({"analytics": True}))
    assert g.allow_set_cookie("session=abc; HttpOnly", none)
    assert g.allow_set_cookie("pledge_consent=x", none)
    assert not g.allow_set_cookie("_ga_XYZ=1; Max-Age=100", none)
    assert g.allow_set_cookie("_ga_XYZ=1; Max-Age=100", analytics)
    assert not g.allow_set_cookie("_fbp=1", analytics)
    assert not g.allow_set_cookie("mystery=1", analytics)
    assert not g.allow_set_cookie("no-equals-sign", analytics)
    assert dropped == [
        DroppedCookie("_ga_XYZ", "analytics", "no_consent"),
        DroppedCookie("_fbp", "advertising", "no_consent"),
        DroppedCookie("mystery", None, "undeclared"),
        DroppedCookie("", None, "undeclared"),
    ]
    gpc = g.consent(consent_cookie({"advertising": True}), "1")
    assert not g.allow_set_cookie("ad_x=1", gpc)
    assert dropped[-1] == DroppedCookie("ad_x", "advertising", "gpc")


@pytest.mark.parametrize(
    "header",
    [
        "_fbp=; Max-Age=0; Path=/",
        "_fbp=; max-age=-1",
        "_fbp=; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
        "_fbp=; expires=Thu, 01-Jan-1970 00:00:00 GMT; Path=/",
    ],
)
def test_deleting_a_cookie_is_always_allowed(site: LoadedDeclaration, header: str) -> None:
    g = gate(site)
    assert g.allow_set_cookie(header, g.consent(None))


@pytest.mark.parametrize(
    "header",
    [
        "_fbp=1; Expires=Thu, 01 Jan 2099 00:00:00 GMT",
        "_fbp=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=3600",  # Max-Age takes precedence
        "_fbp=1; Expires=not a date",
        "_fbp=1; Max-Age=zero",
    ],
)
def test_setting_is_not_mistaken_for_deleting(site: LoadedDeclaration, header: str) -> None:
    g = gate(site)
    assert not g.allow_set_cookie(header, g.consent(None))


def test_undeclared_can_be_logged_instead(site: LoadedDeclaration, caplog: pytest.LogCaptureFixture) -> None:
    g = gate(site, undeclared="log")
    state = g.consent(None)
    with caplog.at_level(logging.WARNING, logger="pledge.middleware"):
        assert g.allow_set_cookie("mystery=SECRET-VALUE; Path=/", state)
        assert g.allow_set_cookie("mystery=again", state)
        assert not g.allow_set_cookie("_fbp=1", state)  # declared cookies are still gated
    assert len(caplog.records) == 1
    assert "mystery" in caplog.text and "SECRET-VALUE" not in caplog.text


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"signing_key": None}, "needs a signing key"),
        ({"signing_key": b"short"}, "at least 16 bytes"),
        ({"cookie_name": "bad name;"}, "not a valid cookie name"),
        ({"undeclared": "keep"}, "undeclared must be"),
    ],
)
def test_bad_configuration_is_refused(
    site: LoadedDeclaration, options: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        gate(site, **options)


def test_hostile_headers_do_not_break_anything(site: LoadedDeclaration) -> None:
    g = gate(site)
    state = g.consent("pledge_consent=" + "~" * 10_000 + '; =; ;;; pledge_consent="1~%~~"', "\x00" * 100)
    assert not state.decided and not state.gpc
    assert not g.allow_set_cookie("a" * 10_000 + "=1", state)
    assert not g.allow_set_cookie("_ga_" + "%" * 300 + "=1", state)
