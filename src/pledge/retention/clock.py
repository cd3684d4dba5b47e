"""Time for retention: reading a row's clock value, and deciding whether a period has ended.

Every comparison is made in aware UTC. Stored values come in many shapes and each is read the
same way everywhere (the scan's SQL filter is only a loose first cut; this module decides):

- ``datetime`` with a zone: converted to UTC; *naive*: taken as UTC (the usual convention for
  ``created_at`` columns; the SQL filter allows two days of slack either way for other zones);
- ``date``: midnight UTC that day;
- text: ISO 8601 (``2024-05-01``, ``2024-05-01T10:00:00Z``, ``2024-05-01 10:00:00+02:00``);
- integers and floats: Unix epoch seconds;
- booleans (sent markers only): "the event happened", with no time.

A value that cannot be read is *unreadable*: never a reason to delete, and counted in the report.
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass
from typing import Any, Final

from pledge.declaration.durations import IsoDuration, parse_duration
from pledge.errors import InputError

__all__ = [
    "HAPPENED",
    "UNREADABLE",
    "Delay",
    "as_utc",
    "parse_now",
    "read_time",
]


class _Token:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


HAPPENED: Final[Any] = _Token("HAPPENED")
"""A boolean marker that is set: the event happened, at no known time."""
UNREADABLE: Final[Any] = _Token("UNREADABLE")
"""A value that is not a time (garbage text, a number out of range)."""

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MIN_EPOCH, _MAX_EPOCH = -62_135_596_800, 253_402_300_799  # years 1 to 9999


def as_utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def read_time(value: Any) -> dt.datetime | Any | None:
    """A stored clock value as aware UTC; ``None`` (the event has not happened), ``HAPPENED`` or
    ``UNREADABLE``."""
    if value is None:
        return None
    if isinstance(value, bool):
        return HAPPENED if value else None
    if isinstance(value, dt.datetime):
        return as_utc(value)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if isinstance(value, int | float | decimal.Decimal):
        seconds = float(value)
        if not _MIN_EPOCH <= seconds <= _MAX_EPOCH:
            return UNREADABLE
        return _EPOCH + dt.timedelta(seconds=seconds)
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return UNREADABLE
    if isinstance(value, str):
        text = value.strip()
        if not text or len(text) > 40:
            return UNREADABLE
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            return read_time(dt.datetime.fromisoformat(text))
        except ValueError:
            return UNREADABLE
    return UNREADABLE


@dataclass(frozen=True, slots=True)
class Delay:
    """How long after its event a row (or a hold) ends: a period plus a grace period."""

    period: IsoDuration | None = None
    grace: IsoDuration | None = None

    def end(self, when: dt.datetime) -> dt.datetime:
        """The moment a row whose event happened at ``when`` ends (calendar-correct)."""
        out = when
        try:
            if self.period is not None:
                out = self.period.add_to(out)
            if self.grace is not None:
                out = self.grace.add_to(out)
        except (OverflowError, ValueError):  # beyond year 9999: never in our lifetime
            return dt.datetime.max.replace(tzinfo=dt.UTC)
        return out

    def loose_cutoff(self, now: dt.datetime, slack: dt.timedelta = dt.timedelta(days=4)) -> dt.datetime:
        """A moment such that every event that has ended by ``now`` happened before it.

        Calendar arithmetic clamps month ends (31 January + P1M = 28 February), so subtracting is
        not the exact inverse of adding; four days of slack cover the clamp (at most three days)
        and any time zone. Rows inside the slack are decided exactly by :meth:`end`.
        """
        out = now
        try:
            if self.grace is not None:
                out = self.grace.subtract_from(out)
            if self.period is not None:
                out = self.period.subtract_from(out)
            return out + slack
        except (OverflowError, ValueError):  # before year 1 (or after 9999): nothing is that old
            return (dt.datetime.min if slack <= dt.timedelta(0) else dt.datetime.max).replace(tzinfo=dt.UTC)

    @property
    def timed(self) -> bool:
        """True when the delay is more than nothing (a boolean marker cannot carry it)."""
        zero = IsoDuration()
        return any(d is not None and d != zero for d in (self.period, self.grace))

    def describe(self) -> str:
        parts = [d.describe() for d in (self.period, self.grace) if d is not None]
        return " + ".join(parts) if parts else "at once"


def parse_now(text: str | None) -> dt.datetime:
    """``--now``: an ISO 8601 date or date-time (naive means UTC); default the current time."""
    if text is None:
        return dt.datetime.now(dt.UTC)
    raw = text.strip()
    when = read_time(raw) if raw else UNREADABLE
    if not isinstance(when, dt.datetime):
        raise InputError(
            f"--now {text[:60]!r} is not an ISO 8601 date or time",
            hint="e.g. --now 2025-01-31 or --now 2025-01-31T03:00:00Z",
        )
    return when


def duration(text: str) -> IsoDuration:
    """An ISO duration from configuration, as an ``InputError`` when it is not one."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise InputError(str(exc), hint="e.g. P1D, PT6H, P1W") from None
