"""A short way in for the two requests a site's banner sends on page views: ``GET
/api/v1/consent?cookie_id=...`` and the ``POST /api/v1/consent`` of a visitor's choice.

Why: on one server process these are most of the traffic, and FastAPI's generic machinery cost
more than the consent work itself. Profiled in-process (cProfile, the setup of
``benchmarks/http.py``): matching the path against every route of the site, nested routers
included, then solving the endpoint's three query parameters one annotation at a time, took
about 630 of a cached read's 800 us of CPU; answered here, a read costs what FastAPI's
hello-world costs (about 170 us on the same machine).

What it takes: only the banner's own, well-formed shapes. A query string that is exactly
``cookie_id=<id>`` (the id already matching the parameter's pattern); a JSON body (``Content-Type:
application/json``) that :class:`~pledge.web.api.models.ConsentIn` accepts, exactly as FastAPI
would validate it, and that names a ``cookie_id``. Everything else (another parameter, a bad id,
another content type, invalid JSON or fields, the admin's ``subject_id`` form, any other path or
method) goes to the FastAPI app untouched, with the body it already read replayed, so every
refusal is FastAPI's own and the OpenAPI schema describes all of it. The answer is computed by
the very functions the FastAPI endpoints call (:func:`~pledge.web.api.consent.banner_consent`,
:func:`~pledge.web.api.consent.banner_choice`), in the same thread pool, and an error raised
there is answered by the app's own exception handlers, so the bytes on the wire are the same
either way (``tests/web/test_hotpath.py`` compares the two). One thing does not see these two
requests: FastAPI's own OpenTelemetry instrumentation (off unless a provider is configured).
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from pledge.web.api.consent import banner_choice, banner_consent
from pledge.web.api.models import ConsentIn
from pledge.web.context import Web

__all__ = ["CONSENT_PATH", "ConsentHotPath"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

CONSENT_PATH = "/api/v1/consent"
_READ_QUERY = re.compile(rb"cookie_id=([A-Za-z0-9_-]{16,64})")
"""The whole query string of a banner's read (nothing percent-encoded: the id never needs it)."""
_MAX_BODY = 256 * 1024
"""A banner's choice is a few hundred bytes; a larger body is left to FastAPI (which reads it)."""


class ConsentHotPath:
    """ASGI: answers the banner's consent reads and writes directly, hands the rest to ``app``."""

    def __init__(self, app: FastAPI, web: Web) -> None:
        self.app: Any = app
        self.web = web
        self.handlers = app.exception_handlers
        """The app's own (the same dict: a handler added later counts here too)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == CONSENT_PATH and not scope.get("root_path"):
            method = scope["method"]
            if method == "GET":
                found = _READ_QUERY.fullmatch(scope.get("query_string", b""))
                if found is not None:
                    await self._read(scope, receive, send, found.group(1).decode("ascii"))
                    return
            elif method == "POST" and _json_body(scope):
                await self._write(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _read(self, scope: Scope, receive: Receive, send: Send, cookie_id: str) -> None:
        try:
            body = await run_in_threadpool(banner_consent, self.web, cookie_id)
        except Exception as exc:
            await self._error(scope, receive, send, exc)
            return
        await Response(body, media_type="application/json")(scope, receive, send)

    async def _write(self, scope: Scope, receive: Receive, send: Send) -> None:
        received: list[Message] = []
        choice = await _banner_choice(receive, received)
        if choice is None:
            await self.app(scope, _replay(received, receive), send)
            return
        secure = scope.get("scheme") == "https"
        try:
            response = await run_in_threadpool(banner_choice, self.web, choice, secure=secure)
        except Exception as exc:
            await self._error(scope, _replay(received, receive), send, exc)
            return
        await response(scope, receive, send)

    async def _error(self, scope: Scope, receive: Receive, send: Send, error: Exception) -> None:
        """Answer as the app answers ``error`` raised by its endpoint: its exception handler for
        the nearest class; one for ``Exception`` (unexpected) answers, then the error goes on up
        to the server, as Starlette's ``ServerErrorMiddleware`` does."""
        handlers = self.handlers
        for cls in type(error).__mro__:
            handler = handlers.get(cls)
            if handler is not None:
                break
        else:  # pragma: no cover - create_app registers one for Exception
            raise error
        response = handler(Request(scope, receive), error)
        if inspect.isawaitable(response):
            response = await response
        await response(scope, receive, send)
        if cls is Exception:
            raise error


def _json_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return bool(value.split(b";", 1)[0].strip().lower() == b"application/json")
    return False


async def _banner_choice(receive: Receive, received: list[Message]) -> ConsentIn | None:
    """The request's body as the banner's choice, or None (then the app is to answer it): every
    message read is kept in ``received`` for the replay."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        received.append(message)
        if message["type"] != "http.request":
            return None  # the client went away: the app answers as it always does
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    raw = b"".join(chunks)
    if not raw:
        return None
    # As FastAPI reads a JSON body: json.loads (Starlette's Request.json), then the model.
    try:
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("cookie_id") is None:
            return None
        return ConsentIn.model_validate(data)
    except (ValueError, ValidationError, RecursionError):  # FastAPI's to refuse, its way
        return None


def _replay(received: list[Message], receive: Receive) -> Receive:
    """``receive`` as it was before the messages in ``received`` were taken from it."""
    pending = list(received)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
