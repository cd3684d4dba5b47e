"""``GET``/``POST /api/v1/consent`` (by banner cookie id, or by subject with the API key) and the
signed-in person's own ``/api/v1/me/consent``.

The banner posts ``{"cookie_id", "choices", "policy_version", "gpc", "source": "banner"}``; the
answer re-issues the consent cookie *signed*, which is what lets the consent middleware trust the
grants in it (see :mod:`pledge.middleware.consent_cookie`).
"""

from __future__ import annotations

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
from pledge.web.consent import Change, Identity, apply_changes, consent_view, record_banner_choice
from pledge.web.context import Web, admin_key, subject_session, web
from pledge.web.errors import ApiError
from pledge.web.security import is_secure

if TYPE_CHECKING:
    from pledge.system import Pledge

router = APIRouter(tags=["consent"])

COOKIE_ID_PATTERN = r"^[A-Za-z0-9_-]{16,64}$"
"""What a banner's visitor id looks like (the query parameter and the body field alike)."""
CookieId = Annotated[str | None, Query(pattern=COOKIE_ID_PATTERN, description="the banner's visitor id")]
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
    ctx = web(request)
    if (cookie_id is None) == (subject_id is None):
        raise InputError("give exactly one of cookie_id or subject_id")
    if subject_id is None:
        assert cookie_id is not None
        return Response(banner_consent(ctx, cookie_id, jurisdiction), media_type="application/json")
    system = ctx.system
    _check_jurisdiction(system, jurisdiction)
    admin_key(request)
    state = system.ledger.current(system.directory.root(subject_id))
    return Response(_rendered(ctx, state.root, state, jurisdiction), media_type="application/json")


def banner_consent(ctx: Web, cookie_id: str, jurisdiction: str | None = None) -> bytes:
    """The JSON answer to ``GET /consent?cookie_id=`` (the id already checked against
    :data:`COOKIE_ID_PATTERN`). Shared with :mod:`pledge.web.hotpath`."""
    system = ctx.system
    _check_jurisdiction(system, jurisdiction)
    registered = system.directory.lookup("cookie_id", cookie_id)
    if registered is None:
        return _rendered(ctx, None, None, jurisdiction)
    state = system.ledger.current(registered)
    return _rendered(ctx, state.root, state, jurisdiction)


def _check_jurisdiction(system: Pledge, jurisdiction: str | None) -> None:
    if jurisdiction is not None and jurisdiction not in system.policy.jurisdictions:
        raise InputError(f"unknown jurisdiction {jurisdiction[:60]!r}")


def _rendered(ctx: Web, subject: str | None, state: LedgerState | None, jurisdiction: str | None) -> bytes:
    system = ctx.system
    # The answer depends on the state object, and on the day and the policy version in force.
    stamp = (Identity(state), system.now().date(), system.version, system.material_version())
    key = (subject, jurisdiction)
    views = ctx.consent_views
    body = views.get(key, stamp)
    if body is None:
        view = consent_view(system, subject, jurisdiction=jurisdiction, state=state)
        body = ConsentOut(**view).model_dump_json().encode()
        views.put(key, stamp, body)
    return body


@router.post("/consent", response_model=ConsentRecorded)
def write_consent(body: ConsentIn, request: Request, response: Response) -> ConsentRecorded | Response:
    """Record a banner choice (public), or changes for a subject (admin API key)."""
    ctx = web(request)
    system = ctx.system
    if body.cookie_id is not None:
        return banner_choice(ctx, body, secure=is_secure(request))
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


def banner_choice(ctx: Web, body: ConsentIn, *, secure: bool) -> Response:
    """Record the banner's choice in ``body`` (one with a ``cookie_id``) and answer with the
    signed consent cookie. Shared with :mod:`pledge.web.hotpath`."""
    system = ctx.system
    assert body.cookie_id is not None
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
        "set-cookie", consent_set_cookie_header(sign_consent_cookie(value, ctx.signing_key), secure=secure)
    )
    return done


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
