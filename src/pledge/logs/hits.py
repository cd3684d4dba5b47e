"""Read anonymised logs (ours, in log or JSON-lines form) back as :class:`~pledge.logs.aggregate.Hit`s.

Statistics never trust their input to be anonymised already: every field goes through the same
anonymiser again (truncating a truncated address or scrubbing a scrubbed path changes nothing,
so this costs little and makes a raw log given by mistake safe too). The ``pledge;`` attribute
field written by ``ingest`` supplies the country (looked up before truncation) and the parsed
agent; its values are validated, never copied blindly, since anyone can write such a field.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from pledge.errors import InputError, Problem
from pledge.logs.aggregate import Hit
from pledge.logs.anonymise import ATTRS_MARK, Anonymiser, parse_attrs
from pledge.logs.clftime import clf_to_epoch
from pledge.logs.formats import detect_format, get_format
from pledge.logs.ipanon import UNKNOWN_COUNTRY
from pledge.logs.rules import LogRules
from pledge.logs.scrub import scrub_referrer, scrub_target
from pledge.logs.sources import LogSource, open_source
from pledge.logs.useragent import DEVICE_CLASSES, Agent, _safe_name

__all__ = ["ReadCounts", "iter_hits"]

_COUNTRY = re.compile(r"[A-Z]{2}")
_SAMPLES = 5


@dataclass
class ReadCounts:
    name: str
    kind: str = "log"
    lines: int = 0
    hits: int = 0
    malformed: int = 0
    malformed_at: list[int] = field(default_factory=list)

    def bad(self, lineno: int) -> None:
        self.malformed += 1
        if len(self.malformed_at) < _SAMPLES:
            self.malformed_at.append(lineno)


class _Reader:
    def __init__(self, rules: LogRules, hash_key: bytes | None) -> None:
        self.anon = Anonymiser(rules, hash_key=hash_key)
        self._referrers: dict[bytes, str] = {}
        self._names: dict[tuple[str, str], str] = {}
        # A million lines hold a few thousand distinct attribute fields, agents and request
        # lines: each is worked out once.
        self._attrs: dict[tuple[bytes | None, bytes | None], tuple[Agent, str | None]] = {}
        self._requests: dict[bytes, tuple[str, str]] = {}

    def referrer(self, raw: bytes | None) -> str:
        if raw is None:
            return "(direct)"
        found = self._referrers.get(raw)
        if found is None:
            reduced = scrub_referrer(raw, "host")
            found = "(direct)" if reduced == b"-" else reduced.split(b"://", 1)[-1].rstrip(b"/").decode()
            if len(self._referrers) > 50_000:
                self._referrers.clear()
            self._referrers[raw] = found
        return found

    def name(self, kind: str, value: str) -> str:
        key = (kind, value)
        found = self._names.get(key)
        if found is None:
            found = self._names[key] = _safe_name(value)
        return found

    def agent(self, attrs: dict[str, str], ua: bytes | None) -> Agent:
        if attrs:
            device = attrs.get("dev", "other")
            return Agent(
                self.name("br", attrs.get("br", "Other")),
                self.name("os", attrs.get("os", "Other")),
                device if device in DEVICE_CLASSES else "other",
                attrs.get("bot") == "1",
            )
        return self.anon.agent(ua)[2]

    @staticmethod
    def country(value: str | None, fallback: bytes) -> str:
        if value is not None and _COUNTRY.fullmatch(value):
            return value
        if value is None and fallback != UNKNOWN_COUNTRY:
            return fallback.decode("ascii", "replace")
        return "unknown"

    def attributes(self, rest: bytes | None, ua: bytes | None) -> tuple[Agent, str | None]:
        """(agent, declared country) from our attribute field, else from the user agent."""
        key = (rest, ua)
        found = self._attrs.get(key)
        if found is None:
            attrs = parse_attrs(rest) if rest and ATTRS_MARK in rest else {}
            found = (self.agent(attrs, ua), attrs.get("cc") if attrs else None)
            if len(self._attrs) > 20_000:
                self._attrs.clear()
            self._attrs[key] = found
        return found

    def request(self, request: bytes) -> tuple[str, str]:
        """(method, scrubbed path without query) of a request line."""
        found = self._requests.get(request)
        if found is None:
            cleaned = self.anon.request(request).split(b" ")
            method = cleaned[0].decode("ascii", "replace") if len(cleaned) >= 2 else "-"
            target = cleaned[1] if len(cleaned) >= 2 else b"-"
            found = (method, target.split(b"?", 1)[0].split(b"#", 1)[0].decode("utf-8", "replace"))
            if len(self._requests) > 20_000:
                self._requests.clear()
            self._requests[request] = found
        return found

    def hit(
        self,
        ts: int,
        host: bytes,
        request: bytes,
        status: int,
        referrer: bytes | None,
        agent: Agent,
        cc: str | None,
    ) -> Hit:
        address, looked_up = self.anon.ip(host)
        country = self.country(cc, looked_up)
        method, path = self.request(request)
        browser, os_name, device = agent.browser, agent.os, agent.device
        visitor = None if address == b"-" else hash((address, browser, os_name, device))
        return Hit(ts, visitor, country, browser, os_name, device, agent.bot, method, path, status,
                   self.referrer(referrer))  # fmt: skip


def iter_hits(
    paths: Sequence[str],
    *,
    rules: LogRules | None = None,
    hash_key: bytes | None = None,
    counts: list[ReadCounts] | None = None,
) -> Iterator[Hit]:
    """Hits of every file in ``paths`` (``-`` is standard input), anonymised again on the way.

    ``counts`` (if given) receives one :class:`ReadCounts` per file. Raises ``InputError`` for a
    file that holds no readable line at all.
    """
    reader = _Reader(rules or LogRules(ip="truncate"), hash_key)
    for name in paths:
        with open_source(name) as source:
            tally = ReadCounts(source.name)
            if counts is not None:
                counts.append(tally)
            head = [line for line in source.head_lines(200) if line.strip()]
            if head and head[0].lstrip().startswith(b"{"):
                tally.kind = "jsonl"
                yield from _json_hits(source, reader, tally)
            else:
                yield from _log_hits(source, reader, tally, head)
            if tally.hits == 0 and tally.malformed > 0:
                raise InputError(
                    f"{tally.name}: no line could be read as an anonymised or access log",
                    problems=[Problem("no readable line", file=tally.name, line=tally.malformed_at[0])],
                )


def _log_hits(source: LogSource, reader: _Reader, tally: ReadCounts, head: list[bytes]) -> Iterator[Hit]:
    fmt = detect_format(head) or get_format("combined")
    match = fmt.match
    lineno = 0
    for line in source.lines():
        lineno += 1
        fields = match(line)
        if fields is None:
            if line.strip():
                tally.bad(lineno)
            continue
        _vhost, host, _ident, _user, stamp, request, status, _size, referrer, ua, rest = fields
        try:
            ts = clf_to_epoch(stamp)  # type: ignore[arg-type]
        except (ValueError, KeyError):
            tally.bad(lineno)
            continue
        agent, cc = reader.attributes(rest, ua)
        code = int(status) if status and status.isdigit() else 0
        tally.hits += 1
        yield reader.hit(ts, host, request, code, referrer, agent, cc)  # type: ignore[arg-type]
    tally.lines = lineno


def _json_hits(source: LogSource, reader: _Reader, tally: ReadCounts) -> Iterator[Hit]:
    lineno = 0
    for line in source.lines():
        lineno += 1
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            when = dt.datetime.fromisoformat(row["time"])
            ts = int((when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp())  # naive: UTC
            host = str(row.get("host") or "-").encode()
            method = str(row.get("method") or "-")
            target = scrub_target(str(row.get("target") or "-").encode("utf-8", "replace"))
            status = int(row.get("status") or 0)
            ref = row.get("referrer")
            attrs = {
                "br": str(row.get("browser") or "Other"),
                "os": str(row.get("os") or "Other"),
                "dev": str(row.get("device") or "other"),
                "bot": "1" if row.get("bot") is True else "0",
            }
            country = row.get("country")
        except (ValueError, KeyError, TypeError, AttributeError):
            tally.bad(lineno)
            continue
        agent = reader.agent(attrs, None)
        request = f"{method} ".encode("utf-8", "replace") + target + b" HTTP/1.1"
        tally.hits += 1
        yield reader.hit(
            ts, host, request, status, str(ref).encode("utf-8", "replace") if ref else None, agent,
            country if isinstance(country, str) else "",
        )  # fmt: skip
    tally.lines = lineno
