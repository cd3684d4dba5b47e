"""``pledge serve`` (the API, privacy center, policy and admin console) and ``pledge demo`` (the
same, in front of a seeded demo shop). ``pledge demo --render-only`` keeps the old behaviour:
validate the example declarations and render each policy to files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pledge.cli import _output
from pledge.cli._common import ConfigOpt, ConnectOpt, DatamapOpt, DbOpt, open_system, reported, settings
from pledge.errors import PledgeError

if TYPE_CHECKING:
    from pledge.system import Pledge

HostOpt = Annotated[str, typer.Option("--host", help="interface to listen on")]
PortOpt = Annotated[int, typer.Option("--port", min=1, max=65535, help="port to listen on")]


def _base_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - only a display name
    return f"http://{shown}:{port}"


def _run(system: Pledge, host: str, port: int, *, shop: bool) -> None:
    import uvicorn

    from pledge.web.app import create_app

    app = create_app(system, shop=shop)
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=True, server_header=False)


def serve(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    config: ConfigOpt = None,
    db: DbOpt = None,
    datamap: DatamapOpt = None,
    connect: ConnectOpt = None,
    publish: Annotated[
        bool, typer.Option("--publish", help="publish the declaration as a version first")
    ] = False,
) -> None:
    """Serve the HTTP API, the privacy center, the published policy and the admin console."""
    from dataclasses import replace

    with reported():
        chosen = settings(db)
        if chosen.base_url == "http://127.0.0.1:8000":
            chosen = replace(chosen, base_url=_base_url(host, port))
        opened = open_system(
            config,
            datamap=datamap,
            connect=connect,
            chosen=chosen,
            needed_by="pledge serve",
            cross_process=True,
        )
        with opened as system:
            if publish:
                published = system.publish()
                _output.out.print(f"published policy version {published.version}", markup=False)
            system.start()
            _output.out.print(
                f"Pledge for {system.loaded.declaration.organisation.name} at {_base_url(host, port)}",
                markup=False,
            )
            _run(system, host, port, shop=False)


def demo(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    config: ConfigOpt = None,
    db: DbOpt = None,
    datamap: DatamapOpt = None,
    connect: ConnectOpt = None,
    folder: Annotated[Path, typer.Option("--folder", help="where the demo keeps its files")] = Path(
        ".pledge/demo"
    ),
    customers: Annotated[
        int, typer.Option("--customers", min=1, max=20_000, help="fictional customers")
    ] = 300,
    keep: Annotated[bool, typer.Option("--keep", help="reuse the demo's data from last time")] = False,
    render_only: Annotated[
        bool, typer.Option("--render-only", help="only validate and render the example policies to files")
    ] = False,
    out: Annotated[Path | None, typer.Option("--out", help="render only, into this folder")] = None,
    examples: Annotated[Path | None, typer.Option("--examples", help="render only, from this folder")] = None,
) -> None:
    """A seminar-and-book shop with fictional customers, its banner, privacy center, published
    policy and admin console, at http://127.0.0.1:8000."""
    if render_only or out is not None or examples is not None:
        _render_examples(out or Path(".pledge/demo/policies"), examples)
        return
    from pledge.demo.build import build_demo

    if config is not None and config.is_dir():
        config = config / "privacy.yaml"
    base = _base_url(host, port)
    try:
        from pledge.connectors import parse_connect

        built = build_demo(
            folder,
            base_url=base,
            db_url=db,
            declaration=config,
            datamaps=datamap or [],
            connections=parse_connect(connect or []),
            customers=customers,
            fresh=not keep,
        )
    except PledgeError as error:
        raise typer.Exit(_output.report_error(error)) from None
    system = built.system
    try:
        system.start()
        _print_welcome(built, base)
        _run(system, host, port, shop=True)
    finally:
        system.close()


def _print_welcome(built: object, base: str) -> None:
    from pledge.demo.build import Demo
    from pledge.demo.fake import DEMO_PERSON

    assert isinstance(built, Demo)
    system = built.system
    lines = [
        "",
        f"Pledge demo: {system.loaded.declaration.organisation.name} "
        f"(fictional customers: {built.customers})",
        f"  shop with the cookie banner  {base}/",
        f"  privacy center               {base}/privacy",
        f"  published policy             {base}/policy  (versions and what changed: {base}/policy/changes)",
        f"  admin console                {base}/admin",
        f"  API (OpenAPI)                {base}/openapi.json",
        "",
        f"  admin key                    {built.admin_key}",
        f"  e-mails land in              {built.outbox}  (one .eml file per message)",
        f"  data folder                  {built.folder}",
        "",
        "Try this:",
        "  1. Open the shop, choose in the banner, and watch which scripts run;",
        "     'Cookie settings' at the bottom reopens it.",
        f"  2. In the privacy center, ask to see your data as {DEMO_PERSON} (where you live: UK/EEA).",
        "     Open the newest .eml in the outbox, follow the link, confirm, then view and download the data.",
        "  3. 'My preferences': sign in by e-mail link and change what the shop may send you.",
        "  4. Sign in to the admin console with the key above: requests by deadline, approve, extend,",
        "     a person's consents and disclosures, complaints, charts, and 'Verify the whole log'.",
        f"  5. curl -s -H 'Authorization: Bearer {built.admin_key}' -H 'Content-Type: application/json' \\",
        f'       -d \'{{"identity": {{"kind": "email", "value": "{DEMO_PERSON}"}}, '
        '"purpose": "relevant_offers", "categories": ["user.contact.email"], "channel": "email"}\' \\',
        f"       {base}/api/v1/decisions",
        "",
        *(f"note: {n}" for n in built.notes),
        "Ctrl-C stops the demo.",
        "",
    ]
    _output.out.print("\n".join(lines), markup=False, highlight=False)


def _examples_folder() -> Path:
    here = Path("examples")
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[3] / "examples"


def _render_examples(out: Path, examples: Path | None) -> None:
    """Validate the example declarations and render each policy as HTML and Markdown."""
    from pledge.declaration import load_declaration
    from pledge.pages import render_policy

    folder = examples or _examples_folder()
    files = sorted(folder.glob("*/privacy.yaml"))
    if not files:
        _output.err.print(f"error: no */privacy.yaml under {folder}")
        raise typer.Exit(_output.EXIT_BAD_INPUT)
    out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for path in files:
        name = path.parent.name
        try:
            loaded = load_declaration(path)
            written = []
            for fmt in ("html", "md"):
                target = out / f"{name}.{fmt}"
                target.write_text(render_policy(loaded, fmt), encoding="utf-8")
                written.append(str(target))
        except PledgeError as error:
            _output.report_error(error)
            failed += 1
            continue
        _output.out.print(f"{name}: valid, version {loaded.version} → {' and '.join(written)}")
    index = out.resolve() / f"{files[0].parent.name}.html"
    _output.out.print(f"open file://{index} in a browser to read a policy")
    if failed:
        raise typer.Exit(_output.EXIT_BAD_INPUT)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.command("serve")(serve)
    app.command("demo")(demo)
