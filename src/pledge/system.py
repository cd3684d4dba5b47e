"""The composition root: one :class:`Pledge` object the web layer, the CLI and the worker sit on.

    system = Pledge.open(Settings.from_env(), declaration="privacy.yaml",
                         datamaps=["shop.yaml"], connections={"shop": "sqlite:///shop.db"})
    system.publish()                       # record this declaration as a published version
    system.enforcer.decide(subject, "newsletter", ("user.contact.email",), channel="email")
    system.workflow.create_request("access", [Identity("email", addr)], jurisdiction="gdpr")
    system.close()

Built from a :class:`~pledge.config.Settings` (plus the declaration, datamaps and connection URLs),
it opens the database, migrates it, loads and compiles the declaration (with the versions
published before it, so a purpose added later is told apart), and wires every core service
once: the audit log, the consent ledger and its subject directory, the enforcer, sharing, tokens,
one-click unsubscribe, the request workflow with its planner (the request executor over the
business's databases, fed by the consent ledger), the runner and the in-process worker. One clock
(``clock``) dates everything, decisions about age included. Like Datasette's ``Datasette``
object, it imports no web framework: adapters receive it and stay thin.

:class:`PledgeStore` is the part that needs no declaration (the database and the published
versions): ``pledge audit`` and ``pledge versions`` open only that.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import sqlalchemy as sa

from pledge.config import Secrets, Settings
from pledge.declaration.load import LoadedDeclaration, load_declaration
from pledge.errors import ConfigError, InputError

if TYPE_CHECKING:
    from pledge.audit.log import AuditLog
    from pledge.connectors.base import Connector
    from pledge.consent.directory import SubjectDirectory
    from pledge.consent.ledger import ConsentLedger
    from pledge.consent.unsubscribe import Unsubscribe
    from pledge.datamap.model import Datamap
    from pledge.declaration.model import Declaration
    from pledge.policy.compiled import CompiledPolicy
    from pledge.policy.enforcer import Enforcer
    from pledge.publish.versions import PublishedVersion
    from pledge.requests.background import InlineWorker
    from pledge.requests.execute import RequestExecutor
    from pledge.requests.mail import Mailer
    from pledge.requests.runner import LeasePolicy, Progress, RetryPolicy, Runner
    from pledge.requests.services import RequestServices
    from pledge.requests.steps import StepPlanner
    from pledge.requests.store import RequestRecord
    from pledge.requests.workflow import Workflow
    from pledge.sharing.disclosures import Sharing
    from pledge.storage.db import Database
    from pledge.tokens import TokenService

__all__ = ["Pledge", "PledgeStore", "resolve_declaration_path"]

log = logging.getLogger("pledge.system")


def resolve_declaration_path(path: str | Path | None, settings: Settings) -> Path:
    """The declaration file to use: ``path``, else ``PLEDGE_DECLARATION``, else ``./privacy.yaml``;
    a folder means the ``privacy.yaml`` inside it."""
    chosen = Path(path) if path is not None else settings.declaration or Path("privacy.yaml")
    return chosen / "privacy.yaml" if chosen.is_dir() else chosen


class PledgeStore:
    """Pledge's own database, without a declaration: published versions, and the tables the
    audit commands read. :class:`Pledge` builds on it."""

    def __init__(self, settings: Settings, *, migrate: bool = True, create: bool = True) -> None:
        """``migrate``: bring the schema up to date (read-only commands pass False). ``create``:
        False refuses to create a SQLite file that is not there yet, so a command that only
        reads never leaves an empty database behind."""
        from pledge.storage.db import Database

        self.settings = settings
        self.migrated = migrate
        self._closers: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        try:
            _check_sqlite_file(settings.db_url, create=create)
            self.db: Database = Database(settings.db_url)
            self._closers.append(self.db.dispose)
            if migrate:
                self.db.migrate()
        except BaseException:
            self.close()
            raise

    def has_table(self, name: str) -> bool:
        return sa.inspect(self.db.engine).has_table(name)

    def open_audit(self, **options: Any) -> AuditLog:
        """The audit log on this database, with the signing key from the settings (created once);
        closed with the store. ``options`` go to :class:`~pledge.audit.log.AuditLog`."""
        from pledge.audit.log import AuditLog

        audit = AuditLog.from_settings(self.settings, self.db, **options)
        self._closers.append(audit.close)
        return audit

    def publish_declaration(
        self, loaded: LoadedDeclaration, *, now: dt.datetime | None = None
    ) -> PublishedVersion:
        """Record ``loaded`` as a published version (a no-op for the same file published again)."""
        from pledge.publish.versions import publish_version

        return publish_version(self.db, loaded, now=now)

    def versions(self) -> list[PublishedVersion]:
        """Every published version, newest first."""
        from pledge.publish.versions import list_versions

        return list_versions(self.db)

    def close(self) -> None:
        """Stop the worker, flush queued audit records, close connectors and the database."""
        closers, self._closers = self._closers, []
        for close in reversed(closers):
            try:
                close()
            except Exception as exc:  # closing one part must not leave the others open
                log.warning(
                    "closing %s failed: %s", getattr(close, "__qualname__", close), type(exc).__name__
                )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Pledge(PledgeStore):
    """Every core service, wired once. Build it with :meth:`open`; call :meth:`close` when done."""

    def __init__(
        self,
        settings: Settings,
        declaration: LoadedDeclaration,
        *,
        datamap: Datamap | None = None,
        connections: Mapping[str, str] | None = None,
        mailer: Mailer | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        migrate: bool = True,
        cross_process: bool = True,
        worker_poll: float = 2.0,
        planner: StepPlanner | None = None,
        worker_id: str | None = None,
        lease: LeasePolicy | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        """``planner``: runs request steps instead of the executor over ``datamap`` (businesses
        whose steps are not SQL, tests). ``worker_id``: a stable lease identity for this
        process's runner (a restarted worker takes its own requests back at once). ``migrate``:
        False for commands that only read (a SQLite file must then exist already)."""
        from pledge.connectors import open_connectors
        from pledge.consent import ConsentLedger, open_enforcer
        from pledge.consent.unsubscribe import Unsubscribe
        from pledge.datamap.model import Datamap
        from pledge.policy import compile_policy
        from pledge.requests.background import InlineWorker
        from pledge.requests.execute import RequestExecutor
        from pledge.requests.rights import (
            LedgerRights,
            ledger_decisions,
            ledger_disclosures,
            request_consent_source,
        )
        from pledge.requests.runner import LeasePolicy, RetryPolicy
        from pledge.requests.services import RequestServices, utcnow
        from pledge.requests.workflow import Workflow
        from pledge.sharing import Sharing
        from pledge.tokens import TokenService

        super().__init__(settings.with_secrets(), migrate=migrate, create=migrate)
        now = clock or utcnow
        self.loaded = declaration
        self._material: str | None = None
        self._lease = lease or LeasePolicy()
        self._retry = retry or RetryPolicy()
        try:
            # The versions published before this one tell which purposes are new to whom
            # ("consent before any new purpose"); read once, at start.
            self.policy: CompiledPolicy = compile_policy(declaration, history=self._history())
            self.audit: AuditLog = self.open_audit()
            self.ledger: ConsentLedger = ConsentLedger(
                self.db, self.policy, self.audit, hash_key=self.keys.hash_key, clock=now
            )
            self.enforcer: Enforcer = open_enforcer(
                self.ledger,
                log_allowed=self.settings.log_allowed_decisions,
                cross_process=cross_process,
                today=lambda: now().date(),  # age checks follow the same clock as everything else
            )
            self._closers.append(self.enforcer.close)
            self.sharing: Sharing = Sharing(
                self.enforcer, self.db, self.audit, directory=self.directory, clock=now
            )
            self.tokens: TokenService = TokenService(self.keys.signing_key, self.db, clock=now)
            self.unsubscribe: Unsubscribe = Unsubscribe(self.ledger, self.tokens, self.settings.base_url)

            self.datamap: Datamap = datamap if datamap is not None else Datamap(())
            keys = [d.fides_key for d in self.datamap.datasets]
            self.connectors: dict[str, Connector] = open_connectors(dict(connections or {}), keys)
            for connector in self.connectors.values():
                self._closers.append(connector.close)
            self.executor: RequestExecutor = RequestExecutor(
                self.datamap,
                self.connectors,
                declaration=declaration,
                hash_key=self.keys.hash_key,
                disclosures=ledger_disclosures(self.sharing, self.ledger),
                decisions=ledger_decisions(self.ledger),
                rights=LedgerRights(self.ledger, source=request_consent_source(self.db)),
            )
            self.planner: StepPlanner = planner if planner is not None else self.executor
            services = RequestServices.from_settings(
                self.settings,
                declaration.declaration,
                db=self.db,
                audit=self.audit,
                tokens=self.tokens,
                mailer=mailer,
            )
            self.services: RequestServices = replace(services, clock=now)
            self.workflow: Workflow = Workflow(self.services)
            self.runner: Runner = self.make_runner(worker_id, resume_own=worker_id is not None)
            self.worker: InlineWorker = InlineWorker(self.runner, self.workflow, poll_interval=worker_poll)
            self.services.on_runnable = self.worker.wake
        except BaseException:
            self.close()
            raise

    # --- construction ---------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        declaration: str | Path | LoadedDeclaration | None = None,
        datamaps: Sequence[str | Path] | Datamap = (),
        connections: Mapping[str, str] | Sequence[str] = (),
        **options: Any,
    ) -> Pledge:
        """Load the declaration (a path, or ``settings.declaration``) and the datamaps (paths, or
        a loaded ``Datamap``), and wire everything. ``connections``: ``{fides_key: url}`` or
        ``KEY=URL`` strings (``--connect``). ``options`` go to the constructor (``mailer``,
        ``clock``, ``migrate``, ``cross_process``, ``planner``, ``worker_id``, ...).
        Raises ``DeclarationError``/``DatamapError``/``InputError`` with located problems."""
        from pledge.connectors import parse_connect
        from pledge.datamap import Datamap, load_datamap

        if isinstance(declaration, LoadedDeclaration):
            loaded = declaration
        else:
            loaded = load_declaration(resolve_declaration_path(declaration, settings))
        datamap: Datamap | None
        if isinstance(datamaps, Datamap):
            datamap = datamaps
        else:
            datamap = load_datamap(list(datamaps), declaration=loaded) if datamaps else None
        urls = dict(connections) if isinstance(connections, Mapping) else parse_connect(connections)
        return cls(settings, loaded, datamap=datamap, connections=urls, **options)

    def make_runner(self, owner: str | None = None, *, resume_own: bool = False) -> Runner:
        """A runner on this system's planner: one per worker thread (each with its own lease
        identity ``owner``); ``resume_own`` for a restarted worker with a stable identity."""
        from pledge.requests.runner import Runner

        return Runner(
            self.services,
            self.planner,
            owner=owner,
            lease=self._lease,
            retry=self._retry,
            resume_own=resume_own,
        )

    def _history(self) -> list[Declaration]:
        from pledge.consent import published_history
        from pledge.publish.tables import policy_versions

        if not self.migrated and not self.has_table(policy_versions.name):
            return []  # an older database opened read-only: nothing was ever published in it
        return published_history(self.db, self.loaded.version)

    # --- conveniences -------------------------------------------------------------------------------

    @property
    def keys(self) -> Secrets:
        return self.settings.keys

    @property
    def directory(self) -> SubjectDirectory:
        return self.ledger.directory

    @property
    def version(self) -> str:
        return self.loaded.version

    def now(self) -> dt.datetime:
        return self.services.clock()

    def start(self) -> Pledge:
        """Start running requests: the in-process worker (``settings.worker == "inline"``, the
        default), or, with ``"dramatiq"``, send each runnable request to the task queue that
        ``pledge worker`` processes consume (this process then only records requests)."""
        if self.settings.worker == "inline":
            self.worker.start()
            self._closers.append(self.worker.stop)
            return self
        if self.settings.worker == "dramatiq":
            from pledge.worker.queue import RequestQueue, make_broker  # the queue adapter, lazily

            broker = make_broker(self.settings.broker_url)
            self.services.on_runnable = RequestQueue(broker).enqueue
            self._closers.append(broker.close)
            return self
        raise ConfigError(
            f"unknown worker {self.settings.worker!r}", hint="PLEDGE_WORKER is inline or dramatiq"
        )

    def run_pending(self) -> int:
        """Run every request that is ready now, in this thread (tests, the CLI, ``--once``)."""
        return self.worker.run_once()

    def run_request(
        self, request_id: str, *, progress: Progress | None = None, timeout: float | None = None
    ) -> RequestRecord:
        """Run one request to its end in this thread, waiting out retry delays (the CLI's way)."""
        return self.runner.run_until_done(request_id, progress=progress, timeout=timeout)

    # --- published versions -------------------------------------------------------------------

    def publish(self, *, now: dt.datetime | None = None) -> PublishedVersion:
        """Record the loaded declaration as a published version (idempotent for the same file).

        The compiled policy keeps the history it was opened with: versions published *before*
        this one by other means count from the next start."""
        published = self.publish_declaration(self.loaded, now=now)
        with self._lock:
            self._material = None
        return published

    def material_version(self) -> str:
        """The version of the last *material* change people were asked about: the banner asks
        again (and the consent cookie's grants lapse) when it moves. With nothing published it is
        the loaded version; otherwise the newest material version at or before the loaded one,
        else the first version published."""
        with self._lock:
            if self._material is not None:
                return self._material
        published = list(reversed(self.versions()))  # oldest first
        names = [v.version for v in published]
        if self.version in names:
            published = published[: names.index(self.version) + 1]
        chosen = self.version
        if published:
            material = [v.version for v in published if v.material]
            chosen = material[-1] if material else published[0].version
            if self.version not in names:
                chosen = self.version  # an unpublished declaration: every choice is about it
        with self._lock:
            self._material = chosen
        return chosen

    # --- people -------------------------------------------------------------------------------------

    def find_subject(self, kind: str, value: str) -> str | None:
        """The consent subject known by ``kind=value``, or None (nothing is created)."""
        return self.directory.find(kind, value)

    def resolve_subject(self, kind: str, value: str) -> str:
        """The consent subject known by ``kind=value``, created on first sight."""
        return self.directory.resolve(kind, value)

    def request_contact(self, request_id: str) -> str | None:
        """The e-mail address an open request was made with (sealed in the request row), so a
        verified person can be signed in to their preferences; None once the request closed."""
        from pledge.requests.tables import requests

        with self.db.connect() as conn:
            sealed = conn.execute(
                sa.select(requests.c.sealed).where(requests.c.id == request_id)
            ).scalar_one_or_none()
        if not sealed:
            return None
        opened = self.services.sealer.unseal(request_id, sealed)
        if opened.contact:
            return opened.contact
        return next((i.value for i in opened.identities if i.kind == "email"), None)

    def check_purpose(self, purpose: str) -> None:
        if purpose not in self.policy.purposes:
            raise InputError(f"unknown purpose {purpose[:60]!r}")


def _check_sqlite_file(url: str, *, create: bool) -> None:
    """A SQLite file's folder is created on first use (``.pledge/`` on a fresh clone); with
    ``create=False`` a missing file is bad input instead."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        return  # Database() reports the bad URL with a hint
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    path = Path(parsed.database)
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.is_file():
        raise InputError(f"no database at {path}", hint="give --db or set PLEDGE_DB_URL")
