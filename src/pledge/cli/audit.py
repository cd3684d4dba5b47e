"""``pledge audit verify|prove|head|consistency|key``: check the audit log and hand out proofs.

Thin: parse, call ``pledge.audit``, print. Exit codes: 0 the log verifies (or the command did its
job), 1 a finding (tampered, removed, inserted, reordered, truncated, bad signature), 2 bad input.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from pledge.cli import _output
from pledge.cli._common import DbOpt, JsonOpt, open_store, reported
from pledge.cli._common import settings as env_settings
from pledge.errors import InputError

if TYPE_CHECKING:
    from pledge.audit.log import AuditLog
    from pledge.audit.signing import HeadSigner
    from pledge.config import Settings
    from pledge.storage import Database

audit_app = typer.Typer(
    name="audit",
    help="Verify the tamper-evident audit log and produce proofs a third party can check.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

KeyOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--public-key",
        help="trusted public key: a PEM file, or 64 hex digits (repeat for old keys); "
        "default: the key in the data directory",
    ),
]


@contextmanager
def _database(db_url: str | None) -> Iterator[tuple[Settings, Database]]:
    """Pledge's database as it is: never created, never migrated (verifying changes nothing)."""
    with open_store(db_url, migrate=False, create=False) as store:
        if not store.has_table("audit_entries"):
            raise InputError(
                "this database has no audit log",
                hint="check --db; `pledge` commands that write (e.g. consent) create it",
            )
        yield store.settings, store.db


def _signer(settings: Settings, *, create: bool) -> HeadSigner | None:
    from pledge.audit.signing import load_or_create_signer, load_signer, signing_key_path

    path = signing_key_path(settings)
    if create:
        return load_or_create_signer(path)
    return load_signer(path) if path.exists() else None


def _log(settings: Settings, database: Database, *, sign: bool) -> AuditLog:
    from pledge.audit.log import AuditLog

    return AuditLog(database, signer=_signer(settings, create=sign), sign_every=None, flush_interval=None)


def _trusted_keys(values: list[str] | None, settings: Settings) -> list[Any]:
    keys: list[Any] = []
    for value in values or ():
        path = Path(value)
        if len(value) == 64 and all(c in "0123456789abcdefABCDEF" for c in value):
            keys.append(value)
        elif path.is_file():
            keys.append(path.read_text(encoding="utf-8", errors="replace"))
        else:
            raise InputError(f"--public-key {value!r:.80}: not a file and not 64 hex digits")
    if not keys:
        signer = _signer(settings, create=False)
        if signer is not None:
            keys.append(signer.public_key)
    return keys


def verify(db: DbOpt = None, json_out: JsonOpt = False, public_key: KeyOpt = None) -> None:
    """Replay the whole log; exit 1 naming the first tampered, removed, inserted or reordered entry."""
    from pledge.audit.signing import public_keys
    from pledge.audit.verification import verify as run_verify

    with reported(), _database(db) as (settings, database):
        keys = public_keys(_trusted_keys(public_key, settings))
        with _progress(enabled=not json_out) as progress:
            report = run_verify(database, list(keys.values()) or None, progress=progress)
    if json_out:
        _output.print_json(report.to_dict())
    elif report.ok:
        head = report.latest_head
        signed = (
            f"latest signed head: {head.tree_size:,} entries at {head.signed_at}"
            if head
            else "no signed head yet"
        )
        _output.out.print(
            f"ok: {report.size:,} entries verified, {report.heads} signed head(s) checked ({signed}); "
            f"root {report.root.hex() if report.root else '-'} ({report.seconds:.2f} s)"
        )
    else:
        first = report.findings[0]
        where = f"entry {first.index}" if first.index is not None else "log"
        _output.err.print(f"[red]FAILED[/red] {where}: {first.reason}: {escape(first.message)}")
        for finding in report.findings[1:]:
            _output.err.print(f"  also: {finding.reason}: {escape(finding.message)}")
    for note in report.notes:
        _output.err.print(f"[yellow]note[/yellow]: {escape(note)}")
    if not report.ok:
        raise typer.Exit(_output.EXIT_FINDING)


def prove(
    index: Annotated[int, typer.Argument(metavar="ID", help="the entry's index in the log (from 0)")],
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Print an inclusion proof of entry ID against the latest signed head (docs/audit-proofs.md)."""
    with reported(), _database(db) as (settings, database):
        proof = _log(settings, database, sign=True).prove(index)
    if json_out:
        _output.print_json(proof.to_dict())
        return
    head = proof.head
    _output.out.print(
        f"entry {proof.index} is in the log of {head.tree_size:,} entries signed at {head.signed_at} "
        f"by key {head.key_id}\nroot {head.root.hex()}, audit path of {len(proof.audit_path)} hash(es)\n"
        "use --json for the proof document a third party can check"
    )


def head(
    sign: Annotated[bool, typer.Option("--sign", help="sign the current size and root now")] = False,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show the log's size and root and its latest signed head (or sign a new one)."""
    with reported(), _database(db) as (settings, database):
        log = _log(settings, database, sign=sign)
        signed = log.sign_head() if sign else None
        size, root = log.current_root()
        latest = log.latest_head()
    if json_out:
        _output.print_json(
            {
                "size": size,
                "root": root.hex(),
                "latest_head": latest.to_dict() if latest else None,
                "signed": signed.to_dict() if signed else None,
            }
        )
        return
    _output.out.print(f"size {size:,}, root {root.hex()}")
    if signed is not None:
        _output.out.print(f"signed head #{signed.id}: {signed.tree_size:,} entries at {signed.signed_at}")
    elif latest is not None:
        _output.out.print(
            f"latest signed head #{latest.id}: {latest.tree_size:,} entries at {latest.signed_at}"
        )
    else:
        _output.out.print("no signed head yet (sign one with --sign)")


def consistency(
    old_size: Annotated[int, typer.Argument(help="the size of the older log (e.g. from a head you kept)")],
    new_size: Annotated[
        int | None, typer.Argument(help="the newer size (default: the latest signed head)")
    ] = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Print a proof that the log at OLD_SIZE is a prefix of the log at NEW_SIZE."""
    with reported(), _database(db) as (settings, database):
        proof = _log(settings, database, sign=False).consistency(old_size, new_size)
    if json_out:
        _output.print_json(proof.to_dict())
        return
    _output.out.print(
        f"the log of {proof.old_size:,} entries (root {proof.old_root.hex()}) is a prefix of the log of "
        f"{proof.new_size:,} entries (root {proof.new_root.hex()}): proof of {len(proof.path)} hash(es)\n"
        "use --json for the proof document a third party can check"
    )


def key(json_out: JsonOpt = False) -> None:
    """Print the public key that signs tree heads (created on first use); publish it."""
    with reported():
        signer = _signer(env_settings(), create=True)
    assert signer is not None
    if json_out:
        _output.print_json(
            {"key_id": signer.key_id, "public_key": signer.public_hex, "pem": signer.public_pem}
        )
        return
    sys.stdout.write(f"key id {signer.key_id}\nhex {signer.public_hex}\n{signer.public_pem}")


@contextmanager
def _progress(*, enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    if not (enabled and sys.stdout.isatty()):
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("verifying", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def register(app: typer.Typer) -> None:
    """Add ``pledge audit ...`` to the root app."""
    audit_app.command("verify")(verify)
    audit_app.command("prove")(prove)
    audit_app.command("head")(head)
    audit_app.command("consistency")(consistency)
    audit_app.command("key")(key)
    app.add_typer(audit_app)
