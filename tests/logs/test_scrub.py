from __future__ import annotations

import pytest

from pledge.logs.scrub import is_sensitive_key, scrub_host, scrub_referrer, scrub_target, scrub_text


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (b"/users/john.doe@example.com/profile", b"/users/[email]/profile"),
        (b"/m/joe%40example.com", b"/m/[email]"),
        (b"/m/joe%2540example.com", b"/m/[email]"),  # encoded twice
        (b"/x/192.168.1.25/y", b"/x/[ip]/y"),
        (b"/x/1%2E2%2E3%2E4", b"/x/[ip]"),
        (b"/x/2001:db8::1/y", b"/x/[ip]/y"),
        (b"/x/::ffff:10.1.2.3", b"/x/[ip]"),
        (b"/x/2001:0db8:0000:0000:0000:0000:0000:0001", b"/x/[ip]"),
        (b"/x/10:20:1.2.3.4", b"/x/10:20:[ip]"),
        (b"/o/550e8400-e29b-41d4-a716-446655440000", b"/o/[uuid]"),
        (b"/items/9f86d081884c7d659a2feaa0c55ad015", b"/items/[id]"),
        (b"/account/orders/4417893021", b"/account/orders/[id]"),
        (b"/k/sk_live_51H8abcDEFghiJKLmnop", b"/k/[token]"),
        (b"/u/+44 20 7946 0958", b"/u/[phone]"),
        (b"/cart;jsessionid=A1B2C3D4E5F6?x=1", b"/cart;jsessionid=[redacted]?x=1"),
        (b"/a?email=x%40y.com&q=hello+world&page=2", b"/a?email=[redacted]&q=hello+world&page=2"),
        (b"/reset?token=abc&next=/home", b"/reset?token=[redacted]&next=/home"),
        (b"/?gclid=abc&utm_source=news", b"/?gclid=[redacted]&utm_source=news"),
        (b"/login?user=alice&password=hunter2", b"/login?user=[redacted]&password=[redacted]"),
        (b"/api?api_key=zzz&Authorization=Bearer+x", b"/api?api_key=[redacted]&Authorization=[redacted]"),
        (b"/s?q=call+%2B49+30+1234567", b"/s?q=call%20[phone]"),
        (b"/s?q=mail+me+at+a%40b.de", b"/s?q=mail%20me%20at%20[email]"),
        (
            b"/cb#access_token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0&state=1",
            b"/cb#access_token=[redacted]&state=1",
        ),
        (b"/x/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0", b"/x/[token].[token]"),
    ],
)
def test_identifiers_are_replaced(target: bytes, expected: bytes) -> None:
    assert scrub_target(target) == expected


@pytest.mark.parametrize(
    "target",
    [
        b"/",
        b"/blog/2024/11/how-to-keep-promises",
        b"/summer-sale-2024/Annual_Report_v2",
        b"/products/garden-chair-10021",
        b"/static/app.3f9a2c1e.js",
        b"/p?when=2024-11-23+12:30:00&page=3",
        b"/d/20241123",
        b"/category/shoes?page=2&sort=price",
        b"/@alice",  # a public profile handle, not an e-mail address
    ],
)
def test_ordinary_targets_are_unchanged(target: bytes) -> None:
    assert scrub_target(target) == target


@pytest.mark.parametrize(
    ("key", "sensitive"),
    [
        (b"email", True),
        (b"E-Mail", True),
        (b"user_id", True),
        (b"access_token", True),
        (b"api%5Fkey", True),
        (b"PHPSESSID", True),
        (b"fbclid", True),
        (b"page", False),
        (b"utm_source", False),
        (b"q", False),
        (b"sort", False),
    ],
)
def test_sensitive_parameter_names(key: bytes, sensitive: bool) -> None:
    assert is_sensitive_key(key) is sensitive


@pytest.mark.parametrize(
    ("referrer", "host", "path"),
    [
        (b"https://www.Google.com/search?q=me", b"https://www.google.com/", b"https://www.google.com/search"),
        (b"https://user:pw@shop.example/a?b=c", b"https://shop.example/", b"https://shop.example/a"),
        (b"http://192.168.0.1:8080/admin", b"http://[ip]:8080/", b"http://[ip]:8080/admin"),
        (b"https://x.example/u/jane@example.org", b"https://x.example/", b"https://x.example/u/[email]"),
        (b"android-app://com.google.android.gm/", b"android-app://com.google.android.gm/", None),
        (b"-", b"-", b"-"),
        (b"not a url", b"-", b"-"),
        (b'http://a"b/', b"-", b"-"),
    ],
)
def test_referrers_are_reduced(referrer: bytes, host: bytes, path: bytes | None) -> None:
    assert scrub_referrer(referrer, "host") == host
    assert scrub_referrer(referrer, "path") == (path or host)
    assert scrub_referrer(referrer, "drop") == b"-"


def test_free_text_and_hosts() -> None:
    ua = b"MyApp/3.2 (user=alice@example.org; sid 9f86d081884c7d659a2feaa0c55ad015; ip 10.0.0.1)"
    assert scrub_text(ua) == b"MyApp/3.2 (user=[email]; sid [id]; ip [ip])"
    assert (
        scrub_text(b"Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101")
        == b"Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101"
    )
    # A decoded quote must never come back raw: it would end a quoted log field.
    assert b'"' not in scrub_text(b"x%22y%40z.com")
    assert scrub_host(b"203.0.113.5:443") == b"[ip]:443"
    assert scrub_host(b"shop.example") == b"shop.example"


def test_hostile_input_is_linear_and_safe() -> None:
    for text in (b"a" * 20000, b":" * 20000, b"1." * 10000, b"%25" * 5000, b"@" * 10000, b"0:" * 10000):
        scrub_target(b"/" + text)
        scrub_text(text)
