from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pledge.middleware import (
    consent_set_cookie_header,
    format_consent_cookie,
    parse_consent_cookie,
    sign_consent_cookie,
    version_token,
)

from .conftest import KEY, VISITOR


def test_round_trip_keeps_every_choice() -> None:
    value = format_consent_cookie(
        VISITOR, {"preferences": True, "analytics": False, "advertising": True}, "2.1", "2.0"
    )
    assert value == f"1~{VISITOR}~PaD~2.1~2.0"
    parsed = parse_consent_cookie(value)
    assert parsed is not None
    assert dict(parsed.choices) == {"preferences": True, "analytics": False, "advertising": True}
    assert (parsed.visitor_id, parsed.version, parsed.material, parsed.signed) == (
        VISITOR,
        "2.1",
        "2.0",
        False,
    )


def test_signature_verifies_only_with_the_right_key_and_unchanged_body() -> None:
    signed = sign_consent_cookie(format_consent_cookie(VISITOR, {"analytics": True}, "1", "1"), KEY)
    assert parse_consent_cookie(signed, KEY).signed  # type: ignore[union-attr]
    assert not parse_consent_cookie(signed, b"x" * 32).signed  # type: ignore[union-attr]
    assert not parse_consent_cookie(signed).signed  # type: ignore[union-attr]
    # Flip the analytics grant on under someone else's signature: still readable, no longer signed.
    denied = sign_consent_cookie(format_consent_cookie(VISITOR, {"analytics": False}, "1", "1"), KEY)
    forged = denied.replace("~a~", "~A~")
    assert forged != denied
    parsed = parse_consent_cookie(forged, KEY)
    assert parsed is not None and parsed.choices["analytics"] and not parsed.signed


def test_re_signing_replaces_the_old_signature() -> None:
    value = sign_consent_cookie(format_consent_cookie(VISITOR, {}, "1", "1"), b"a" * 32)
    again = sign_consent_cookie(value, KEY)
    assert again.count("~") == 5
    assert parse_consent_cookie(again, KEY).signed  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "value",
    [
        "",
        "1",
        f"2~{VISITOR}~a~1~1",  # unknown format version
        "1~short~a~1~1",
        f"1~{VISITOR}~x~1~1",  # unknown category letter
        f"1~{VISITOR}~aA~1~1",  # same category twice
        f"1~{VISITOR}~a~1 0~1",
        f"1~{VISITOR}~a~~1",
        f"1~{VISITOR}~a~1~1~notasignature",
        f"1~{VISITOR}~a~1~1~" + "A" * 24 + "~extra",
        f"1~{VISITOR}~a~1~" + "v" * 500,
        '"quoted"',
        "1~%41%41~a~1~1",
    ],
)
def test_malformed_values_are_not_consent(value: str) -> None:
    assert parse_consent_cookie(value, KEY) is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_parse_never_raises(value: str) -> None:
    parse_consent_cookie(value, KEY)


def test_format_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="visitor id"):
        format_consent_cookie("not;an id", {}, "1", "1")
    with pytest.raises(ValueError, match="unknown cookie categories: marketing"):
        format_consent_cookie(VISITOR, {"marketing": True}, "1", "1")
    with pytest.raises(ValueError, match="not a consent cookie"):
        sign_consent_cookie("garbage", KEY)


@pytest.mark.parametrize(
    ("version", "token"),
    [("1.0", "1.0"), ("2024-05-01", "2024-05-01"), ("v2_final", "v2_final")],
)
def test_plain_versions_are_their_own_token(version: str, token: str) -> None:
    assert version_token(version) == token


@pytest.mark.parametrize("version", ["1.0 (May)", "é", "a;b", "x" * 41, '"; Secure', "~"])
def test_other_versions_become_a_hash_token(version: str) -> None:
    token = version_token(version)
    assert token.startswith("h-") and len(token) == 18
    assert token != version_token(version + "x")
    value = format_consent_cookie(VISITOR, {}, version, version)
    assert parse_consent_cookie(value) is not None


def test_set_cookie_header_attributes() -> None:
    assert consent_set_cookie_header("v", secure=True, max_age_days=1) == (
        "pledge_consent=v; Path=/; Max-Age=86400; SameSite=Lax; Secure"
    )
    assert "Secure" not in consent_set_cookie_header("v", secure=False)
