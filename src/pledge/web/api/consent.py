"""``GET``/``POST /api/v1/consent`` (by banner cookie id, or by subject with the API key) and the
signed-in person's own ``/api/v1/me/consent``.

The banner posts ``{"cookie_id", "choices", "policy_version", "gpc", "source": "banner"}``; the
answer re-issues the consent cookie *signed*, which is what lets the consent middleware trust the
grants in it (see :mod:`pledge.middleware.consent_cookie`).
"""

from __future__ import annotations

import itertools
import threading
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Query, Request, Response

from pledge.consent.snapshot import LedgerState
from pledge.errors import InputError
from pledge.middleware.consent_cookie import (
    consent_set_cookie_header,
    format_consent_cookie,
    sign_consent_cookie,
)
from pledge.web.api.models import ConsentIn, ConsentOut, ConsentRecorded, MyConsentIn
from pledge.web.consent import Change, apply_changes, consent_view, record_banner_choice
from pledge.web.context import admin_key, subject_session, web
from pledge.web.errors import ApiError
from pledge.web.security import is_secure

if TYPE_CHECKING:
    from pledge.system import Pledge

router = APIRouter(tags=["consent"])

CookieId = Annotated[
    str | None, Query(pattern=r"^[A-Za-z0-9_-]{16,64}$", description="the banner's visitor id")
]
SubjectId = Annotated[str | None, Query(min_length=1, max_length=200, description="a subject id (API key)")]
Jurisdiction = Annotated[str | None, Query(min_length=1, max_length=120)]


@router.get("/consent", response_model=ConsentOut)
def read_consent(
    request: Request,
    cookie_id: CookieId = None,
    subject_id: SubjectId = None,
    jurisdiction: Jurisdiction = None,
) -> Response:
    """A visitor's consent by banner ``cookie_id`` (anyone holding the id), or a subject's by
    ``subject_id`` (admin API key)."""
    system = web(request).system
    if (cookie_id is None) == (subject_id is None):
        raise InputError("give exactly one of cookie_id or subject_id")
    if jurisdiction is not None and jurisdiction not in system.policy.jurisdictions:
        raise InputError(f"unknown jurisdiction {jurisdiction[:60]!r}")
    if subject_id is not None:
        admin_key(request)
        state = system.ledger.current(system.directory.root(subject_id))
    else:
        assert cookie_id is not None
        registered = system.directory.lookup("cookie_id", cookie_id)
        if registered is None:
            return _render(request, system, None, None, jurisdiction)
        state = system.ledger.current(registered)
    return _render(request, system, state.root, state, jurisdiction)


class _Views:
    """Rendered answers to ``GET /consent``, per subject, for as long as the subject's state is
    the very object the enforcer's cache holds: any write to their ledger (here or in another
    process) replaces that object, so a stale answer is never served. Bounded."""

    LIMIT = 4096

    def __init__(self) -> None:
        self.rendered: dict[tuple[str | None, str | None], tuple[object, bytes]] = {}
        self.lock = threading.Lock()

    def get(self, key: tuple[str | None, str | None], stamp: object) -> bytes | None:
        found = self.rendered.get(key)
        return found[1] if found is not None and found[0] == stamp else None

    def put(self, key: tuple[str | None, str | None], stamp: object, body: bytes) -> None:
        rendered = self.rendered
        if len(rendered) >= self.LIMIT:
            with self.lock:  # forget the oldest quarter (dicts keep insertion order)
                for stale in list(itertools.islice(rendered, self.LIMIT // 4)):
                    rendered.pop(stale, None)
        rendered[key] = (stamp, body)


_views_lock = threading.Lock()


def _render(
    request: Request, system: Pledge, subject: str | None, state: LedgerState | None, jurisdiction: str | None
) -> Response:
    app_state = request.app.state
    views: _Views | None = getattr(app_state, "consent_views", None)
    if views is None:
        with _views_lock:
            views = getattr(app_state, "consent_views", None)
            if views is None:
                views = app_state.consent_views = _Views()
    # The answer depends on the state object, and on the day and the policy version in force.
    stamp = (_Identity(state), system.now().date(), system.version, system.material_version())
    key = (subject, jurisdiction)
    body = views.get(key, stamp)
    if body is None:
        view = consent_view(system, subject, jurisdiction=jurisdiction, state=state)
        body = ConsentOut(**view).model_dump_json().encode()
        views.put(key, stamp, body)
    return Response(body, media_type="application/json")


class _Identity:
    """Compares equal only to a wrapper of the very same object (states compare by value, and
    an equal-looking state read before a write of an equal mark must not count as the same)."""

    __slots__ = ("obj",)

    def __init__(self, obj: object) -> None:
        self.obj = obj

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Identity) and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)


@router.post("/consent", response_model=ConsentRecorded)
def write_consent(body: ConsentIn, request: Request, response: Response) -> ConsentRecorded | Response:
    """Record a banner choice (public), or changes for a subject (admin API key)."""
    ctx = web(request)
    system = ctx.system
    if body.cookie_id is not None:
        if body.subject_id is not None or body.changes:
            raise InputError("a banner choice names a cookie_id and choices only")
        if body.source != "banner":
            raise InputError("choices by cookie id come from the banner: source must be 'banner'")
        if body.choices is None or body.policy_version is None:
            raise InputError("a banner choice needs choices and policy_version")
        recorded, categories = record_banner_choice(
            system, body.cookie_id, body.choices, body.policy_version, gpc=body.gpc
        )
        material = system.material_version()
        value = format_consent_cookie(body.cookie_id, categories, system.version, material)
        answer = ConsentRecorded(
            recorded=recorded, policy_version=system.version, material_version=material, categories=categories
        )
        # Serialised here, already checked by its model: FastAPI would validate it a second time.
        done = Response(answer.model_dump_json(), media_type="application/json")
        done.headers.append(
            "set-cookie",
            consent_set_cookie_header(sign_consent_cookie(value, ctx.signing_key), secure=is_secure(request)),
        )
        return done
    if body.subject_id is None:
        raise InputError("give cookie_id (a banner choice) or subject_id (with the API key)")
    admin_key(request)
    if body.source == "banner":
        raise InputError("banner choices are recorded by cookie_id")
    if body.choices is not None or body.policy_version is not None:
        raise InputError("changes for a subject are listed in 'changes'")
    subject = system.directory.root(body.subject_id)
    count = apply_changes(
        system,
        subject,
        (Change(c.action, c.purpose, c.channel) for c in body.changes),
        source=body.source,
        proof=body.proof,
        jurisdiction=body.jurisdiction,
    )
    view = consent_view(system, subject, events=False)
    return ConsentRecorded(
        recorded=count,
        policy_version=system.version,
        material_version=view["material_version"],
        categories=view["categories"],
    )


def _my_subject(request: Request) -> str:
    session = subject_session(request)
    if session is None or session.subject is None:
        raise ApiError(
            401,
            "unauthorized",
            "sign in with the link we e-mail you first",
            hint="POST /api/v1/signin with your address",
        )
    return session.subject


@router.get("/me/consent", response_model=ConsentOut)
def my_consent(request: Request, jurisdiction: Jurisdiction = None) -> ConsentOut:
    """The signed-in person's own consent and history."""
    system = web(request).system
    return ConsentOut(**consent_view(system, _my_subject(request), jurisdiction=jurisdiction))


@router.post("/me/consent", response_model=ConsentRecorded)
def change_my_consent(body: MyConsentIn, request: Request) -> ConsentRecorded:
    """The signed-in person changes their own consent, objections and sale opt-out."""
    system = web(request).system
    subject = _my_subject(request)
    count = apply_changes(
        system,
        subject,
        (Change(c.action, c.purpose, c.channel) for c in body.changes),
        source="privacy_center",
        proof="privacy center (API)",
        jurisdiction=body.jurisdiction,
    )
    view = consent_view(system, subject, events=False)
    return ConsentRecorded(
        recorded=count,
        policy_version=system.version,
        material_version=view["material_version"],
        categories=view["categories"],
    )
