"""The one place the web layer turns errors into HTTP: a status and a stable JSON error code.

Every answer the API gives for an error has the same shape::

    {"error": {"code": "token_expired", "message": "...", "hint": "...", "problems": [...]}}

``code`` is a contract (clients branch on it; add codes, never rename them). Domain errors come
from :mod:`pledge.errors`; malformed requests (bad JSON, wrong types, missing fields) are
``bad_input`` 422; unknown routes ``not_found`` 404; anything unexpected is ``internal`` 500 and
never shows a traceback or the exception's text. Pages get the same status with an HTML page.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from pledge.errors import (
    ConfigError,
    Conflict,
    ConnectorError,
    DatamapError,
    DeclarationError,
    InputError,
    NotFound,
    PermissionDenied,
    PledgeError,
    Problem,
    RateLimited,
    StorageError,
    TokenError,
    TokenExpired,
    TokenInvalid,
    TokenReplayed,
)

__all__ = [
    "ERROR_RESPONSES",
    "ApiError",
    "ErrorBody",
    "ErrorDetail",
    "ProblemOut",
    "error_body",
    "install_error_handlers",
    "status_for",
]

log = logging.getLogger("pledge.web")

# Most specific first: the first class an error is an instance of decides.
_STATUS: tuple[tuple[type[PledgeError], int], ...] = (
    (DeclarationError, 422),
    (DatamapError, 422),
    (ConfigError, 422),
    (InputError, 422),
    (NotFound, 404),
    (Conflict, 409),
    (PermissionDenied, 403),
    (TokenReplayed, 409),
    (TokenExpired, 400),
    (TokenInvalid, 400),
    (TokenError, 400),
    (RateLimited, 429),
    (ConnectorError, 502),
    (StorageError, 503),
)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "bad_input",
    429: "rate_limited",
}


class ProblemOut(BaseModel):
    message: str
    where: str | None = None
    hint: str | None = None
    code: str = "invalid"


class ErrorDetail(BaseModel):
    code: str
    message: str
    hint: str | None = None
    problems: list[ProblemOut] = []


class ErrorBody(BaseModel):
    error: ErrorDetail


def _described(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _described("Bad request: a malformed, forged or expired link or token"),
    401: _described("The API key or session is missing or wrong"),
    403: _described("Not allowed (e.g. a CSRF check failed)"),
    404: _described("Not found"),
    409: _described("Conflict with the current state (or a link already used)"),
    415: _described("The body must be JSON"),
    422: _described("The input is invalid; `problems` says what and where"),
    429: _described("Too many requests; try again later"),
}
"""Added to every API route, so the OpenAPI schema documents the error shape."""


class ApiError(Exception):
    """An HTTP-level refusal the adapters raise themselves (no API key, CSRF failure, ...)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        hint: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.hint = hint
        self.headers = dict(headers or {})


def status_for(error: PledgeError) -> int:
    for cls, status in _STATUS:
        if isinstance(error, cls):
            return status
    return 400


def error_body(
    code: str, message: str, *, hint: str | None = None, problems: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "hint": hint, "problems": problems or []}}


def _problems(error: PledgeError) -> list[dict[str, Any]]:
    found: tuple[Problem, ...] = tuple(getattr(error, "problems", None) or ())
    if len(found) == 1 and found[0].message == error.message and found[0].file is None:
        return []  # the default single problem only repeats the message
    return [
        {
            "message": p.message,
            "where": p.where() if p.file is not None else None,
            "hint": p.hint,
            "code": p.code,
        }
        for p in found
    ]


def _validation_problems(error: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for item in error.errors()[:50]:
        where = ".".join(str(part) for part in item.get("loc", ()))
        # Never echo the input back: it may be 10 kB of hostile text, or someone's data.
        out.append(
            {"message": str(item.get("msg", "invalid"))[:300], "where": where[:200], "code": "invalid"}
        )
    return out


def _wants_html(request: Request) -> bool:
    path = request.url.path
    if (
        path.startswith("/api/")
        or path in ("/openapi.json", "/.well-known/gpc.json")
        or path.startswith("/static/")
    ):
        return False
    return "text/html" in request.headers.get("accept", "") or request.method != "GET"


def _respond(
    request: Request, status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None
) -> Response:
    if _wants_html(request):
        renderer = getattr(request.app.state, "render_error", None)
        if renderer is not None:
            response: Response = renderer(request, status, body["error"])
            for name, value in (headers or {}).items():
                response.headers[name] = value
            return response
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def install_error_handlers(app: FastAPI) -> None:
    """Register the mapping on ``app`` (API answers JSON; pages answer HTML)."""

    async def pledge_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, PledgeError)
        status = status_for(error)
        headers: dict[str, str] = {}
        if isinstance(error, RateLimited):
            headers["Retry-After"] = str(max(1, int(error.retry_after)))
        if status >= 500:
            log.warning("%s: %s", error.code, error.message)
        body = error_body(error.code, error.message, hint=error.hint, problems=_problems(error))
        return _respond(request, status, body, headers)

    async def api_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, ApiError)
        body = error_body(error.code, error.message, hint=error.hint)
        return _respond(request, error.status, body, error.headers)

    async def invalid_request(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        body = error_body("bad_input", "the request is not valid", problems=_validation_problems(error))
        return _respond(request, 422, body)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        code = _HTTP_CODES.get(error.status_code, "error")
        detail = error.detail if isinstance(error.detail, str) else code.replace("_", " ")
        headers = dict(error.headers or {})
        return _respond(request, error.status_code, error_body(code, detail), headers)

    async def unexpected(request: Request, error: Exception) -> Response:
        # Logged with its type only: the text of an unexpected error may hold personal data.
        log.error("unexpected %s on %s %s", type(error).__name__, request.method, request.url.path)
        body = error_body("internal", "something went wrong on our side; please try again later")
        return _respond(request, 500, body)

    app.add_exception_handler(PledgeError, pledge_error)
    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
