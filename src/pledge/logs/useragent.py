"""Browser, OS, device class and bot flag from a User-Agent string (package ``ua-parser``).

Parsing costs 20–35 µs once the rules are loaded (the first parse loads them, ~0.5 s), so results
are cached per distinct User-Agent: a site sees a few thousand distinct strings among millions of
lines. The cache is cleared past ``_CACHE_LIMIT`` entries to keep memory constant.

Family names come from the UA string itself (some rules capture part of it), so they are passed
through the identifier scrubber and reduced to a short, safe alphabet before they are written
anywhere: a User-Agent like ``MyApp/1.0 (alice@example.com)`` must not leak through a family name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pledge.logs.scrub import scrub_text

__all__ = ["DEVICE_CLASSES", "Agent", "AgentParser"]

DEVICE_CLASSES = ("desktop", "mobile", "tablet", "tv", "bot", "other")
_CACHE_LIMIT = 20_000

# Tools and crawlers that ua-parser does not mark as "Spider" but that are not people.
_BOT_WORDS = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|scrape|fetch|monitor|checker|preview|headless|phantomjs|"
    r"curl/|wget/|python|java/|go-http-client|libwww|httpclient|axios/|node-fetch|"
    r"postman|insomnia|lighthouse|pingdom|uptime|facebookexternalhit|whatsapp|telegrambot|"
    r"nutch|scrapy|feed|rss|archiver",
    re.IGNORECASE,
)
_DESKTOP_OS = frozenset(
    {"Windows", "Mac OS X", "Linux", "Ubuntu", "Chrome OS", "Fedora", "Debian", "FreeBSD", "OpenBSD",
     "NetBSD", "Red Hat", "SUSE", "Arch Linux", "Linux Mint", "Solaris", "macOS"}
)  # fmt: skip
_MOBILE_OS = frozenset(
    {"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS", "Symbian OS", "Firefox OS",
     "HarmonyOS", "Tizen", "Sailfish", "webOS", "Windows Mobile", "BlackBerry Tablet OS"}
)  # fmt: skip
_SAFE_NAME = re.compile(r"[^A-Za-z0-9 ._+\-()\[\]]")


@dataclass(frozen=True, slots=True)
class Agent:
    browser: str
    """Browser family with major version folded away (``Chrome``, ``Mobile Safari``), or ``Other``."""
    os: str
    device: str
    """One of :data:`DEVICE_CLASSES`."""
    bot: bool


def _safe_name(value: str | None, default: str = "Other") -> str:
    if not value:
        return default
    cleaned = scrub_text(value.encode("utf-8", "replace")).decode("utf-8", "replace")
    cleaned = _SAFE_NAME.sub("", cleaned).strip()[:40]
    return cleaned or default


class AgentParser:
    """Callable ``(user agent bytes) -> Agent``, cached per distinct string."""

    def __init__(self) -> None:
        self._cache: dict[bytes, Agent] = {}
        self._parser: Any = None

    def __call__(self, ua: bytes) -> Agent:
        found = self._cache.get(ua)
        if found is not None:
            return found
        agent = self._classify(ua)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[ua] = agent
        return agent

    def _classify(self, raw: bytes) -> Agent:
        if raw in (b"", b"-"):
            return Agent("Other", "Other", "other", False)
        if self._parser is None:
            import ua_parser

            self._parser = ua_parser.parser  # loads the rules once (~0.5 s)
        ua = raw.decode("utf-8", "replace").replace('\\"', '"')
        result = self._parser.parse(ua)
        family = result.user_agent.family if result.user_agent else None
        os_family = result.os.family if result.os else None
        device = result.device
        spider = device is not None and device.family == "Spider"
        bot = spider or bool(_BOT_WORDS.search(ua))
        browser = _safe_name(family)
        os_name = _safe_name(os_family)
        return Agent(browser, os_name, _device_class(bot, os_family, device, ua), bot)


def _device_class(bot: bool, os_family: str | None, device: Any, ua: str) -> str:
    if bot:
        return "bot"
    family = (device.family or "") if device is not None else ""
    brand = (device.brand or "") if device is not None else ""
    model = (device.model or "") if device is not None else ""
    text = f"{family} {brand} {model}".lower()
    if "tv" in text.split() or "smart-tv" in text or "smarttv" in ua.lower() or "tizen" in text:
        return "tv"
    if "tablet" in text or family == "iPad" or "kindle" in text or "ipad" in ua.lower():
        return "tablet"
    if os_family == "Android" and "mobile" not in ua.lower():
        return "tablet"  # Android's convention: phones say "Mobile", tablets do not
    if os_family in _MOBILE_OS:
        return "mobile"
    if os_family in _DESKTOP_OS:
        return "desktop"
    return "other"
