"""``pledge request exists|access|portability|rectify|erase|restrict|object|withdraw`` and
``pledge request list|show|resume``.

An operator's request is a real request in the queue, like one from the privacy center: recorded
(``source="cli"``), verified by the operator who runs it (their login name), approved by them
with ``--approve`` when the policy wants approval, then run to its end in this process with a
progress bar. A crash or Ctrl-C leaves it in the queue: ``pledge request resume ID`` (or any
worker) finishes it, without doing a finished step twice, and the admin console lists it with
the others. Bad input (an unknown identity kind, a missing connection, an invalid rectify value)
is found before anything is recorded.

``--plan`` shows what would happen without reading a row, and ``erase --dry-run`` reads and
reports but changes nothing; neither creates a request. Without a declaration (no ``--config``,
``PLEDGE_DECLARATION`` or ``./privacy.yaml``) there are no rights or deadlines to queue a request
under: it runs once, audited, and no legal holds or erasure rules apply.

Connections: ``--connect KEY=URL`` per dataset (KEY is its ``fides_key``), or the environment
variable ``PLEDGE_CONNECT_<KEY>``. URLs never come from the datamap. Thin: parse, call the core,
print.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pledge.cli import _output
from pledge.cli import _request_output as show_
from pledge.cli._common import (
    ConfigOpt,
    ConnectOpt,
    DatamapOpt,
    DatamapRequiredOpt,
    DbOpt,
    JsonOpt,
    declaration_path,
    load_parts,
    open_store,
    open_system,
    reported,
    settings,
)
from pledge.errors import Conflict, InputError, Problem

if TYPE_CHECKING:
    from pledge.audit.log import AuditLog
    from pledge.config import Settings
    from pledge.datamap.model import Datamap
    from pledge.declaration.load import LoadedDeclaration
    from pledge.requests.execute import RequestExecutor
    from pledge.requests.steps import Identity, RequestKind, StepSpec
    from pledge.requests.store import RequestRecord
    from pledge.system import Pledge

request_app = typer.Typer(
    name="request",
    help="Run data-subject requests against the business's own databases (operator, no verification), "
    "and see the request queue.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

IdentityOpt = Annotated[
    list[str],
    typer.Option(
        "--identity", "-i", help="how the person is known: KIND=VALUE (email=..., phone_number=...)"
    ),
]
OutOpt = Annotated[
    Path | None, typer.Option("--out", "-o", help="where to write the archive or the JSON report")
]
PlanOpt = Annotated[bool, typer.Option("--plan", help="show the plan and touch no data")]
SkipOpt = Annotated[
    bool, typer.Option("--skip-unreachable", help="leave out collections no given identity reaches")
]
ApproveOpt = Annotated[
    bool, typer.Option("--approve", help="approve it yourself when the policy asks for approval")
]
JurisdictionOpt = Annotated[
    str | None, typer.Option("--jurisdiction", help="a declared jurisdiction id (its deadline applies)")
]
_RIGHTS = ("restrict", "object", "withdraw")


def _identities(items: list[str]) -> list[Identity]:
    from pledge.requests.sealing import normalise_identity
    from pledge.requests.steps import Identity

    found: list[Identity] = []
    problems: list[Problem] = []
    for item in items:
        kind, sep, value = item.partition("=")
        if not sep or not kind.strip() or not value:
            problems.append(Problem(f"--identity {kind[:40]!r}: expected KIND=VALUE", code="bad_identity"))
            continue
        # As the workflow keeps them (e-mail addresses in lower case), so --plan, --dry-run and
        # the request itself search for exactly the same values.
        found.append(normalise_identity(Identity(kind.strip(), value)))
    if not found and not problems:
        problems.append(Problem("give at least one --identity KIND=VALUE", code="bad_identity"))
    if problems:
        raise InputError("bad --identity option", problems=problems)
    return found


def _operator() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name (some containers)
        return "unknown"


@contextmanager
def _executor(
    chosen: Settings, loaded: LoadedDeclaration | None, datamap: Datamap | None, urls: Mapping[str, str]
) -> Iterator[RequestExecutor]:
    """The executor alone, for what reads no person's consent: ``--plan`` (which must not even
    open Pledge's database) and requests without a declaration."""
    from pledge.connectors import open_connectors
    from pledge.datamap import Datamap
    from pledge.requests.execute import RequestExecutor

    mapped = datamap if datamap is not None else Datamap(())
    keys = [d.fides_key for d in mapped.datasets]
    connectors = open_connectors(dict(urls), keys)
    try:
        yield RequestExecutor(mapped, connectors, declaration=loaded, hash_key=chosen.keys.hash_key)
    finally:
        for connector in connectors.values():
            connector.close()


class _NotRecorded:
    """Rights steps in a ``--plan``: planned, never run."""

    def record_right(self, *args: Any, **kwargs: Any) -> Mapping[str, Any]:
        raise AssertionError("a plan records nothing")


def _run(
    kind: RequestKind,
    identity: list[str],
    datamap: Sequence[Path] | None,
    connect: list[str] | None,
    config: Path | None,
    db: str | None,
    out: Path | None,
    plan: bool,
    json_out: bool,
    params: dict[str, Any],
    *,
    approve: bool = False,
    jurisdiction: str | None = None,
) -> None:
    with reported():
        identities = _identities(identity)
        chosen = settings(db).with_secrets()
        path = declaration_path(config, chosen, needed_by=None)
        if path is None and kind in _RIGHTS:
            raise InputError(
                "restrict, object and withdraw are recorded in the consent ledger, "
                "which needs the declaration",
                hint="pass --config privacy.yaml",
            )
        if path is None and kind in ("erase", "rectify") and not plan:
            _output.err.print(
                "warning: no --config given: no legal holds or erasure rules apply", markup=False
            )
        if plan:
            _plan(kind, identities, params, chosen, path, datamap, connect, json_out)
        elif path is None or params.get("dry_run"):
            _once(kind, identities, params, chosen, path, datamap, connect, out, json_out)
        else:
            with open_system(path, datamap=datamap, connect=connect, chosen=chosen) as system:
                record = _create(system, kind, identities, params, approve=approve, jurisdiction=jurisdiction)
                _finish(system, record, out, json_out)


def _plan(
    kind: RequestKind,
    identities: list[Identity],
    params: dict[str, Any],
    chosen: Settings,
    path: Path | None,
    datamap: Sequence[Path] | None,
    connect: list[str] | None,
    json_out: bool,
) -> None:
    loaded, mapped, urls = _parts(path, datamap, connect, chosen)
    with _executor(chosen, loaded, mapped, urls) as executor:
        executor.rights = _NotRecorded()
        preview = executor.preview(kind, identities, params)
    _output.print_json(preview) if json_out else show_.print_plan(preview)


def _parts(
    path: Path | None, datamap: Sequence[Path] | None, connect: list[str] | None, chosen: Settings
) -> tuple[LoadedDeclaration | None, Datamap | None, dict[str, str]]:
    """The declaration at ``path`` (None: none at all), the datamap and the connections."""
    from pledge.cli._common import connections
    from pledge.datamap import load_datamap

    if path is not None:
        return load_parts(path, datamap, connect, chosen, needed_by="this request")
    mapped = load_datamap(list(datamap)) if datamap else None
    return None, mapped, connections(connect, mapped)


def _once(
    kind: RequestKind,
    identities: list[Identity],
    params: dict[str, Any],
    chosen: Settings,
    path: Path | None,
    datamap: Sequence[Path] | None,
    connect: list[str] | None,
    out: Path | None,
    json_out: bool,
) -> None:
    """Run without queueing: a dry run, or no declaration. Audited as the operator's doing."""
    if path is not None:
        with open_system(path, datamap=datamap, connect=connect, chosen=chosen) as system:
            _run_once(kind, identities, params, system.executor, system.audit, out, json_out)
        return
    loaded, mapped, urls = _parts(None, datamap, connect, chosen)
    with open_store(chosen.db_url) as store, _executor(chosen, loaded, mapped, urls) as executor:
        audit = store.open_audit(flush_interval=None)
        _run_once(kind, identities, params, executor, audit, out, json_out)


def _run_once(
    kind: RequestKind,
    identities: list[Identity],
    params: dict[str, Any],
    executor: RequestExecutor,
    audit: AuditLog,
    out: Path | None,
    json_out: bool,
) -> None:
    import tempfile
    import uuid

    from pledge.errors import PledgeError
    from pledge.requests.execute import run_now
    from pledge.requests.sealing import subject_id

    executor.plan(kind, identities, params)  # bad input is refused before anything is audited
    request_id = uuid.uuid4().hex
    subject = subject_id(executor.hash_key or b"", identities)
    base = {"request": request_id, "kind": kind, "by": _operator()}
    audit.append(
        "request.operator_started", {**base, "datasets": sorted(executor.connectors)}, subject=subject
    )
    with tempfile.TemporaryDirectory(prefix="pledge-request-") as workdir, show_.progress(json_out) as bar:

        def on_step(index: int, total: int, step: StepSpec) -> None:
            if bar is not None:
                bar(index, total, step.description or step.name)

        try:
            outcome = run_now(
                executor,
                kind,
                identities,
                params,
                workdir=Path(workdir),
                request_id=request_id,
                on_step=on_step,
            )
        except PledgeError as error:
            audit.append("request.operator_failed", {**base, "error": error.code}, subject=subject)
            raise
        saved = show_.save(kind, outcome, out)
    audit.append("request.operator_completed", {**base, "summary": _summary(kind, outcome)}, subject=subject)
    _conclude(kind, outcome, saved, json_out)


def _summary(kind: str, outcome: dict[str, Any]) -> dict[str, Any]:
    """Counts only: the audit log holds no personal data."""
    summary = outcome["summary"]
    if kind in ("erase", "rectify"):
        verification = summary.get("verification", {})
        return {
            "updated": summary.get("updated", 0),
            "deleted": summary.get("deleted", 0),
            "verified": verification.get("verified"),
            "residual": verification.get("residual_count", 0),
        }
    if kind == "exists":
        return {"found": summary.get("found")}
    if kind in ("access", "portability"):
        return {"rows": sum((summary.get("rows") or {}).values())}
    return {"steps": sorted(outcome["steps"])}


# --- durable requests ------------------------------------------------------------------------------


def _create(
    system: Pledge,
    kind: RequestKind,
    identities: list[Identity],
    params: dict[str, Any],
    *,
    approve: bool,
    jurisdiction: str | None,
) -> RequestRecord:
    """Check everything, then record the request, verified (and approved) by the operator."""
    workflow, operator = system.workflow, _operator()
    try:
        right, declared = workflow.right(kind, jurisdiction), True
    except InputError:
        right, declared = workflow.right(kind, jurisdiction, operator=True), False
    system.planner.plan(kind, identities, params)  # bad input: exit 2 with nothing recorded
    if right.approval and not approve:
        _output.err.print(
            f"the policy requires approval of {right.right.replace('_', ' ')} requests before they run: "
            f"run it again with --approve to approve it as {operator}",
            markup=False,
        )
        raise typer.Exit(_output.EXIT_FINDING)
    record = workflow.create_request(
        kind, identities, jurisdiction=jurisdiction, source="cli", params=params, operator=operator
    )
    if not declared:
        _output.err.print(
            f"note: the policy lists no {right.right} right; recorded without a deadline", markup=False
        )
    if record.requires_approval:
        record = workflow.approve(record.id, operator, "approved with --approve by the operator who ran it")
    _output.err.print(f"request {record.id}", markup=False)
    return record


def _finish(system: Pledge, record: RequestRecord, out: Path | None, json_out: bool) -> None:
    """Run the request to its end here, then report it (exit 1 when it failed or left data)."""
    if record.state not in ("completed", "failed", "rejected"):
        record = _run_here(system, record.id, json_out)
    if record.state == "rejected":
        raise Conflict(f"request {record.id} was rejected: {record.decision_reason or 'no reason given'}")
    if record.state == "failed":
        _output.err.print(f"request {record.id} failed: {record.error}", markup=False)
        raise typer.Exit(_output.EXIT_FINDING)
    from pledge.requests.execute import summarise

    found = system.workflow.request_report(record.id)
    steps = {step["name"]: step["result"] or {} for step in found["steps"]}
    outcome = {
        "request_id": record.id,
        "kind": record.kind,
        "steps": steps,
        "summary": summarise(record.kind, steps),
    }
    saved = show_.save(record.kind, outcome, out)
    _conclude(record.kind, outcome, saved, json_out)


def _run_here(system: Pledge, request_id: str, json_out: bool) -> RequestRecord:
    from pledge.requests import claims

    try:
        with show_.progress(json_out) as bar:
            return system.run_request(request_id, progress=bar)
    except KeyboardInterrupt:
        # Let the next runner take it at once instead of waiting for our lease to run out.
        with system.db.begin() as conn:
            claims.release(conn, request_id, system.runner.owner)
        _output.err.print(
            f"interrupted: request {request_id} stays in the queue; `pledge request resume {request_id}` "
            "finishes it",
            markup=False,
        )
        raise


def _conclude(kind: str, outcome: dict[str, Any], saved: Path | None, json_out: bool) -> None:
    show_.report(kind, outcome, saved, json_out)
    summary = outcome["summary"]
    verification = summary.get("verification", {}) if isinstance(summary, dict) else {}
    if isinstance(verification, dict) and verification.get("verified") is False:
        raise typer.Exit(_output.EXIT_FINDING)


# --- the commands -----------------------------------------------------------------------------------


def _command(kind: RequestKind, doc: str) -> Any:
    def command(
        identity: IdentityOpt,
        datamap: DatamapRequiredOpt,
        connect: ConnectOpt = None,
        config: ConfigOpt = None,
        db: DbOpt = None,
        out: OutOpt = None,
        plan: PlanOpt = False,
        json_out: JsonOpt = False,
        skip_unreachable: SkipOpt = False,
        approve: ApproveOpt = False,
        jurisdiction: JurisdictionOpt = None,
    ) -> None:
        params = {"skip_unreachable": skip_unreachable}
        _run(kind, identity, datamap, connect, config, db, out, plan, json_out, params,
             approve=approve, jurisdiction=jurisdiction)  # fmt: skip

    command.__doc__ = doc
    return command


def erase(
    identity: IdentityOpt,
    datamap: DatamapRequiredOpt,
    connect: ConnectOpt = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
    out: OutOpt = None,
    plan: PlanOpt = False,
    json_out: JsonOpt = False,
    skip_unreachable: SkipOpt = False,
    category: Annotated[
        list[str] | None, typer.Option("--category", help="erase only these categories")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="read and report; change nothing (no request is recorded)")
    ] = False,
    approve: ApproveOpt = False,
    jurisdiction: JurisdictionOpt = None,
) -> None:
    """Erase the person's data by the declared strategies, keep what the law holds, then verify."""
    params: dict[str, Any] = {"skip_unreachable": skip_unreachable, "dry_run": dry_run}
    if category:
        params["categories"] = category
    _run("erase", identity, datamap, connect, config, db, out, plan, json_out, params,
         approve=approve, jurisdiction=jurisdiction)  # fmt: skip


def rectify(
    identity: IdentityOpt,
    datamap: DatamapRequiredOpt,
    set_: Annotated[
        list[str], typer.Option("--set", help="CATEGORY=VALUE, e.g. user.contact.email=new@example.com")
    ],
    connect: ConnectOpt = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
    out: OutOpt = None,
    plan: PlanOpt = False,
    json_out: JsonOpt = False,
    skip_unreachable: SkipOpt = False,
    approve: ApproveOpt = False,
    jurisdiction: JurisdictionOpt = None,
) -> None:
    """Set a category to a corrected value wherever the datamap maps it (checked first)."""
    assignments: dict[str, str] = {}
    for item in set_:
        category, sep, value = item.partition("=")
        if not sep or not category.strip():
            raise typer.Exit(
                _output.report_error(InputError(f"--set {category[:40]!r}: expected CATEGORY=VALUE"))
            )
        assignments[category.strip()] = value
    params = {"set": assignments, "skip_unreachable": skip_unreachable}
    _run("rectify", identity, datamap, connect, config, db, out, plan, json_out, params,
         approve=approve, jurisdiction=jurisdiction)  # fmt: skip


def _right(kind: RequestKind, doc: str) -> Any:
    def command(
        identity: IdentityOpt,
        config: ConfigOpt = None,
        db: DbOpt = None,
        datamap: DatamapOpt = None,
        connect: ConnectOpt = None,
        purpose: Annotated[
            list[str] | None, typer.Option("--purpose", "-p", help="purpose ids (default: all)")
        ] = None,
        out: OutOpt = None,
        plan: PlanOpt = False,
        json_out: JsonOpt = False,
        approve: ApproveOpt = False,
        jurisdiction: JurisdictionOpt = None,
    ) -> None:
        params: dict[str, Any] = {"purposes": purpose} if purpose else {}
        _run(kind, identity, datamap, connect, config, db, out, plan, json_out, params,
             approve=approve, jurisdiction=jurisdiction)  # fmt: skip

    command.__doc__ = doc
    return command


def list_(
    config: ConfigOpt = None,
    db: DbOpt = None,
    state: Annotated[
        list[str] | None,
        typer.Option("--state", help="received, verified, approved, running, ... (repeatable)"),
    ] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="exists, access, erase, ...")] = None,
    deadline: Annotated[
        str | None, typer.Option("--deadline", help="overdue, due_this_week, fine, no_deadline or closed")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="at most this many")] = 50,
    json_out: JsonOpt = False,
) -> None:
    """The request queue: open requests first, the nearest deadline first."""
    with reported(), open_system(config, db, needed_by="the request queue", migrate=False) as system:
        found = system.workflow.list_requests(
            state=state or None,
            kind=kind,
            deadline=deadline,  # type: ignore[arg-type]  # checked by the workflow
            limit=limit,
        )
        show_.print_listed(found, json_out)


def show(
    request_id: Annotated[str, typer.Argument(metavar="ID", help="the request's id")],
    config: ConfigOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """One request: its state, deadline, who verified and approved it, its steps and results."""
    with reported(), open_system(config, db, needed_by="the request queue", migrate=False) as system:
        show_.print_report(system.workflow.request_report(request_id), json_out)


def resume(
    request_id: Annotated[str, typer.Argument(metavar="ID", help="the request's id")],
    datamap: DatamapOpt = None,
    connect: ConnectOpt = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
    out: OutOpt = None,
    json_out: JsonOpt = False,
    approve: ApproveOpt = False,
) -> None:
    """Finish a request that was interrupted (or run one that waits for approval, with --approve;
    or again one that failed). Finished steps are not done again."""
    with reported(), open_system(config, db, datamap, connect, needed_by="a request") as system:
        workflow, operator = system.workflow, _operator()
        record = workflow.get_request(request_id)
        if record.kind not in _RIGHTS and not record.closed and not system.datamap.datasets:
            # Planned without the datamap, the request would fail for good: refuse instead.
            raise InputError(
                f"request {record.id} ({record.kind}) reads the business's databases",
                hint="pass the same --datamap and --connect it was started with",
            )
        if record.state == "failed":
            record = workflow.retry(record.id, operator, "resumed from the command line")
        elif record.state == "verified" and record.requires_approval:
            if not approve:
                raise Conflict(
                    f"request {record.id} waits for approval", hint="pass --approve to approve it yourself"
                )
            record = workflow.approve(record.id, operator, "approved with --approve on resume")
        _finish(system, record, out, json_out)


request_app.command("exists")(
    _command("exists", "Say whether data about the person is held, and where (no values).")
)
request_app.command("access")(
    _command("access", "Collect everything about the person into a portable archive.")
)
request_app.command("portability")(
    _command("portability", "The access archive, for moving to another service.")
)
request_app.command("erase")(erase)
request_app.command("rectify")(rectify)
request_app.command("restrict")(
    _right("restrict", "Record a restriction of processing in the consent ledger.")
)
request_app.command("object")(_right("object", "Record an objection to processing in the consent ledger."))
request_app.command("withdraw")(_right("withdraw", "Record a withdrawal of consent in the consent ledger."))
request_app.command("list")(list_)
request_app.command("show")(show)
request_app.command("resume")(resume)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.add_typer(request_app)
