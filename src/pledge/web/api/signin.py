"""Sign-in by e-mail link for the privacy center's own API (``/api/v1/me/...``)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from pledge.web.api.models import SigninConfirmIn, SigninIn, Status
from pledge.web.context import web

router = APIRouter(tags=["session"])

SENT = "If the address is right, a message with a sign-in link is on its way to it."


@router.post("/signin", response_model=Status, status_code=202)
def signin(body: SigninIn, request: Request) -> Status:
    """Mail a single-use sign-in link (the same answer for every address; rate limited)."""
    ctx = web(request)
    ctx.limit_mail(request, body.email)
    ctx.signin.send(body.email)
    return Status(status="sent", message=SENT)


@router.post("/signin/confirm", response_model=Status)
def confirm(body: SigninConfirmIn, request: Request, response: Response) -> Status:
    """Redeem the link's token; this browser is then signed in to that address's preferences."""
    ctx = web(request)
    subject = ctx.signin.redeem(body.token)
    ctx.open_session(request, response, "subject", subject=subject)
    return Status(status="signed_in", message="You are signed in.")
