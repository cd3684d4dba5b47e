"""A dramatiq worker that runs request steps, plus the schedule beside it.

``WorkerService`` starts dramatiq worker threads on the request queue (each thread with its own
``Runner`` and lease identity) and one scheduler thread that, every ``poll_interval``, re-sends
requests that are runnable but idle (a message lost with a broker restart, a request verified by
a process that had no broker) and, every ``tick_interval``, sends due deadline reminders and retries
owed mail. Several ``pledge worker`` processes may run side by side: leases keep each request on
one worker at a time, and reminders go once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

import dramatiq
import sqlalchemy as sa

from pledge.requests import claims
from pledge.requests.background import housekeeping
from pledge.requests.runner import Runner
from pledge.requests.tables import requests
from pledge.requests.workflow import Workflow
from pledge.worker.queue import QUEUE_NAME, RequestQueue

__all__ = ["WorkerService"]

log = logging.getLogger(__name__)

RunnerFactory = Callable[[str], Runner]
"""Builds a runner for one worker thread, given that thread's lease identity."""


class WorkerService:
    def __init__(
        self,
        broker: dramatiq.Broker,
        workflow: Workflow,
        make_runner: RunnerFactory,
        *,
        threads: int = 4,
        poll_interval: float = 10.0,
        tick_interval: float = 60.0,
        queue_name: str = QUEUE_NAME,
    ) -> None:
        self.broker = broker
        self.workflow = workflow
        self.make_runner = make_runner
        self.threads = threads
        self.poll_interval = poll_interval
        self.tick_interval = tick_interval
        self.queue = RequestQueue(broker, handler=self._handle, queue_name=queue_name)
        self.identity = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._local = threading.local()
        self._sent: dict[str, float] = {}
        self._stop = threading.Event()
        self._worker: dramatiq.Worker | None = None
        self._scheduler: threading.Thread | None = None

    # --- consuming ---------------------------------------------------------------------------------

    def _runner(self) -> Runner:
        runner: Runner | None = getattr(self._local, "runner", None)
        if runner is None:
            runner = self.make_runner(f"{self.identity}:{threading.get_ident()}")
            self._local.runner = runner
        return runner

    def _handle(self, request_id: str) -> None:
        runner = self._runner()
        outcome = runner.run_request(request_id)
        log.info("request %s: %s", request_id, outcome)
        if outcome == "retry_later":
            s = runner.services
            with s.db.connect() as conn:
                after = conn.execute(
                    sa.select(requests.c.run_after).where(requests.c.id == request_id)
                ).scalar()
            delay = (after - s.clock()) if after is not None else None
            self.queue.enqueue(request_id, delay=delay)

    # --- scheduling --------------------------------------------------------------------------------

    def dispatch(self) -> int:
        """Send every runnable, unclaimed request not sent in the last few polls; returns how many."""
        services = self.workflow.services
        now = services.clock()
        with services.db.connect() as conn:
            ids = (
                conn.execute(
                    sa.select(requests.c.id)
                    .where(claims.runnable(now))
                    .order_by(requests.c.received_at)
                    .limit(500)
                )
                .scalars()
                .all()
            )
        mono = time.monotonic()
        quiet = 3 * self.poll_interval  # a message sent recently may just be waiting its turn
        self._sent = {rid: at for rid, at in self._sent.items() if mono - at < quiet}
        sent = 0
        for request_id in ids:
            if request_id not in self._sent:
                self.queue.enqueue(request_id)
                self._sent[request_id] = mono
                sent += 1
        return sent

    def _schedule(self) -> None:
        next_tick = 0.0
        while not self._stop.is_set():
            try:
                self.dispatch()
            except Exception:  # the database or broker is down: try again next poll
                log.exception("request dispatch failed")
            if time.monotonic() >= next_tick:
                housekeeping(self.workflow)
                next_tick = time.monotonic() + self.tick_interval
            self._stop.wait(self.poll_interval)

    # --- life cycle --------------------------------------------------------------------------------

    def start(self) -> WorkerService:
        self._stop.clear()
        self._worker = dramatiq.Worker(self.broker, queues={self.queue_name}, worker_threads=self.threads)
        self._worker.start()
        self._scheduler = threading.Thread(target=self._schedule, name="pledge-dispatch", daemon=True)
        self._scheduler.start()
        return self

    @property
    def queue_name(self) -> str:
        return self.queue.queue_name

    def stop(self, timeout: float = 60.0) -> None:
        """Stop taking messages, let running steps finish (up to ``timeout``), then return."""
        self._stop.set()
        if self._worker is not None:
            self._worker.stop(timeout=int(timeout * 1000))
            self._worker = None
        if self._scheduler is not None:
            self._scheduler.join(timeout)
            self._scheduler = None

    def run(self, stop: threading.Event) -> None:
        """Serve until ``stop`` is set (the CLI sets it on SIGTERM or Ctrl-C)."""
        self.start()
        try:
            stop.wait()
        finally:
            self.stop()
