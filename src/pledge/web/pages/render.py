"""Rendering pages: one Jinja2 environment (autoescape on, undefined names are errors) and a
``page()`` helper that gives every template what the layout needs.

Nothing a person or the declaration wrote is ever marked safe: the only ``Markup`` a template
receives is HTML built by Pledge's own escaping renderers (the policy text) or SVG built here
from numbers and escaped labels (charts).
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from pledge.web.context import web
from pledge.web.pages.forms import flash_message
from pledge.web.security import csrf_token, nonce

__all__ = ["environment", "page", "render_error"]

_TITLES = {
    400: "This link does not work",
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    409: "Already done",
    422: "Please check what you entered",
    429: "Too many attempts",
}


def _date(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%d %B %Y, %H:%M UTC")
    if isinstance(value, dt.date):
        return value.strftime("%d %B %Y")
    return "" if value is None else str(value)


def _day(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%d %b %Y")
    return _date(value)


def _words(value: Any) -> str:
    return str(value or "").replace("_", " ")


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pledge.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update({"date": _date, "day": _day, "words": _words})
    return env


def page(
    request: Request,
    template: str,
    http_status: int = 200,
    *,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    ctx = web(request)
    decl = ctx.system.loaded.declaration
    values = {
        "request": request,
        "org": decl.organisation.name,
        "lang": decl.language or "en",
        "csrf_token": csrf_token(request, ctx.signing_key),
        "nonce": nonce(request),
        "shop": ctx.shop,
        "path": request.url.path,
        "flash": flash_message(request.query_params.get("done")),
        **context,
    }
    html = environment().get_template(template).render(values)
    return HTMLResponse(html, status_code=http_status, headers=headers)


def render_error(request: Request, status: int, error: dict[str, Any]) -> HTMLResponse:
    """The HTML face of an API error (same status, same message)."""
    admin = request.url.path.startswith("/admin")
    return page(
        request,
        "error.html",
        status,
        title=_TITLES.get(status, "Something went wrong"),
        error=error,
        admin=admin,
    )
