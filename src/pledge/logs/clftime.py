"""Timestamps of the Common Log Format (``10/Oct/2024:13:55:36 +0200``), parsed fast.

A log holds a few distinct days among millions of lines, so the date and zone part is parsed
once per distinct value and cached; the time of day is three integer slices.
"""

from __future__ import annotations

import datetime as dt

__all__ = ["clf_to_epoch", "clf_to_iso"]

_MONTHS = {
    m.encode(): i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_DAY_CACHE: dict[bytes, int] = {}


def _day_base(date_part: bytes, zone: bytes) -> int:
    """Epoch seconds of local midnight of ``date_part`` (``10/Oct/2024``) in ``zone`` (``+0200``)."""
    key = date_part + zone
    found = _DAY_CACHE.get(key)
    if found is not None:
        return found
    day, month, year = date_part.split(b"/")
    try:
        date = dt.date(int(year), _MONTHS[month.capitalize()], int(day))
    except (KeyError, ValueError):
        raise ValueError(f"not a log timestamp: {date_part!r}") from None
    sign = -1 if zone[:1] == b"-" else 1
    offset = sign * (int(zone[1:3]) * 3600 + int(zone[3:5]) * 60)
    base = (date.toordinal() - 719163) * 86400 - offset  # 719163 = date(1970, 1, 1).toordinal()
    if len(_DAY_CACHE) > 10_000:
        _DAY_CACHE.clear()
    _DAY_CACHE[key] = base
    return base


def clf_to_epoch(stamp: bytes) -> int:
    """UTC epoch seconds of a CLF timestamp (fractions of a second are dropped).

    Raises ``ValueError`` for an impossible date (``31/Feb/2024``) or time (``25:00:00``).
    """
    # 10/Oct/2024:13:55:36[.123] +0000
    hour, minute, second = int(stamp[12:14]), int(stamp[15:17]), int(stamp[18:20])
    if hour > 23 or minute > 59 or second > 60:
        raise ValueError(f"not a log timestamp: {stamp!r}")
    return _day_base(stamp[:11], stamp[-5:]) + hour * 3600 + minute * 60 + second


def clf_to_iso(stamp: bytes) -> str:
    """ISO 8601 with the log's own offset: ``2024-10-10T13:55:36+02:00``."""
    day, month, year = stamp[:11].split(b"/")
    zone = stamp[-5:].decode("ascii")
    return (
        f"{int(year):04d}-{_MONTHS[month.capitalize()]:02d}-{int(day):02d}T"
        f"{stamp[12:20].decode('ascii')}{zone[:3]}:{zone[3:]}"
    )
