from __future__ import annotations

import pytest

from pledge.errors import InputError
from pledge.logs.formats import FORMATS, detect_format, get_format

COMBINED = FORMATS["combined"]
COMMON = FORMATS["common"]

NGINX = (
    b'203.0.113.9 - - [10/Oct/2024:13:55:36 +0200] "GET /a?b=c HTTP/1.1" 200 2326 '
    b'"https://example.com/x" "Mozilla/5.0 (X11; Linux x86_64)"'
)


def test_combined_fields_in_order() -> None:
    fields = COMBINED.match(NGINX)
    assert fields == (
        None,
        b"203.0.113.9",
        b"-",
        b"-",
        b"10/Oct/2024:13:55:36 +0200",
        b"GET /a?b=c HTTP/1.1",
        b"200",
        b"2326",
        b"https://example.com/x",
        b"Mozilla/5.0 (X11; Linux x86_64)",
        b"",
    )


@pytest.mark.parametrize(
    ("line", "check"),
    [
        # Apache escapes a quote inside a field as \" : it must not end the field.
        (
            b'1.2.3.4 - - [10/Oct/2024:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "App \\"v2\\" (x)"',
            lambda f: f[9] == b'App \\"v2\\" (x)',
        ),
        # IPv6 host, "-" for size, an authenticated user.
        (
            b'2001:db8::7 - alice [10/Oct/2024:13:55:36 -0700] "HEAD / HTTP/1.1" 304 - "-" "-"',
            lambda f: f[1] == b"2001:db8::7" and f[3] == b"alice" and f[7] == b"-",
        ),
        # Trailing extra fields (nginx request time, X-Forwarded-For) and a CR line end.
        (
            b'1.2.3.4 - - [10/Oct/2024:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "ua" 0.012 "10.0.0.1"\r',
            lambda f: f[10] == b' 0.012 "10.0.0.1"\r',
        ),
        # vhost_combined: a virtual host in front.
        (
            b'shop.example:443 1.2.3.4 - - [10/Oct/2024:13:55:36 +0000] "GET / HTTP/2.0" 200 5 "-" "ua"',
            lambda f: f[0] == b"shop.example:443" and f[1] == b"1.2.3.4",
        ),
        # Milliseconds in the timestamp.
        (
            b'1.2.3.4 - - [10/Oct/2024:13:55:36.123 +0000] "GET / HTTP/1.1" 200 5 "-" "ua"',
            lambda f: f[4] == b"10/Oct/2024:13:55:36.123 +0000",
        ),
        # Bytes that are not UTF-8 pass through untouched.
        (
            b'1.2.3.4 - - [10/Oct/2024:13:55:36 +0000] "GET /caf\xe9 HTTP/1.1" 200 5 "-" "\xff\xfe"',
            lambda f: f[5] == b"GET /caf\xe9 HTTP/1.1" and f[9] == b"\xff\xfe",
        ),
        # A TLS handshake sent to the HTTP port, as nginx logs it.
        (
            b'1.2.3.4 - - [10/Oct/2024:13:55:36 +0000] "\\x16\\x03\\x01\\x00" 400 157 "-" "-"',
            lambda f: f[5] == b"\\x16\\x03\\x01\\x00" and f[6] == b"400",
        ),
    ],
)
def test_combined_variants(line: bytes, check: object) -> None:
    fields = COMBINED.match(line)
    assert fields is not None
    assert check(fields)  # type: ignore[operator]


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"garbage",
        b"\x00\x01\x02\x03binary",
        b'1.2.3.4 - - [10/Oct/2024:13:55:36 +0000] "GET / HTTP/1.1" 200',  # cut before the size
        b'1.2.3.4 - - [99/Foo/2024 13:55:36] "GET / HTTP/1.1" 200 5 "-" "ua"',  # bad timestamp shape
        b'1.2.3.4 - - [10/Oct/2024:13:55:36 +0000] "GET / HTTP/1.1 200 5 "-" "ua"',  # unbalanced quote
        b'1.2.3.4 - - [10/Oct/2024:13:55:36 +0000] "GET / HTTP/1.1" OK 5 "-" "ua"',  # status not a number
    ],
)
def test_malformed_lines_do_not_match(line: bytes) -> None:
    assert COMBINED.match(line) is None


def test_common_format_and_its_fields() -> None:
    line = b'1.2.3.4 - bob [10/Oct/2024:13:55:36 +0000] "GET /x HTTP/1.0" 200 77'
    fields = COMMON.match(line)
    assert fields is not None
    assert fields[3] == b"bob" and fields[7] == b"77"
    assert fields[8] is None and fields[9] is None  # common has no referrer or agent
    assert COMBINED.match(line) is None


def test_detection_prefers_combined_and_finds_common() -> None:
    assert detect_format([NGINX, NGINX, b"junk"]) is COMBINED
    common = b'1.2.3.4 - - [10/Oct/2024:13:55:36 +0000] "GET / HTTP/1.0" 200 5'
    assert detect_format([common, common, NGINX]) is COMMON
    assert detect_format([b"", b"not a log", b"\x00\x01"]) is None


def test_unknown_format_name_is_bad_input() -> None:
    with pytest.raises(InputError, match="unknown log format"):
        get_format("json")


def test_hostile_long_line_stays_linear() -> None:
    # 64 kB of escapes and quotes: an exponential regex would hang here.
    line = b'1.2.3.4 - - [10/Oct/2024:13:55:36 +0000] "' + b'\\"' * 30000 + b'" 200 5 "-" "x'
    assert COMBINED.match(line) is None
