"""Render the published privacy policy (Markdown or accessible HTML) from a loaded declaration.

The templates live in ``templates/policy/``, one partial per section (``who.html.j2``,
``who.md.j2``, ...). A business overrides any of them by putting a file of the same name in its own
folder (``pledge render --templates DIR``): a :class:`~jinja2.ChoiceLoader` looks there first.

HTML is autoescaped. Markdown has no autoescape in Jinja, so its environment escapes every printed
value through ``finalize`` (see :mod:`pledge.pages.markdown`). User text is always data passed to
templates, never template source, so ``{{ }}`` in a declaration prints as itself.

Output is deterministic for a given declaration and template set: no clock, no locale, no dict or
set ordering that could vary between runs. Golden tests depend on it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import jinja2
from markupsafe import Markup

from pledge.declaration.load import LoadedDeclaration
from pledge.errors import InputError, Problem
from pledge.pages.countries import country_name
from pledge.pages.markdown import md_escape, md_finalize, md_link
from pledge.pages.policy_view import PolicyView, safe_href
from pledge.pages.words import every_words, join_words, word

__all__ = ["FORMATS", "Format", "render_policy", "template_names"]

Format = Literal["md", "html"]
FORMATS: tuple[Format, ...] = ("md", "html")


def render_policy(
    loaded: LoadedDeclaration,
    fmt: Format = "html",
    *,
    templates: str | Path | None = None,
    fragment: bool = False,
) -> str:
    """The policy as a complete document, or (``fragment=True``, HTML) the body to embed in a page.

    Raises :class:`InputError` for an unknown format, a missing templates folder or a broken
    override template (located ``file:line``), never a Jinja traceback.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}", hint="use --format md or --format html")
    folder = _check_folder(templates)
    env = _environment(fmt, folder)
    name = "body.html.j2" if fragment and fmt == "html" else f"policy.{fmt}.j2"
    view = PolicyView(loaded)
    try:
        text = env.get_template(name).render(view=view, d=view.d, org=view.d.organisation, fmt=fmt)
    except jinja2.TemplateSyntaxError as exc:
        raise _template_error(exc, f"syntax error: {exc.message}") from None
    except jinja2.TemplateNotFound as exc:
        raise InputError(
            f"template not found: {exc.name}", hint="override templates keep the same names"
        ) from None
    except jinja2.UndefinedError as exc:
        raise InputError(
            f"a template uses something the policy does not have: {exc.message}",
            hint="check the names in your override templates against the built-in ones",
        ) from None
    return _tidy(text, fmt)


def template_names() -> list[str]:
    """Every built-in template a business may override."""
    folder = Path(__file__).parent / "templates" / "policy"
    return sorted(p.name for p in folder.iterdir() if p.suffix == ".j2")


def _check_folder(templates: str | Path | None) -> str | None:
    if templates is None:
        return None
    folder = Path(templates)
    if not folder.is_dir():
        raise InputError(f"{folder}: templates folder not found", hint="pass a folder of .j2 files")
    return str(folder.resolve())


@lru_cache(maxsize=16)
def _environment(fmt: Format, folder: str | None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if folder is not None:
        loaders.append(jinja2.FileSystemLoader(folder))
    loaders.append(jinja2.PackageLoader("pledge.pages", "templates/policy"))
    html = fmt == "html"
    # Autoescape is on for both: the Markdown edition escapes in finalize (see pledge.pages.markdown).
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        finalize=None if html else md_finalize,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(_filters(html))
    return env


def _filters(html: bool) -> dict[str, Callable[..., Any]]:
    def link(text: Any, href: str | None) -> Any:
        if not href:
            return text
        if html:
            return Markup('<a href="{}">{}</a>').format(href, text)
        return md_link(text, href)

    def sentence(values: Iterable[Any]) -> str:
        return join_words(str(v) for v in values if v)

    def paragraphs(text: str | None) -> list[str]:
        return [p.strip() for p in re.split(r"\n\s*\n", text or "") if p.strip()]

    def stop(text: Any) -> str:
        value = str(text or "").rstrip()
        return value if not value or value[-1] in _END_PUNCTUATION else value + "."

    def stop_after(text: Any) -> str:
        value = str(text or "").rstrip()
        return "" if value and value[-1] in _END_PUNCTUATION else "."

    return {
        "link": link,
        "stop": stop,
        "stop_after": stop_after,
        "every": every_words,
        "href": safe_href,
        "sentence": sentence,
        "paragraphs": paragraphs,
        "word": lambda kind, value: word(kind, value),
        "country": country_name,
        "purpose": _purpose_name,
        "recipient": _recipient_name,
        "md": md_escape,
    }


@jinja2.pass_context
def _purpose_name(context: jinja2.runtime.Context, purpose_id: str) -> str:
    view: PolicyView = context["view"]
    return view.purpose_name(purpose_id)


@jinja2.pass_context
def _recipient_name(context: jinja2.runtime.Context, recipient_id: str) -> str:
    view: PolicyView = context["view"]
    return view.recipient_name(recipient_id)


def _template_error(exc: jinja2.TemplateSyntaxError, message: str) -> InputError:
    where = exc.filename or exc.name or "<template>"
    return InputError(
        f"{where}:{exc.lineno}: {message}",
        problems=[Problem(message, file=where, line=exc.lineno, column=1, code="template")],
    )


_END_PUNCTUATION = ".!?…"
_BLANKS = re.compile(r"\n{3,}")
_TRAILING = re.compile(r"[ \t]+\n")


def _tidy(text: str, fmt: Format) -> str:
    """One blank line at most between blocks, no trailing spaces, one final newline."""
    text = _TRAILING.sub("\n", text)
    text = _BLANKS.sub("\n\n", text)
    if fmt == "html":
        text = re.sub(r"\n\n+", "\n", text)
    return text.strip() + "\n"
