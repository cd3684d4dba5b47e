"""Commands that read a declaration: ``validate``, ``render``, ``diff``, ``init``, ``publish``."""

from __future__ import annotations

import enum
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pledge.cli import _output
from pledge.cli._common import DbOpt, JsonOpt, open_store
from pledge.cli._common import reported as _reported
from pledge.errors import DeclarationError, InputError, PledgeError, Problem

if TYPE_CHECKING:
    from pledge.declaration import LoadedDeclaration
    from pledge.publish import Change


def validate(
    paths: Annotated[list[Path], typer.Argument(help="privacy.yaml files (or folders holding one) to check")],
    json_out: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="treat warnings as errors")] = False,
) -> None:
    """Check declarations; print every problem as file:line:column. Exit 2 when any is invalid."""
    from pledge.declaration import load_declaration

    results: list[dict[str, object]] = []
    failed = False
    for path in paths:
        target = path / "privacy.yaml" if path.is_dir() else path
        problems: list[Problem]
        try:
            loaded = load_declaration(target)
            problems = list(loaded.warnings)
            ok = not (strict and problems)
        except DeclarationError as exc:
            problems = list(exc.problems)
            ok = False
        failed |= not ok
        results.append({"file": str(target), "valid": ok, "problems": [_as_dict(p) for p in problems]})
        if not json_out:
            _output.print_problems(problems)
            if ok:
                _output.out.print(f"{target}: ok" + (f" ({len(problems)} warning(s))" if problems else ""))
    if json_out:
        _output.print_json(results)
    if failed:
        raise typer.Exit(_output.EXIT_BAD_INPUT)


def _as_dict(problem: Problem) -> dict[str, object]:
    return {
        "file": problem.file,
        "line": problem.line,
        "column": problem.column,
        "severity": problem.severity,
        "code": problem.code,
        "message": problem.message,
        "hint": problem.hint,
    }


# --- shared helpers -------------------------------------------------------------------------------


def _load(path: Path) -> LoadedDeclaration:
    from pledge.declaration import load_declaration

    return load_declaration(path / "privacy.yaml" if path.is_dir() else path)


def _write_text(path: Path, text: str) -> None:
    """Write beside, then rename: a reader never sees half a file, a crash leaves the old one."""
    if not path.parent.exists():
        raise InputError(f"{path.parent}: folder does not exist", hint="create it first")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- render ---------------------------------------------------------------------------------------


class OutputFormat(enum.StrEnum):
    md = "md"
    html = "html"


def render(
    path: Annotated[Path, typer.Argument(help="privacy.yaml (or a folder holding one)")],
    fmt: Annotated[
        OutputFormat | None,
        typer.Option("--format", "-f", help="md or html (default: from -o's extension, else html)"),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write here instead of stdout")
    ] = None,
    templates: Annotated[
        Path | None, typer.Option("--templates", help="folder of templates overriding the built-in ones")
    ] = None,
) -> None:
    """Render the human-readable privacy policy from the declaration."""
    with _reported():
        from pledge.pages import render_policy

        chosen = (
            fmt.value
            if fmt
            else ("md" if output and output.suffix.lower() in (".md", ".markdown") else "html")
        )
        text = render_policy(_load(path), "md" if chosen == "md" else "html", templates=templates)
        if output is None:
            _output.out.file.write(text)
            _output.out.file.flush()
        else:
            _write_text(output, text)
            _output.err.print(f"wrote {output}")


# --- diff -----------------------------------------------------------------------------------------


def diff(
    old: Annotated[Path, typer.Argument(help="the earlier privacy.yaml")],
    new: Annotated[Path, typer.Argument(help="the later privacy.yaml")],
    json_out: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Every change between two declarations, marked material or not. Exit 1 if any is material."""
    from pledge.publish import diff_declarations, has_material

    loaded: list[LoadedDeclaration] = []
    bad = False
    for path in (old, new):
        try:
            loaded.append(_load(path))
        except PledgeError as error:
            _output.report_error(error)
            bad = True
    if bad:
        raise typer.Exit(_output.EXIT_BAD_INPUT)
    before, after = loaded
    changes = diff_declarations(before.declaration, after.declaration)
    material = has_material(changes)
    if json_out:
        _output.print_json(
            {
                "old": {"file": str(old), "version": before.version, "digest": before.digest},
                "new": {"file": str(new), "version": after.version, "digest": after.digest},
                "material": material,
                "summary": {"changes": len(changes), "material": sum(c.material for c in changes)},
                "changes": [c.as_dict() for c in changes],
            }
        )
    else:
        _print_changes(changes, f"{old} ({before.version}) → {new} ({after.version})")
    if material:
        raise typer.Exit(_output.EXIT_FINDING)


def _print_changes(changes: list[Change], title: str) -> None:
    from rich.markup import escape

    out = _output.out
    count = sum(c.material for c in changes)
    out.print(f"{escape(title)}: {len(changes)} change(s), {count} material")
    for change in changes:
        mark = "[red]material    [/red]" if change.material else "[dim]not material[/dim]"
        detail = _describe(change)
        out.print(f"  {mark}  {escape(change.path)}: {change.kind}{escape(detail)} — {escape(change.reason)}")


def _describe(change: Change) -> str:
    if change.kind == "changed":
        return f" {_short(change.before)} → {_short(change.after)}"
    value = change.after if change.kind == "added" else change.before
    return f" {_short(value)}"


def _short(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("id") or value.get("name") or value.get("right") or "{...}"
    text = str(value).replace("\n", " ")
    return text if len(text) <= 60 else text[:57] + "..."


# --- init -----------------------------------------------------------------------------------------


def init(
    path: Annotated[Path, typer.Argument(help="where to write the starter file")] = Path("privacy.yaml"),
    force: Annotated[bool, typer.Option("--force", help="overwrite an existing file")] = False,
) -> None:
    """Write a commented starter privacy.yaml that validates as it is."""
    with _reported():
        from pledge.publish.starter import starter_text

        target = path / "privacy.yaml" if path.is_dir() else path
        if target.exists() and not force:
            raise InputError(f"{target} already exists", hint="pass --force to overwrite it")
        _write_text(target, starter_text())
        _output.out.print(f"wrote {target}; edit it, then run `pledge validate {target}`")


# --- publish --------------------------------------------------------------------------------------


def publish(
    path: Annotated[Path, typer.Argument(help="the privacy.yaml to publish")],
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Record this declaration as a published policy version, with its changes since the last one."""
    with _reported():
        loaded = _load(path)
        with open_store(db) as store:
            published = store.publish_declaration(loaded)
        if json_out:
            _output.print_json(published.as_dict())
            return
        out = _output.out
        if not published.created:
            out.print(f"version {published.version} is already published (same file); nothing to do")
            return
        out.print(f"published version {published.version}, effective {published.effective.isoformat()}")
        if published.previous_version is None:
            out.print("  first published version")
        else:
            _print_changes(list(published.changes), f"  changes since {published.previous_version}")
            if published.material:
                out.print("  material changes: notify people before this version takes effect")


def versions(db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """List the published policy versions, newest first."""
    with _reported(), open_store(db) as store:
        found = store.versions()
        if json_out:
            _output.print_json([v.as_dict() for v in found])
            return
        for v in found:
            flag = ", material changes" if v.material else ""
            when = f"{v.published_at:%Y-%m-%d %H:%M}Z"
            _output.out.print(
                f"{v.version}\teffective {v.effective.isoformat()}\tpublished {when}\t{v.digest[:12]}{flag}"
            )


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
    app.command("render")(render)
    app.command("diff")(diff)
    app.command("init")(init)
    app.command("publish")(publish)
    app.command("versions")(versions)
