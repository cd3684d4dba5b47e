"""``POST /api/v1/decisions``: may this purpose use these categories of this person?"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from pledge.errors import InputError
from pledge.web.api.models import DecisionIn, DecisionOut
from pledge.web.context import admin_key, web

router = APIRouter(tags=["decisions"])


@router.post("/decisions", response_model=DecisionOut, dependencies=[Depends(admin_key)])
def decide(body: DecisionIn, request: Request) -> DecisionOut:
    """Decide for a subject (``subject_id``, or an ``identity`` such as an e-mail address, which
    is resolved to the person's pseudonymous subject id). The answer carries its reason code;
    the decision is recorded in the audit log (denials one by one, allowed ones counted)."""
    system = web(request).system
    if body.subject_id is not None and body.identity is not None:
        raise InputError("give subject_id or identity, not both")
    subject = body.subject_id
    if body.identity is not None:
        subject = system.resolve_subject(body.identity.kind, body.identity.value)
    decision = system.enforcer.decide(
        subject,
        body.purpose,
        tuple(body.categories),
        body.recipient,
        channel=body.channel,
        jurisdiction=body.jurisdiction,
        gpc=body.gpc,
    )
    return DecisionOut(**decision.as_dict(), subject_id=subject)
