"""Wiring: an enforcer fed by a ledger, in this process and across processes; the policy's
version history from the published versions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from pledge.consent.feeds import open_feed
from pledge.consent.ledger import ConsentLedger
from pledge.declaration.model import Declaration
from pledge.policy.enforcer import Enforcer
from pledge.storage.db import Database

__all__ = ["open_enforcer", "published_history"]


def published_history(db: Database, current_version: str) -> list[Declaration]:
    """The versions published before ``current_version`` (all of them if it is not published
    yet), oldest first: what ``compile_policy(history=...)`` needs to tell new purposes apart."""
    from pledge.publish.versions import list_versions

    published = list(reversed(list_versions(db)))  # oldest first
    names = [v.version for v in published]
    if current_version in names:
        published = published[: names.index(current_version)]
    return [Declaration.model_validate(v.declaration) for v in published]


def _utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def open_enforcer(
    ledger: ConsentLedger,
    *,
    log_allowed: bool = False,
    cross_process: bool = True,
    max_subjects: int = 100_000,
    flush_interval: float | None = 1.0,
    today: Callable[[], dt.date] | None = None,
) -> Enforcer:
    """An :class:`Enforcer` on ``ledger``'s policy whose cache forgets a subject as soon as the
    ledger changes for them: directly for writes through ``ledger``, and through a change feed
    for other processes' writes (``cross_process``). ``ledger.current()`` then answers from this
    cache too. Denial records are batched every
    ``flush_interval`` seconds (None: written inline). ``today``: the date age checks use (the
    application's clock; default the UTC date now). Call ``close()`` when done."""
    enforcer = Enforcer(
        ledger.policy,
        ledger,
        ledger.audit,
        log_allowed=log_allowed,
        max_subjects=max_subjects,
        flush_interval=flush_interval,
        today=today if today is not None else _utc_today,
    )
    ledger.subscribe(enforcer.invalidate)
    feed = open_feed(ledger.db) if cross_process else None
    if feed is not None:
        enforcer.attach(feed)
    # Reads of a person's consent come from the same cache, caught up with the feed first.
    ledger.serve_reads(enforcer, feed)
    return enforcer
