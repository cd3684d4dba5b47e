"""ISO-8601 durations (``P1M``, ``P45D``, ``P2Y6M``, ``PT12H``) with calendar-correct arithmetic.

Months and years are kept as calendar units rather than converted to days: "one month" from
31 January is 28 or 29 February, which is how GDPR deadlines are counted. ``approx_days`` gives a
single number only for *ordering* durations (is the new retention longer than the old?).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypeVar

__all__ = ["IsoDuration", "parse_duration"]

_PATTERN = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)
_MAX_COMPONENT = 10_000  # a 10,000-year retention is already absurd; larger numbers are typos

_When = TypeVar("_When", date, datetime)


@dataclass(frozen=True, slots=True, order=False)
class IsoDuration:
    years: int = 0
    months: int = 0
    days: int = 0
    seconds: int = 0

    @property
    def approx_days(self) -> float:
        return self.years * 365.2425 + self.months * 30.436875 + self.days + self.seconds / 86400

    def add_to(self, when: _When) -> _When:
        """``when`` plus this duration; month ends clamp (31 Jan + P1M = 28/29 Feb)."""
        total_months = when.month - 1 + self.months + 12 * self.years
        year = when.year + total_months // 12
        month = total_months % 12 + 1
        day = min(when.day, calendar.monthrange(year, month)[1])
        moved = when.replace(year=year, month=month, day=day)
        return moved + timedelta(days=self.days, seconds=self.seconds)

    def subtract_from(self, when: _When) -> _When:
        total_months = when.month - 1 - self.months - 12 * self.years
        year = when.year + total_months // 12
        month = total_months % 12 + 1
        day = min(when.day, calendar.monthrange(year, month)[1])
        moved = when.replace(year=year, month=month, day=day)
        return moved - timedelta(days=self.days, seconds=self.seconds)

    def __str__(self) -> str:
        out = "P"
        if self.years:
            out += f"{self.years}Y"
        if self.months:
            out += f"{self.months}M"
        if self.days:
            out += f"{self.days}D"
        if self.seconds:
            hours, rest = divmod(self.seconds, 3600)
            minutes, seconds = divmod(rest, 60)
            out += "T"
            if hours:
                out += f"{hours}H"
            if minutes:
                out += f"{minutes}M"
            if seconds:
                out += f"{seconds}S"
        return out if out != "P" else "PT0S"

    def describe(self) -> str:
        """Plain English for the published policy: ``P1M`` → ``1 month``."""
        parts: list[str] = []
        for amount, unit in ((self.years, "year"), (self.months, "month")):
            if amount:
                parts.append(f"{amount} {unit}{'s' if amount != 1 else ''}")
        if self.days:
            if self.days % 7 == 0 and not parts:
                weeks = self.days // 7
                parts.append(f"{weeks} week{'s' if weeks != 1 else ''}")
            else:
                parts.append(f"{self.days} day{'s' if self.days != 1 else ''}")
        hours, rest = divmod(self.seconds, 3600)
        minutes = rest // 60
        if hours:
            parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
        if minutes:
            parts.append(f"{minutes} minute{'s' if minutes != 1 else ''}")
        if not parts:
            return "no time"
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def parse_duration(text: str) -> IsoDuration:
    """Parse an ISO-8601 duration; ``ValueError`` with a readable message when it is not one."""
    if not isinstance(text, str):
        raise ValueError(f"expected an ISO-8601 duration such as P30D, got {type(text).__name__}")
    match = _PATTERN.match(text.strip().upper())
    if match is None:
        raise ValueError(f"'{text}' is not an ISO-8601 duration (examples: P30D, P1M, P2Y, PT12H)")
    parts = {key: int(value) if value else 0 for key, value in match.groupdict().items()}
    if any(value > _MAX_COMPONENT for value in parts.values()):
        raise ValueError(f"'{text}' is implausibly long")
    return IsoDuration(
        years=parts["years"],
        months=parts["months"],
        days=parts["days"] + 7 * parts["weeks"],
        seconds=parts["hours"] * 3600 + parts["minutes"] * 60 + parts["seconds"],
    )
