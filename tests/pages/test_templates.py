"""Businesses override any template by name; broken overrides are reported, not tracebacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from pledge.declaration import parse_declaration
from pledge.errors import InputError
from pledge.pages import render_policy, template_names
from tests.declaration.conftest import MINIMAL


@pytest.fixture
def loaded():  # type: ignore[no-untyped-def]
    return parse_declaration(MINIMAL, "minimal.yaml")


def test_one_partial_per_section_in_each_format() -> None:
    names = set(template_names())
    for section in (
        "who",
        "collect",
        "purposes",
        "recipients",
        "sale",
        "cookies",
        "retention",
        "rights",
        "security",
        "minors",
        "storage",
        "statistics",
        "staff",
        "changes",
        "contact",
    ):
        assert {f"{section}.html.j2", f"{section}.md.j2"} <= names


def test_override_replaces_one_section_and_keeps_escaping(tmp_path: Path, loaded) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "who.html.j2").write_text("<p>Run by {{ org.name }} — {{ '<i>' }}</p>\n", encoding="utf-8")
    html = render_policy(loaded, "html", templates=tmp_path)
    assert "<p>Run by Acme Books Ltd — &lt;i&gt;</p>" in html
    assert "How to reach us about privacy" not in html  # the built-in who section is gone
    assert "Why we use it and on what basis" in html  # the others are untouched
    assert "Run by" not in render_policy(loaded, "html")  # no leak into renders without --templates


def test_markdown_override_escapes_too(tmp_path: Path, loaded) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "who.md.j2").write_text("Run by {{ '*' ~ org.name ~ '*' }}\n", encoding="utf-8")
    assert "Run by \\*Acme Books Ltd\\*" in render_policy(loaded, "md", templates=tmp_path)


def test_override_with_a_syntax_error_is_located(tmp_path: Path, loaded) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "sale.html.j2").write_text("<p>\n{% if %}\n</p>\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        render_policy(loaded, "html", templates=tmp_path)
    (problem,) = caught.value.problems
    assert problem.line == 2 and problem.file is not None and problem.file.endswith("sale.html.j2")


def test_override_using_an_unknown_name_says_so(tmp_path: Path, loaded) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "sale.html.j2").write_text("{{ d.no_such_field }}\n", encoding="utf-8")
    with pytest.raises(InputError, match="no_such_field"):
        render_policy(loaded, "html", templates=tmp_path)


def test_missing_templates_folder_is_bad_input(tmp_path: Path, loaded) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="templates folder not found"):
        render_policy(loaded, "html", templates=tmp_path / "nope")


def test_unknown_format_is_bad_input(loaded) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="unknown format"):
        render_policy(loaded, "pdf")  # type: ignore[arg-type]


def test_fragment_is_the_body_only(loaded) -> None:  # type: ignore[no-untyped-def]
    fragment = render_policy(loaded, "html", fragment=True)
    assert fragment.startswith('<main class="policy">') and "<html" not in fragment
