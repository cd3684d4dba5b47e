"""The embedded worker: a thread that runs requests in the process that serves the API.

It claims runnable requests (leases: several processes may run one each without running the same
request twice), and on a slower tick sends deadline reminders and retries owed mail. ``wake()``
(wired to ``RequestServices.on_runnable``) makes it look at once instead of at the next poll.
"""

from __future__ import annotations

import logging
import threading
import time

from pledge.requests.runner import Runner
from pledge.requests.workflow import Workflow

__all__ = ["InlineWorker", "housekeeping"]

log = logging.getLogger(__name__)


def housekeeping(workflow: Workflow) -> None:
    """The scheduled chores: reminders before deadlines, mail a mail server refused earlier, and
    closing requests nobody verified in time."""
    try:
        expired = workflow.expire_unverified()
        if expired:
            log.info("closed %d request(s) never verified", len(expired))
        sent = workflow.send_due_reminders()
        if sent:
            log.info("sent %d deadline reminder(s)", len(sent))
        workflow.deliver_pending_mail()
    except Exception:  # a chore failing must not stop the worker; it is tried again next tick
        log.exception("request housekeeping failed")


class InlineWorker:
    def __init__(
        self,
        runner: Runner,
        workflow: Workflow,
        *,
        poll_interval: float = 2.0,
        tick_interval: float = 60.0,
    ) -> None:
        self.runner = runner
        self.workflow = workflow
        self.poll_interval = poll_interval
        self.tick_interval = tick_interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> InlineWorker:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="pledge-requests", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the current step (never abandon one half-way on purpose), then stop."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self, request_id: str | None = None) -> None:
        self._wake.set()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run_once(self) -> int:
        """Run every request runnable now; returns how many were worked on."""
        worked = 0
        while not self._stop.is_set():
            ran = self.runner.run_next()
            if ran is None:
                break
            worked += 1
        return worked

    def _loop(self) -> None:
        next_tick = 0.0
        failures = 0
        while not self._stop.is_set():
            try:
                self.run_once()
                failures = 0
            except Exception:
                failures += 1
                log.exception("request worker: run failed (database down?)")
            if time.monotonic() >= next_tick and not self._stop.is_set():
                housekeeping(self.workflow)
                next_tick = time.monotonic() + self.tick_interval
            # Back off while the store keeps failing instead of spinning on errors.
            self._wake.wait(self.poll_interval * min(2**failures, 30))
            self._wake.clear()
