"""The privacy center: make a request, confirm it from the e-mail link, follow it and download the
result, manage preferences, unsubscribe, complain, and (seed 001) a referred friend's removal.

Server-rendered and complete without JavaScript. Every form carries the CSRF token; every answer
to "is this address known?" is the same (the mail goes out either way); links are signed,
expiring and single-use.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from pledge.errors import InputError, NotFound
from pledge.requests.steps import Identity
from pledge.requests.verification import RESULT_USE, VERIFY_USE, request_id_from_claims
from pledge.web.complaints import TOPICS
from pledge.web.context import client_ip, subject_session, web
from pledge.web.pages.forms import KIND_TEXT, correctable_categories, field, offers, read_form
from pledge.web.pages.render import page

router = APIRouter(include_in_schema=False)

_KINDS = tuple(KIND_TEXT)
_MAX_ROWS = 200


def _jurisdictions(request: Request) -> list[tuple[str, str]]:
    decl = web(request).system.loaded.declaration
    return [(j.id, j.name) for j in decl.jurisdictions]


def _purposes(request: Request, *, which: str) -> list[tuple[str, str]]:
    system = web(request).system
    decl = system.loaded.declaration
    rules = system.policy.purposes
    if which == "object":
        return [(p.id, p.name) for p in decl.purposes if rules[p.id].may_object]
    if which == "withdraw":
        return [(p.id, p.name) for p in decl.purposes if rules[p.id].consent_choice]
    return [(p.id, p.name) for p in decl.purposes]


# --- the center's front page -------------------------------------------------------------------------


@router.get("/privacy", response_class=HTMLResponse)
def center(request: Request) -> HTMLResponse:
    system = web(request).system
    decl = system.loaded.declaration
    complaint_rights = [r for r in decl.rights if r.right == "complaint"]
    return page(
        request,
        "center.html",
        title="Privacy center",
        offers=offers(system),
        signed_in=subject_session(request) is not None,
        authorities=[(j.name, j.authority) for j in decl.jurisdictions if j.authority],
        complaint=bool(complaint_rights),
    )


# --- making a request ----------------------------------------------------------------------------------


def _request_form(request: Request, status: int = 200, **values: Any) -> HTMLResponse:
    system = web(request).system
    chosen = values.get("kind") or request.query_params.get("kind", "")
    return page(
        request,
        "request_form.html",
        status,
        title="Make a request",
        offers=offers(system),
        jurisdictions=_jurisdictions(request),
        categories=correctable_categories(system),
        purposes_object=_purposes(request, which="object"),
        purposes_withdraw=_purposes(request, which="withdraw"),
        purposes_all=_purposes(request, which="all"),
        chosen=chosen if chosen in _KINDS else "",
        email=values.get("email", ""),
        jurisdiction=values.get("jurisdiction", ""),
        errors=values.get("errors", []),
        referral=values.get("referral", False),
    )


@router.get("/privacy/request", response_class=HTMLResponse)
def request_form(request: Request) -> HTMLResponse:
    return _request_form(request)


def _params(kind: str, form: Any) -> dict[str, Any]:
    if kind == "rectify":
        category, value = field(form, "category", 200), field(form, "value", 1000).strip()
        if not category or not value:
            raise InputError("say which detail is wrong and what it should be")
        return {"set": {category: value}}
    if kind in ("restrict", "object", "withdraw"):
        chosen = [p for p in form.getlist("purposes") if isinstance(p, str) and p][:50]
        return {"purposes": chosen} if chosen else {}
    return {}


@router.post("/privacy/request", response_class=HTMLResponse)
async def make_request(request: Request) -> Response:
    ctx = web(request)
    form = await read_form(request)
    kind = field(form, "kind", 20)
    email = field(form, "email", 320).strip()
    jurisdiction = field(form, "jurisdiction", 120) or None
    referral = field(form, "referral", 5) == "1"
    try:
        if kind not in _KINDS:
            raise InputError("choose what you would like us to do")
        if not email:
            raise InputError("give the e-mail address the request is about")
        params = _params(kind, form)
        ctx.limit_mail(request, email)
        ctx.system.workflow.create_request(
            kind,  # type: ignore[arg-type]
            [Identity("email", email)],
            jurisdiction=jurisdiction,
            source="privacy_center",
            params=params,
        )
    except InputError as error:
        return _request_form(
            request,
            422,
            kind=kind,
            email=email,
            jurisdiction=jurisdiction or "",
            errors=[error.message, *(p.message for p in error.problems if p.message != error.message)],
            referral=referral,
        )
    return RedirectResponse("/privacy/request/sent", status_code=303)


@router.get("/privacy/request/sent", response_class=HTMLResponse)
def request_sent(request: Request) -> HTMLResponse:
    return page(request, "sent.html", title="Check your e-mail", what="request")


@router.get("/privacy/referral", response_class=HTMLResponse)
def referral_form(request: Request) -> HTMLResponse:
    """Seed 001: a friend someone referred asks for their name and address to be removed."""
    return page(request, "referral.html", title="Remove my details", jurisdictions=_jurisdictions(request))


# --- the links in the e-mails ----------------------------------------------------------------------------


@router.get("/privacy/requests/verify", response_class=HTMLResponse)
def verify_page(request: Request, token: str = "") -> HTMLResponse:
    """The link opens a page with a button: mail scanners that follow links must not confirm."""
    ctx = web(request)
    claims = ctx.system.tokens.verify(token[:4096], VERIFY_USE)
    record = ctx.system.workflow.get_request(request_id_from_claims(claims))
    return page(request, "verify.html", title="Confirm your request", token=token, record=record)


@router.post("/privacy/requests/verify", response_class=HTMLResponse)
async def verify(request: Request) -> Response:
    ctx = web(request)
    form = await read_form(request)
    record = ctx.system.workflow.verify_request(field(form, "token", 4096))
    contact = ctx.system.request_contact(record.id)
    subject = ctx.system.resolve_subject("email", contact) if contact else None
    response = RedirectResponse(f"/privacy/my/requests/{record.id}", status_code=303)
    ctx.open_session(request, response, "subject", subject=subject, requests=(record.id,))
    return response


@router.get("/privacy/requests/result", response_class=HTMLResponse)
def result_link(request: Request, token: str = "") -> Response:
    """The completion mail's link: reusable until it expires; it opens the request's page."""
    ctx = web(request)
    request_id = request_id_from_claims(ctx.system.tokens.verify(token[:4096], RESULT_USE))
    ctx.system.workflow.get_request(request_id)
    response = RedirectResponse(f"/privacy/my/requests/{request_id}", status_code=303)
    ctx.open_session(request, response, "subject", requests=(request_id,))
    return response


# --- my requests -----------------------------------------------------------------------------------------


def _signed_in_or_login(request: Request) -> Response | None:
    if subject_session(request) is None:
        return page(
            request,
            "signin.html",
            401,
            title="Sign in to continue",
            note="Open the link in the e-mail we sent you, or ask for a new sign-in link.",
            email="",
            errors=[],
        )
    return None


@router.get("/privacy/my", response_class=HTMLResponse)
def my_page(request: Request) -> Response:
    refused = _signed_in_or_login(request)
    if refused is not None:
        return refused
    ctx = web(request)
    session = subject_session(request)
    assert session is not None
    records = []
    for request_id in reversed(session.requests):
        try:
            records.append(ctx.system.workflow.get_request(request_id))
        except NotFound:
            continue
    return page(
        request, "my.html", title="My requests", records=records, has_subject=session.subject is not None
    )


def _my_data(folder: Path) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]], bool]:
    """The archive's rows per collection (capped for the page) and its disclosures."""
    data_file, manifest_file = folder / "access" / "data.json", folder / "access" / "manifest.json"
    if not data_file.is_file():
        return {}, [], False
    data = json.loads(data_file.read_text(encoding="utf-8"))
    manifest = json.loads(manifest_file.read_text(encoding="utf-8")) if manifest_file.is_file() else {}
    shown = {name: rows[:_MAX_ROWS] for name, rows in data.items() if isinstance(rows, list)}
    capped = any(len(rows) > _MAX_ROWS for rows in data.values() if isinstance(rows, list))
    return shown, list(manifest.get("disclosures") or []), capped


@router.get("/privacy/my/requests/{request_id}", response_class=HTMLResponse)
def my_request(request_id: str, request: Request) -> Response:
    refused = _signed_in_or_login(request)
    if refused is not None:
        return refused
    ctx = web(request)
    session = subject_session(request)
    assert session is not None
    if not session.owns(request_id):
        raise NotFound("no such request in your session")
    workflow = ctx.system.workflow
    record = workflow.get_request(request_id)
    report = workflow.request_report(request_id)
    data: dict[str, list[dict[str, Any]]] = {}
    disclosures: list[dict[str, Any]] = []
    capped = False
    if record.state == "completed" and record.kind in ("access", "portability"):
        data, disclosures, capped = _my_data(ctx.system.services.request_dir(record.id))
    return page(
        request,
        "my_request.html",
        title=f"Request {record.id[:8]}",
        record=record,
        what=KIND_TEXT.get(record.kind, (record.kind, ""))[0],
        status=record.deadline_status(ctx.system.now()),
        steps=report["steps"],
        kept=report["kept"],
        data=data,
        disclosures=disclosures,
        capped=capped,
        archive=record.state == "completed" and record.kind in ("access", "portability"),
    )


@router.get("/privacy/my/requests/{request_id}/archive")
def my_archive(request_id: str, request: Request) -> Response:
    session = subject_session(request)
    if session is None or not session.owns(request_id):
        raise NotFound("no such request in your session")
    path = web(request).system.workflow.archive(request_id)
    return FileResponse(
        path,
        media_type="application/zip",
        filename=f"my-data-{request_id[:12]}.zip",
        headers={"Cache-Control": "no-store"},
    )


# --- signing in for preferences -------------------------------------------------------------------------


@router.get("/privacy/signin", response_class=HTMLResponse)
def signin_form(request: Request) -> HTMLResponse:
    return page(request, "signin.html", title="Manage my preferences", note=None, email="", errors=[])


@router.post("/privacy/signin", response_class=HTMLResponse)
async def signin(request: Request) -> Response:
    ctx = web(request)
    form = await read_form(request)
    email = field(form, "email", 320).strip()
    try:
        if not email:
            raise InputError("give your e-mail address")
        ctx.limit_mail(request, email)
        ctx.signin.send(email)
    except InputError as error:
        return page(
            request,
            "signin.html",
            422,
            title="Manage my preferences",
            note=None,
            email=email,
            errors=[error.message],
        )
    return RedirectResponse("/privacy/signin/sent", status_code=303)


@router.get("/privacy/signin/sent", response_class=HTMLResponse)
def signin_sent(request: Request) -> HTMLResponse:
    return page(request, "sent.html", title="Check your e-mail", what="signin")


@router.get("/privacy/signin/confirm", response_class=HTMLResponse)
def signin_confirm_page(request: Request, token: str = "") -> HTMLResponse:
    web(request).signin.check(token[:4096])
    return page(request, "signin_confirm.html", title="Sign in", token=token)


@router.post("/privacy/signin/confirm", response_class=HTMLResponse)
async def signin_confirm(request: Request) -> Response:
    ctx = web(request)
    form = await read_form(request)
    subject = ctx.signin.redeem(field(form, "token", 4096))
    response = RedirectResponse("/privacy/preferences", status_code=303)
    ctx.open_session(request, response, "subject", subject=subject)
    return response


@router.post("/privacy/signout", response_class=HTMLResponse)
async def signout(request: Request) -> Response:
    await read_form(request)
    response = RedirectResponse("/privacy?done=signed_out", status_code=303)
    web(request).close_session(request, response, "subject")
    return response


# --- complaints and questions ----------------------------------------------------------------------------


def _complaint_form(request: Request, status: int = 200, **values: Any) -> HTMLResponse:
    decl = web(request).system.loaded.declaration
    return page(
        request,
        "complaint.html",
        status,
        title="Complain or ask a question",
        topics=TOPICS,
        jurisdictions=_jurisdictions(request),
        authorities=[(j.name, j.authority) for j in decl.jurisdictions if j.authority],
        values=values,
        errors=values.get("errors", []),
    )


@router.get("/privacy/complaint", response_class=HTMLResponse)
def complaint_form(request: Request) -> HTMLResponse:
    return _complaint_form(request)


@router.post("/privacy/complaint", response_class=HTMLResponse)
async def complain(request: Request) -> Response:
    ctx = web(request)
    form = await read_form(request)
    values = {k: field(form, k, 5000) for k in ("kind", "topic", "message", "email", "name", "jurisdiction")}
    try:
        ctx.limiter.hit("complaint-ip", client_ip(request), ctx.limits.complaints_per_ip)
        reference = ctx.complaints.submit(
            kind=values["kind"] or "complaint",
            topic=values["topic"] or "other",
            message=values["message"],
            email=values["email"] or None,
            name=values["name"] or None,
            jurisdiction=values["jurisdiction"] or None,
        )
    except InputError as error:
        return _complaint_form(request, 422, errors=[error.message], **values)
    return page(request, "complaint_sent.html", title="Thank you", reference=reference)
