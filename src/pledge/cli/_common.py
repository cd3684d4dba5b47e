"""What the commands that open Pledge share: the common options, ``Settings`` and ``Pledge``.

Every command taking ``--config``, ``--db``, ``--datamap`` or ``--connect`` declares it with the
types below, so the names and the help read the same everywhere, and opens Pledge through
:func:`open_system` (everything, around a declaration) or :func:`open_store` (Pledge's own
database alone, for commands that need no declaration). Both close what they opened. The
environment is read here, at the edge: ``PLEDGE_*`` settings, and ``PLEDGE_CONNECT_<KEY>`` for a
dataset without ``--connect``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pledge.cli import _output
from pledge.errors import InputError, PledgeError

if TYPE_CHECKING:
    from pledge.config import Settings
    from pledge.datamap.model import Datamap
    from pledge.declaration.load import LoadedDeclaration
    from pledge.requests.steps import StepPlanner
    from pledge.system import Pledge, PledgeStore

__all__ = [
    "CONFIG_HELP",
    "CONNECT_HELP",
    "DATAMAP_HELP",
    "DB_HELP",
    "ConfigOpt",
    "ConnectOpt",
    "DatamapOpt",
    "DatamapRequiredOpt",
    "DbOpt",
    "JsonOpt",
    "connections",
    "declaration_path",
    "open_store",
    "open_system",
    "reported",
    "settings",
]

CONFIG_HELP = "the privacy.yaml, or a folder holding one (default: PLEDGE_DECLARATION, else ./privacy.yaml)"
DB_HELP = "Pledge's own database URL (default: PLEDGE_DB_URL, else pledge.db in PLEDGE_DATA_DIR)"
DATAMAP_HELP = "Fides dataset YAML of the business's databases: a file or a folder (repeatable)"
CONNECT_HELP = "KEY=URL: the database of dataset KEY (repeatable; default: PLEDGE_CONNECT_<KEY>)"

ConfigOpt = Annotated[Path | None, typer.Option("--config", help=CONFIG_HELP)]
DbOpt = Annotated[str | None, typer.Option("--db", help=DB_HELP)]
DatamapOpt = Annotated[list[Path] | None, typer.Option("--datamap", "-d", help=DATAMAP_HELP)]
DatamapRequiredOpt = Annotated[list[Path], typer.Option("--datamap", "-d", help=DATAMAP_HELP)]
ConnectOpt = Annotated[list[str] | None, typer.Option("--connect", "-c", help=CONNECT_HELP)]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]

PlannerFactory = Callable[["Settings", "LoadedDeclaration"], "StepPlanner"]


@contextmanager
def reported() -> Iterator[None]:
    """Domain errors become a message and the contract's exit code, never a traceback."""
    try:
        yield
    except PledgeError as error:
        raise typer.Exit(_output.report_error(error)) from None


def settings(db: str | None = None, **overrides: Any) -> Settings:
    """``Settings`` from the environment, with ``--db`` (and other options given) on top."""
    from pledge.config import Settings

    return Settings.from_env(db_url=db, **overrides)


def declaration_path(config: Path | None, chosen: Settings, *, needed_by: str | None) -> Path | None:
    """``--config``, else ``PLEDGE_DECLARATION``, else ``./privacy.yaml`` when there is one.

    With none of them: ``InputError("<needed_by> needs the declaration")``, or None when the
    command can do without (``needed_by=None``). A file named explicitly is never skipped: if it
    is missing, loading it says so."""
    from pledge.system import resolve_declaration_path

    if config is not None or chosen.declaration is not None:
        return resolve_declaration_path(config, chosen)
    default = resolve_declaration_path(None, chosen)
    if default.is_file():
        return default
    if needed_by is None:
        return None
    raise InputError(
        f"{needed_by} needs the declaration", hint="pass --config privacy.yaml or set PLEDGE_DECLARATION"
    )


def connections(connect: Sequence[str] | None, datamap: Datamap | None) -> dict[str, str]:
    """``--connect KEY=URL`` values, completed from ``PLEDGE_CONNECT_<KEY>`` (upper case, other
    characters as ``_``) for each dataset of ``datamap`` not given on the command line."""
    from pledge.connectors import parse_connect

    urls = parse_connect(list(connect or []))
    for dataset in datamap.datasets if datamap is not None else ():
        env = "PLEDGE_CONNECT_" + re.sub(r"[^A-Za-z0-9]", "_", dataset.fides_key).upper()
        if dataset.fides_key not in urls and os.environ.get(env):
            urls[dataset.fides_key] = os.environ[env]
    return urls


def load_parts(
    config: Path | None,
    datamap: Sequence[Path] | None,
    connect: Sequence[str] | None,
    chosen: Settings,
    *,
    needed_by: str,
) -> tuple[LoadedDeclaration, Datamap | None, dict[str, str]]:
    """The declaration, the datamap (None without ``--datamap``) and the connection URLs."""
    from pledge.datamap import load_datamap
    from pledge.declaration import load_declaration

    path = declaration_path(config, chosen, needed_by=needed_by)
    assert path is not None
    loaded = load_declaration(path)
    mapped = load_datamap(list(datamap), declaration=loaded) if datamap else None
    return loaded, mapped, connections(connect, mapped)


@contextmanager
def open_system(
    config: Path | None = None,
    db: str | None = None,
    datamap: Sequence[Path] | None = None,
    connect: Sequence[str] | None = None,
    *,
    needed_by: str = "this command",
    chosen: Settings | None = None,
    planner: PlannerFactory | None = None,
    **options: Any,
) -> Iterator[Pledge]:
    """:class:`~pledge.system.Pledge` from the common options, closed afterwards.

    ``chosen``: settings built already (default: from the environment and ``db``). ``planner``:
    a factory ``(settings, declaration) -> StepPlanner`` used instead of the datamap's executor.
    ``options`` go to ``Pledge`` (``migrate``, ``clock``, ``worker_id``, ...); ``cross_process``
    is off unless asked for (a command is over before another process's change could matter)."""
    from pledge.system import Pledge

    chosen = (chosen or settings(db)).with_secrets()
    loaded, mapped, urls = load_parts(config, datamap, connect, chosen, needed_by=needed_by)
    options.setdefault("cross_process", False)
    if planner is not None:
        options["planner"] = planner(chosen, loaded)
    system = Pledge(chosen, loaded, datamap=mapped, connections=urls, **options)
    try:
        yield system
    finally:
        system.close()


@contextmanager
def open_store(db: str | None = None, *, migrate: bool = True, create: bool = True) -> Iterator[PledgeStore]:
    """Pledge's own database without a declaration (``pledge audit``, ``pledge versions``)."""
    from pledge.system import PledgeStore

    store = PledgeStore(settings(db), migrate=migrate, create=create)
    try:
        yield store
    finally:
        store.close()
