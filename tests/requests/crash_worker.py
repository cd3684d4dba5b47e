"""A worker process for the crash test, and the supervisor that forks it.

``python -m tests.requests.crash_worker PLEDGE_URL BUSINESS_URL WORKDIR STEPS`` starts a supervisor
that imports everything once, then obeys lines on stdin:

* ``start OWNER RESUME CRASH_AFTER`` forks a fresh worker process and answers ``pid N``;
* ``kill N`` sends it SIGKILL (kill -9: no cleanup, no finally, no atexit), reaps it, answers ``dead``.

Forking a warm supervisor makes a restart take milliseconds instead of a second of imports, so
fifty kill-and-restart cycles fit in a test.

Each step of the request writes to a real business table: in one transaction it records an
idempotency witness and, only if the witness is new, applies its effect (a ledger row and +1 on a
balance). ``CRASH_AFTER`` names a step whose worker kills itself right after that transaction
commits and before the runner can mark the step done.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from pledge.declaration.model import Declaration
from pledge.requests.mail import MemoryMailer
from pledge.requests.runner import LeasePolicy, Runner
from pledge.requests.services import RequestServices
from pledge.requests.steps import Identity, RequestKind, StepContext, StepSpec
from pledge.requests.verification import Links
from pledge.storage.db import Database
from pledge.tokens import TokenService
from tests.requests.support import KEYS, audit_log, declaration

LEASE = LeasePolicy(duration=0.3, heartbeat=0.06)

BUSINESS_DDL = (
    "CREATE TABLE witness (request_id TEXT, step TEXT, PRIMARY KEY (request_id, step))",
    "CREATE TABLE ledger (id SERIAL PRIMARY KEY, request_id TEXT NOT NULL, step TEXT NOT NULL)",
    "CREATE TABLE balance (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL)",
    "CREATE TABLE runs (id SERIAL PRIMARY KEY, request_id TEXT, step TEXT, attempt INTEGER, pid INTEGER)",
    "INSERT INTO balance VALUES (1, 0)",
)


class BusinessPlanner:
    def __init__(self, business_url: str, steps: int, crash_after: str | None = None) -> None:
        self.engine = sa.create_engine(business_url, pool_size=2)
        self.steps = steps
        self.crash_after = crash_after
        self.rng = random.Random(os.getpid())

    def plan(
        self, kind: RequestKind, identities: Sequence[Identity], params: Mapping[str, Any]
    ) -> list[StepSpec]:
        return [
            StepSpec(name=f"effect:{i:03d}", run=self._step(f"effect:{i:03d}")) for i in range(self.steps)
        ]

    def _step(self, name: str) -> Callable[[StepContext], Mapping[str, Any]]:
        def run(ctx: StepContext) -> Mapping[str, Any]:
            key = {"r": ctx.request_id, "s": name}
            with self.engine.begin() as conn:
                conn.execute(
                    sa.text("INSERT INTO runs (request_id, step, attempt, pid) VALUES (:r, :s, :a, :p)"),
                    {**key, "a": ctx.attempt, "p": os.getpid()},
                )
            time.sleep(self.rng.uniform(0, 0.025))
            with self.engine.begin() as conn:
                fresh = conn.execute(
                    sa.text("INSERT INTO witness (request_id, step) VALUES (:r, :s) ON CONFLICT DO NOTHING"),
                    key,
                ).rowcount
                if fresh:
                    conn.execute(sa.text("INSERT INTO ledger (request_id, step) VALUES (:r, :s)"), key)
                    conn.execute(sa.text("UPDATE balance SET amount = amount + 1 WHERE id = 1"))
            if fresh and name == self.crash_after:
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(self.rng.uniform(0, 0.025))
            return {"step": name}  # the same result however often it runs

        return run


def work(
    pledge_url: str,
    business_url: str,
    workdir: Path,
    steps: int,
    owner: str,
    resume: bool,
    crash: str,
    decl: Declaration,
) -> None:
    db = Database(pledge_url)
    services = RequestServices(
        db=db,
        declaration=decl,
        keys=KEYS,
        audit=audit_log(db),
        tokens=TokenService(KEYS.signing_key, db),
        mailer=MemoryMailer(),
        links=Links("https://privacy.acme.test"),
        workdir=workdir,
    )
    planner = BusinessPlanner(business_url, steps, crash if crash != "-" else None)
    runner = Runner(services, planner, owner=owner, lease=LEASE, resume_own=resume)
    while True:
        if runner.run_next() is None:
            time.sleep(0.02)


def supervise(pledge_url: str, business_url: str, workdir: Path, steps: int) -> None:
    # Everything slow happens once, here, before any fork: a restarted worker is at work within
    # milliseconds, so the kills land inside the request rather than in start-up.
    decl = declaration()
    # Load the PostgreSQL dialect and driver (psycopg's import alone takes ~0.4 s) without
    # opening a connection: connections must never cross a fork.
    sa.create_engine(pledge_url).dispose()
    print("ready", flush=True)
    for line in sys.stdin:
        command, *args = line.split()
        if command == "start":
            owner, resume, crash = args
            pid = os.fork()
            if pid == 0:
                try:
                    work(pledge_url, business_url, workdir, steps, owner, resume == "1", crash, decl)
                finally:
                    os._exit(1)
            print(f"pid {pid}", flush=True)
        elif command == "kill":
            pid = int(args[0])
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            print("dead", flush=True)


if __name__ == "__main__":
    supervise(sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]))
