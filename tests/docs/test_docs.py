"""The documentation keeps up with the code: every declaration field and cross-check code, every
decision reason, every ``PLEDGE_*`` environment variable is documented, and links resolve.

Each list is collected from the code itself (the pydantic models, the check modules' source, the
``Reason`` enum, the package's source text), so adding a field, a check, a reason or a setting
without documenting it fails here.
"""

from __future__ import annotations

import ast
import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from pledge.declaration import model
from pledge.policy.reasons import Reason
from tests.docs._markdown import DOCS, ROOT, pages, strip_code

SRC = ROOT / "src" / "pledge"
DECLARATION_PAGE = DOCS / "declaration.md"
_MODEL_MARK = re.compile(r"<!--\s*model:\s*(\w+)\s*-->")


# --- the declaration reference ----------------------------------------------------------------------


def _unwrap(annotation: Any) -> list[Any]:
    """Every type an annotation can hold (Optional, unions, Annotated, lists and dicts opened)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, list, dict, tuple, set, frozenset):
        return [t for arg in typing.get_args(annotation) for t in _unwrap(arg)]
    return [annotation]


def _models(root: type[BaseModel] = model.Declaration) -> list[type[BaseModel]]:
    """Every model reachable from the declaration, each once, in discovery order."""
    seen: list[type[BaseModel]] = []

    def visit(cls: type[BaseModel]) -> None:
        if cls in seen:
            return
        seen.append(cls)
        for info in cls.model_fields.values():
            for found in _unwrap(info.annotation):
                if isinstance(found, type) and issubclass(found, BaseModel):
                    visit(found)

    visit(root)
    return seen


def _literal_values(annotation: Any) -> list[str]:
    values: list[str] = []
    for found in _unwrap(annotation):
        if typing.get_origin(found) is Literal:
            values.extend(str(v) for v in typing.get_args(found) if isinstance(v, str))
    return values


def _sections(text: str) -> dict[str, str]:
    """``<!-- model: Name -->`` markers → the text up to the next marker or ``## `` heading."""
    out: dict[str, str] = {}
    marks = list(_MODEL_MARK.finditer(text))
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        heading = re.search(r"^## ", text[mark.end() : end], re.M)
        out[mark[1]] = text[mark.end() : mark.end() + heading.start() if heading else end]
    return out


MODELS = _models()


def test_the_reference_covers_many_models() -> None:
    assert len(MODELS) >= 25 and model.Purpose in MODELS and model.PrivacyBudget in MODELS


@pytest.mark.parametrize("cls", MODELS, ids=[m.__name__ for m in MODELS])
def test_every_field_is_documented_with_its_allowed_values(cls: type[BaseModel]) -> None:
    sections = _sections(DECLARATION_PAGE.read_text(encoding="utf-8"))
    assert cls.__name__ in sections, f"docs/declaration.md has no '<!-- model: {cls.__name__} -->' section"
    section = strip_code(sections[cls.__name__])
    # The field's row: a table line whose first cell names it.
    rows = {
        m[1]: line
        for line in section.splitlines()
        if (m := re.match(r"^\|\s*`([A-Za-z_][A-Za-z0-9_]*)`", line))
    }
    for name, info in cls.model_fields.items():
        key = info.alias or name
        assert key in rows, f"{cls.__name__}.{key} is not in its table in docs/declaration.md"
        for value in _literal_values(info.annotation):
            assert f"`{value}`" in section, (
                f"{cls.__name__}.{key}: allowed value `{value}` is not mentioned in its section"
            )
    documented = set(rows)
    actual = {info.alias or name for name, info in cls.model_fields.items()}
    assert documented <= actual, f"{cls.__name__}: documented fields that do not exist: {documented - actual}"


def _check_codes() -> set[str]:
    """Every problem code the declaration's loader and cross-checks can give, read from their
    source: ``code="..."`` literals, and f-string codes evaluated for each literal argument the
    enclosing helper is called with (``ref(..., "data subject", ...)`` → ``unknown_data_subject``)."""
    codes: set[str] = set()
    files = [*sorted((SRC / "declaration").glob("checks_*.py")), SRC / "declaration" / "load.py"]
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        helpers: dict[str, tuple[list[str], ast.JoinedStr]] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                params = [a.arg for a in node.args.args]
                for inner in ast.walk(node):
                    if isinstance(inner, ast.keyword) and inner.arg == "code":
                        if isinstance(inner.value, ast.Constant) and isinstance(inner.value.value, str):
                            codes.add(inner.value.value)
                        elif isinstance(inner.value, ast.JoinedStr):
                            helpers[node.name] = (params, inner.value)
                        elif not isinstance(inner.value, ast.Name):  # passed through a parameter
                            raise AssertionError(f"{path.name}: a code this test cannot read")
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in helpers:
                params, fstring = helpers[node.func.id]
                values = {
                    param: arg.value
                    for param, arg in zip(params, node.args, strict=False)
                    if isinstance(arg, ast.Constant)
                }
                expression = ast.Expression(body=fstring)
                ast.fix_missing_locations(expression)
                codes.add(eval(compile(expression, path.name, "eval"), {}, values))  # noqa: S307
    codes.discard("invalid")  # Problem's default, never given on purpose
    return codes


CHECK_CODES = sorted(_check_codes())


def test_the_check_codes_are_found() -> None:
    assert {"unknown_category", "sale_contradiction", "unknown_data_subject", "missing"} <= set(CHECK_CODES)


@pytest.mark.parametrize("code", CHECK_CODES)
def test_every_check_code_is_documented(code: str) -> None:
    text = strip_code(DECLARATION_PAGE.read_text(encoding="utf-8"))
    assert re.search(rf"^\|\s*`{code}`\s*\|", text, re.M), (
        f"problem code `{code}` has no row in docs/declaration.md's table of checks"
    )


# --- decisions ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", list(Reason), ids=[r.value for r in Reason])
def test_every_reason_code_is_documented(reason: Reason) -> None:
    text = strip_code((DOCS / "enforcement.md").read_text(encoding="utf-8"))
    assert re.search(rf"^\|\s*`{reason.value}`\s*\|", text, re.M), (
        f"reason `{reason.value}` has no row in docs/enforcement.md's table of reasons"
    )


# --- settings ----------------------------------------------------------------------------------------


def _environment_variables() -> set[str]:
    """Every ``PLEDGE_*`` name in the package's source (a trailing ``_`` is a prefix, such as
    ``PLEDGE_CONNECT_<KEY>``)."""
    names: set[str] = set()
    for path in SRC.rglob("*.py"):
        names.update(re.findall(r"\bPLEDGE_[A-Z0-9_]+", path.read_text(encoding="utf-8")))
    return names


ENV = sorted(_environment_variables())


def test_environment_variables_are_found() -> None:
    assert {"PLEDGE_DB_URL", "PLEDGE_CONNECT_", "PLEDGE_RETENTION_SCHEDULE"} <= set(ENV)


@pytest.mark.parametrize("name", ENV)
def test_every_environment_variable_is_documented(name: str) -> None:
    text = strip_code((DOCS / "operations.md").read_text(encoding="utf-8"))
    pattern = re.escape(name) + (r"<[A-Z]+>" if name.endswith("_") else r"(?![A-Z0-9_])")
    assert re.search(rf"^\|\s*`{pattern}`", text, re.M), (
        f"{name} is read by the code but has no row in docs/operations.md's table of variables"
    )


# --- links ----------------------------------------------------------------------------------------


def _links(path: Path) -> Iterator[tuple[str, str]]:
    text = strip_code(path.read_text(encoding="utf-8"))
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        yield path.name, target


@pytest.mark.parametrize("page", [*pages(), ROOT / "README.md"], ids=lambda p: p.name)
def test_relative_links_resolve(page: Path) -> None:
    for _name, target in _links(page):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        file, _, anchor = target.partition("#")
        resolved = (page.parent / file).resolve()
        assert resolved.exists(), f"{page.name}: link to {target} points nowhere"
        if anchor and resolved.suffix == ".md":
            headings = {
                _anchor(h) for h in re.findall(r"^#+\s+(.*)$", resolved.read_text(encoding="utf-8"), re.M)
            }
            assert anchor in headings, f"{page.name}: {target}: no such heading"


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def test_every_page_is_reachable_from_the_readme() -> None:
    """A reader starting at README.md can reach every page by following links."""
    start = (ROOT / "README.md").resolve()
    seen, queue = {start}, [start]
    while queue:
        page = queue.pop()
        for _name, target in _links(page):
            file = target.partition("#")[0]
            if not file.endswith(".md") or re.match(r"^[a-z]+:", file):
                continue
            found = (page.parent / file).resolve()
            if found.is_file() and found not in seen:
                seen.add(found)
                queue.append(found)
    orphans = [p.name for p in pages() if p.resolve() not in seen]
    assert orphans == [], f"no link leads from README.md to: {', '.join(orphans)}"


def test_the_readme_lists_the_main_pages() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in ("getting-started", "declaration", "datamaps", "enforcement", "requests", "cli"):
        assert f"(docs/{name}.md)" in readme, f"README.md does not link docs/{name}.md"
