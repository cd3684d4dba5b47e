"""Remove identifiers from request targets, referrers, user agents and other free text.

What is removed (each replaced by a visible marker so the line stays readable and parseable):

- e-mail addresses and URL user-info (``user:pass@``) → ``[email]``
- IPv4 and IPv6 addresses (also percent-encoded, IPv4-mapped, zero-padded) → ``[ip]``
- UUIDs → ``[uuid]``; runs of 16+ hex digits and long digit runs (9+) → ``[id]``
- long token-like runs (20+ characters mixing letters and digits that are not a word slug:
  API keys, session ids, JWT parts, base64 blobs) → ``[token]``
- phone numbers (``+44 20 7946 0958``, ``0049-30-1234567``, ``(030) 1234567``) → ``[phone]``
- the value of any query or path parameter whose *name* suggests a secret or a person
  (``token``, ``api_key``, ``password``, ``email``, ``session``, ``sid``, ``user``, ``gclid``,
  ``name``, ...) → ``[redacted]``

Detection runs on the percent-decoded text (decoded up to three times, so ``%2540`` is caught),
and a component is re-encoded only when something was replaced. This is heuristic by nature: it
errs towards removing too much (a 20-character product code may become ``[token]``) rather than
too little. All functions take and return *bytes* (non-UTF-8 input passes through untouched).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from urllib.parse import quote_from_bytes, unquote_to_bytes

__all__ = [
    "is_sensitive_key",
    "scrub_host",
    "scrub_referrer",
    "scrub_target",
    "scrub_text",
]

_NOT_LOCAL = rb"\s@/?#&=;,\"'<>\[\]\\()"
# Starts only where a run of address characters starts, and never gives back what it took:
# linear even on a 64 kB run without any "@".
_EMAIL = re.compile(rb"(?<![^" + _NOT_LOCAL + rb"])[^" + _NOT_LOCAL + rb"]++@[^" + _NOT_LOCAL + rb":]+")
_HEX4 = rb"[0-9A-Fa-f]{4}"
_UUID = re.compile(
    rb"(?<![0-9A-Fa-f])[0-9A-Fa-f]{8}-" + _HEX4 + b"-" + _HEX4 + b"-" + _HEX4 + rb"-[0-9A-Fa-f]{12}"
)
# A run of hex digits, dots and colons with at least two colons, checked below for an IPv6
# address inside. Possessive quantifiers keep this linear on hostile input.
_IP6 = re.compile(rb"(?<![0-9A-Fa-f:.])[0-9A-Fa-f.]*+(?::[0-9A-Fa-f.]*+){2,}")
_IP4 = re.compile(rb"(?<![0-9])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9])")
_PHONE = re.compile(rb"(?<![A-Za-z0-9])(?:\+|00)?[0-9][0-9 ().\-]{5,}[0-9](?![A-Za-z0-9])")
_RUN = re.compile(rb"[A-Za-z0-9_\-+=]{16,}")
_DATE_LIKE = re.compile(rb"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{4}")
_SLUG_PIECE = re.compile(rb"[a-z]+|[A-Z]+|[A-Z][a-z]+|[0-9]{1,8}|[A-Za-z0-9]{1,4}")
_SPLIT_PIECES = re.compile(rb"[-_+=]+")
_HEX = re.compile(rb"[0-9A-Fa-f]+")
_DIGITS = re.compile(rb"[0-9]")

EMAIL = b"[email]"
IP = b"[ip]"
UUID = b"[uuid]"
ID = b"[id]"
TOKEN = b"[token]"
PHONE = b"[phone]"
REDACTED = b"[redacted]"

# Parameter names are compared lower-cased with everything but letters and digits removed.
_SENSITIVE_PARTS = (
    "user", "login", "auth", "token", "passw", "pwd", "secret", "mail", "session", "phone",
    "mobile", "account", "signature", "cookie", "jwt", "bearer", "credential", "nonce", "ticket",
    "iban", "birth", "address", "customer", "member", "apikey", "accesskey", "privatekey",
    "clid", "clkid", "visitor", "device", "subscriber", "contact", "person", "firstname",
    "lastname", "fullname", "surname", "username", "postcode", "zipcode", "hsenc", "mkttok",
)  # fmt: skip
_SENSITIVE_EXACT = frozenset(
    {
        "key", "sid", "ip", "ssn", "dob", "otp", "sig", "code", "name", "tel", "uid", "hash",
        "card", "cc", "email", "e", "pw", "pin", "zip", "eid", "tok", "st", "to", "from", "cid",
        "sessid", "jsessionid", "phpsessid", "aspsessionid", "sessionid", "ssid", "mceid",
    }
)  # fmt: skip
_UNSAFE_IN_COMPONENT = b'/?#&=;% "\\<>[]{}|^`'


_SENSITIVE_SEARCH = re.compile("|".join(_SENSITIVE_PARTS))
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_KEY_CACHE: dict[bytes, bool] = {}


def is_sensitive_key(name: bytes) -> bool:
    """Does a parameter named ``name`` (raw, maybe percent-encoded) likely carry a secret or a person?"""
    found = _KEY_CACHE.get(name)
    if found is None:
        normal = _NON_ALNUM.sub("", _decode(name, plus=True).decode("latin-1").lower())
        found = normal in _SENSITIVE_EXACT or _SENSITIVE_SEARCH.search(normal) is not None
        if len(_KEY_CACHE) > 10_000:
            _KEY_CACHE.clear()
        _KEY_CACHE[name] = found
    return found


def _ip6(match: re.Match[bytes]) -> bytes:
    text = match.group()
    # A valid IPv6 address needs "::" or seven colons; times like 12:30:00 have neither.
    if b"::" not in text and text.count(b":") < 7:
        return text
    if len(text) > 200:
        return IP  # a 200-character run of hex digits and colons is not innocent text
    candidate = text.decode("ascii")
    n = len(candidate)
    for start in range(n):
        for end in range(n, start + 1, -1):
            piece = candidate[start:end]
            if piece.count(":") >= 2 and _is_ipv6(piece):
                return IP
    return text


def _is_ipv6(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(text), ipaddress.IPv6Address)
    except ValueError:
        return False


def _phone(match: re.Match[bytes]) -> bytes:
    text = match.group()
    if _DATE_LIKE.search(text):
        # "2024-11-23 030 1234567": judge what is left once the dates are taken out.
        rest = _DATE_LIKE.sub(b" ", text)
        return PHONE if any(_phone(m) != m.group() for m in _PHONE.finditer(rest)) else text
    digits = len(_DIGITS.findall(text))
    if digits >= 9:
        return PHONE if not text.isdigit() else ID
    if digits >= 7 and (text[:1] == b"+" or text[:2] == b"00" or b" " in text or b"(" in text):
        return PHONE
    return text


def _run(match: re.Match[bytes]) -> bytes:
    text = match.group()
    if text.isdigit():
        return ID if len(text) >= 9 else text
    if len(text) >= 16 and _HEX.fullmatch(text) and _DIGITS.search(text):
        return ID
    if len(text) < 20:
        return text
    # A slug (``summer-sale-2024``, ``Annual_Report_v2``) is words and short numbers; anything
    # else this long (mixed case, letters glued to digits) is taken for a key or session id.
    pieces = [p for p in _SPLIT_PIECES.split(text) if p]
    if pieces and all(_SLUG_PIECE.fullmatch(p) for p in pieces):
        return text
    return TOKEN


# One pass per kind, most specific first: an e-mail address goes before the IP or number inside
# it, and a candidate one kind leaves alone (a version number) cannot hide another (an IPv6
# address right after it) as it would in a single alternation.
_PASSES: tuple[tuple[re.Pattern[bytes], bytes | Callable[[re.Match[bytes]], bytes]], ...] = (
    (_EMAIL, EMAIL),
    (_UUID, UUID),
    (_IP6, _ip6),
    (_IP4, IP),
    (_PHONE, _phone),
    (_RUN, _run),
)


def _scan(text: bytes) -> bytes:
    for pattern, replacement in _PASSES:
        text = pattern.sub(replacement, text)
    return text


def _decode(raw: bytes, *, plus: bool = False) -> bytes:
    """Percent-decode up to three times (double-encoding is common in redirects)."""
    text = raw.replace(b"+", b" ") if plus else raw
    for _ in range(3):
        if b"%" not in text:
            break
        decoded = unquote_to_bytes(text)
        if decoded == text:
            break
        text = decoded
    return text


def scrub_text(text: bytes) -> bytes:
    """Replace identifiers anywhere in free text (user agents, unparseable request lines).

    The text keeps its own form unless a percent-encoded identifier had to be removed; then the
    result is re-encoded, so a decoded quote can never end up breaking a quoted log field.
    """
    cleaned = _scan(text)
    if b"%" in cleaned:
        decoded = _decode(cleaned)
        again = _scan(decoded)
        if again != decoded:
            return _quote(again)
    return cleaned


def _scrub_component(raw: bytes, *, plus: bool = False) -> bytes:
    if len(raw) < 7 and b"@" not in raw and b":" not in raw and b"%" not in raw:
        return raw  # too short for any pattern but an e-mail address or "::1"
    decoded = _decode(raw, plus=plus) if (b"%" in raw or (plus and b"+" in raw)) else raw
    cleaned = _scan(decoded)
    if cleaned == decoded:
        return raw
    return _quote(cleaned)


def _quote(text: bytes) -> bytes:
    out = quote_from_bytes(text, safe="!$'()*,:@~[]+").encode("ascii")
    return out


def _scrub_params(query: bytes, separator: bytes) -> bytes:
    parts = []
    for pair in query.split(separator):
        key, eq, value = pair.partition(b"=")
        if eq and is_sensitive_key(key):
            parts.append(_scrub_component(key, plus=True) + b"=" + REDACTED)
        elif eq:
            parts.append(_scrub_component(key, plus=True) + b"=" + _scrub_component(value, plus=True))
        else:
            parts.append(_scrub_component(key, plus=True))
    return separator.join(parts)


def _scrub_path(path: bytes) -> bytes:
    if b"%" not in path and b";" not in path:
        return _scan(path)  # no pattern spans a "/": one pass does
    segments: list[bytes] = []
    for segment in path.split(b"/"):
        if not segment:
            segments.append(segment)
            continue
        name, semi, params = segment.partition(b";")  # /cart;jsessionid=ABC123
        cleaned = _scrub_component(name)
        if semi:
            cleaned += b";" + _scrub_params(params, b";")
        segments.append(cleaned)
    return b"/".join(segments)


def scrub_target(target: bytes) -> bytes:
    """A request target (``/path;params?query#fragment``) with identifiers removed."""
    if b"?" not in target and b"#" not in target:
        return _scrub_path(target)
    body, hash_, fragment = target.partition(b"#")
    path, question, query = body.partition(b"?")
    out = _scrub_path(path)
    if question:
        out += b"?" + _scrub_params(query, b"&")
    if hash_:  # OAuth's implicit flow puts access_token=... in the fragment: treat it as parameters
        out += b"#" + (_scrub_params(fragment, b"&") if b"=" in fragment else _scrub_component(fragment))
    return out


_HOST_CHARS = re.compile(rb"[A-Za-z0-9.\-_:\[\]]*")
_URL = re.compile(rb"^([A-Za-z][A-Za-z0-9+.\-]{0,30}):(?://)?([^/?#]*)([^?#]*)")


def scrub_host(host: bytes) -> bytes:
    """A host name (or ``host:port``) with addresses and identifiers replaced."""
    return _scan(host)


def scrub_referrer(referrer: bytes, mode: str = "host") -> bytes:
    """Reduce a referrer to ``scheme://host/`` (``mode="host"``), or keep its path too but never
    its query (``"path"``), or drop it (``"drop"``). User-info (``user:pass@``) is always removed.
    Anything that is not a URL becomes ``-``.
    """
    if referrer in (b"-", b"") or mode == "drop":
        return b"-"
    found = _URL.match(referrer)
    if found is None:
        return b"-"
    scheme, authority, path = found.groups()
    host = scrub_host(authority.rpartition(b"@")[2].lower())
    if not _HOST_CHARS.fullmatch(host):
        return b"-"
    out = scheme.lower() + b"://" + host + b"/"
    if mode == "path" and path not in (b"", b"/"):
        out = out[:-1] + _scrub_path(path)
    return out
