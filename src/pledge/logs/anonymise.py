"""Turn parsed access-log fields into an anonymised line, per the declaration's ``server_logs`` rules.

What each field becomes:

=============  =================================================================================
host           truncated to the declared prefix (``/24``, ``/48``), keyed-hashed, dropped or kept
ident, user    always ``-`` (the user field is a login name)
time, status,  kept as they are
size
request        method and protocol kept; the target scrubbed (:mod:`pledge.logs.scrub`)
referrer       reduced to ``scheme://host/`` (or host + path, or ``-``) with addresses removed
user agent     ``parse``: replaced by ``Browser (OS; device)``; ``keep``: scrubbed; ``drop``: ``-``
vhost          kept with addresses removed
extra fields   dropped (they can hold anything: forwarded-for addresses, cookies, timings)
=============  =================================================================================

One extra quoted field is appended, ``"pledge;cc=DE;br=Chrome;os=Windows;dev=desktop;bot=0"``:
the country (looked up on the full address before truncation) and the parsed agent, so that
statistics can be computed from the anonymised file alone. Tools that read ``combined`` logs
ignore trailing fields.

Every transformation is cached on its input (address, request line, referrer, agent): real logs
repeat these values endlessly, so the steady-state cost of a line is a few dictionary lookups and
one ``bytes`` format. Caches are cleared when full, so memory stays bounded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from pledge.logs.formats import LineFormat
from pledge.logs.ipanon import UNKNOWN_COUNTRY, IpAnonymiser
from pledge.logs.rules import LogRules
from pledge.logs.scrub import scrub_host, scrub_referrer, scrub_target, scrub_text
from pledge.logs.useragent import Agent, AgentParser

__all__ = ["ATTRS_MARK", "Anonymiser", "parse_attrs"]

ATTRS_MARK = b"pledge;"
_METHOD = re.compile(rb"[A-Z][A-Z_\-]{0,19}")
_PROTOCOL = re.compile(rb"HTTP/\d(?:\.\d)?")
_CACHE_LIMIT = 20_000
_NO_AGENT = Agent("Other", "Other", "other", False)


def _bounded(cache: dict[bytes, bytes], compute: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    get = cache.get

    def cached(key: bytes) -> bytes:
        value = get(key)
        if value is None:
            value = compute(key)
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[key] = value
        return value

    return cached


def parse_attrs(field: bytes) -> dict[str, str]:
    """The ``pledge;k=v;...`` field back into a dict (empty when ``field`` is not ours)."""
    start = field.find(b'"' + ATTRS_MARK)
    if start < 0:
        return {}
    end = field.find(b'"', start + 1)
    body = field[start + 1 + len(ATTRS_MARK) : end if end > 0 else len(field)]
    out: dict[str, str] = {}
    for pair in body.split(b";"):
        key, _, value = pair.partition(b"=")
        out[key.decode("ascii", "replace")] = value.decode("utf-8", "replace")
    return out


class Anonymiser:
    """Holds the caches; ``line(fields)`` and ``record(fields)`` format one parsed line."""

    def __init__(self, rules: LogRules, *, hash_key: bytes | None = None) -> None:
        self.rules = rules
        self.ip = IpAnonymiser(
            rules.ip,
            ipv4_prefix=rules.ipv4_prefix,
            ipv6_prefix=rules.ipv6_prefix,
            hash_key=hash_key,
            geolocate=rules.geolocation == "country",
        )
        self.agents = AgentParser()
        self._requests: dict[bytes, bytes] = {}
        self._referrers: dict[bytes, bytes] = {}
        self.request = _bounded(self._requests, self._request)
        self.referrer = _bounded(self._referrers, lambda ref: scrub_referrer(ref, rules.referrer))
        self.vhost = _bounded({}, scrub_host)
        self._agent_cache: dict[bytes, tuple[bytes, bytes, Agent]] = {}
        self._host_parts: dict[bytes, tuple[bytes, bytes]] = {}
        self._agent_parts: dict[bytes, bytes] = {}
        self._no_agent = self.agent(None)[1]

    # -- per field ------------------------------------------------------------------------------
    @staticmethod
    def _request(request: bytes) -> bytes:
        parts = request.split(b" ")
        if len(parts) == 3 and _METHOD.fullmatch(parts[0]) and _PROTOCOL.fullmatch(parts[2]):
            return b"%s %s %s" % (parts[0], scrub_target(parts[1]), parts[2])
        if len(parts) == 2 and _METHOD.fullmatch(parts[0]):  # HTTP/0.9: "GET /"
            return b"%s %s" % (parts[0], scrub_target(parts[1]))
        return scrub_text(request)  # not HTTP (TLS probes, garbage): scrub it as text

    def agent(self, ua: bytes | None) -> tuple[bytes, bytes, Agent]:
        """(user-agent field to write, ``br=..;os=..;dev=..;bot=..`` attributes, Agent)."""
        key = ua if ua is not None else b"-"
        found = self._agent_cache.get(key)
        if found is not None:
            return found
        mode = self.rules.user_agent
        if mode == "drop" or ua is None or ua in (b"", b"-"):
            agent = _NO_AGENT
            written = b"-"
        else:
            agent = self.agents(ua)
            if mode == "keep":
                written = scrub_text(ua)
            elif agent.bot:
                written = f"{agent.browser} (bot)".encode()
            else:
                written = f"{agent.browser} ({agent.os}; {agent.device})".encode()
        attrs = f"br={agent.browser};os={agent.os};dev={agent.device};bot={int(agent.bot)}".encode()
        found = (written, attrs, agent)
        if len(self._agent_cache) >= _CACHE_LIMIT:
            self._agent_cache.clear()
        self._agent_cache[key] = found
        return found

    # -- whole lines ----------------------------------------------------------------------------
    # A line is assembled from pieces cached per address, per agent, per request line and per
    # referrer, then joined once: the steady state is four dictionary lookups and one join.
    def _host_part(self, host: bytes) -> tuple[bytes, bytes]:
        """(``address - - [``, ``;cc=XX"`` + newline) for a host field."""
        address, country = self.ip(host)
        parts = (address + b" - - [", b";cc=" + country + b'"\n')
        if len(self._host_parts) >= _CACHE_LIMIT:
            self._host_parts.clear()
        self._host_parts[host] = parts
        return parts

    def _agent_part(self, ua: bytes) -> bytes:
        """``" "agent" "pledge;br=..;os=..;dev=..;bot=..`` for a user-agent field."""
        written, attrs, _agent = self.agent(ua)
        part = b'" "' + written + b'" "pledge;' + attrs
        if len(self._agent_parts) >= _CACHE_LIMIT:
            self._agent_parts.clear()
        self._agent_parts[ua] = part
        return part

    def line(self, fields: tuple[bytes | None, ...]) -> bytes:
        """One anonymised log line (with newline) in the input's own format."""
        vhost, host, _ident, _user, time, request, status, size, referrer, ua, _rest = fields
        head = b"" if vhost is None else self.vhost(vhost) + b" "
        prefix, country = self._host_parts.get(host) or self._host_part(host)  # type: ignore[arg-type]
        cleaned = self.request(request)  # type: ignore[arg-type]
        if referrer is None:  # common format: no referrer, no agent
            tail = b' "pledge;' + self._no_agent
        else:
            agent = self._agent_parts.get(ua) or self._agent_part(ua)  # type: ignore[arg-type]
            tail = b' "' + self.referrer(referrer) + agent
        return b"".join((head, prefix, time, b'] "', cleaned, b'" ', status, b" ", size, tail, country))  # type: ignore[arg-type]

    def lines(
        self, batch: list[bytes], fmt: LineFormat, lineno: int, bad: Callable[[int], None]
    ) -> tuple[list[bytes], int]:
        """Anonymise a batch of raw lines: (output lines, blank lines). ``bad(n)`` is told the
        number of each malformed line (``lineno`` is the number of the line before the batch).

        The same as ``line(fmt.match(raw))`` for every line (a test checks it), unrolled for
        speed: this loop is where ingest spends its time.
        """
        out: list[bytes] = []
        append = out.append
        join = b"".join
        fast = fmt.fast.match
        slow = fmt.match
        agent_fields = fmt.has_agent
        hosts, host_part = self._host_parts.get, self._host_part
        agents, agent_part = self._agent_parts.get, self._agent_part
        requests, request_of = self._requests.get, self.request
        referrers, referrer_of = self._referrers.get, self.referrer
        no_agent = b' "pledge;' + self._no_agent
        blank = 0
        for raw in batch:
            lineno += 1
            found = fast(raw) if b'\\"' not in raw else None
            if found is not None:
                head = b""
                if agent_fields:
                    host, _ident, _user, time, request, status, size, referrer, ua, _rest = found.groups()
                else:
                    host, _ident, _user, time, request, status, size, _rest = found.groups()
                    referrer = ua = None
            else:
                fields = slow(raw)
                if fields is None:
                    if raw.strip():
                        bad(lineno)
                    else:
                        blank += 1
                    continue
                vhost, host, _ident, _user, time, request, status, size, referrer, ua, _rest = fields
                head = b"" if vhost is None else self.vhost(vhost) + b" "
            prefix, country = hosts(host) or host_part(host)
            if referrer is None:
                tail = no_agent
            else:
                agent = agents(ua) or agent_part(ua)  # type: ignore[arg-type]  # combined: ua is bytes
                tail = b' "' + (referrers(referrer) or referrer_of(referrer)) + agent
            cleaned = requests(request) or request_of(request)
            append(join((head, prefix, time, b'] "', cleaned, b'" ', status, b" ", size, tail, country)))
        return out, blank

    def record(self, fields: tuple[bytes | None, ...]) -> dict[str, Any]:
        """One anonymised line as a JSON-able dict (``--out x.jsonl``)."""
        from pledge.logs.clftime import clf_to_iso

        vhost, host, _ident, _user, time, request, status, size, referrer, ua, _rest = fields
        address, country = self.ip(host)  # type: ignore[arg-type]
        written_ua, _attrs, agent = self.agent(ua)
        cleaned = self.request(request).split(b" ")  # type: ignore[arg-type]
        method, target, protocol = [*cleaned, b"", b"", b""][:3] if len(cleaned) <= 3 else (b"", b"", b"")
        if len(cleaned) > 3 or not _METHOD.fullmatch(method):
            method, target, protocol = b"", self.request(request), b""  # type: ignore[arg-type]
        return {
            "time": clf_to_iso(time),  # type: ignore[arg-type]
            "vhost": _text(self.vhost(vhost)) if vhost is not None else None,
            "host": _text(address),
            "country": None if country == UNKNOWN_COUNTRY else _text(country),
            "method": _text(method) or None,
            "target": _text(target),
            "protocol": _text(protocol) or None,
            "status": int(status) if status and status.isdigit() else None,
            "bytes": int(size) if size and size.isdigit() else None,
            "referrer": _text(self.referrer(referrer)) if referrer is not None else None,
            "user_agent": _text(written_ua) if ua is not None else None,
            "browser": agent.browser,
            "os": agent.os,
            "device": agent.device,
            "bot": agent.bot,
        }

    def json_line(self, fields: tuple[bytes | None, ...]) -> bytes:
        return json.dumps(self.record(fields), ensure_ascii=False).encode("utf-8") + b"\n"


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace")
