"""Rate limits kept in the database, so they hold across every process serving the site.

Fixed windows per bucket. A bucket names what is limited (``verify-mail:email``) and a keyed hash
of who (an e-mail or IP address under ``Settings.keys.hash_key``): the table never holds an
address. Every attempt counts, allowed or not, and the check is the same whether or not the
address belongs to a customer (nothing is looked up), so a refusal tells nobody anything.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from pledge.consent._sql import as_utc, insert_ignore, utcnow
from pledge.errors import RateLimited
from pledge.storage.db import Database
from pledge.web.tables import rate_limits

__all__ = ["Limit", "RateLimiter"]


@dataclass(frozen=True, slots=True)
class Limit:
    count: int
    window: dt.timedelta


class RateLimiter:
    def __init__(self, db: Database, hash_key: bytes, *, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.db = db
        self._key = hash_key
        self._clock = clock

    def bucket(self, scope: str, who: str) -> str:
        digest = hmac.new(self._key, f"rate\x00{scope}\x00{who}".encode(), hashlib.sha256).hexdigest()
        return f"{scope[:40]}:{digest[:48]}"

    def hit(self, scope: str, who: str, limit: Limit) -> None:
        """Count one attempt; raises :class:`RateLimited` once the window's allowance is spent."""
        bucket = self.bucket(scope, who)
        now = self._clock()
        with self.db.begin() as conn:
            # Write first: on SQLite the UPDATE takes the write lock before any read, on
            # PostgreSQL it locks the row, so two processes cannot both read a stale count.
            done = conn.execute(
                sa.update(rate_limits)
                .where(rate_limits.c.bucket == bucket)
                .values(count=rate_limits.c.count + 1)
            ).rowcount
            if not done and not insert_ignore(
                conn, rate_limits, {"bucket": bucket, "window_start": now, "count": 1}
            ):
                conn.execute(
                    sa.update(rate_limits)
                    .where(rate_limits.c.bucket == bucket)
                    .values(count=rate_limits.c.count + 1)
                )
            row = conn.execute(
                sa.select(rate_limits.c.window_start, rate_limits.c.count).where(
                    rate_limits.c.bucket == bucket
                )
            ).one()
            started = as_utc(row.window_start)
            if now - started >= limit.window:
                conn.execute(
                    sa.update(rate_limits)
                    .where(rate_limits.c.bucket == bucket)
                    .values(window_start=now, count=1)
                )
                return
            count = int(row[1])
        if count > limit.count:
            retry = (started + limit.window - now).total_seconds()
            raise RateLimited(
                "too many attempts; please wait before trying again",
                retry_after=max(1.0, retry),
                hint="each address and each network may ask for a few e-mails an hour",
            )
