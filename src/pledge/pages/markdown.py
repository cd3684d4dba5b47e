"""Escaping for the Markdown edition of the policy.

Jinja's autoescape knows only HTML. The Markdown environment keeps autoescape *on* (so macro output
and our own filters' output are marked safe, exactly as in HTML) but runs every printed value through
``finalize`` first, which escapes it for Markdown and marks it safe; HTML escaping then has nothing
left to do. A template that forgets a filter therefore still escapes.

User text becomes one line of inline content: newlines collapse to spaces (a stray ``# `` or ``- ``
can then never start a heading or a list), every character CommonMark or GitHub treats as inline
markup is backslash-escaped, ``<`` and ``>`` included so that raw HTML such as ``<script>`` cannot
pass through a Markdown renderer, and ``&`` only where it would start an entity.
"""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup

__all__ = ["md_escape", "md_finalize", "md_link"]

# Inline markup: emphasis, code, links/images, raw HTML, tables, strikethrough, escapes themselves.
_INLINE = re.compile(r"([\\`*_\[\]<>|~])")
_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
# Block markup that only counts at the start of a line: headings, quotes, lists, rules, setext.
_LINE_START = re.compile(r"^(?:(#{1,6}|[-+])(?=\s|$)|(>)|([=-]+)$)|^(\d{1,9})(?=[.)](?:\s|$))")
_SPACE = re.compile(r"\s+")


def md_escape(value: Any) -> Markup:
    """Escape ``value`` for inline Markdown; already-safe text passes through unchanged."""
    if isinstance(value, Markup):
        return value
    text = _SPACE.sub(" ", "" if value is None else str(value)).strip()
    text = _INLINE.sub(r"\\\1", text)
    text = _ENTITY.sub(r"\\&", text)
    match = _LINE_START.match(text)
    if match and match.group(4):  # "1. x" would start a numbered list: escape the dot or parenthesis
        end = match.end()
        text = text[:end] + "\\" + text[end:]
    elif match:
        text = "\\" + text
    return Markup(text)  # noqa: S704 - escaped for Markdown just above


def md_finalize(value: Any) -> Any:
    """``finalize`` hook of the Markdown environment: escape whatever a template prints."""
    return md_escape(value)


def md_link(text: Any, href: str) -> Markup:
    """``[text](href)`` with the text escaped; the target is ours (an anchor or a checked URL)."""
    target = "".join(f"%{ord(ch):02X}" if ch in " ()<>" else ch for ch in href)
    return Markup(f"[{md_escape(text)}]({target})")  # noqa: S704 - both parts escaped
