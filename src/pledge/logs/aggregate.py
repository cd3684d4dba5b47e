"""Aggregate an anonymised request stream into the tables statistics are released from.

Definitions (written into every release, so a reader of the numbers knows what they count):

- **request**: one well-formed log line, people and bots alike.
- **bot**: a request whose user agent is a known crawler, tool or library (ua-parser's "Spider"
  class plus a list of tools such as curl and python-requests).
- **page view**: a request by a non-bot, method GET, status 2xx or 304, for a path that is not
  an asset (styles, scripts, images, fonts, media, robots.txt, sitemaps).
- **visitor**: the anonymised address (truncated or hashed) together with browser, OS and
  device class. Several people behind one truncated prefix with the same browser count as one
  visitor; one person on two networks counts as two. It is a *pseudo*-visitor, never a person.
- **visit**: a visitor's run of page views with no gap longer than 30 minutes; counted on the day
  it starts, attributed to its first page view's referrer domain (``(direct)`` when none).

The aggregate keeps exact counts per cell, the distinct visitors of each cell *capped at k*
(enough to decide the minimum group size and to roll small cells up) and, for differential
privacy, counts with each visitor's contributions to each query bounded to ``max_contributions``.
When addresses are dropped there is no visitor: each request is its own unit, which the release
says.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = [
    "QUERIES",
    "TABLES",
    "Aggregate",
    "Cell",
    "Hit",
    "TableSpec",
]

VISIT_GAP = 30 * 60
_EVICT_EVERY = 50_000
ASSET_SUFFIXES = (
    ".css", ".js", ".mjs", ".map", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".avif",
    ".ico", ".bmp", ".woff", ".woff2", ".ttf", ".otf", ".eot", ".mp4", ".webm", ".mp3", ".ogg",
    ".wav", ".m4a", ".pdf", ".zip", ".gz", ".txt", ".xml", ".json", ".webmanifest",
)  # fmt: skip


class Hit(NamedTuple):
    """One anonymised request as statistics see it."""

    ts: int
    """UTC epoch seconds."""
    visitor: int | None
    """Hash of (anonymised address, browser, OS, device); None when addresses are dropped."""
    country: str
    browser: str
    os: str
    device: str
    bot: bool
    method: str
    path: str
    """Scrubbed path without query string."""
    status: int
    referrer: str
    """Referrer domain, or ``(direct)``."""


@dataclass(frozen=True)
class TableSpec:
    name: str
    title: str
    key: str
    measures: tuple[str, ...]
    domain: str
    """``days``, ``open`` (keys depend on the data), or the name of a public key list."""


TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec("daily", "Visits and page views per day", "day", ("visits", "page_views"), "days"),
        TableSpec("pages", "Top pages", "page", ("page_views",), "open"),
        TableSpec("countries", "Visits by country", "country", ("visits",), "countries"),
        TableSpec("browsers", "Visits by browser", "browser", ("visits",), "browsers"),
        TableSpec("os", "Visits by operating system", "os", ("visits",), "os"),
        TableSpec("devices", "Visits by device class", "device", ("visits",), "devices"),
        TableSpec("referrers", "Visits by referrer domain", "referrer", ("visits",), "open"),
        TableSpec("status", "Requests by status code", "status", ("requests",), "status"),
        TableSpec("bots", "Requests by people and bots", "traffic", ("requests",), "traffic"),
    )
}
QUERIES: tuple[tuple[str, int], ...] = tuple(
    (name, index) for name, spec in TABLES.items() for index in range(len(spec.measures))
)
"""Each (table, measure index) is one query for differential privacy."""


@dataclass(slots=True)
class Cell:
    values: list[int]
    visitors: set[int]


@dataclass
class _Table:
    spec: TableSpec
    cells: dict[str, Cell] = field(default_factory=dict)
    bounded: list[dict[str, int]] = field(default_factory=list)
    spent: list[dict[int, int]] = field(default_factory=list)


def is_page_view(hit: Hit) -> bool:
    if hit.bot or hit.method != "GET" or not (200 <= hit.status < 300 or hit.status == 304):
        return False
    path = hit.path.lower()
    if path.endswith(ASSET_SUFFIXES):
        return False
    return not path.startswith(("/robots.txt", "/sitemap", "/favicon", "/.well-known/"))


class Aggregate:
    """Feed it hits in (roughly) time order with :meth:`add`; read :attr:`tables` afterwards.

    ``cap`` is the number of distinct visitors remembered per cell (the minimum group size k:
    more is never needed to decide suppression). ``max_contributions`` turns on the bounded
    counts for differential privacy.
    """

    def __init__(self, *, cap: int = 10, max_contributions: int | None = None) -> None:
        self.cap = cap
        self.bound = max_contributions
        self.tables = {name: _Table(spec) for name, spec in TABLES.items()}
        for table in self.tables.values():
            measures = len(table.spec.measures)
            table.bounded = [{} for _ in range(measures)]
            table.spent = [{} for _ in range(measures)]
        self.first_ts: int | None = None
        self.last_ts: int | None = None
        self.requests = 0
        self.visitorless = False
        self._visits: dict[int, int] = {}  # visitor -> last page view time
        self._anonymous_units = 0

    def add_all(self, hits: Iterable[Hit]) -> Aggregate:
        for hit in hits:
            self.add(hit)
        return self

    def _unit(self, visitor: int | None) -> int:
        if visitor is not None:
            return visitor
        # No address, no visitor: every request is its own unit. Visitor ids are 64-bit hashes,
        # so ids below -2**64 never collide with one.
        self.visitorless = True
        self._anonymous_units += 1
        return -(1 << 64) - self._anonymous_units

    def _count(self, table: _Table, key: str, measure: int, unit: int) -> None:
        cell = table.cells.get(key)
        if cell is None:
            cell = table.cells[key] = Cell([0] * len(table.spec.measures), set())
        cell.values[measure] += 1
        if len(cell.visitors) < self.cap:
            cell.visitors.add(unit)
        if self.bound is not None:
            spent = table.spent[measure]
            used = spent.get(unit, 0)
            if used < self.bound:
                spent[unit] = used + 1
                bounded = table.bounded[measure]
                bounded[key] = bounded.get(key, 0) + 1

    def add(self, hit: Hit) -> None:
        ts = hit.ts
        if self.first_ts is None or ts < self.first_ts:
            self.first_ts = ts
        if self.last_ts is None or ts > self.last_ts:
            self.last_ts = ts
        self.requests += 1
        unit = self._unit(hit.visitor)
        count, t = self._count, self.tables
        count(t["status"], str(hit.status), 0, unit)
        count(t["bots"], "bot" if hit.bot else "human", 0, unit)
        if not is_page_view(hit):
            return
        day = _day(ts)
        count(t["daily"], day, 1, unit)
        count(t["pages"], hit.path, 0, unit)
        if hit.visitor is not None:
            last = self._visits.get(unit)
            new_visit = last is None or ts - last > VISIT_GAP
            if last is None or ts > last:
                self._visits[unit] = ts
            if self.requests % _EVICT_EVERY == 0:
                self._evict(ts)
        else:
            new_visit = True  # without visitors every page view is its own visit
        if new_visit:
            count(t["daily"], day, 0, unit)
            count(t["countries"], hit.country, 0, unit)
            count(t["browsers"], hit.browser, 0, unit)
            count(t["os"], hit.os, 0, unit)
            count(t["devices"], hit.device, 0, unit)
            count(t["referrers"], hit.referrer, 0, unit)

    def _evict(self, now: int) -> None:
        """Forget visitors idle for longer than a visit gap (keeps memory bounded)."""
        horizon = now - 2 * VISIT_GAP
        for visitor in [v for v, last in self._visits.items() if last < horizon]:
            del self._visits[visitor]


_DAY_NAMES: dict[int, str] = {}


def _day(ts: int) -> str:
    number = ts // 86400
    name = _DAY_NAMES.get(number)
    if name is None:
        import datetime as dt

        name = _DAY_NAMES[number] = (dt.date(1970, 1, 1) + dt.timedelta(days=number)).isoformat()
    return name
