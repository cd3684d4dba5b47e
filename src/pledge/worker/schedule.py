"""The retention schedule: a thread in every worker process that sweeps when a sweep is due.

A sweep is due ``interval`` (default a day) after the last one that finished, as recorded in
Pledge's database, so restarting workers does not sweep again, and several worker processes
(inline or dramatiq, on any number of machines) share one schedule: the sweep lease in the
database lets one of them run it and the others find it taken. An interrupted sweep is resumed
by whichever worker runs the next one. The first look comes ``start_delay`` after start (default
five minutes), so a worker crashing in a loop never sweeps on every start.

Each scheduled job sweeps the datamapped databases (every rule), the server-log folders when
configured, and purges minors when the declaration says so. Configuration, read at the edge from
the environment (:meth:`ScheduleConfig.from_env`):

- ``PLEDGE_RETENTION_SCHEDULE``: an ISO 8601 interval (``P1D``, ``PT6H``), or ``off``;
- ``PLEDGE_RETENTION_START_DELAY``: ISO 8601 (``PT5M``);
- ``PLEDGE_RETENTION_RAW_LOGS`` / ``PLEDGE_RETENTION_ANONYMISED_LOGS``: folders, separated by
  ``os.pathsep``;
- ``PLEDGE_RETENTION_MINORS``: ``0`` to leave minors to ``pledge minors purge``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pledge.audit.sink import AuditSink
from pledge.config import Settings
from pledge.declaration.load import LoadedDeclaration
from pledge.errors import ConfigError, Conflict, PledgeError
from pledge.storage.db import Database

__all__ = ["RetentionSchedule", "ScheduleConfig", "retention_schedule"]

log = logging.getLogger(__name__)

SCHEDULE_LEASE = "schedule"


def _duration(env: Mapping[str, str], name: str, default: dt.timedelta) -> dt.timedelta:
    from pledge.declaration.durations import parse_duration

    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        parsed = parse_duration(raw)
    except ValueError:
        raise ConfigError(
            f"{name} must be an ISO 8601 duration such as P1D or PT6H (got {raw[:40]!r})"
        ) from None
    start = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    return parsed.add_to(start) - start


@dataclass(frozen=True)
class ScheduleConfig:
    enabled: bool = True
    interval: dt.timedelta = dt.timedelta(days=1)
    start_delay: dt.timedelta = dt.timedelta(minutes=5)
    raw_logs: tuple[Path, ...] = ()
    anonymised_logs: tuple[Path, ...] = ()
    minors: bool = True
    batch: int = 500

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ScheduleConfig:
        schedule = env.get("PLEDGE_RETENTION_SCHEDULE", "").strip()
        enabled = schedule.lower() not in ("off", "0", "no", "false", "never")
        interval = _duration(env, "PLEDGE_RETENTION_SCHEDULE", cls.interval) if enabled else cls.interval
        if interval <= dt.timedelta(0):
            raise ConfigError("PLEDGE_RETENTION_SCHEDULE must be longer than nothing")

        def folders(name: str) -> tuple[Path, ...]:
            return tuple(Path(p) for p in env.get(name, "").split(os.pathsep) if p.strip())

        return cls(
            enabled=enabled,
            interval=interval,
            start_delay=_duration(env, "PLEDGE_RETENTION_START_DELAY", cls.start_delay),
            raw_logs=folders("PLEDGE_RETENTION_RAW_LOGS"),
            anonymised_logs=folders("PLEDGE_RETENTION_ANONYMISED_LOGS"),
            minors=env.get("PLEDGE_RETENTION_MINORS", "1").strip().lower() not in ("0", "no", "false", "off"),
        )


class RetentionSchedule:
    """Runs :meth:`run_once` whenever a sweep is due (see the module docstring)."""

    def __init__(
        self,
        loaded: LoadedDeclaration,
        executor: Any,
        db: Database,
        audit: AuditSink,
        *,
        hash_key: bytes,
        config: ScheduleConfig = ScheduleConfig(),
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        ledger: Any = None,
    ) -> None:
        """``ledger``: the process's consent ledger (default: one on ``db`` for the flagged minors)."""
        from pledge.retention.store import SweepStore

        self.ledger = ledger
        self.loaded = loaded
        self.executor = executor
        self.db = db
        self.audit = audit
        self.hash_key = hash_key
        self.config = config
        self.clock = clock
        self.store = SweepStore(db, clock=clock)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0

    def due_in(self) -> dt.timedelta:
        """Time left until the next sweep is due (zero or less: now)."""
        last = self.store.last_finished()
        if last is None:
            return dt.timedelta(0)
        return last + self.config.interval - self.clock()

    def run_once(self) -> dict[str, Any] | None:
        """Sweep now (every rule, log folders, minors); None when another process is at it."""
        from pledge.retention import prepare_plan, run_sweep
        from pledge.retention.logfiles import sweep_log_files
        from pledge.retention.minors import find_by_birth_date, purge_minors

        try:
            self.store.acquire(SCHEDULE_LEASE)
        except Conflict:
            log.info("retention: another process is sweeping")
            return None
        try:
            now = self.clock()
            out: dict[str, Any] = {}
            datamap, connectors = self.executor.datamap, self.executor.connectors
            plan = prepare_plan(self.loaded, datamap, connectors, hash_key=self.hash_key)
            report = run_sweep(
                plan, connectors, now=now, store=self.store, audit=self.audit, hash_key=self.hash_key,
                batch_size=self.config.batch, explicit_now=False,
            )  # fmt: skip
            out["sweep"] = report.as_dict()
            decl = self.loaded.declaration
            if self.config.raw_logs or self.config.anonymised_logs:
                logs = sweep_log_files(
                    decl.server_logs, raw=self.config.raw_logs, anonymised=self.config.anonymised_logs,
                    now=now, audit=self.audit,
                )  # fmt: skip
                out["logs"] = logs.as_dict()
            rule = decl.minimum_age
            if self.config.minors and rule is not None and rule.on_detection == "purge":
                found = find_by_birth_date(
                    datamap, connectors, minimum_age=rule.age, now=now, hash_key=self.hash_key
                )
                found += self._flagged(datamap, connectors)
                minors = purge_minors(found, self.executor, decl, db=self.db, audit=self.audit, now=now)
                out["minors"] = minors.as_dict()
            self.runs += 1
            return out
        finally:
            with contextlib.suppress(PledgeError):
                self.store.release(SCHEDULE_LEASE)

    def _flagged(self, datamap: Any, connectors: Any) -> list[Any]:
        from pledge.consent import ConsentLedger
        from pledge.policy import compile_policy
        from pledge.retention.minors import find_flagged, purged_subjects

        ledger = self.ledger
        if ledger is None:
            ledger = ConsentLedger(self.db, compile_policy(self.loaded), self.audit, hash_key=self.hash_key)
        found, _ = find_flagged(ledger, datamap, connectors, skip=set(purged_subjects(self.db)))
        return found

    def _loop(self) -> None:
        wait = self.config.start_delay.total_seconds()
        while not self._stop.wait(max(0.0, wait)):
            try:
                left = self.due_in()
                if left <= dt.timedelta(0):
                    result = self.run_once()
                    if result is not None:
                        sweep = result.get("sweep", {})
                        log.info("retention sweep done: run %s, ok=%s", sweep.get("run_id"), sweep.get("ok"))
                    left = self.config.interval
                wait = min(left.total_seconds(), 3600.0)
            except Exception:  # a database down, a bad datamap: try again later, never stop the worker
                log.exception("retention sweep failed; trying again in an hour")
                wait = 3600.0

    def start(self) -> RetentionSchedule:
        if self.config.enabled and (self._thread is None or not self._thread.is_alive()):
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="pledge-retention", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 60.0) -> None:
        """Stop looking; a sweep in progress finishes its batch (it resumes on the next run)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


@contextlib.contextmanager
def retention_schedule(
    settings: Settings,
    loaded: LoadedDeclaration,
    planner: Any,
    db: Database,
    audit: AuditSink,
    *,
    environ: Mapping[str, str] | None = None,
    clock: Callable[[], dt.datetime] | None = None,
    ledger: Any = None,
) -> Iterator[RetentionSchedule | None]:
    """The schedule for a worker's lifetime (None when it has no datamap to sweep, or it is off).
    ``clock`` and ``ledger``: the worker's own (``Pledge.now``, ``Pledge.ledger``)."""
    from pledge.requests.execute import RequestExecutor

    config = ScheduleConfig.from_env(os.environ if environ is None else environ)
    if not config.enabled or not isinstance(planner, RequestExecutor) or not planner.datamap.datasets:
        yield None
        return
    options: dict[str, Any] = {"ledger": ledger} if clock is None else {"ledger": ledger, "clock": clock}
    schedule = RetentionSchedule(
        loaded, planner, db, audit, hash_key=settings.keys.hash_key, config=config, **options
    )
    schedule.start()
    try:
        yield schedule
    finally:
        schedule.stop()
