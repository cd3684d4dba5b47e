"""``/api/v1/requests``: create a data-subject request, verify it by its e-mail link, follow it,
and (with the API key) approve, reject, extend, retry and download what it produced.

Creating a request answers the same way whether or not the address belongs to a customer: the
request is recorded and the verification mail goes out before anything is looked up.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse

from pledge.errors import InputError
from pledge.requests.deadlines import DeadlineStatus
from pledge.requests.reports import ARCHIVE_KINDS
from pledge.requests.steps import Identity
from pledge.requests.store import RequestRecord
from pledge.web.api.models import (
    ApproveIn,
    MeOut,
    MyRequestOut,
    ReasonIn,
    RequestCreated,
    RequestIn,
    RequestOut,
    RequestReport,
    Status,
    TokenIn,
)
from pledge.web.context import Web, admin_key, subject_session, web
from pledge.web.errors import ApiError

router = APIRouter(tags=["requests"])

_PARAMS = {
    "rectify": {"set"},
    "erase": {"categories"},
    "restrict": {"purposes"},
    "object": {"purposes"},
    "withdraw": {"purposes", "channel"},
}
SENT = "If the address is right, a message with a confirmation link is on its way to it."


def check_params(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """Only the parameters a person may set for this kind of request (never e.g. ``dry_run``)."""
    allowed = _PARAMS.get(kind, set())
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise InputError(
            f"unknown parameter(s) for a {kind} request: {', '.join(u[:40] for u in unknown)}",
            hint=f"allowed: {', '.join(sorted(allowed)) or 'none'}",
        )
    if "set" in params:
        value = params["set"]
        if not isinstance(value, dict) or not value or len(value) > 20:
            raise InputError("'set' maps categories to corrected values (1 to 20 of them)")
        for key, item in value.items():
            if not isinstance(item, str) or len(item) > 1000 or len(key) > 200:
                raise InputError("a corrected value is text of at most 1000 characters")
    for name in ("categories", "purposes"):
        if name in params:
            value = params[name]
            if not isinstance(value, list) or not value or len(value) > 50:
                raise InputError(f"'{name}' is a list of 1 to 50 ids")
            if not all(isinstance(v, str) and 0 < len(v) <= 200 for v in value):
                raise InputError(f"'{name}' holds ids (text)")
    if "channel" in params and (not isinstance(params["channel"], str) or len(params["channel"]) > 40):
        raise InputError("'channel' is a channel name")
    return dict(params)


def request_out(record: RequestRecord, now: dt.datetime) -> RequestOut:
    return RequestOut(
        id=record.id,
        kind=record.kind,
        right=record.right,
        state=record.state,
        jurisdiction=record.jurisdiction,
        source=record.source,
        verification=record.verification,
        requires_approval=record.requires_approval,
        subject=record.subject,
        received_at=record.received_at,
        verified_at=record.verified_at,
        approved_at=record.approved_at,
        finished_at=record.finished_at,
        due_at=record.due_at,
        extended_due_at=record.extended_due_at,
        deadline=record.deadline,
        deadline_status=record.deadline_status(now),
        decision_by=record.decision_by,
        decision_reason=record.decision_reason,
        extension_reason=record.extension_reason,
        error=record.error,
    )


def my_request_out(ctx: Web, record: RequestRecord) -> MyRequestOut:
    return MyRequestOut(
        id=record.id,
        kind=record.kind,
        state=record.state,
        received_at=record.received_at,
        deadline=record.deadline,
        finished_at=record.finished_at,
        reason=record.decision_reason if record.state == "rejected" else None,
        archive=record.kind in ARCHIVE_KINDS and record.state == "completed",
    )


def _owned(request: Request, request_id: str) -> bool:
    session = subject_session(request)
    return session is not None and session.owns(request_id)


def _admin_or_owner(request: Request, request_id: str) -> None:
    if not _owned(request, request_id):
        admin_key(request)


@router.post("/requests", response_model=RequestCreated, status_code=202)
def create_request(body: RequestIn, request: Request) -> RequestCreated:
    """Make a request. Without the API key a confirmation link is mailed to ``email`` (rate
    limited per address and per network); with it, ``operator`` names the staff member who
    vouches for the person and the request is verified at once."""
    ctx = web(request)
    params = check_params(body.kind, body.params)
    operator = None
    if body.operator is not None:
        admin_key(request)
        operator = body.operator
    else:
        ctx.limit_mail(request, body.email)
    record = ctx.system.workflow.create_request(
        body.kind,
        [Identity("email", body.email)],
        jurisdiction=body.jurisdiction,
        source="api",
        params=params,
        operator=operator,
    )
    message = "Recorded." if operator else SENT
    return RequestCreated(
        request_id=record.id, state=record.state, verification=record.verification, message=message
    )


@router.post("/requests/verify", response_model=MyRequestOut)
def verify_request(body: TokenIn, request: Request, response: Response) -> MyRequestOut:
    """Redeem the e-mail link's token: the request is verified and this browser gets a session
    that may follow it (and manage the preferences of the address it was made with)."""
    ctx = web(request)
    record = ctx.system.workflow.verify_request(body.token)
    contact = ctx.system.request_contact(record.id)
    subject = ctx.system.resolve_subject("email", contact) if contact else None
    ctx.open_session(request, response, "subject", subject=subject, requests=(record.id,))
    return my_request_out(ctx, record)


@router.get("/me", response_model=MeOut)
def me(request: Request) -> MeOut:
    """What this browser's session may see."""
    ctx = web(request)
    session = subject_session(request)
    if session is None:
        return MeOut(signed_in=False, has_subject=False, requests=[])
    found = []
    for request_id in session.requests:
        found.append(my_request_out(ctx, ctx.system.workflow.get_request(request_id)))
    return MeOut(signed_in=True, has_subject=session.subject is not None, requests=found)


@router.post("/signout", response_model=Status)
def sign_out(request: Request, response: Response) -> Status:
    web(request).close_session(request, response, "subject")
    return Status(status="signed_out", message="You are signed out.")


@router.get("/requests", response_model=list[RequestOut], dependencies=[Depends(admin_key)])
def list_requests(
    request: Request,
    state: Annotated[str | None, Query(max_length=20)] = None,
    kind: Annotated[str | None, Query(max_length=20)] = None,
    deadline: Annotated[DeadlineStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[RequestOut]:
    """Requests, open ones first, the nearest deadline first, each with its deadline status."""
    system = web(request).system
    listed = system.workflow.list_requests(
        state=state, kind=kind, deadline=deadline, limit=limit, offset=offset
    )
    now = system.now()
    return [request_out(item.request, now) for item in listed]


@router.get("/me/requests/{request_id}", response_model=MyRequestOut)
def my_request(request_id: str, request: Request) -> MyRequestOut:
    """One of this session's requests, as the person sees it (no staff names, no internals)."""
    if not _owned(request, request_id):
        raise ApiError(401, "unauthorized", "this request is not one this browser verified")
    ctx = web(request)
    return my_request_out(ctx, ctx.system.workflow.get_request(request_id))


@router.get("/requests/{request_id}", response_model=RequestOut, dependencies=[Depends(admin_key)])
def get_request(request_id: str, request: Request) -> RequestOut:
    """One request, with everything the operator sees."""
    system = web(request).system
    return request_out(system.workflow.get_request(request_id), system.now())


@router.get("/requests/{request_id}/report", response_model=RequestReport, dependencies=[Depends(admin_key)])
def request_report(request_id: str, request: Request) -> RequestReport:
    """Everything the operator needs: steps, results, what was kept and why, archive files."""
    system = web(request).system
    report = system.workflow.request_report(request_id)
    record = system.workflow.get_request(request_id)
    return RequestReport(
        request=request_out(record, system.now()),
        steps=[
            {
                "name": s["name"],
                "description": s["description"],
                "state": s["state"],
                "attempts": s["attempts"],
                "result": s["result"],
                "error": s["error"],
            }
            for s in report["steps"]
        ],
        kept=report["kept"],
        archive=report["archive"],
    )


@router.get(
    "/requests/{request_id}/archive",
    response_model=None,
    responses={
        200: {
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The access archive (zip)",
        }
    },
)
def download_archive(request_id: str, request: Request) -> FileResponse:
    """The access archive of a completed access or portability request."""
    _admin_or_owner(request, request_id)
    path = web(request).system.workflow.archive(request_id)
    return FileResponse(
        path,
        media_type="application/zip",
        filename=f"personal-data-{request_id[:12]}.zip",
        headers={"Cache-Control": "no-store"},
    )


def _decided(request: Request, record: RequestRecord) -> RequestOut:
    system = web(request).system
    return request_out(record, system.now())


@router.post("/requests/{request_id}/approve", response_model=RequestOut, dependencies=[Depends(admin_key)])
def approve(request_id: str, body: ApproveIn, request: Request) -> RequestOut:
    return _decided(request, web(request).system.workflow.approve(request_id, body.by, body.reason))


@router.post("/requests/{request_id}/reject", response_model=RequestOut, dependencies=[Depends(admin_key)])
def reject(request_id: str, body: ReasonIn, request: Request) -> RequestOut:
    """Decline; the person is told why."""
    return _decided(request, web(request).system.workflow.reject(request_id, body.by, body.reason))


@router.post("/requests/{request_id}/extend", response_model=RequestOut, dependencies=[Depends(admin_key)])
def extend(request_id: str, body: ReasonIn, request: Request) -> RequestOut:
    """Extend the deadline once by the declared extension; the person is told why."""
    return _decided(request, web(request).system.workflow.extend(request_id, body.by, body.reason))


@router.post("/requests/{request_id}/retry", response_model=RequestOut, dependencies=[Depends(admin_key)])
def retry(request_id: str, body: ApproveIn, request: Request) -> RequestOut:
    """Run a failed request again (its completed steps stay done)."""
    return _decided(request, web(request).system.workflow.retry(request_id, body.by, body.reason))
