"""What the workflow, the runner and the workers share: one object built at the edge.

``RequestServices.from_settings`` is the usual way to get one; tests build it directly with a
fixed clock, an in-memory audit sink and mailer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

from pledge.audit.sink import AuditSink
from pledge.config import Secrets, Settings
from pledge.declaration.model import Declaration
from pledge.requests.mail import Mailer, mailer_from_settings
from pledge.requests.sealing import Sealer, actor_id
from pledge.requests.verification import Links, TokenIssuer
from pledge.storage.db import Database

__all__ = ["RequestServices", "utcnow"]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class RequestServices:
    db: Database
    declaration: Declaration
    keys: Secrets
    audit: AuditSink
    tokens: TokenIssuer
    mailer: Mailer
    links: Links
    sender: str = "privacy@localhost"
    workdir: Path = Path(".pledge/requests")
    """Each request's artifacts (the access archive) go to ``workdir/<request id>``; with several
    worker machines this must be shared storage."""
    operator_email: str | None = None
    """Where deadline reminders and failure alerts go; default: the declaration's privacy contact."""
    holidays: Collection[dt.date] = frozenset()
    verify_ttl: dt.timedelta = dt.timedelta(hours=48)
    result_ttl: dt.timedelta = dt.timedelta(days=30)
    unverified_ttl: dt.timedelta | None = dt.timedelta(days=30)
    """How long a request waits for verification before it is closed (``Settings.verification_expiry``)."""
    clock: Callable[[], dt.datetime] = utcnow
    on_runnable: Callable[[str], None] | None = None
    """Called (after commit) when a request becomes ready to run: wakes the in-process worker or
    sends the request to the task queue. Workers also poll, so a lost call only delays."""
    sealer: Sealer = field(init=False)

    def __post_init__(self) -> None:
        self.sealer = Sealer(self.keys.master_key)

    @property
    def org_name(self) -> str:
        return self.declaration.organisation.name

    @property
    def operator_address(self) -> str:
        if self.operator_email:
            return self.operator_email
        org = self.declaration.organisation
        contacts = [*org.contacts, *([org.dpo] if org.dpo else [])]
        for kind in ("privacy", "dpo", "general", "support"):
            for contact in contacts:
                if contact.kind == kind and contact.email:
                    return contact.email
        return self.sender

    def actor(self, by: str) -> str:
        """``by`` as the audit log may keep it (see ``sealing.actor_id``)."""
        return actor_id(self.keys.hash_key, by)

    def request_dir(self, request_id: str) -> Path:
        return self.workdir / request_id

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        declaration: Declaration,
        *,
        db: Database,
        audit: AuditSink,
        tokens: TokenIssuer,
        mailer: Mailer | None = None,
        on_runnable: Callable[[str], None] | None = None,
    ) -> RequestServices:
        return cls(
            db=db,
            declaration=declaration,
            keys=settings.with_secrets().keys,
            audit=audit,
            tokens=tokens,
            mailer=mailer or mailer_from_settings(settings.smtp),
            links=Links(settings.base_url),
            sender=settings.smtp.sender,
            workdir=settings.data_dir / "requests",
            unverified_ttl=settings.verification_expiry,
            on_runnable=on_runnable,
        )

    def notify_runnable(self, request_id: str) -> None:
        if self.on_runnable is not None:
            self.on_runnable(request_id)
