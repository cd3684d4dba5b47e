"""A statistics release: the tables that may leave the organisation, and how they were protected.

Only a :class:`Release` is ever written out (JSON, CSV, charts): the aggregate it was made from,
with its exact counts and visitor sets, stays in memory. Every release carries the definitions of
what it counts and the parameters of its protection, so a partner reading it knows both.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from pledge.logs.aggregate import TABLES

__all__ = ["DEFINITIONS", "OTHER", "Release", "ReleasedTable"]

OTHER = "(other)"
DEFINITIONS = {
    "request": "one well-formed access-log line (people and bots)",
    "bot": "a request whose user agent is a known crawler, tool or library",
    "page_view": (
        "a GET by a non-bot answered 2xx or 304, for a page (not a script, style, image, font or media)"
    ),
    "visitor": (
        "the anonymised address (truncated or keyed-hashed) with browser, OS and device class: "
        "a pseudo-visitor, not a person"
    ),
    "visit": "a visitor's page views with no gap over 30 minutes, counted on the day it starts (UTC)",
    "referrer": "the referring site's domain of a visit's first page view; (direct) when there is none",
    "(other)": "rows that are not shown on their own: below the minimum group size, or beyond the top rows",
}


@dataclass
class ReleasedTable:
    name: str
    title: str
    key: str
    measures: list[str]
    rows: list[tuple[str, list[int]]] = field(default_factory=list)
    note: str | None = None
    suppressed: bool = False
    """True when the whole table was withheld (too few visitors in total)."""

    @property
    def columns(self) -> list[str]:
        return [self.key, *self.measures]

    def total(self) -> list[int] | None:
        if self.suppressed:
            return None
        return [sum(values[i] for _, values in self.rows) for i in range(len(self.measures))]

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "columns": self.columns,
            "rows": [[key, *values] for key, values in self.rows],
            "total": self.total(),
            "suppressed": self.suppressed,
            "note": self.note,
        }


@dataclass
class Release:
    mode: str
    """``suppress`` or ``differential_privacy``."""
    first_day: str | None
    last_day: str | None
    privacy: dict[str, Any]
    tables: list[ReleasedTable]
    notes: list[str] = field(default_factory=list)
    generated_at: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    )

    def table(self, name: str) -> ReleasedTable:
        for table in self.tables:
            if table.name == name:
                return table
        raise KeyError(name)

    def summary(self) -> dict[str, Any]:
        """Headline numbers, computed from the released tables only (never from the aggregate)."""
        out: dict[str, Any] = {"visits": None, "page_views": None, "requests": None, "bot_share": None}
        for table in self.tables:
            if table.name == "daily" and not table.suppressed and table.rows:
                out["visits"], out["page_views"] = table.total()  # type: ignore[misc]
            if table.name == "bots" and not table.suppressed and table.rows:
                counts = {key: values[0] for key, values in table.rows}
                total = sum(counts.values())
                out["requests"] = total
                if set(counts) <= {"human", "bot"} and total > 0:
                    out["bot_share"] = round(counts.get("bot", 0) / total, 4)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "pledge_statistics": 1,
            "mode": self.mode,
            "generated_at": self.generated_at,
            "period": {"first_day": self.first_day, "last_day": self.last_day},
            "privacy": self.privacy,
            "definitions": DEFINITIONS,
            "notes": self.notes,
            "summary": self.summary(),
            "tables": {table.name: table.as_dict() for table in self.tables},
        }


def empty_table(name: str) -> ReleasedTable:
    spec = TABLES[name]
    return ReleasedTable(spec.name, spec.title, spec.key, list(spec.measures))
