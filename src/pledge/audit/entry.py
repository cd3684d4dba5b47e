"""What one audit entry is, byte for byte, and the rule that keeps personal data out of it.

An entry's *leaf data* (what RFC 6962 hashes and what a third party receives in a proof) is the
canonical JSON object::

    {"index":N,"kind":"K","payload":P,"subject":"S"|null,"time":"YYYY-MM-DDTHH:MM:SS.ffffffZ"}

with sorted keys, no whitespace, UTF-8, and ``P`` the payload's own canonical JSON. ``kind``,
``subject`` and ``time`` are restricted to characters JSON never escapes, so the leaf data is
rebuilt from the stored columns by plain concatenation (fast enough to re-hash a million entries
in a second or two) and that concatenation can be split back into columns in only one way.

**No raw personal data.** The log is append-only and cannot be edited when someone asks to be
erased, so it must never hold an e-mail address, IP address, name or other raw identifier. Callers
pass a pseudonymous subject id (e.g. :func:`pseudonym`, a keyed hash) and payloads of ids, names of
purposes/categories, counts and reason codes. :func:`check_payload` rejects the obvious mistakes
(e-mail and IP addresses anywhere in a payload or subject); it cannot recognise a name, so the rule
stays the caller's responsibility.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pledge.errors import InputError

__all__ = [
    "Entry",
    "PreparedEntry",
    "canonical_json",
    "check_payload",
    "format_time",
    "leaf_data",
    "prepare",
    "pseudonym",
]

MAX_PAYLOAD_BYTES = 256 * 1024
KIND_RE = re.compile(r"[a-z][a-z0-9_]*(?:[.:-][a-z0-9_]+)*")
SUBJECT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+/=~-]*")
_EMAIL_RE = re.compile(r"[^\s@<>()\[\],;:\"']+@[^\s@<>()\[\],;:\"']+\.[A-Za-z]{2,}")
_IPV4_HINT = re.compile(r"\.\d{1,3}\.\d")
_IPV6_HINT = re.compile(r":[0-9A-Fa-f]{0,4}:")
_IPV4_SHAPE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_IPV6_SHAPE = re.compile(r"[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(?:%\w+)?")
# A token is the run of address characters around a hint; letters count as part of it, so
# "v1.2.3.4" or "T13:11:48" are never read as addresses.
_IPV4_CHARS = frozenset("0123456789.") | frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_IPV6_CHARS = frozenset("0123456789abcdefABCDEF:.%") | frozenset("ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ_")


@dataclass(frozen=True, slots=True)
class PreparedEntry:
    """A validated entry waiting for its index and time (assigned under the log's lock)."""

    kind: str
    subject: str | None
    payload: str  # canonical JSON


@dataclass(frozen=True, slots=True)
class Entry:
    index: int
    time: str
    kind: str
    subject: str | None
    payload_json: str
    leaf: bytes
    chain: bytes

    @property
    def payload(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.payload_json)
        return value

    @property
    def data(self) -> str:
        return leaf_data(self.index, self.time, self.kind, self.subject, self.payload_json)


def leaf_data(index: int, time: str, kind: str, subject: str | None, payload: str) -> str:
    """The canonical JSON an entry's leaf hash covers (see the module docstring)."""
    subj = "null" if subject is None else f'"{subject}"'
    return f'{{"index":{index},"kind":"{kind}","payload":{payload},"subject":{subj},"time":"{time}"}}'


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 text; only JSON types (no NaN, no lone surrogates)."""
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        text.encode("utf-8")
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        raise InputError(
            f"audit payload is not plain JSON: {type(exc).__name__}",
            hint="use dicts with string keys, lists, strings, numbers, booleans and null",
        ) from None
    return text


def prepare(kind: str, payload: Mapping[str, Any], subject: str | None) -> PreparedEntry:
    """Validate one entry before it is appended; raises :class:`InputError` naming what is wrong."""
    if not (isinstance(kind, str) and kind in _KNOWN_KINDS):  # kinds repeat: check each one once
        if not isinstance(kind, str) or len(kind) > 100 or not KIND_RE.fullmatch(kind):
            raise InputError(
                f"audit kind {kind!r:.60} is not a dotted lower-case name",
                hint="e.g. consent.withdraw, disclosure, request.step",
            )
        if len(_KNOWN_KINDS) < 10_000:
            _KNOWN_KINDS.add(kind)
    if subject is not None:
        check_subject(subject)
    if not isinstance(payload, Mapping):
        raise InputError("audit payload must be a mapping")
    try:
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        size = len(text) if text.isascii() else len(text.encode("utf-8"))
    except (TypeError, ValueError):  # UnicodeEncodeError (a lone surrogate) is a ValueError
        canonical_json(payload)  # raises the explanatory error
        raise
    if size > MAX_PAYLOAD_BYTES:
        raise InputError(f"audit payload is larger than {MAX_PAYLOAD_BYTES // 1024} kB")
    # One scan of the serialised text is far cheaper than walking the payload; the walk (which
    # names the offending field) runs only when the scan finds something. JSON's quotes cannot be
    # part of an e-mail or IP address, so the scan never matches across two strings.
    if _looks_personal(text):
        check_payload(payload)
    return PreparedEntry(kind, subject, text)


_KNOWN_KINDS: set[str] = set()


def check_subject(subject: str) -> None:
    if (
        not isinstance(subject, str)
        or len(subject) > 200
        or not SUBJECT_RE.fullmatch(subject)
        # The pattern already excludes "@"; an IP address needs a dot or a colon.
        or (("." in subject or ":" in subject) and _looks_personal(subject))
    ):
        raise InputError(
            "audit subject must be a pseudonymous id (letters, digits and _.:+/=~-, at most 200)",
            hint="pass pledge.audit.pseudonym(hash_key, identifier), never an e-mail or IP address",
        )


def check_payload(payload: Any, path: str = "payload") -> None:
    """Reject payloads carrying an e-mail or IP address in any key or string value.

    The message names the field, never the value, so the rejected data is not logged either.
    """
    if isinstance(payload, Mapping):
        for key, value in payload.items():
            if isinstance(key, str) and _looks_personal(key):
                raise InputError(f"audit {path} has a key that looks like personal data", hint=_HINT)
            check_payload(value, f"{path}.{key}")
    elif isinstance(payload, list | tuple):
        for i, value in enumerate(payload):
            check_payload(value, f"{path}[{i}]")
    elif isinstance(payload, str):
        if _looks_personal(payload):
            raise InputError(
                f"audit {path:.200} looks like a raw e-mail or IP address; the audit log cannot be erased",
                hint=_HINT,
            )
    elif isinstance(payload, float) and not math.isfinite(payload):
        raise InputError(f"audit {path:.200} is not a finite number")


_HINT = "record a pseudonymous id instead (pledge.audit.pseudonym) and keep personal data in its own store"


def _looks_personal(text: str) -> bool:
    # Runs on every append, so each test starts with a pattern that begins with a literal
    # character (the regex engine jumps straight to those) and only then looks closer.
    if "@" in text and _EMAIL_RE.search(text):
        return True
    for match in _IPV4_HINT.finditer(text):
        token = _token(text, match.start(), match.end(), _IPV4_CHARS)
        if _IPV4_SHAPE.fullmatch(token) and _is_ip(token):  # ip_address is slow to say no
            return True
    for match in _IPV6_HINT.finditer(text):
        token = _token(text, match.start(), match.end(), _IPV6_CHARS)
        if _IPV6_SHAPE.fullmatch(token) and _is_ip(token.split("%")[0]):
            return True
    return False


def _token(text: str, start: int, end: int, chars: frozenset[str]) -> str:
    """The run of ``chars`` around ``text[start:end]``."""
    while start > 0 and text[start - 1] in chars:
        start -= 1
    while end < len(text) and text[end] in chars:
        end += 1
    return text[start:end]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def pseudonym(key: bytes, identifier: str, *, prefix: str = "s_") -> str:
    """A stable pseudonymous id for ``identifier``: HMAC-SHA-256 under ``key`` (use
    ``Settings.keys.hash_key``), 128 bits in hex. Without the key nobody can test a guess."""
    digest = hmac.new(key, b"pledge-audit-subject\x00" + identifier.encode("utf-8"), hashlib.sha256)
    return prefix + digest.hexdigest()[:32]


def now_text() -> str:
    return format_time(datetime.now(UTC))
