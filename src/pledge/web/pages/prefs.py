"""Preferences per purpose and channel, objections, the sale opt-out, and the one-click
unsubscribe landing (RFC 8058).

Unsubscribe: ``POST /u/<token>`` withdraws at once, with no confirmation step, as mail clients
send it (``List-Unsubscribe=One-Click``); a person who clicks the link gets ``GET /u/<token>``, a
page with one button that makes the same POST. The token is the credential (signed, single use),
so these posts carry no CSRF token; a second POST of a used link says it is already done.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pledge.consent.unsubscribe import UNSUBSCRIBE_USE
from pledge.errors import InputError, TokenReplayed
from pledge.policy.reasons import ALLOWED_REASONS
from pledge.web.consent import Change, apply_changes, consent_view
from pledge.web.context import subject_session, web
from pledge.web.pages.forms import field, read_form
from pledge.web.pages.render import page

router = APIRouter(include_in_schema=False)

CHANNELS = {
    "email": "E-mail",
    "postal_mail": "Postal mail",
    "phone": "Phone calls",
    "push": "Push notifications",
    "sms": "Text messages",
    "third_party_offers": "Offers from other companies",
    "in_app": "Messages in the app",
}


def _rows(request: Request, view: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(choices, objections): what the form shows, with the current state of each box."""
    system = web(request).system
    decl = {p.id: p for p in system.loaded.declaration.purposes}
    choices, objections = [], []
    for row in view["purposes"]:
        rule = system.policy.purposes[row["purpose"]]
        purpose = decl[row["purpose"]]
        base = {"id": purpose.id, "name": purpose.name, "description": purpose.description or ""}
        if rule.consent_choice:
            if row["channels"]:
                boxes = [
                    {"value": c, "label": CHANNELS.get(c, c), "on": reason in ALLOWED_REASONS}
                    for c, reason in row["channels"].items()
                ]
            else:
                boxes = [{"value": "*", "label": "Allow", "on": bool(row["allowed"])}]
            choices.append({**base, "mode": row["mode"], "boxes": boxes})
        elif rule.may_object:
            objections.append({**base, "on": row["reason"] == "objection"})
    return choices, objections


def _has_sale(request: Request) -> bool:
    return any(r.sale for r in web(request).system.policy.recipients.values())


def _form(request: Request, subject: str, status: int = 200, errors: list[str] | None = None) -> HTMLResponse:
    system = web(request).system
    jurisdiction = request.query_params.get("jurisdiction") or None
    if jurisdiction not in system.policy.jurisdictions:
        jurisdiction = None
    view = consent_view(system, subject, jurisdiction=jurisdiction, events=True)
    choices, objections = _rows(request, view)
    return page(
        request,
        "preferences.html",
        status,
        title="My preferences",
        view=view,
        choices=choices,
        objections=objections,
        sale=_has_sale(request),
        jurisdictions=[(j.id, j.name) for j in system.loaded.declaration.jurisdictions],
        errors=errors or [],
        events=view["events"][-20:][::-1],
    )


@router.get("/privacy/preferences", response_class=HTMLResponse)
def preferences(request: Request) -> Response:
    session = subject_session(request)
    if session is None or session.subject is None:
        return page(
            request,
            "signin.html",
            200,
            title="Manage my preferences",
            note="We e-mail you a link first, so only you can change your preferences.",
            email="",
            errors=[],
        )
    return _form(request, session.subject)


@router.post("/privacy/preferences", response_class=HTMLResponse)
async def save_preferences(request: Request) -> Response:
    form = await read_form(request)
    session = subject_session(request)
    if session is None or session.subject is None:
        return RedirectResponse("/privacy/signin", status_code=303)
    system = web(request).system
    jurisdiction = field(form, "jurisdiction", 120) or None
    if jurisdiction is not None and jurisdiction not in system.policy.jurisdictions:
        return _form(request, session.subject, 422, ["choose where you live from the list"])
    if (jurisdiction or "") != field(form, "shown", 120):
        # The boxes were ticked or not by the defaults of another place: a box left ticked under
        # an opt-out default is no consent where the law wants opt-in. Show them again first.
        target = f"/privacy/preferences?done=check&jurisdiction={jurisdiction or ''}"
        return RedirectResponse(target, status_code=303)
    view = consent_view(system, session.subject, jurisdiction=jurisdiction, events=False)
    choices, objections = _rows(request, view)
    changes: list[Change] = []
    for choice in choices:
        for box in choice["boxes"]:
            wanted = f"{choice['id']}|{box['value']}" in form.getlist("consent")
            if wanted != box["on"]:
                changes.append(Change("grant" if wanted else "withdraw", choice["id"], box["value"]))
    for objection in objections:
        wanted = objection["id"] in form.getlist("object")
        if wanted != objection["on"]:
            changes.append(Change("object" if wanted else "withdraw_objection", objection["id"]))
    if _has_sale(request):
        wanted = field(form, "sale_opt_out", 5) == "1"
        if wanted != view["sale_opted_out"]:
            changes.append(Change("opt_out_of_sale" if wanted else "opt_in_to_sale"))
    if not changes:
        return RedirectResponse("/privacy/preferences?done=unchanged", status_code=303)
    try:
        apply_changes(
            system,
            session.subject,
            changes,
            source="privacy_center",
            proof="privacy center preferences form",
            jurisdiction=jurisdiction,
        )
    except InputError as error:
        return _form(request, session.subject, 422, [error.message])
    return RedirectResponse("/privacy/preferences?done=saved", status_code=303)


# --- one-click unsubscribe --------------------------------------------------------------------------------


def _described(request: Request, token: str) -> tuple[str, str]:
    system = web(request).system
    claims = system.tokens.verify(token[:4096], UNSUBSCRIBE_USE)
    purpose = system.loaded.declaration.purpose(claims.get("p", ""))
    name = purpose.name if purpose is not None else "this kind of mail"
    return name, CHANNELS.get(claims.get("c", ""), "mail")


@router.get("/u/{token}", response_class=HTMLResponse)
def unsubscribe_page(token: str, request: Request) -> HTMLResponse:
    name, channel = _described(request, token)
    return page(request, "unsubscribe.html", title="Unsubscribe", token=token, name=name, channel=channel)


@router.post("/u/{token}", response_class=HTMLResponse)
async def unsubscribe(token: str, request: Request) -> HTMLResponse:
    name, channel = _described(request, token)
    try:
        web(request).system.unsubscribe.redeem(token[:4096])
        already = False
    except TokenReplayed:
        already = True  # mail clients retry; the withdrawal stands either way
    return page(
        request, "unsubscribed.html", title="Unsubscribed", name=name, channel=channel, already=already
    )
