"""Security headers on every response, and CSRF protection for every form.

**Headers.** A Content Security Policy without ``unsafe-inline`` for scripts: scripts come from
this origin only, plus inline scripts carrying the per-response nonce (the banner copies a tagged
script's nonce when it activates it, so nonce'd tagged inline scripts work too). Styles come from
files only. ``frame-ancestors 'none'`` (and ``X-Frame-Options``) against clickjacking,
``nosniff``, ``Referrer-Policy: no-referrer`` (links carry tokens; no other site should see them),
and ``Cache-Control: no-store`` on pages, which show personal data.

**CSRF: signed double submit.** Every visitor gets a random ``pledge_csrf`` cookie (``HttpOnly``,
``SameSite=Lax``). A form carries ``csrf_token`` = HMAC(signing key, cookie value). Another site
can make a browser send the cookie but can neither read it nor compute the HMAC, so a forged post
fails; a token copied from another visitor fails too (it is bound to their cookie). JSON API
posts need no token: browsers refuse cross-site ``application/json`` posts without a CORS
preflight, which this app never grants, and the API checks the content type.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request

from pledge.web.errors import ApiError

__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "SecurityMiddleware",
    "check_csrf",
    "csrf_token",
    "is_secure",
    "nonce",
]

CSRF_COOKIE = "pledge_csrf"
CSRF_FIELD = "csrf_token"
_STATE_NONCE = "csp_nonce"
_STATE_CSRF = "csrf_cookie"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]


def _csp(nonce_value: str) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce_value}'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def _is_https(scope: Scope) -> bool:
    return scope.get("scheme") in ("https", "wss")


def is_secure(request: Request) -> bool:
    """Cookies get ``Secure`` when the page was served over TLS (uvicorn ``--proxy-headers``
    makes this right behind a TLS-terminating proxy)."""
    return request.url.scheme == "https"


class SecurityMiddleware:
    """Adds the headers above, a CSP nonce per response and the CSRF cookie when missing."""

    def __init__(self, app: ASGIApp, *, web: Any = None) -> None:
        self.app = app
        self.web = web
        """The app's :class:`~pledge.web.context.Web` (for tests and embedding)."""

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        nonce_value = secrets.token_urlsafe(16)
        state[_STATE_NONCE] = nonce_value
        existing = _cookie(scope, CSRF_COOKIE)
        path = scope.get("path", "")
        fresh = None
        if path.startswith(("/api/", "/static/")):
            state[_STATE_CSRF] = existing or ""  # JSON and files carry no forms: no cookie needed
        elif existing is None or not _plausible(existing):
            fresh = secrets.token_urlsafe(32)
            state[_STATE_CSRF] = fresh
        else:
            state[_STATE_CSRF] = existing
        secure = _is_https(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {key.lower() for key, _ in headers}
                extra = [
                    (b"content-security-policy", _csp(nonce_value).encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
                ]
                if secure:
                    extra.append((b"strict-transport-security", b"max-age=31536000"))
                if b"cache-control" not in present and not path.startswith("/static/"):
                    extra.append((b"cache-control", b"no-store"))
                if fresh is not None:
                    cookie = f"{CSRF_COOKIE}={fresh}; Path=/; HttpOnly; SameSite=Lax"
                    if secure:
                        cookie += "; Secure"
                    extra.append((b"set-cookie", cookie.encode("latin-1")))
                headers.extend((k, v) for k, v in extra if k == b"set-cookie" or k not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _plausible(value: str) -> bool:
    return 20 <= len(value) <= 100 and all(c.isalnum() or c in "-_" for c in value)


def _cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() != b"cookie":
            continue
        for pair in value.decode("latin-1").split(";"):
            k, sep, v = pair.partition("=")
            if sep and k.strip() == name:
                return str(v.strip())
    return None


def nonce(request: Request) -> str:
    """This response's CSP nonce (for the few inline scripts a page may carry)."""
    return str(request.scope.get("state", {}).get(_STATE_NONCE, ""))


def _sign(key: bytes, cookie: str) -> str:
    digest = hmac.new(key, b"pledge-csrf\x00" + cookie.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def csrf_token(request: Request, key: bytes) -> str:
    """The token forms on this page carry, bound to the visitor's CSRF cookie."""
    cookie = str(request.scope.get("state", {}).get(_STATE_CSRF, ""))
    return _sign(key, cookie) if cookie else ""


def check_csrf(request: Request, form: FormData, key: bytes) -> None:
    """Refuse a form post whose token does not match the cookie the browser sent (403)."""
    cookie = request.cookies.get(CSRF_COOKIE)
    sent = form.get(CSRF_FIELD)
    if not cookie or not _plausible(cookie) or not isinstance(sent, str) or not sent:
        raise ApiError(
            403,
            "csrf_failed",
            "this form has expired or did not come from this site",
            hint="reload the page and send the form again (cookies must be enabled)",
        )
    if not hmac.compare_digest(_sign(key, cookie), sent):
        raise ApiError(
            403,
            "csrf_failed",
            "this form has expired or did not come from this site",
            hint="reload the page and send the form again",
        )
