"""``pledge logs ingest|stats|budget``: anonymise server logs and release shareable statistics."""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pledge.cli import _output
from pledge.errors import InputError, PledgeError

if TYPE_CHECKING:
    from pledge.logs.rules import LogRules, StatsRules

logs_app = typer.Typer(
    help="Anonymise server logs and release statistics that are safe to share.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


class LogFormatChoice(StrEnum):
    auto = "auto"
    combined = "combined"
    common = "common"


class ModeChoice(StrEnum):
    suppress = "suppress"
    dp = "dp"


@contextlib.contextmanager
def _reported() -> Iterator[None]:
    try:
        yield
    except PledgeError as error:
        raise typer.Exit(_output.report_error(error)) from None


def _rules(config: Path | None, *, need_logs: bool) -> tuple[LogRules, StatsRules, str | None]:
    """Rules from ``--config`` (or PLEDGE_DECLARATION); the declaration's defaults without one."""
    from pledge.config import Settings
    from pledge.logs.rules import LogRules, StatsRules, rules_from_declaration

    path = config or Settings.from_env().declaration
    if path is None:
        return LogRules(), StatsRules(), None
    from pledge.declaration import load_declaration

    loaded = load_declaration(path / "privacy.yaml" if path.is_dir() else path)
    if need_logs and loaded.declaration.server_logs is None:
        raise InputError(
            f"{loaded.path}: the declaration has no server_logs section (it says no server logs are kept)",
            hint="declare server_logs (ip, geolocation, user_agent, raw_retention...) before ingesting logs",
        )
    log_rules, stats_rules = rules_from_declaration(loaded.declaration)
    return log_rules, stats_rules, loaded.path


def _hash_key(rules: LogRules) -> bytes | None:
    if rules.ip != "hash":
        return None
    from pledge.config import Settings

    return Settings.from_env().with_secrets().keys.hash_key


@contextlib.contextmanager
def _progress(enabled: bool, label: str) -> Iterator[Callable[[int, int | None], None] | None]:
    """A rich progress bar in bytes on standard error, when it is a terminal."""
    if not (enabled and _output.err.is_terminal):
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    with Progress(
        "[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        TimeRemainingColumn(), console=_output.err, transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task(label, total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _database(url: str | None) -> Any:
    import sqlalchemy as sa

    from pledge.config import Settings
    from pledge.storage import Database

    settings = Settings.from_env(db_url=url)
    try:
        parsed = sa.make_url(settings.db_url)
    except sa.exc.ArgumentError:
        parsed = None
    if (
        parsed is not None
        and parsed.get_backend_name() == "sqlite"
        and parsed.database not in (None, "", ":memory:")
    ):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    database = Database(settings.db_url)
    database.migrate()
    return database


@logs_app.command("ingest")
def ingest_command(
    files: Annotated[list[str], typer.Argument(help="access logs, plain or gzip; - for standard input")],
    log_format: Annotated[
        LogFormatChoice, typer.Option("--format", help="line format")
    ] = LogFormatChoice.auto,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="anonymised log to write (.jsonl: JSON lines, .gz: gzip); default stdout"
        ),
    ] = None,
    stats: Annotated[
        Path | None, typer.Option("--stats", help="also write a statistics release (JSON) here")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="privacy.yaml with server_logs rules")
    ] = None,
    jobs: Annotated[
        int, typer.Option("--jobs", help="worker processes for large plain files (0: one per core)")
    ] = 0,
    db: Annotated[
        str | None, typer.Option("--db", help="database for the DP budget (--stats in DP mode)")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="print a JSON report (the log then needs --out)")
    ] = False,
) -> None:
    """Anonymise access logs per the declaration: truncate or hash IPs, keep only the country,
    parse user agents, remove e-mail addresses, tokens and other identifiers. Malformed lines are
    counted and skipped; bad input changes nothing."""
    with _reported():
        from pledge.logs import ingest

        log_rules, stats_rules, declared = _rules(config, need_logs=True)
        output_format = (
            "jsonl"
            if out is not None and out.name.removesuffix(".gz").endswith((".jsonl", ".ndjson"))
            else "log"
        )
        if json_out and out is None and stats is None:
            raise InputError(
                "--json prints a report on standard output", hint="write the log with --out FILE"
            )
        target = out
        spool: Path | None = None
        if out is None and stats is not None:  # statistics are read back from the anonymised file
            spool = Path(tempfile.mkdtemp(prefix="pledge-ingest-")) / "anonymised.log"
            target = spool
        try:
            with _progress(True, "anonymising") as progress:
                report = ingest(
                    files, rules=log_rules, hash_key=_hash_key(log_rules), log_format=log_format.value,
                    out=target, output_format=output_format, jobs=jobs, progress=progress,  # type: ignore[arg-type]
                )  # fmt: skip
            result = report.as_dict()
            result["config"] = declared
            if stats is not None:
                result["stats"] = _ingest_stats(target, stats, log_rules, stats_rules, db)  # type: ignore[arg-type]
            if spool is not None and not json_out:
                with open(spool, "rb") as handle:
                    shutil.copyfileobj(handle, sys.stdout.buffer)
                sys.stdout.buffer.flush()
        finally:
            if spool is not None:
                shutil.rmtree(spool.parent, ignore_errors=True)
        if json_out:
            _output.print_json(result)
            return
        console = _output.out if out is not None else _output.err
        _summarise(result, console)


def _ingest_stats(
    anonymised: Path, target: Path, log_rules: LogRules, stats_rules: StatsRules, db: str | None
) -> str:
    from pledge.logs.export import release_json
    from pledge.logs.output import atomic_output
    from pledge.logs.stats import compute_statistics

    ledger = None
    if stats_rules.mode != "suppress":
        from pledge.logs.ledger import BudgetLedger

        ledger = BudgetLedger(_database(db))
    try:
        release = compute_statistics(
            [str(anonymised)], log_rules=log_rules, stats_rules=stats_rules, ledger=ledger
        )
    finally:
        if ledger is not None:
            ledger.db.dispose()
    with atomic_output(target, compress=False) as handle:
        handle.write(json.dumps(release_json(release), indent=2, ensure_ascii=False).encode() + b"\n")
    return str(target)


def _summarise(result: dict[str, Any], console: Any) -> None:
    from rich.markup import escape

    rate = result.get("lines_per_second")
    where = result["output"] or "standard output"
    console.print(
        f"anonymised {result['written']:,} of {result['lines']:,} lines into {escape(str(where))} "
        f"in {result['seconds']:.1f} s" + (f" ({rate:,} lines/s)" if rate else "")
    )
    if result["malformed"]:
        first = ", ".join(result["malformed_at"])
        console.print(f"skipped {result['malformed']:,} malformed line(s), first at {escape(first)}")
    for warning in result["warnings"]:
        console.print(f"[yellow]warning[/yellow]: {escape(warning)}")
    if result.get("stats"):
        console.print(f"statistics written to {escape(result['stats'])}")


@logs_app.command("stats")
def stats_command(
    files: Annotated[
        list[str], typer.Argument(help="anonymised logs (from ingest; log or JSON lines), - for stdin")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="directory for statistics.json, CSV and charts")
    ] = None,
    mode: Annotated[
        ModeChoice | None, typer.Option("--mode", help="default: the declaration's statistics mode")
    ] = None,
    epsilon: Annotated[
        float | None, typer.Option("--epsilon", help="DP: epsilon this release spends")
    ] = None,
    tables: Annotated[
        str | None, typer.Option("--tables", help="comma-separated tables (default: all)")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="privacy.yaml with statistics rules")
    ] = None,
    db: Annotated[str | None, typer.Option("--db", help="database holding the DP budget ledger")] = None,
    charts: Annotated[bool, typer.Option("--charts/--no-charts", help="draw PNG and SVG charts")] = True,
    json_out: Annotated[bool, typer.Option("--json", help="print the release as JSON")] = False,
) -> None:
    """Release statistics safe to share: cells under the minimum group size suppressed and rolled
    up, or differential privacy (OpenDP) charged to the persisted privacy budget."""
    with _reported():
        from pledge.logs.export import release_json, write_release
        from pledge.logs.stats import compute_statistics

        log_rules, stats_rules, _declared = _rules(config, need_logs=False)
        chosen = mode.value if mode else None
        if (
            epsilon is not None
            and (chosen or ("suppress" if stats_rules.mode == "suppress" else "dp")) != "dp"
        ):
            raise InputError("--epsilon applies to differential privacy", hint="add --mode dp")
        ledger = None
        if chosen == "dp" or (chosen is None and stats_rules.mode != "suppress"):
            from pledge.logs.ledger import BudgetLedger

            if stats_rules.epsilon is None:  # before any database is created: bad input changes nothing
                raise InputError(
                    "differential privacy needs a privacy budget",
                    hint="declare statistics.privacy_budget in privacy.yaml and pass it with --config",
                )
            ledger = BudgetLedger(_database(db))
        names = [t.strip() for t in tables.split(",") if t.strip()] if tables else None
        try:
            release = compute_statistics(
                files, log_rules=log_rules, stats_rules=stats_rules, hash_key=_hash_key(log_rules),
                mode=chosen, epsilon=epsilon, tables=names, ledger=ledger,  # type: ignore[arg-type]
            )  # fmt: skip
        finally:
            if ledger is not None:
                ledger.db.dispose()
        written = write_release(release, out, charts=charts) if out is not None else []
        if json_out or out is None:
            _output.print_json(release_json(release))
            return
        _output.out.print(
            f"{release.mode} release of {len(release.tables)} table(s) written to {out}: {len(written)} files"
        )
        for note in release.notes:
            _output.out.print(f"note: {note}")


@logs_app.command("budget")
def budget_command(
    config: Annotated[
        Path | None, typer.Option("--config", help="privacy.yaml with the privacy budget")
    ] = None,
    db: Annotated[str | None, typer.Option("--db", help="database holding the ledger")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Show the differential-privacy releases made so far and what they spent."""
    with _reported():
        from pledge.logs.ledger import BudgetLedger

        _log_rules, stats_rules, _declared = _rules(config, need_logs=False)
        database = _database(db)
        try:
            found = BudgetLedger(database).releases(stats_rules.scope)
        finally:
            database.dispose()
        if json_out:
            _output.print_json(
                {"scope": stats_rules.scope, "epsilon_per_period": stats_rules.epsilon, "releases": found}
            )
            return
        if not found:
            _output.out.print("no differentially private release yet")
        for row in found:
            _output.out.print(
                f"{row['created_at']}  epsilon {row['epsilon']:g}  delta {row['delta']:g}  "
                f"{row['mechanism']}  periods {', '.join(row['periods'])}  {row['id']}"
            )


def register(app: typer.Typer) -> None:
    """Add ``pledge logs ...`` to the root app."""
    app.add_typer(logs_app, name="logs")
