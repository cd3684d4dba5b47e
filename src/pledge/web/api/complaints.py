"""Complaints and questions: anyone may send one (rate limited per network); the operator reads
and closes them with the API key."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from pledge.web.api.models import ApproveIn, ComplaintIn, ComplaintOut, ComplaintReceived
from pledge.web.complaints import Complaint
from pledge.web.context import admin_key, client_ip, web

router = APIRouter(tags=["complaints"])

RECEIVED = "Thank you. We have your message and will answer it; keep the reference."


def complaint_out(item: Complaint) -> ComplaintOut:
    return ComplaintOut(
        id=item.id,
        kind=item.kind,
        topic=item.topic,
        jurisdiction=item.jurisdiction,
        state=item.state,
        received_at=item.received_at,
        closed_at=item.closed_at,
        name=item.name,
        email=item.email,
        message=item.message,
    )


@router.post("/complaints", response_model=ComplaintReceived, status_code=201)
def submit(body: ComplaintIn, request: Request) -> ComplaintReceived:
    """Send a complaint or a question to the organisation (stored and audited)."""
    ctx = web(request)
    ctx.limiter.hit("complaint-ip", client_ip(request), ctx.limits.complaints_per_ip)
    ref = ctx.complaints.submit(
        kind=body.kind,
        topic=body.topic,
        message=body.message,
        email=body.email,
        name=body.name,
        jurisdiction=body.jurisdiction,
    )
    return ComplaintReceived(reference=ref, message=RECEIVED)


@router.get("/complaints", response_model=list[ComplaintOut], dependencies=[Depends(admin_key)])
def list_complaints(
    request: Request, state: Annotated[Literal["open", "closed"] | None, Query()] = None
) -> list[ComplaintOut]:
    return [complaint_out(c) for c in web(request).complaints.list(state=state)]


@router.post(
    "/complaints/{complaint_id}/close", response_model=ComplaintOut, dependencies=[Depends(admin_key)]
)
def close(complaint_id: str, body: ApproveIn, request: Request) -> ComplaintOut:
    return complaint_out(web(request).complaints.close(complaint_id, by=body.by))
