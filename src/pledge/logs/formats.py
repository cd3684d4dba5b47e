"""Access-log line formats: nginx/Apache ``combined`` and ``common``, and their common variants.

Lines are matched as *bytes*: logs routinely hold bytes that are not UTF-8 (scanners send them),
and decoding a million lines only to re-encode them costs more than the parse itself. Each format
is one compiled regular expression with an "unrolled" quoted-string pattern (``[^"\\]*(?:\\.[^"\\]*)*``)
so an escaped quote (``\"``, as Apache writes it) never ends a field and no backtracking blows up.

Variants tolerated by every format:

- a virtual-host prefix (Apache ``vhost_combined``: ``example.com:443 203.0.113.9 - - [...]``);
  tried only when the plain pattern fails, so ordinary lines pay nothing for it;
- trailing extra fields (nginx ``$request_time``, ``"$http_x_forwarded_for"``, ...), captured as
  ``rest`` and dropped by the anonymiser (they can hold anything, including more IPs);
- IPv6 hosts, ``-`` for an empty user, size or status, milliseconds in the timestamp.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "FORMATS",
    "FormatName",
    "LineFormat",
    "detect_format",
    "get_format",
]

FormatName = Literal["combined", "common"]

_QUOTED = rb'"([^"\\]*(?:\\.[^"\\]*)*)"'
# Without an escaped quote (\") anywhere in the line, a quoted field is simply "[^"]*": the same
# fields, twice as fast. ``match`` picks this form after one substring search.
_QUOTED_SIMPLE = rb'"([^"]*)"'


def _head(quoted: bytes) -> bytes:
    return (
        rb"(\S+) (\S+) (\S+) "  # host, ident (RFC 1413, nearly always "-"), authenticated user
        rb"\[(\d{2}/[A-Za-z]{3}/\d{4}:\d{2}:\d{2}:\d{2}(?:\.\d{1,6})? [+-]\d{4})\] "
        + quoted  # request line
        + rb" (\d{3}|-) (\d+|-)"  # status, response size
    )


_REST = rb"(.*)"  # trailing extra fields (and a stray \r), dropped on output
_ESCAPED_QUOTE = b'\\"'


@dataclass(frozen=True)
class LineFormat:
    """A compiled line format. ``match(line)`` gives the fields or ``None`` for a malformed line.

    The fields come back as one tuple, always in the same order whatever the format, so the hot
    loop unpacks without branching: ``(vhost, host, ident, user, time, request, status, size,
    referrer, user_agent, rest)``; fields a format lacks are ``None``.

    ``fast`` is the pattern for the common case (no vhost, no escaped quote); its groups are the
    fields without the leading vhost. The hot loop uses it directly and falls back to ``match``.
    """

    name: FormatName
    fast: re.Pattern[bytes]
    plain: re.Pattern[bytes]
    with_vhost: re.Pattern[bytes]
    with_vhost_simple: re.Pattern[bytes]
    has_agent: bool

    def match(self, line: bytes) -> tuple[bytes | None, ...] | None:
        simple = _ESCAPED_QUOTE not in line
        found = (self.fast if simple else self.plain).match(line)
        if found is not None:
            groups: tuple[bytes | None, ...] = found.groups()
            if self.has_agent:
                return (None, *groups)
            return (None, *groups[:7], None, None, groups[7])
        found = (self.with_vhost_simple if simple else self.with_vhost).match(line)
        if found is None:
            return None
        groups = found.groups()
        if self.has_agent:
            return groups
        return (*groups[:8], None, None, groups[8])


def _build(name: FormatName, agent: bool) -> LineFormat:
    def pattern(quoted: bytes, vhost: bool) -> re.Pattern[bytes]:
        tail = rb" " + quoted + rb" " + quoted if agent else b""  # referrer, user agent
        return re.compile((rb"(\S+) " if vhost else b"") + _head(quoted) + tail + _REST, re.DOTALL)

    return LineFormat(
        name,
        fast=pattern(_QUOTED_SIMPLE, False),
        plain=pattern(_QUOTED, False),
        with_vhost=pattern(_QUOTED, True),
        with_vhost_simple=pattern(_QUOTED_SIMPLE, True),
        has_agent=agent,
    )


FORMATS: dict[str, LineFormat] = {
    "combined": _build("combined", True),
    "common": _build("common", False),
}


def get_format(name: str) -> LineFormat:
    from pledge.errors import InputError

    try:
        return FORMATS[name]
    except KeyError:
        raise InputError(f"unknown log format {name!r}", hint="use combined, common or auto") from None


def detect_format(sample: Iterable[bytes]) -> LineFormat | None:
    """The format most of ``sample``'s non-empty lines match, preferring ``combined``.

    ``combined`` wins when at least half of the lines that match anything match it; a common log
    never matches the combined pattern, so a mixed sample is not misread as all-combined.
    Returns ``None`` when no line matches either format.
    """
    combined = common = 0
    for line in sample:
        if not line.strip():
            continue
        if FORMATS["combined"].match(line) is not None:
            combined += 1
        elif FORMATS["common"].match(line) is not None:
            common += 1
    if combined == 0 and common == 0:
        return None
    return FORMATS["combined"] if combined >= common else FORMATS["common"]
