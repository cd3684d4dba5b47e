"""Hostile text in a declaration prints as text: never markup, never a template, in both editions."""

from __future__ import annotations

import re
from html import unescape

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from pledge.declaration import LoadedDeclaration, parse_declaration
from pledge.pages import render_policy
from pledge.pages.markdown import md_escape, md_link
from tests.declaration.conftest import MINIMAL
from tests.pages._html import parse_html

MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])

HOSTILE = [
    "<script>alert('x')</script>",
    "{{ 7 * 7 }} {% if true %}jinja{% endif %} {# note #}",
    "*bold* _em_ **strong** [link](https://evil.example) ![img](x.png) `code` ~~gone~~",
    "a | b | c",
    "# not a heading",
    "1. not a list",
    "- not a list either",
    "> not a quote",
    "&amp; &lt;b&gt; &#60;i&#62;",
    "back\\slash at the end\\",
    "quote \" and apostrophe ' and 100% sure",
    "Ünïcödé — 北京 — مرحبا — 🙂 — e\u0301",
    '<a href="javascript:alert(1)">click</a>',
]


def _hostile_declaration(text: str) -> LoadedDeclaration:
    data = yaml.safe_load(MINIMAL)
    data["organisation"]["name"] = text
    data["summary"] = text
    data["organisation"]["address"] = text
    data["organisation"]["website"] = "javascript:alert(1)"
    data["purposes"][0]["name"] = text
    data["purposes"][0]["description"] = text
    data["recipients"][0]["name"] = text
    data["recipients"][0]["description"] = text
    data["cookies"][1]["name"] = text
    data["cookies"][1]["description"] = text
    data["commitments"] = {"statements": [text]}
    data["rights"][0]["how"] = [f"email:{text}"]
    data["jurisdictions"][0]["authority"] = text
    return parse_declaration(yaml.safe_dump(data, allow_unicode=True), "hostile.yaml")


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.mark.parametrize("text", HOSTILE)
def test_html_shows_hostile_text_as_text(text: str) -> None:
    html = render_policy(_hostile_declaration(text), "html")
    root, _ = parse_html(html)
    assert not root.find_all("script"), "a script element got through"
    assert all(
        a.attrs.get("href", "").startswith(("#", "mailto:", "https://", "http://"))
        for a in root.find_all("a")
    )
    assert not any(
        (a.attrs.get("href") or "").startswith("http") and "evil" in (a.attrs.get("href") or "")
        for a in root.find_all("a")
    )
    shown = _norm(root.text())
    assert shown.count(_norm(text)) >= 6, "the text is shown verbatim wherever it was declared"
    assert "49" not in shown or "49" in text, "a template expression was evaluated"


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_shows_hostile_text_as_text(text: str) -> None:
    source = render_policy(_hostile_declaration(text), "md")
    root, _ = parse_html(f"<div>{MD.render(source)}</div>")
    assert not root.find_all("script") and not root.find_all("img") and not root.find_all("code")
    assert not root.find_all("em") and not root.find_all("s") and not root.find_all("blockquote")
    assert all(
        (a.attrs.get("href") or "").startswith(("#", "mailto:", "https://", "http://"))
        for a in root.find_all("a")
    )
    assert not any("evil" in (a.attrs.get("href") or "") for a in root.find_all("a"))
    assert [n.tag for n in root.find_all("h1")] == ["h1"]
    assert _norm(root.text()).count(_norm(text)) >= 6
    # The cookie table keeps its six columns whatever the cookie is called.
    (table,) = root.find_all("table")
    assert all(len(tr.find_all("td", "th")) == 6 for tr in table.find_all("tr"))


def test_long_text_renders_whole() -> None:
    text = "x" * 10_000 + " <b>end</b>"
    html = render_policy(_hostile_declaration(text), "html")
    assert "&lt;b&gt;end&lt;/b&gt;" in html and "<b>end</b>" not in html


def test_website_with_a_script_url_is_not_a_link() -> None:
    html = render_policy(_hostile_declaration("Acme"), "html")
    assert "javascript:" not in re.sub(r">[^<]*<", "><", html)  # never inside a tag
    assert "javascript:alert(1)" in html  # still shown, as text


# --- the Markdown escaper on its own ---------------------------------------------------------------

_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Co", "Cn", "Zl", "Zp")), min_size=1, max_size=60
)


@settings(max_examples=400, deadline=None)
@given(_TEXT)
def test_escaped_text_renders_as_exactly_that_text(text: str) -> None:
    expected = re.sub(r"\s+", " ", text).strip()
    rendered = MD.render(str(md_escape(text)))
    if not expected:
        assert rendered == ""
        return
    assert rendered.startswith("<p>") and rendered.endswith("</p>\n"), rendered
    assert unescape(rendered[3:-5]) == expected


@settings(max_examples=200, deadline=None)
@given(_TEXT, st.sampled_from(["#who", "mailto:a@b.example", "https://x.example/a b(c)"]))
def test_links_keep_their_text_and_target(text: str, href: str) -> None:
    expected = re.sub(r"\s+", " ", text).strip()
    root, _ = parse_html(f"<div>{MD.render(str(md_link(text, href)))}</div>")
    (a,) = root.find_all("a")
    assert a.text() == expected
    assert a.attrs["href"] == href.replace(" ", "%20").replace("(", "%28").replace(")", "%29")


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("1.0", "1.0"),
        ("1. x", "1\\. x"),
        ("# h", "\\# h"),
        ("#tag", "#tag"),
        ("- a", "\\- a"),
        ("a\n# b", "a # b"),
        ("*x*", "\\*x\\*"),
        ("<b>", "\\<b\\>"),
        ("&amp; & x", "\\&amp; & x"),
        ("Smith & Co", "Smith & Co"),
    ],
)
def test_escape_is_minimal_where_markdown_is_harmless(raw: str, escaped: str) -> None:
    assert str(md_escape(raw)) == escaped
