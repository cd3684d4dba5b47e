"""``pledge retention run|plan`` and ``pledge minors purge``: the retention sweep from a terminal.

``run`` checks everything first (the declaration, the datamap and its retention clocks, every
database, every table and column), then sweeps with a progress bar on a terminal and prints what
it did per rule and collection: rows whose period ended, deleted, anonymised, kept (and the law
that keeps them). ``--dry-run`` (or ``plan``) does the same work over an in-memory write layer and
changes nothing. A run interrupted half-way resumes where it stopped on the next run.

Exit codes: 0 done; 1 a sweep failed (a database error, something left that should be gone, a
sweep already running); 2 bad input (an unknown or unbound rule, a bad --now, a bad datamap).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pledge.cli import _output
from pledge.errors import InputError, PledgeError

if TYPE_CHECKING:
    from pledge.audit.log import AuditLog
    from pledge.config import Settings
    from pledge.connectors.base import Connector
    from pledge.datamap.model import Datamap
    from pledge.declaration.load import LoadedDeclaration
    from pledge.retention.logfiles import LogSweep
    from pledge.retention.sweep import SweepReport
    from pledge.storage.db import Database

retention_app = typer.Typer(
    name="retention",
    help="Sweep data past its declared retention (databases and server-log files).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
minors_app = typer.Typer(
    name="minors",
    help="Purge the data of people found under the declared minimum age.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="the privacy.yaml (default: PLEDGE_DECLARATION)")
]
DatamapOpt = Annotated[
    list[Path] | None,
    typer.Option("--datamap", "-d", help="Fides dataset YAML (file or folder), with its clocks"),
]
ConnectOpt = Annotated[
    list[str] | None, typer.Option("--connect", "-c", help="KEY=URL: the database of dataset KEY")
]
DbOpt = Annotated[str | None, typer.Option("--db", help="Pledge's database URL (default: PLEDGE_DB_URL)")]
NowOpt = Annotated[
    str | None, typer.Option("--now", help="measure periods at this ISO 8601 time (default: now, UTC)")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]
DryOpt = Annotated[bool, typer.Option("--dry-run", help="show what would happen; change nothing")]
RuleOpt = Annotated[
    list[str] | None, typer.Option("--rule", "-r", help="only this retention rule (repeatable)")
]
BatchOpt = Annotated[int, typer.Option("--batch", min=1, max=100_000, help="rows per batch and checkpoint")]
RawOpt = Annotated[
    list[Path] | None,
    typer.Option("--raw-logs", help="folder of raw access logs (server_logs.raw_retention)"),
]
AnonOpt = Annotated[
    list[Path] | None,
    typer.Option("--anonymised-logs", help="folder of anonymised logs (server_logs.anonymised_retention)"),
]


@contextmanager
def _reported() -> Iterator[None]:
    try:
        yield
    except PledgeError as error:
        raise typer.Exit(_output.report_error(error)) from None


@dataclass
class _Setup:
    settings: Settings
    loaded: LoadedDeclaration
    datamap: Datamap | None
    connectors: dict[str, Connector]


def _connections(items: list[str] | None, datasets: list[str]) -> dict[str, str]:
    from pledge.connectors import parse_connect

    urls = parse_connect(items or [])
    for key in datasets:  # the edge may read the environment; the core never does
        env = "PLEDGE_CONNECT_" + re.sub(r"[^A-Za-z0-9]", "_", key).upper()
        if key not in urls and os.environ.get(env):
            urls[key] = os.environ[env]
    return urls


@contextmanager
def _setup(
    config: Path | None, datamaps: list[Path] | None, connect: list[str] | None, db: str | None
) -> Iterator[_Setup]:
    from pledge.config import Settings
    from pledge.connectors import open_connectors
    from pledge.datamap import load_datamap
    from pledge.declaration import load_declaration

    settings = Settings.from_env(db_url=db).with_secrets()
    path = config or settings.declaration
    if path is None:
        raise InputError("no declaration given", hint="pass --config privacy.yaml or set PLEDGE_DECLARATION")
    loaded = load_declaration(path / "privacy.yaml" if path.is_dir() else path)
    datamap = load_datamap(datamaps, declaration=loaded) if datamaps else None
    if datamap is None and connect:
        raise InputError("--connect without --datamap", hint="the datamap says which database holds what")
    keys = [d.fides_key for d in datamap.datasets] if datamap else []
    connectors = open_connectors(_connections(connect, keys), keys) if datamap else {}
    with ExitStack() as stack:
        for connector in connectors.values():
            stack.callback(connector.close)
        yield _Setup(settings, loaded, datamap, connectors)


@contextmanager
def _storage(settings: Settings) -> Iterator[tuple[Database, AuditLog]]:
    from pledge.audit.log import AuditLog
    from pledge.storage.db import Database

    if settings.db_url.startswith("sqlite:///"):
        Path(settings.db_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    database = Database(settings.db_url)
    audit: AuditLog | None = None
    try:
        database.migrate()
        audit = AuditLog.from_settings(settings, database, flush_interval=None)
        yield database, audit
    finally:
        if audit is not None:
            audit.close()
        database.dispose()


@contextmanager
def _progress(enabled: bool, totals: dict[str, int]) -> Iterator[Any]:
    if not enabled or not _output.err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_output.err,
        transient=True,
    ) as bar:
        task = bar.add_task("sweeping", total=sum(totals.values()) or None)

        def advance(unit: str, rows: int) -> None:
            bar.update(task, advance=rows, description=unit[:60])

        yield advance


def _cell(value: Any) -> str:
    from rich.markup import escape

    return escape(str(value)) if value not in (None, "") else ""


def _print_sweep(report: SweepReport) -> None:
    from rich.table import Table

    data = report.as_dict()
    title = "Retention dry run (nothing was changed)" if report.dry_run else f"Retention run {report.run_id}"
    if report.resumed:
        title += " (resumed)"
    table = Table(title=f"{title} at {report.now:%Y-%m-%d %H:%M:%S}Z", title_justify="left")
    for name in ("rule", "collection", "ended", "deleted", "anonymised", "kept", "action"):
        table.add_column(name, justify="right" if name in ("ended", "deleted", "anonymised") else "left")
    laws: dict[str, str] = {}
    for u in data["units"]:
        kept = [f"{k['rows']} ({k['hold']})" for k in u["kept"]]
        kept += [f"{n['rows']} (rule {n['rule']})" for n in u["needed"]]
        if u["blocked"]:
            kept.append(f"{u['blocked']} still referenced: emptied")
        for k in u["kept"]:
            laws[k["hold"]] = f"{k['law']}, until {k['until']}"
        cells = [f"{u['rule']} ({u['period']})", u["collection"], u["matched"], u["deleted"], u["updated"],
                 "; ".join(kept), u["strategy"]]  # fmt: skip
        table.add_row(*(str(c) if isinstance(c, int) else _cell(c) for c in cells))
    _output.out.print(table)
    for rule in data["rules"]:
        swept = [u for u in data["units"] if u["rule"] == rule["rule"]]
        if swept:
            clocks = "; ".join(f"{u['collection']}: {u['clock']}" for u in swept)
            why = f" {rule['reason']}" if rule["reason"] else ""
            _output.out.print(f"{_cell(rule['rule'])}: from {_cell(clocks)}.{_cell(why)}")
        elif rule["status"] == "indefinite":
            where = ", ".join(rule["collections"]) or "no datamapped collection"
            _output.out.print(f"{_cell(rule['rule'])}: kept indefinitely, never swept ({_cell(where)})")
        elif rule["status"] == "not_stored":
            _output.out.print(f"{_cell(rule['rule'])}: none of its data is in these databases")
    for hold, law in sorted(laws.items()):
        _output.out.print(f"kept by {_cell(hold)}: {_cell(law)}")
    for warning in data["warnings"]:
        _output.err.print(f"[yellow]warning[/yellow]: {_cell(warning)}")
    if report.residual:
        _output.err.print(
            f"[red]error[/red]: {report.residual} row(s) still hold data the sweep should have erased"
        )


def _print_logs(report: LogSweep) -> None:
    from rich.table import Table

    if not report.files and not report.warnings:
        return
    table = Table(title="Server-log files", title_justify="left")
    for name in ("file", "kind", "newest line", "by", "action"):
        table.add_column(name)
    for f in report.files:
        action = "delete" if f.expired else "keep"
        if f.deleted:
            action = "deleted"
        if f.error:
            action = f"failed: {f.error}"
        newest = f"{f.newest:%Y-%m-%d %H:%M}" if f.newest else "?"
        table.add_row(_cell(f.path), f.kind, newest, f.basis, _cell(action))
    _output.out.print(table)
    for warning in report.warnings:
        _output.err.print(f"[yellow]warning[/yellow]: {_cell(warning)}")


def _sweep(
    *,
    dry_run: bool,
    json_out: bool,
    config: Path | None,
    datamap: list[Path] | None,
    connect: list[str] | None,
    rule: list[str] | None,
    now: str | None,
    db: str | None,
    batch: int,
    raw_logs: list[Path] | None,
    anonymised_logs: list[Path] | None,
) -> None:
    from pledge.retention import count_candidates, parse_now, prepare_plan, run_sweep
    from pledge.retention.logfiles import sweep_log_files
    from pledge.retention.store import SweepStore

    when = parse_now(now)  # bad --now fails before anything is opened
    if not datamap and not raw_logs and not anonymised_logs:
        raise InputError(
            "nothing to sweep", hint="pass --datamap PATH (and --connect KEY=URL), and/or --raw-logs FOLDER"
        )
    if rule and not datamap:
        raise InputError(
            "--rule needs --datamap", hint="rules are swept in the databases the datamap describes"
        )
    with _setup(config, datamap, connect, db) as setup:
        keys = setup.settings.keys
        plan = (
            prepare_plan(setup.loaded, setup.datamap, setup.connectors, rules=rule, hash_key=keys.hash_key)
            if setup.datamap is not None
            else None
        )
        server_logs = setup.loaded.declaration.server_logs
        if (raw_logs or anonymised_logs) and server_logs is None:
            sweep_log_files(
                None, raw=raw_logs or [], anonymised=anonymised_logs or [], now=when, dry_run=True
            )
        output: dict[str, Any] = {}
        failed = False
        with ExitStack() as stack:
            store = audit = None
            if not dry_run:
                database, audit = stack.enter_context(_storage(setup.settings))
                store = SweepStore(database)
            if plan is not None:
                totals = count_candidates(plan, setup.connectors, when) if not json_out else {}
                with _progress(not json_out, totals) as progress:
                    report = run_sweep(
                        plan,
                        setup.connectors,
                        now=when,
                        dry_run=dry_run,
                        store=store,
                        audit=audit,
                        hash_key=keys.hash_key,
                        batch_size=batch,
                        explicit_now=now is not None,
                        progress=progress,
                    )
                output["sweep"] = report.as_dict()
                failed |= not report.ok
                if not json_out:
                    _print_sweep(report)
            if raw_logs or anonymised_logs:
                logs = sweep_log_files(
                    server_logs,
                    raw=raw_logs or [],
                    anonymised=anonymised_logs or [],
                    now=when,
                    dry_run=dry_run,
                    audit=audit,
                )
                output["logs"] = logs.as_dict()
                failed |= bool(logs.failed)
                if not json_out:
                    _print_logs(logs)
        if json_out:
            _output.print_json(output)
        if failed:
            raise typer.Exit(_output.EXIT_FINDING)


@retention_app.command("run")
def run(
    dry_run: DryOpt = False,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
    datamap: DatamapOpt = None,
    connect: ConnectOpt = None,
    rule: RuleOpt = None,
    now: NowOpt = None,
    db: DbOpt = None,
    batch: BatchOpt = 500,
    raw_logs: RawOpt = None,
    anonymised_logs: AnonOpt = None,
) -> None:
    """Delete or anonymise what has outlived its declared retention (resumes an interrupted run)."""
    with _reported():
        _sweep(
            dry_run=dry_run, json_out=json_out, config=config, datamap=datamap, connect=connect, rule=rule,
            now=now, db=db, batch=batch, raw_logs=raw_logs, anonymised_logs=anonymised_logs,
        )  # fmt: skip


@retention_app.command("plan")
def plan(
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
    datamap: DatamapOpt = None,
    connect: ConnectOpt = None,
    rule: RuleOpt = None,
    now: NowOpt = None,
    batch: BatchOpt = 500,
    raw_logs: RawOpt = None,
    anonymised_logs: AnonOpt = None,
) -> None:
    """What a run would do now, row counts included (the same as run --dry-run)."""
    with _reported():
        _sweep(
            dry_run=True, json_out=json_out, config=config, datamap=datamap, connect=connect, rule=rule,
            now=now, db=None, batch=batch, raw_logs=raw_logs, anonymised_logs=anonymised_logs,
        )  # fmt: skip


@minors_app.command("purge")
def purge(
    identity: Annotated[
        list[str] | None,
        typer.Option(
            "--identity", "-i", help="a reported minor: KIND=VALUE (repeat for one person's identities)"
        ),
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="why the operator reports them")] = None,
    birth_dates: Annotated[
        bool, typer.Option("--birth-dates/--no-birth-dates", help="find minors by mapped birth dates")
    ] = True,
    ledger: Annotated[
        bool, typer.Option("--ledger/--no-ledger", help="purge subjects the consent ledger flagged")
    ] = True,
    dry_run: DryOpt = False,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
    datamap: DatamapOpt = None,
    connect: ConnectOpt = None,
    now: NowOpt = None,
    db: DbOpt = None,
) -> None:
    """Purge the data of minors (birth dates, the consent ledger's flags, or --identity), except
    what the law keeps; each purge is audited with the declared minimum age and its reason."""
    with _reported():
        _purge(identity, reason, birth_dates, ledger, dry_run, json_out, config, datamap, connect, now, db)


def _purge(
    identity: list[str] | None,
    reason: str | None,
    birth_dates: bool,
    use_ledger: bool,
    dry_run: bool,
    json_out: bool,
    config: Path | None,
    datamap: list[Path] | None,
    connect: list[str] | None,
    now: str | None,
    db: str | None,
) -> None:
    from pledge.requests.execute import RequestExecutor
    from pledge.requests.steps import Identity
    from pledge.retention import parse_now
    from pledge.retention.minors import find_by_birth_date, purge_minors, purged_subjects, reported_minor

    when = parse_now(now)
    if not datamap:
        raise InputError(
            "minors purge needs --datamap (and --connect)", hint="their data is found through it"
        )
    reported: list[Identity] = []
    for item in identity or []:
        kind, sep, value = item.partition("=")
        if not sep or not kind.strip() or not value:
            raise InputError(f"--identity {kind[:40]!r}: expected KIND=VALUE")
        reported.append(Identity(kind.strip(), value))
    with _setup(config, datamap, connect, db) as setup, ExitStack() as stack:
        decl = setup.loaded.declaration
        rule = decl.minimum_age
        if rule is None or rule.on_detection != "purge":
            raise InputError(
                "the declaration does not say minors are purged"
                + (f" (minimum_age.on_detection is '{rule.on_detection}')" if rule else " (no minimum_age)"),
                hint="set minimum_age: {age: N, on_detection: purge}",
            )
        assert setup.datamap is not None
        hash_key = setup.settings.keys.hash_key
        executor = RequestExecutor(
            setup.datamap, setup.connectors, declaration=setup.loaded, hash_key=hash_key
        )
        database = audit = None
        if not dry_run or use_ledger:
            database, audit = stack.enter_context(_storage(setup.settings))
        found = []
        if reported:
            found.append(reported_minor(reported, hash_key=hash_key, reason=reason))
        if birth_dates:
            found.extend(
                find_by_birth_date(
                    setup.datamap, setup.connectors, minimum_age=rule.age, now=when, hash_key=hash_key
                )
            )
        not_found: list[str] = []
        if use_ledger and database is not None and audit is not None:
            from pledge.consent import ConsentLedger
            from pledge.policy import compile_policy
            from pledge.retention.minors import find_flagged

            consent = ConsentLedger(database, compile_policy(setup.loaded), audit, hash_key=hash_key)
            flagged, not_found = find_flagged(
                consent, setup.datamap, setup.connectors, skip=set(purged_subjects(database))
            )
            found.extend(flagged)
        report = purge_minors(
            found, executor, decl, db=database, audit=audit, now=when, dry_run=dry_run,
        )  # fmt: skip
        report.not_found = not_found
        if json_out:
            _output.print_json(report.as_dict())
        else:
            verb = "would purge" if dry_run else "purged"
            for s in report.subjects:
                kept = "; ".join(
                    f"{k['collection']}.{k['field']} kept ({k['law']})" for k in s.get("kept", [])
                )
                line = f"{s['subject']} ({s['detected_by']}): {s['status']}"
                if s["status"] in ("purged", "dry_run"):
                    line += f", {verb} {s['deleted']} deleted / {s['updated']} emptied row(s)"
                if kept:
                    line += f"; {kept}"
                if s.get("error"):
                    line += f": {s['error']}"
                _output.out.print(line, markup=False)
            if not report.subjects:
                _output.out.print(f"no one under {rule.age} was found", markup=False)
            for subject in not_found:
                _output.out.print(
                    f"{subject} (consent_ledger): flagged, but found in none of these databases", markup=False
                )
        if report.failed:
            raise typer.Exit(_output.EXIT_FINDING)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.add_typer(retention_app, name="retention")
    app.add_typer(minors_app, name="minors")
