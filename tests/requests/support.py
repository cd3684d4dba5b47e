"""Builders for the request workflow tests: a settable clock, fake planners, and one ``build()``
that wires a workflow and a runner on a real database with the real audit log and token service.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pledge.audit.log import AuditLog
from pledge.config import Secrets
from pledge.declaration.load import parse_declaration
from pledge.declaration.model import Declaration
from pledge.requests.mail import Mailer, MemoryMailer
from pledge.requests.runner import LeasePolicy, RetryPolicy, Runner
from pledge.requests.services import RequestServices
from pledge.requests.steps import Identity, RequestKind, StepContext, StepSpec
from pledge.requests.verification import Links
from pledge.requests.workflow import Workflow
from pledge.storage.db import Database
from pledge.tokens import TokenService

DECLARATION = """\
policy_version: "1.0"
effective: 2024-01-01
organisation:
  name: Acme Books Ltd
  country: GB
  contacts:
    - kind: privacy
      email: privacy@acme.test
jurisdictions:
  - id: gdpr
    name: European Union and United Kingdom
  - id: ccpa
    name: California
purposes:
  - id: orders
    name: Fulfil orders
    lawful_basis: contract
    categories: [user.name, user.contact.email]
rights:
  - right: access
    jurisdictions: [gdpr]
    deadline: P1M
    extension: P2M
  - right: access
    jurisdictions: [ccpa]
    deadline: P45D
    extension: P45D
    acknowledge_business_days: 10
  - right: know_if_held
    deadline: P1M
  - right: erasure
    deadline: P1M
    extension: P2M
    approval: true
  - right: rectification
    deadline: P1M
    verification: account
  - right: restriction
    deadline: P1M
    verification: id_document
  - right: objection
    deadline: P1M
    verification: none
"""


def declaration(text: str = DECLARATION) -> Declaration:
    return parse_declaration(text).declaration


KEYS = Secrets(signing_key=b"s" * 32, hash_key=b"h" * 32, master_key=b"m" * 32, admin_key="admin")


@dataclass
class Clock:
    now: dt.datetime = field(default_factory=lambda: dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC))

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


def real_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class RequestAudit(AuditLog):
    """The real audit log, plus the readers the tests need: entries about one request."""

    def of(self, request_id: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        found: list[tuple[str, dict[str, Any]]] = []
        start = 0
        while batch := self.entries(start=start, limit=5000):
            found.extend((e.kind, e.payload) for e in batch)
            start = batch[-1].index + 1
        return [e for e in found if request_id is None or e[1].get("request") == request_id]

    def kinds(self, request_id: str | None = None) -> list[str]:
        return [kind for kind, _ in self.of(request_id)]


def audit_log(db: Database) -> RequestAudit:
    return RequestAudit(db, signer=None, flush_interval=None)


class ListPlanner:
    """Steps named ``names``; each appends to ``calls`` and returns ``{"step": name}``.

    ``fail``: step name -> how many times it raises ``error`` before succeeding.
    """

    def __init__(
        self,
        names: Sequence[str] = ("find", "act", "verify"),
        *,
        fail: Mapping[str, int] | None = None,
        error: Callable[[str], Exception] = lambda name: RuntimeError(f"boom in {name}"),
        result: Callable[[str, StepContext], Mapping[str, Any]] | None = None,
    ) -> None:
        self.names = list(names)
        self.fail = dict(fail or {})
        self.error = error
        self.result = result
        self.calls: list[tuple[str, int]] = []
        self.contexts: list[StepContext] = []
        self.plans = 0
        self._lock = threading.Lock()

    def plan(
        self, kind: RequestKind, identities: Sequence[Identity], params: Mapping[str, Any]
    ) -> list[StepSpec]:
        self.plans += 1
        return [StepSpec(name=n, run=self._runner(n), description=f"step {n}") for n in self.names]

    def _runner(self, name: str) -> Callable[[StepContext], Mapping[str, Any]]:
        def run(ctx: StepContext) -> Mapping[str, Any]:
            with self._lock:
                self.calls.append((name, ctx.attempt))
                self.contexts.append(ctx)
                if self.fail.get(name, 0) > 0:
                    self.fail[name] -= 1
                    raise self.error(name)
            if self.result is not None:
                return self.result(name, ctx)
            return {"step": name}

        return run

    def ran(self) -> list[str]:
        return [name for name, _ in self.calls]


@dataclass
class Env:
    db: Database
    services: RequestServices
    workflow: Workflow
    runner: Runner
    audit: RequestAudit
    mailer: Mailer
    tokens: Any
    clock: Callable[[], dt.datetime]
    planner: Any


FAST_RETRY = RetryPolicy(max_failures=3, max_starts=10, base_delay=0.01, max_delay=0.05)
TEST_LEASE = LeasePolicy(duration=30, heartbeat=5)


def build(
    url: str,
    tmp_path: Path,
    *,
    planner: Any = None,
    clock: Callable[[], dt.datetime] | None = None,
    mailer: Mailer | None = None,
    decl: Declaration | None = None,
    retry: RetryPolicy = FAST_RETRY,
    lease: LeasePolicy = TEST_LEASE,
    migrate: bool = True,
    owner: str | None = None,
    tokens: Any = None,
) -> Env:
    db = Database(url)
    if migrate:
        db.migrate()
    clock = clock or Clock()
    audit = audit_log(db)
    mailer = mailer or MemoryMailer()
    tokens = tokens or TokenService(KEYS.signing_key, db, clock=clock)
    services = RequestServices(
        db=db,
        declaration=decl or declaration(),
        keys=KEYS,
        audit=audit,
        tokens=tokens,
        mailer=mailer,
        links=Links("https://privacy.acme.test"),
        sender="privacy@acme.test",
        workdir=tmp_path / "work",
        clock=clock,
    )
    planner = planner if planner is not None else ListPlanner()
    runner = Runner(services, planner, retry=retry, lease=lease, owner=owner)
    return Env(db, services, Workflow(services), runner, audit, mailer, tokens, clock, planner)


EMAIL = Identity("email", "Ada@Example.org")
