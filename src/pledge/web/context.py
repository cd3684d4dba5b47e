"""What every route needs, built once per app: the system plus the web layer's own services.

Routes reach it through :func:`web` (``request.app.state.web``) and the small dependencies below:
``admin_key`` for the admin API (``Authorization: Bearer KEY`` or ``X-API-Key: KEY``),
``subject_session`` for what a verified person may see, ``admin_session`` for the console.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Request
from starlette.responses import Response

from pledge.web.complaints import ComplaintStore
from pledge.web.consent import RenderedViews
from pledge.web.errors import ApiError
from pledge.web.ratelimit import Limit, RateLimiter
from pledge.web.security import is_secure
from pledge.web.sessions import ADMIN_COOKIE, SUBJECT_COOKIE, Session, SessionKind, SessionStore
from pledge.web.signin import SigninLinks

if TYPE_CHECKING:
    from pledge.system import Pledge
    from pledge.web.banner import BannerAssets

__all__ = [
    "Limits",
    "Web",
    "admin_key",
    "admin_session",
    "client_ip",
    "require_admin_session",
    "subject_session",
    "web",
]


@dataclass(frozen=True)
class Limits:
    """How many verification and sign-in mails one address, and one network, may ask for."""

    per_address: Limit = field(default_factory=lambda: Limit(3, dt.timedelta(hours=1)))
    per_ip: Limit = field(default_factory=lambda: Limit(20, dt.timedelta(hours=1)))
    complaints_per_ip: Limit = field(default_factory=lambda: Limit(10, dt.timedelta(hours=1)))


@dataclass
class Web:
    system: Pledge
    banner: BannerAssets
    shop: bool = False
    limits: Limits = field(default_factory=Limits)
    consent_views: RenderedViews = field(default_factory=RenderedViews)
    """``GET /api/v1/consent`` answers already rendered (see :class:`RenderedViews`)."""
    sessions: SessionStore = field(init=False)
    limiter: RateLimiter = field(init=False)
    complaints: ComplaintStore = field(init=False)
    signin: SigninLinks = field(init=False)

    def __post_init__(self) -> None:
        s = self.system
        self.sessions = SessionStore(s.db, clock=s.now)
        self.limiter = RateLimiter(s.db, s.keys.hash_key, clock=s.now)
        self.complaints = ComplaintStore(
            s.db,
            s.audit,
            master_key=s.keys.master_key,
            hash_key=s.keys.hash_key,
            jurisdictions=frozenset(s.policy.jurisdictions),
            clock=s.now,
        )
        self.signin = SigninLinks(s)

    @property
    def signing_key(self) -> bytes:
        return self.system.keys.signing_key

    def limit_mail(self, request: Request, address: str) -> None:
        """Count one verification or sign-in mail against the address and the sender's network."""
        self.limiter.hit("mail-ip", client_ip(request), self.limits.per_ip)
        self.limiter.hit("mail-address", address.strip().lower(), self.limits.per_address)

    # --- sessions as cookies ----------------------------------------------------------------------

    def open_session(
        self,
        request: Request,
        response: Response,
        kind: SessionKind,
        *,
        subject: str | None = None,
        requests: tuple[str, ...] = (),
    ) -> Session:
        """Add to the person's current session, or start one, and set its cookie."""
        current = self.session(request, kind)
        if current is not None:
            return self.sessions.grant(current, subject=subject, requests=requests)
        secret, session = self.sessions.create(kind, subject=subject, requests=requests)
        name, path = _cookie(kind)
        response.set_cookie(
            name,
            secret,
            max_age=int(self.sessions.ttl(kind).total_seconds()),
            path=path,
            httponly=True,
            secure=is_secure(request),
            samesite="lax",
        )
        return session

    def session(self, request: Request, kind: SessionKind) -> Session | None:
        name, _ = _cookie(kind)
        return self.sessions.load(request.cookies.get(name), kind)

    def close_session(self, request: Request, response: Response, kind: SessionKind) -> None:
        name, path = _cookie(kind)
        self.sessions.delete(request.cookies.get(name))
        response.delete_cookie(name, path=path, httponly=True, secure=is_secure(request), samesite="lax")


def _cookie(kind: SessionKind) -> tuple[str, str]:
    return (ADMIN_COOKIE, "/admin") if kind == "admin" else (SUBJECT_COOKIE, "/")


def web(request: Request) -> Web:
    found: Web = request.app.state.web
    return found


def client_ip(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def admin_key(request: Request) -> None:
    """The admin API's gate: the API key as a bearer token or in ``X-API-Key``."""
    header = request.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    given = credential.strip() if scheme.lower() == "bearer" else request.headers.get("x-api-key", "")
    expected = web(request).system.keys.admin_key
    if not given or not hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8")):
        raise ApiError(
            401,
            "unauthorized",
            "this endpoint needs the admin API key" if not given else "the API key is not valid",
            hint="send it as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
            headers={"WWW-Authenticate": 'Bearer realm="pledge"'},
        )


def subject_session(request: Request) -> Session | None:
    return web(request).session(request, "subject")


def admin_session(request: Request) -> Session | None:
    return web(request).session(request, "admin")


def require_admin_session(request: Request) -> Session:
    session = admin_session(request)
    if session is None:
        raise ApiError(401, "unauthorized", "please sign in to the admin console", hint="/admin/login")
    return session
