"""Load a declaration file: parse (located YAML) → shape (pydantic) → cross-check (``validate``).

Each stage collects every problem it finds before stopping, so one run of ``pledge validate``
lists everything wrong with a file, each at its ``file:line:column``.
"""

from __future__ import annotations

import difflib
import hashlib
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

import pydantic
from pydantic import BaseModel

from pledge.declaration.model import Declaration
from pledge.declaration.taxonomy import Category, Taxonomy, builtin_taxonomy
from pledge.declaration.yamlpos import Path, SourceMap, YamlProblems, load_yaml
from pledge.errors import DeclarationError, Problem

__all__ = ["LoadedDeclaration", "load_declaration", "parse_declaration", "shape_problems"]

_MAX_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class LoadedDeclaration:
    """A declaration that passed every check, with where each part came from."""

    declaration: Declaration
    source: SourceMap
    taxonomy: Taxonomy
    digest: str
    """SHA-256 of the file's bytes: identifies exactly which text a consent or notice referred to."""
    warnings: Sequence[Problem] = field(default_factory=tuple)

    @property
    def path(self) -> str:
        return self.source.file

    @property
    def version(self) -> str:
        return self.declaration.policy_version


def load_declaration(path: str | FsPath, *, display_name: str | None = None) -> LoadedDeclaration:
    """Read and check ``path``. Raises :class:`DeclarationError` listing every located problem."""
    name = display_name or str(path)
    try:
        data = FsPath(path).read_bytes()
    except FileNotFoundError:
        raise DeclarationError(f"{name}: no such file", hint="check the path, or run `pledge init`") from None
    except IsADirectoryError:
        raise DeclarationError(f"{name}: is a directory, expected a privacy.yaml file") from None
    except OSError as exc:
        raise DeclarationError(f"{name}: cannot read ({exc.strerror})") from None
    return parse_declaration(data, name)


def parse_declaration(data: bytes | str, filename: str = "<privacy.yaml>") -> LoadedDeclaration:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > _MAX_BYTES:
        raise DeclarationError(f"{filename}: file is larger than {_MAX_BYTES // 1024 // 1024} MB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DeclarationError(
            "not UTF-8 text",
            problems=[
                Problem(
                    f"byte {exc.start} is not valid UTF-8",
                    file=filename,
                    line=line,
                    column=1,
                    hint="save the file as UTF-8",
                    code="encoding",
                )
            ],
        ) from None
    try:
        value, source = load_yaml(text, filename)
    except YamlProblems as exc:
        raise DeclarationError(f"{filename}: not valid YAML", problems=exc.problems) from None
    if not isinstance(value, dict):
        raise DeclarationError(
            "not a declaration",
            problems=[
                source.problem(
                    (),
                    "expected a mapping with organisation, purposes, ... at the top",
                    hint="run `pledge init` to see a starter file",
                )
            ],
        )
    try:
        declaration = Declaration.model_validate(value)
    except pydantic.ValidationError as exc:
        raise DeclarationError(
            f"{filename}: invalid declaration", problems=shape_problems(exc, source, Declaration)
        ) from None

    from pledge.declaration.validate import cross_check  # late: validate imports this module's types

    taxonomy = builtin_taxonomy().extended(
        Category(c.id, c.name, c.description or "", builtin=False, sensitive=c.sensitive)
        for c in declaration.categories
    )
    problems = cross_check(declaration, source, taxonomy)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise DeclarationError(f"{filename}: {len(errors)} problem(s)", problems=problems)
    return LoadedDeclaration(
        declaration=declaration,
        source=source,
        taxonomy=taxonomy,
        digest=hashlib.sha256(raw).hexdigest(),
        warnings=tuple(problems),
    )


# --- pydantic errors → located problems -----------------------------------------------------------


def shape_problems(exc: pydantic.ValidationError, source: SourceMap, root: type[BaseModel]) -> list[Problem]:
    """Turn pydantic's errors into ``Problem`` objects located in ``source``."""
    problems: list[Problem] = []
    for error in exc.errors(include_url=False):
        loc = _clean_loc(error["loc"], source)
        kind = error["type"]
        hint: str | None = None
        if kind in ("missing", "extra_forbidden") and not loc:  # pragma: no cover - defensive
            problems.append(source.problem((), str(error["msg"]), code=kind))
            continue
        if kind == "missing":
            name = loc[-1]
            message = f"missing required field '{name}'"
            problems.append(
                source.problem(loc[:-1], message, key=True, code="missing", hint=f"add '{name}:' here")
            )
            continue
        if kind == "extra_forbidden":
            name = str(loc[-1])
            allowed = _fields_at(root, loc[:-1])
            near = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
            hint = (
                f"did you mean '{near[0]}'?"
                if near
                else (f"allowed here: {', '.join(sorted(allowed))}" if allowed else None)
            )
            problems.append(
                source.problem(loc, f"unknown field '{name}'", key=True, hint=hint, code="unknown_field")
            )
            continue
        if kind == "literal_error":
            expected = str(error.get("ctx", {}).get("expected", ""))
            options = [part.strip(" '") for part in expected.replace(" or ", ", ").split(",")]
            got = error.get("input")
            near = difflib.get_close_matches(str(got), options, n=1, cutoff=0.5)
            hint = f"did you mean '{near[0]}'?" if near else None
            message = f"'{got}' is not allowed here; expected one of: {', '.join(options)}"
            problems.append(source.problem(loc, message, hint=hint, code="not_allowed"))
            continue
        message = str(error["msg"])
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        if kind.endswith("_type") or kind in ("bool_parsing", "int_parsing", "float_parsing"):
            message = f"{message.lower()} (got {_describe(error.get('input'))})"
        label = ".".join(str(part) for part in loc)
        if label:
            message = f"{label}: {message}"
        problems.append(source.problem(loc, message, code=kind))
    return problems


def _clean_loc(loc: tuple[int | str, ...], source: SourceMap) -> Path:
    # pydantic adds synthetic steps for unions and validators ("function-before[...]",
    # "literal['session']", "IsoDuration"). A step that names a real node of the document is kept
    # even if it looks synthetic (a user's key may contain brackets); an unknown step is dropped
    # only when it has pydantic's shape, so names of missing fields survive.
    out: list[str | int] = []
    for part in loc:
        candidate = (*out, part)
        if candidate in source.values or candidate in source.keys:
            out.append(part)
        elif isinstance(part, str) and ("[" in part or part[:1].isupper() or part.startswith("function-")):
            continue
        else:
            out.append(part)
    return tuple(out)


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _fields_at(root: type[BaseModel], loc: Path) -> list[str]:
    """The field names allowed at ``loc`` (for "did you mean" hints)."""
    current: Any = root
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, int):
            args = typing.get_args(current)
            current = args[0] if args else None
        elif isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(part) or next(
                (f for f in current.model_fields.values() if f.alias == part), None
            )
            current = info.annotation if info else None
        else:
            args = typing.get_args(current)
            current = args[-1] if args else None
        if current is None:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or name for name, f in current.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    """Strip Optional/Annotated so the model class (or list/dict) shows."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            models = [a for a in options if isinstance(a, type) and issubclass(a, BaseModel)]
            annotation = models[0] if models else options[0]
        else:
            return annotation
