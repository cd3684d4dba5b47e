from __future__ import annotations

import hashlib
import hmac

import pytest

from pledge.errors import ConfigError
from pledge.logs.ipanon import IpAnonymiser
from pledge.logs.useragent import AgentParser


def test_truncation_to_the_declared_prefixes() -> None:
    anon = IpAnonymiser("truncate", geolocate=False)
    assert anon(b"203.0.113.77") == (b"203.0.113.0", b"--")
    assert anon(b"2001:db8:abcd:1234:5678::9") == (b"2001:db8:abcd::", b"--")
    wide = IpAnonymiser("truncate", ipv4_prefix=16, ipv6_prefix=32, geolocate=False)
    assert wide(b"203.0.113.77")[0] == b"203.0.0.0"
    assert wide(b"2001:db8:abcd:1234::9")[0] == b"2001:db8::"
    odd = IpAnonymiser("truncate", ipv4_prefix=20, geolocate=False)
    assert odd(b"203.0.127.255")[0] == b"203.0.112.0"


def test_ipv4_mapped_bracketed_and_zone_forms() -> None:
    anon = IpAnonymiser("truncate", geolocate=False)
    assert anon(b"::ffff:203.0.113.77")[0] == b"203.0.113.0"
    assert anon(b"[2001:db8:abcd:1::1]")[0] == b"2001:db8:abcd::"
    assert anon(b"fe80::1%eth0")[0] == b"fe80::"


@pytest.mark.parametrize(
    "host", [b"-", b"host.isp.example", b"010.1.2.3", b"1.2.3", b"256.1.1.1", b"\xff\xfe"]
)
def test_anything_not_an_address_becomes_a_dash(host: bytes) -> None:
    assert IpAnonymiser("truncate", geolocate=False)(host) == (b"-", b"--")


def test_country_is_looked_up_on_the_full_address() -> None:
    seen: list[str] = []

    def country_of(address: str) -> str | None:
        seen.append(address)
        return "DE"

    anon = IpAnonymiser("truncate", country_of=country_of)
    assert anon(b"203.0.113.77") == (b"203.0.113.0", b"DE")
    assert anon(b"::ffff:203.0.113.78")[1] == b"DE"
    assert seen == ["203.0.113.77", "203.0.113.78"]
    anon(b"203.0.113.77")
    assert len(seen) == 2  # cached


def test_real_country_lookup_and_private_ranges() -> None:
    anon = IpAnonymiser("truncate")
    assert anon(b"8.8.8.8")[1] == b"US"
    assert anon(b"10.1.2.3")[1] == b"--"


def test_keyed_hash_is_stable_per_key_and_never_the_address() -> None:
    one = IpAnonymiser("hash", hash_key=b"k" * 32, geolocate=False)
    two = IpAnonymiser("hash", hash_key=b"q" * 32, geolocate=False)
    token = one(b"203.0.113.77")[0]
    assert token.startswith(b"h-") and len(token) == 18
    assert token == one(b"203.0.113.77")[0]
    assert token != two(b"203.0.113.77")[0]
    packed = bytes([203, 0, 113, 77])
    assert token[2:] == hmac.new(b"k" * 32, packed, hashlib.sha256).hexdigest()[:16].encode()
    assert one(token)[0] == token  # reading our own output again changes nothing
    with pytest.raises(ConfigError):
        IpAnonymiser("hash", geolocate=False)


def test_drop_and_keep() -> None:
    assert IpAnonymiser("drop", geolocate=False)(b"203.0.113.77")[0] == b"-"
    assert IpAnonymiser("keep", geolocate=False)(b"2001:0db8::0001")[0] == b"2001:db8::1"


@pytest.mark.parametrize(
    ("ua", "browser", "os_name", "device", "bot"),
    [
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Safari/537.36",
            "Chrome",
            "Windows",
            "desktop",
            False,
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
            "Mobile Safari",
            "iOS",
            "mobile",
            False,
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.1 Mobile/15E148 Safari/604.1",
            "Mobile Safari",
            "iOS",
            "tablet",
            False,
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Safari/537.36",
            "Chrome",
            "Android",
            "tablet",
            False,
        ),
        (
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Googlebot",
            "Other",
            "bot",
            True,
        ),
        ("curl/8.4.0", "curl", "Other", "bot", True),
        ("python-requests/2.31.0", "Python Requests", "Other", "bot", True),
        ("-", "Other", "Other", "other", False),
    ],
)
def test_user_agents(ua: str, browser: str, os_name: str, device: str, bot: bool) -> None:
    agent = AgentParser()(ua.encode())
    assert (agent.browser, agent.os, agent.device, agent.bot) == (browser, os_name, device, bot)


def test_family_names_never_carry_identifiers() -> None:
    agent = AgentParser()(b"jane.roe@example.org/1.0 (203.0.113.7)")
    assert "@" not in agent.browser and "203.0.113.7" not in agent.browser
