"""Property tests: identifiers planted in every field of generated log lines never come out.

Each generated line carries a visitor address, and e-mail addresses, tokens and further IPv4/IPv6
addresses in the vhost, the user field, path segments, query keys and values (under neutral and
sensitive names), the referrer (host, path and query), the user agent and trailing fields — raw
or percent-encoded. The anonymised line, and the statistics released from such lines, must not
contain any of them in any form.
"""

from __future__ import annotations

import ipaddress
import json
import re
import string
from functools import cache
from pathlib import Path
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pledge.logs import LogRules
from pledge.logs.anonymise import Anonymiser
from pledge.logs.formats import FORMATS
from pledge.logs.rules import StatsRules
from pledge.logs.stats import compute_statistics

_LABEL = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=8)

ipv4 = st.builds(
    lambda a, b, c, d: f"{a}.{b}.{c}.{d}",
    st.integers(1, 223),
    st.integers(0, 255),
    st.integers(0, 255),
    st.integers(1, 255),  # non-zero host part: a truncated address can never equal it
)
ipv6 = st.integers(1, (1 << 80) - 1).flatmap(
    lambda low: st.integers(0x2000, 0x3FFF).map(
        lambda top: str(ipaddress.IPv6Address((top << 112) | (0x0DB8 << 96) | low))
    )
)
email = st.builds(
    lambda user, dot, domain, tld: f"{user}{dot}{domain}@{domain}x.{tld}",
    _LABEL,
    st.sampled_from(["", ".", "+", "_"]),
    _LABEL,
    st.sampled_from(["com", "org", "de", "co.uk", "example"]),
)


def _mixed(text: str) -> bool:
    return (
        any(c.isdigit() for c in text) and any(c.isupper() for c in text) and any(c.islower() for c in text)
    )


base62 = st.text(string.ascii_letters + string.digits, min_size=20, max_size=40).filter(_mixed)
token = st.one_of(
    st.binary(min_size=16, max_size=24).map(bytes.hex),
    st.uuids().map(str),
    base62,
    st.tuples(base62, base62).map(lambda parts: "eyJ" + parts[0] + "." + parts[1]),
)
secret = st.one_of(ipv4, ipv6, email, token)
plant = st.tuples(secret, st.booleans())  # (identifier, percent-encode it?)


def _put(item: tuple[str, bool]) -> str:
    value, encode = item
    return quote(value, safe="") if encode else value


@st.composite
def lines(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    planted: list[tuple[str, bool]] = [draw(plant) for _ in range(9)]
    host = draw(st.one_of(ipv4, ipv6))
    user = planted[0][0] if draw(st.booleans()) else "-"
    path = f"/{_put(planted[1])}/{draw(_LABEL)}"
    neutral, sensitive = (
        draw(st.sampled_from(["q", "page", "ref", "next"])),
        draw(
            st.sampled_from(["email", "token", "session_id", "api_key", "user", "password", "sid", "gclid"])
        ),
    )
    query = f"{neutral}={_put(planted[2])}&{sensitive}={_put(planted[3])}&{_put(planted[4])}=1"
    ref_is_ip = draw(st.booleans())
    ref_host = draw(ipv4) if ref_is_ip else draw(_LABEL) + ".example"
    referrer = f"https://{ref_host}/{_put(planted[5])}?t={_put(planted[6])}"
    agent = f"Mozilla/5.0 (X11; Linux) App/1.0 ({planted[7][0]})"
    vhost = draw(st.one_of(st.just(""), ipv4.map(lambda ip: ip + ":443 ")))
    trailing = f' "{planted[8][0]}"'
    request = f"GET {path}?{query} HTTP/1.1"
    stamp = "[10/Oct/2024:13:55:36 +0000]"
    line = f'{vhost}{host} - {user} {stamp} "{request}" 200 5 "{referrer}" "{agent}"{trailing}'
    identifiers = [value for value, _ in planted] + [host, ref_host if ref_is_ip else ""]
    if vhost:
        identifiers.append(vhost.split(":")[0])
    return line.encode(), [i for i in identifiers if i]


def _forms(identifier: str) -> list[bytes]:
    return [identifier.encode(), quote(identifier, safe="").encode(), quote(identifier).encode()]


_QUAD = re.compile(rb"(?<![0-9.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?![0-9])")


def _assert_clean(output: bytes, identifiers: list[str]) -> None:
    for identifier in identifiers:
        for form in _forms(identifier):
            assert form not in output, (identifier, output)
    # Whatever dotted quad is left must be a /24 network address, never a host.
    for quad in _QUAD.finditer(output):
        assert quad.group(4) == b"0", output


@cache
def _anonymiser(mode: str) -> Anonymiser:
    rules = {
        "parse": LogRules(),
        "keep": LogRules(user_agent="keep", referrer="path"),
        "hash": LogRules(ip="hash"),
    }[mode]
    return Anonymiser(rules, hash_key=b"k" * 32)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines(), st.sampled_from(["parse", "keep", "hash"]))
def test_no_identifier_survives_anonymisation(sample: tuple[bytes, list[str]], mode: str) -> None:
    line, identifiers = sample
    fields = FORMATS["combined"].match(line)
    assert fields is not None, line
    anonymiser = _anonymiser(mode)
    # The unrolled batch loop that ingest runs gives exactly what the one-line reference gives.
    batch, blank = anonymiser.lines([line], FORMATS["combined"], 0, _no_malformed)
    assert batch == [anonymiser.line(fields)] and blank == 0
    _assert_clean(batch[0], identifiers)
    _assert_clean(anonymiser.json_line(fields), identifiers)


def _no_malformed(lineno: int) -> None:
    raise AssertionError(f"line {lineno} was taken for malformed")


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(lines(), min_size=1, max_size=12))
def test_no_identifier_survives_into_statistics(
    tmp_path_factory: object, samples: list[tuple[bytes, list[str]]]
) -> None:
    from pledge.logs import ingest
    from pledge.logs.export import release_json, table_csv

    folder: Path = tmp_path_factory.mktemp("props")  # type: ignore[attr-defined]
    raw = folder / "raw.log"
    raw.write_bytes(b"\n".join(line for line, _ in samples) + b"\n")
    anonymised = folder / "anon.log"
    ingest([raw], out=anonymised)
    identifiers = [i for _, found in samples for i in found]
    _assert_clean(anonymised.read_bytes(), identifiers)
    # k = 2 (the smallest allowed) publishes as much as possible: the strongest check.
    release = compute_statistics([str(anonymised)], stats_rules=StatsRules(min_group_size=2), top=1000)
    text = json.dumps(release_json(release)).encode()
    text += b"".join(table_csv(release, t.name).encode() for t in release.tables)
    _assert_clean(text, identifiers)
    # Statistics straight from the raw log (given by mistake) are just as clean.
    direct = compute_statistics([str(raw)], stats_rules=StatsRules(min_group_size=2), top=1000)
    _assert_clean(json.dumps(release_json(direct)).encode(), identifiers)
