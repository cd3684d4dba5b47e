"""Run a request's steps so that a crash anywhere resumes it and no step is recorded done twice.

For each step, in order: mark it running (commit), run it, store its result and mark it done
(commit). The commit that marks a step done also marks the next one running, one round trip
fewer per step with the same guarantee: nothing runs before it is recorded as running, nothing
counts as done before its result is committed. A worker killed mid-step leaves the step marked
running; the next worker to claim the request runs it again from the start, which is why steps
must be idempotent. A step marked done is never run again. A step that raises is retried with
exponential backoff up to ``RetryPolicy.max_failures`` times (input errors at once), then the
request fails with the error in its report. Every write is fenced by the worker's lease (see
``claims``).

Steps are not persisted as code: on every (re)start the planner is asked again for the plan, and
the persisted step names must match it (``StepSpec.name`` is stable across re-planning).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pledge.errors import Conflict, InputError, PermissionDenied, PledgeError, StorageError
from pledge.requests import claims, delivery
from pledge.requests.sealing import Sealed
from pledge.requests.services import RequestServices
from pledge.requests.steps import StepContext, StepPlanner, StepSpec
from pledge.requests.store import RequestRecord, StepRecord, get_request, load_request, load_steps, transition
from pledge.requests.tables import requests, steps

__all__ = ["LeasePolicy", "Outcome", "Progress", "RetryPolicy", "Runner"]

log = logging.getLogger(__name__)

Outcome = Literal["completed", "failed", "retry_later", "busy", "lost_lease"]
Progress = Callable[[int, int, str], None]
"""``progress(done, total, step_name)`` after each step (and once before the first)."""

_NOT_RETRIED = (InputError, PermissionDenied)


@dataclass(frozen=True)
class RetryPolicy:
    max_failures: int = 5
    """A step that raised this many times fails the request."""
    max_starts: int = 25
    """A step started this many times without finishing (it keeps killing its worker) fails it too."""
    base_delay: float = 2.0
    max_delay: float = 600.0

    def delay(self, failures: int) -> dt.timedelta:
        seconds = min(self.max_delay, self.base_delay * 2 ** max(failures - 1, 0))
        return dt.timedelta(seconds=seconds * random.uniform(0.8, 1.0))  # jitter: no thundering herd


@dataclass(frozen=True)
class LeasePolicy:
    duration: float = 60.0
    """How long a claim lasts without renewal: how soon a dead worker's request is picked up."""
    heartbeat: float = 15.0

    @property
    def delta(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.duration)


class _LeaseLost(Exception):
    pass


@dataclass(frozen=True)
class _Finished:
    """A step that returned, waiting to be marked done in the next commit."""

    row: StepRecord
    attempt: int
    payload: str


class _Stop(Exception):
    """Leave the run with this outcome (the request was failed or put back to wait)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome)
        self.outcome: Outcome = outcome


def _describe(exc: BaseException) -> str:
    message = exc.message if isinstance(exc, PledgeError) else str(exc)
    return f"{type(exc).__name__}: {message}"[:2000]


class Runner:
    def __init__(
        self,
        services: RequestServices,
        planner: StepPlanner,
        *,
        owner: str | None = None,
        retry: RetryPolicy = RetryPolicy(),
        lease: LeasePolicy = LeasePolicy(),
        resume_own: bool = False,
    ) -> None:
        """``owner``: this worker's identity in leases (default: host, pid and a random tag).
        ``resume_own``: take back requests still leased to ``owner`` at once; for a restarted
        worker with a stable identity that no other live worker shares (see ``claims``)."""
        self.services = services
        self.planner = planner
        self.owner = (owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}")[:100]
        self.retry = retry
        self.lease = lease
        self.resume_own = resume_own

    # --- entry points --------------------------------------------------------------------------

    def run_next(self, progress: Progress | None = None) -> tuple[str, Outcome] | None:
        """Claim the oldest runnable request and work on it; None when nothing is runnable."""
        s = self.services
        request_id = claims.claim_next(s.db, self.owner, s.clock(), self.lease.delta, resume=self.resume_own)
        if request_id is None:
            return None
        return request_id, self._run_claimed(request_id, progress)

    def run_request(self, request_id: str, progress: Progress | None = None) -> Outcome:
        """Work on one request if it is runnable and no live worker holds it."""
        s = self.services
        if not claims.claim(
            s.db, request_id, self.owner, s.clock(), self.lease.delta, resume=self.resume_own
        ):
            return "busy"
        return self._run_claimed(request_id, progress)

    def run_until_done(
        self,
        request_id: str,
        *,
        progress: Progress | None = None,
        timeout: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> RequestRecord:
        """Run a request to its end in this process, waiting out retry delays (the CLI's way)."""
        s = self.services
        started = time.monotonic()
        while True:
            record = get_request(s.db, request_id)
            if record.state in ("completed", "failed", "rejected"):
                return record
            if record.state == "received" or (record.state == "verified" and record.requires_approval):
                raise Conflict(
                    f"request {request_id} is {record.state} and cannot run yet",
                    hint="it must be verified (and approved, when the policy asks for approval) first",
                )
            outcome = self.run_request(request_id, progress)
            if outcome in ("completed", "failed"):
                return get_request(s.db, request_id)
            if timeout is not None and time.monotonic() - started > timeout:
                raise Conflict(f"request {request_id} did not finish within {timeout:.0f} s")
            wait = 0.2
            if outcome == "retry_later":
                with s.db.connect() as conn:
                    after = conn.execute(
                        sa.select(requests.c.run_after).where(requests.c.id == request_id)
                    ).scalar()
                if after is not None:
                    wait = max(0.0, (after - s.clock()).total_seconds())
            sleep(wait)

    # --- one claimed run -----------------------------------------------------------------------

    def _run_claimed(self, request_id: str, progress: Progress | None) -> Outcome:
        try:
            return self._drive(request_id, progress)
        except _LeaseLost:
            log.warning("worker %s lost its lease on request %s; stopping", self.owner, request_id)
            return "lost_lease"
        except _Stop as stop:
            return stop.outcome

    def _drive(self, request_id: str, progress: Progress | None) -> Outcome:
        s = self.services
        with s.db.connect() as conn:
            record = load_request(conn, request_id)
            sealed_text = conn.execute(
                sa.select(requests.c.sealed).where(requests.c.id == request_id)
            ).scalar()
            rows = load_steps(conn, request_id)
        if sealed_text is None:
            return self._fail(record, "the request's identities are gone; it cannot run")
        try:
            sealed = s.sealer.unseal(request_id, sealed_text)
        except StorageError as exc:  # a replaced master key: retrying cannot help
            return self._fail(record, exc.message)
        planned = self._plan(record, sealed)
        if record.state != "running" or not rows:
            record, rows = self._start(record, rows, planned)
        names = [row.name for row in rows]
        if names != [spec.name for spec in planned]:
            return self._fail(
                record, "the plan changed since the request started (datamap or policy edited?)"
            )
        by_name = {spec.name: spec for spec in planned}
        results: dict[str, Mapping[str, Any]] = {r.name: r.result or {} for r in rows if r.state == "done"}
        workdir = s.request_dir(request_id)
        workdir.mkdir(parents=True, exist_ok=True)
        if progress:
            progress(len(results), len(rows), "")
        finished: _Finished | None = None  # marked done in the same commit that starts the next step
        for row in rows:
            if row.state == "done":
                continue
            if row.attempts >= self.retry.max_starts:
                self._advance(record, finished, None)
                return self._fail(
                    record, f"step {row.name} was started {row.attempts} times without finishing"
                )
            attempt = self._advance(record, finished, row)
            finished = None
            context = StepContext(
                request_id=request_id,
                kind=record.kind,
                identities=sealed.identities,
                params=sealed.params,
                results=dict(results),
                workdir=workdir,
                attempt=attempt,
            )
            with self._heartbeat(request_id):
                try:
                    payload = _as_json(by_name[row.name].run(context))
                except Exception as exc:  # a step's failure is data for the report, not a crash
                    return self._step_failed(record, row, exc)
            finished = _Finished(row, attempt, payload)
            results[row.name] = json.loads(payload)
            if progress:
                progress(len(results), len(rows), row.name)
        return self._complete(record, sealed, finished)

    def _plan(self, record: RequestRecord, sealed: Sealed) -> list[StepSpec]:
        s = self.services
        try:
            planned = list(self.planner.plan(record.kind, sealed.identities, sealed.params))
            _check_plan(planned)
        except _NOT_RETRIED as exc:
            raise _Stop(self._fail(record, f"the request cannot be carried out: {_describe(exc)}")) from None
        except Exception as exc:
            with s.db.begin() as conn:
                attempts = 1 + (
                    conn.execute(
                        sa.select(requests.c.plan_attempts).where(requests.c.id == record.id)
                    ).scalar()
                    or 0
                )
                conn.execute(
                    sa.update(requests).where(requests.c.id == record.id).values(plan_attempts=attempts)
                )
            if attempts >= self.retry.max_failures:
                raise _Stop(
                    self._fail(record, f"planning failed {attempts} times: {_describe(exc)}")
                ) from None
            log.info("planning request %s failed (%d): %s", record.id, attempts, type(exc).__name__)
            with s.db.begin() as conn:
                claims.release(conn, record.id, self.owner, s.clock() + self.retry.delay(attempts))
            raise _Stop("retry_later") from None
        return planned

    def _start(
        self, record: RequestRecord, rows: Sequence[StepRecord], planned: Sequence[StepSpec]
    ) -> tuple[RequestRecord, list[StepRecord]]:
        s = self.services
        now = s.clock()
        with s.db.begin() as conn:
            if not claims.renew(conn, record.id, self.owner, now, self.lease.delta):
                raise _LeaseLost
            if record.state != "running":
                record = transition(
                    conn,
                    s.audit,
                    record,
                    "running",
                    now=now,
                    lease_owner=self.owner,
                    values={"started_at": now},
                    payload={"steps": len(planned)},
                )
            if not rows and planned:
                conn.execute(
                    sa.insert(steps),
                    [
                        {
                            "request_id": record.id,
                            "position": i,
                            "name": spec.name,
                            "description": spec.description,
                            "state": "pending",
                            "attempts": 0,
                            "failures": 0,
                        }
                        for i, spec in enumerate(planned)
                    ],
                )
            return record, load_steps(conn, record.id)

    def _advance(self, record: RequestRecord, finished: _Finished | None, start: StepRecord | None) -> int:
        """One commit: the step just run is done (with its result), the next one is running.

        Both writes are fenced by our lease; returns the attempt number of the started step."""
        s = self.services
        now = s.clock()
        with s.db.begin() as conn:
            if not claims.renew(conn, record.id, self.owner, now, self.lease.delta):
                raise _LeaseLost
            if finished is not None:
                self._record_done(conn, record, finished, now)
            if start is None:
                return 0
            conn.execute(
                sa.update(steps)
                .where(
                    steps.c.request_id == record.id,
                    steps.c.position == start.position,
                    steps.c.state != "done",
                )
                .values(state="running", attempts=steps.c.attempts + 1, started_at=now)
            )
            attempt = start.attempts + 1  # we hold the lease: nobody else changed the row since we read it
            s.audit.append(
                "request.step_started",
                {"request": record.id, "step": start.name, "attempt": attempt},
                subject=record.subject,
                conn=conn,
            )
        return attempt

    def _record_done(
        self, conn: Connection, record: RequestRecord, finished: _Finished, now: dt.datetime
    ) -> None:
        row = finished.row
        done = conn.execute(
            sa.update(steps)
            .where(
                steps.c.request_id == record.id, steps.c.position == row.position, steps.c.state == "running"
            )
            .values(state="done", result=finished.payload, finished_at=now, error=None)
        ).rowcount
        if done != 1:
            raise _LeaseLost
        self.services.audit.append(
            "request.step_done",
            {"request": record.id, "step": row.name, "attempt": finished.attempt},
            subject=record.subject,
            conn=conn,
        )

    def _step_failed(self, record: RequestRecord, row: StepRecord, exc: Exception) -> Outcome:
        s = self.services
        now = s.clock()
        failures = row.failures + 1
        error = _describe(exc)
        final = isinstance(exc, _NOT_RETRIED) or failures >= self.retry.max_failures
        log.info("request %s step %s failed (%d): %s", record.id, row.name, failures, type(exc).__name__)
        with s.db.begin() as conn:
            if not claims.renew(conn, record.id, self.owner, now, self.lease.delta):
                raise _LeaseLost
            conn.execute(
                sa.update(steps)
                .where(steps.c.request_id == record.id, steps.c.position == row.position)
                .values(state="failed" if final else "pending", failures=failures, error=error)
            )
            # The audit log is permanent: it gets the error's type, never its text (which may
            # quote personal data); the text stays in the step row, which can be erased.
            s.audit.append(
                "request.step_failed",
                {
                    "request": record.id,
                    "step": row.name,
                    "failures": failures,
                    "error": type(exc).__name__,
                    "will_retry": not final,
                },
                subject=record.subject,
                conn=conn,
            )
            if not final:
                claims.release(conn, record.id, self.owner, now + self.retry.delay(failures))
                return "retry_later"
        return self._fail(record, f"step {row.name} failed after {failures} attempt(s): {error}")

    def _fail(self, record: RequestRecord, error: str) -> Outcome:
        s = self.services
        now = s.clock()
        with s.db.begin() as conn:
            if record.state != "running":
                record = transition(
                    conn,
                    s.audit,
                    record,
                    "running",
                    now=now,
                    lease_owner=self.owner,
                    values={"started_at": now},
                )
            transition(
                conn,
                s.audit,
                record,
                "failed",
                now=now,
                lease_owner=self.owner,
                values={
                    "finished_at": now,
                    "error": error,
                    "lease_owner": None,
                    "lease_expires": None,
                    "run_after": None,
                },
            )
            delivery.owe(conn, record.id, "failure", now)
        delivery.deliver_pending(s, request_id=record.id)
        return "failed"

    def _complete(self, record: RequestRecord, sealed: Sealed, finished: _Finished | None) -> Outcome:
        s = self.services
        now = s.clock()
        with s.db.begin() as conn:
            if finished is not None:
                if not claims.renew(conn, record.id, self.owner, now, self.lease.delta):
                    raise _LeaseLost
                self._record_done(conn, record, finished, now)
            transition(
                conn,
                s.audit,
                record,
                "completed",
                now=now,
                lease_owner=self.owner,
                values={
                    "finished_at": now,
                    "error": None,
                    "lease_owner": None,
                    "lease_expires": None,
                    "run_after": None,
                    "sealed": delivery.reseal_contact_only(s, record.id, sealed),
                },
            )
            if sealed.contact and record.source != "cli":
                delivery.owe(conn, record.id, "completion", now)
        delivery.deliver_pending(s, request_id=record.id)
        return "completed"

    @contextmanager
    def _heartbeat(self, request_id: str) -> Iterator[None]:
        """Renew the lease while a step runs, so a long step is not mistaken for a dead worker."""
        stop = threading.Event()
        s = self.services

        def beat() -> None:
            while not stop.wait(self.lease.heartbeat):
                try:
                    with s.db.begin() as conn:
                        if not claims.renew(conn, request_id, self.owner, s.clock(), self.lease.delta):
                            return  # taken over: the fenced write after the step will notice
                except Exception:  # the next fenced write decides; a heartbeat must not crash
                    log.warning("lease heartbeat for request %s failed", request_id, exc_info=True)

        thread = threading.Thread(target=beat, name=f"pledge-lease-{request_id[:8]}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


def _check_plan(planned: Sequence[StepSpec]) -> None:
    seen: set[str] = set()
    for spec in planned:
        if not isinstance(spec, StepSpec) or not spec.name or len(spec.name) > 300:
            raise InputError("the planner returned a step without a usable name")
        if spec.name in seen:
            raise InputError(f"the planner returned step {spec.name!r} twice")
        seen.add(spec.name)


def _as_json(result: Mapping[str, Any]) -> str:
    if not isinstance(result, Mapping):
        raise TypeError(f"a step must return a mapping, not {type(result).__name__}")
    return json.dumps(dict(result), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
