"""The rendered policy is a well-formed, accessible document that says every declared thing."""

from __future__ import annotations

import itertools
import re

import pytest
from markdown_it import MarkdownIt

from pledge.declaration import LoadedDeclaration
from pledge.pages import render_policy
from pledge.pages.policy_view import PolicyView
from pledge.pages.words import word
from tests.pages._html import Node, parse_html

MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def _headings(root: Node) -> list[tuple[int, str]]:
    return [(int(n.tag[1]), n.text()) for n in root.walk() if re.fullmatch(r"h[1-6]", n.tag)]


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_html_is_well_formed_with_language_and_title(case: tuple[str, LoadedDeclaration]) -> None:
    _, loaded = case
    root, doctype = parse_html(render_policy(loaded, "html"))
    assert doctype.lower() == "doctype html"
    (html,) = root.find_all("html")
    assert html.attrs.get("lang") == PolicyView(loaded).language
    assert html.attrs["lang"]
    (title,) = root.find_all("title")
    assert title.text() == PolicyView(loaded).title
    assert root.find_all("main") and root.find_all("nav")
    (style,) = root.find_all("style")  # a small inline stylesheet, no external requests
    assert not root.find_all("link") and not root.find_all("script")
    assert len(style.text()) < 4000


def test_html_headings_start_at_one_h1_and_never_skip(case: tuple[str, LoadedDeclaration]) -> None:
    _, loaded = case
    root, _ = parse_html(render_policy(loaded, "html"))
    levels = [level for level, _ in _headings(root)]
    assert levels[0] == 1 and levels.count(1) == 1
    for before, after in itertools.pairwise(levels):
        assert after <= before + 1, f"heading jumps from h{before} to h{after}"
    assert all(text.strip() for _, text in _headings(root)), "empty heading"


def test_every_section_has_content_after_its_heading(case: tuple[str, LoadedDeclaration]) -> None:
    _, loaded = case
    root, _ = parse_html(render_policy(loaded, "html"))
    for section in root.find_all("section"):
        body = [c for c in section.children if isinstance(c, Node) and not re.fullmatch(r"h[1-6]", c.tag)]
        assert body, f"section {section.attrs.get('id')} has a heading and nothing else"


def test_table_of_contents_links_resolve(case: tuple[str, LoadedDeclaration]) -> None:
    _, loaded = case
    root, _ = parse_html(render_policy(loaded, "html"))
    ids = [n.attrs["id"] for n in root.walk() if n.attrs.get("id")]
    assert len(ids) == len(set(ids)), "duplicate id"
    (nav,) = root.find_all("nav")
    toc = [a.attrs["href"] for a in nav.find_all("a")]
    assert len(toc) == len(root.find_all("section"))
    for href in [a.attrs.get("href") or "" for a in root.find_all("a")]:
        if href.startswith("#"):
            assert href[1:] in ids, f"link to missing anchor {href}"
        else:
            assert href.startswith(("https://", "http://", "mailto:")), href


def test_lists_are_lists_and_tables_are_data_tables(case: tuple[str, LoadedDeclaration]) -> None:
    _, loaded = case
    root, _ = parse_html(render_policy(loaded, "html"))
    for lst in root.find_all("ul", "ol"):
        assert all((isinstance(c, str) and not c.strip()) or c.tag == "li" for c in lst.children)
    for table in root.find_all("table"):
        assert table.find_all("caption"), "a data table says what it holds"
        header = table.find_all("thead")[0].find_all("th")
        assert [th.attrs.get("scope") for th in header] == ["col"] * len(header)
        assert [th.text() for th in header] == ["Name", "Type", "Provider", "Category", "Lifetime", "Purpose"]
        for row in table.find_all("tbody")[0].find_all("tr"):
            first = next(c for c in row.children if isinstance(c, Node))
            assert first.tag == "th" and first.attrs.get("scope") == "row"
            assert len(row.find_all("td", "th")) == len(header)


def _expected_mentions(loaded: LoadedDeclaration) -> list[str]:
    d = loaded.declaration
    view = PolicyView(loaded)
    names = [p.name for p in d.purposes] + [r.name for r in d.recipients] + [c.name for c in d.cookies]
    names += [view.right_title(r) for r in d.rights]
    names += [view.label(c) for p in d.purposes for c in p.categories]
    names += [word("lawful_basis", p.lawful_basis) for p in d.purposes]
    names += [h.law for h in d.legal_holds] + [s.description for s in d.security]
    names += [c.email for c in d.organisation.contacts if c.email]
    names += list(d.commitments.statements)
    return [_norm(n) for n in names]


def test_html_mentions_every_purpose_recipient_cookie_and_right(case: tuple[str, LoadedDeclaration]) -> None:
    _, loaded = case
    root, _ = parse_html(render_policy(loaded, "html"))
    text = _norm(root.text())
    missing = [n for n in _expected_mentions(loaded) if n not in text]
    assert not missing, f"not in the HTML policy: {missing}"


def test_markdown_renders_to_the_same_statements(case: tuple[str, LoadedDeclaration]) -> None:
    """Parse the Markdown with a CommonMark renderer: everything declared reads back as text."""
    _, loaded = case
    html = MD.render(render_policy(loaded, "md"))
    root, _ = parse_html(f"<div>{html}</div>")
    text = _norm(root.text())
    missing = [n for n in _expected_mentions(loaded) if n not in text]
    assert not missing, f"not in the Markdown policy: {missing}"
    levels = [level for level, _ in _headings(root)]
    assert levels[0] == 1 and levels.count(1) == 1
    assert all(b <= a + 1 for a, b in itertools.pairwise(levels))
    if loaded.declaration.cookies:
        (table,) = root.find_all("table")
        assert len(table.find_all("tbody")[0].find_all("tr")) == len(loaded.declaration.cookies)


def test_markdown_contents_links_match_heading_slugs(case: tuple[str, LoadedDeclaration]) -> None:
    _, loaded = case
    text = render_policy(loaded, "md")
    root, _ = parse_html(f"<div>{MD.render(text)}</div>")
    slugs = {
        re.sub(r"[^\w\- ]", "", t.lower()).replace(" ", "-") for level, t in _headings(root) if level == 2
    }
    targets = re.findall(r"\]\(#([^)]+)\)", text)
    assert targets and set(targets) <= slugs


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_retention_is_in_words_not_iso_codes(case: tuple[str, LoadedDeclaration], fmt: str) -> None:
    _, loaded = case
    text = render_policy(loaded, "md" if fmt == "md" else "html")
    assert not re.search(r"\bP\d+[YMWD]\b", text), "an ISO duration leaked into the policy"
    assert "while_account_active" not in text


# Fields that are machinery rather than something the policy tells people.
NOT_RENDERED = {
    "Jurisdiction.regions": "codes that match a person to a jurisdiction; the name says it in words",
}


def test_every_declaration_field_is_rendered_somewhere() -> None:
    """A field added to the model must be said in the policy (or listed above with a reason)."""
    import inspect
    from pathlib import Path

    from pydantic import BaseModel

    import pledge.declaration.model as model
    import pledge.pages

    folder = Path(pledge.pages.__file__).parent
    source = "".join(p.read_text(encoding="utf-8") for p in folder.rglob("*") if p.suffix in (".py", ".j2"))
    missing = [
        f"{name}.{field}"
        for name, cls in inspect.getmembers(model, inspect.isclass)
        if issubclass(cls, BaseModel) and cls.__module__ == model.__name__
        for field in cls.model_fields
        if f"{name}.{field}" not in NOT_RENDERED and not re.search(rf"\b{re.escape(field)}\b", source)
    ]
    assert not missing, f"declaration fields the policy never mentions: {missing}"
