"""The admin console: requests against their deadlines (approve, reject, extend with a reason,
retry), a person's consents and disclosures, complaints, the audit log's head with a verify
button, and charts. Sign-in is the API key on a form, which opens a server-side session."""

from __future__ import annotations

import datetime as dt
import hmac
import json
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from pledge.errors import InputError, NotFound, PledgeError
from pledge.web.charts import consent_rates, rate_chart, requests_per_week, table_rows, weekly_chart
from pledge.web.consent import consent_view
from pledge.web.context import admin_session, client_ip, web
from pledge.web.errors import ApiError
from pledge.web.pages.forms import field, read_form
from pledge.web.pages.render import page
from pledge.web.ratelimit import Limit

router = APIRouter(include_in_schema=False)

_LOGIN_LIMIT = Limit(10, dt.timedelta(minutes=15))
_STATUSES = ("overdue", "due_this_week", "fine", "no_deadline", "closed")
_CHART_NAME = re.compile(r"[a-z0-9_]{1,40}\.svg")


def _gate(request: Request) -> Response | None:
    """None when signed in; otherwise where to go (GET) or a refusal (POST)."""
    if admin_session(request) is not None:
        return None
    if request.method == "GET":
        return RedirectResponse("/admin/login", status_code=303)
    raise ApiError(401, "unauthorized", "please sign in to the admin console again")


# --- signing in -----------------------------------------------------------------------------------


@router.get("/admin/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    if admin_session(request) is not None:
        return RedirectResponse("/admin", status_code=303)
    return page(request, "admin/login.html", title="Admin sign-in", errors=[], admin=True)


@router.post("/admin/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    ctx = web(request)
    form = await read_form(request)
    ctx.limiter.hit("admin-login", client_ip(request), _LOGIN_LIMIT)
    given = field(form, "api_key", 500).strip()
    expected = ctx.system.keys.admin_key
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        return page(
            request,
            "admin/login.html",
            401,
            title="Admin sign-in",
            errors=["That key is not right."],
            admin=True,
        )
    response = RedirectResponse("/admin", status_code=303)
    ctx.open_session(request, response, "admin")
    ctx.system.audit.append("admin.signed_in", {"via": "console"})
    return response


@router.post("/admin/logout", response_class=HTMLResponse)
async def logout(request: Request) -> Response:
    await read_form(request)
    response = RedirectResponse("/admin/login", status_code=303)
    web(request).close_session(request, response, "admin")
    return response


# --- dashboard ------------------------------------------------------------------------------------


def _stats_charts(request: Request) -> list[dict[str, str]]:
    """Server-log statistics charts written by ``pledge logs stats --out DATA_DIR/stats``."""
    folder = web(request).system.settings.data_dir / "stats"
    index = folder / "statistics.json"
    if not index.is_file():
        return []
    try:
        charts = json.loads(index.read_text(encoding="utf-8")).get("charts") or []
    except (ValueError, OSError, AttributeError):
        return []
    return [
        {"name": c["svg"], "alt": str(c.get("alt", ""))}
        for c in charts
        if isinstance(c, dict)
        and isinstance(c.get("svg"), str)
        and _CHART_NAME.fullmatch(c["svg"])
        and (folder / c["svg"]).is_file()
    ]


@router.get("/admin", response_class=HTMLResponse)
def dashboard(request: Request) -> Response:
    if (refused := _gate(request)) is not None:
        return refused
    ctx = web(request)
    system = ctx.system
    workflow = system.workflow
    counts = {status: len(workflow.list_requests(deadline=status, limit=1000)) for status in _STATUSES}  # type: ignore[arg-type]
    weekly = requests_per_week(system)
    rates = consent_rates(system)
    size, root = system.audit.current_root()
    return page(
        request,
        "admin/dashboard.html",
        title="Admin console",
        admin=True,
        counts=counts,
        urgent=workflow.list_requests(deadline="overdue", limit=10)
        + workflow.list_requests(deadline="due_this_week", limit=10),
        weekly=weekly,
        weekly_svg=weekly_chart(weekly),
        weekly_rows=table_rows(weekly),
        rates=rates,
        rates_svg=rate_chart(rates),
        audit_size=size,
        audit_root=root.hex(),
        complaints=ctx.complaints.counts(),
        stats=_stats_charts(request),
        version=system.version,
    )


@router.get("/admin/stats/{name}")
def stats_chart(name: str, request: Request) -> Response:
    if (refused := _gate(request)) is not None:
        return refused
    if not _CHART_NAME.fullmatch(name):
        raise NotFound("no such chart")
    path = web(request).system.settings.data_dir / "stats" / name
    if not path.is_file():
        raise NotFound("no such chart")
    # An SVG shown as an image runs no script; served as a file it gets the site's CSP as well.
    return FileResponse(path, media_type="image/svg+xml")


# --- requests -------------------------------------------------------------------------------------


@router.get("/admin/requests", response_class=HTMLResponse)
def requests_page(request: Request) -> Response:
    if (refused := _gate(request)) is not None:
        return refused
    status = request.query_params.get("deadline") or None
    if status is not None and status not in _STATUSES:
        raise InputError("unknown deadline filter", hint=", ".join(_STATUSES))
    listed = web(request).system.workflow.list_requests(deadline=status, limit=500)  # type: ignore[arg-type]
    return page(
        request,
        "admin/requests.html",
        title="Requests",
        admin=True,
        listed=listed,
        status=status,
        statuses=_STATUSES,
    )


@router.get("/admin/requests/{request_id}", response_class=HTMLResponse)
def request_page(request_id: str, request: Request) -> Response:
    if (refused := _gate(request)) is not None:
        return refused
    system = web(request).system
    record = system.workflow.get_request(request_id)
    report = system.workflow.request_report(request_id)
    return page(
        request,
        "admin/request.html",
        title=f"Request {record.id[:8]}",
        admin=True,
        record=record,
        status=record.deadline_status(system.now()),
        steps=report["steps"],
        kept=report["kept"],
        archive=record.state == "completed" and record.kind in ("access", "portability"),
        errors=[],
    )


_ACTIONS = {"approve": "approved", "reject": "rejected", "extend": "extended", "retry": "retried"}


@router.post("/admin/requests/{request_id}/{action}", response_class=HTMLResponse)
async def request_action(request_id: str, action: str, request: Request) -> Response:
    form = await read_form(request)
    _gate(request)
    if action not in _ACTIONS:
        raise NotFound("no such action")
    workflow = web(request).system.workflow
    by = field(form, "by", 200).strip()
    reason = field(form, "reason", 2000).strip()
    operations: dict[str, Any] = {
        "approve": lambda: workflow.approve(request_id, by, reason or None),
        "reject": lambda: workflow.reject(request_id, by, reason),
        "extend": lambda: workflow.extend(request_id, by, reason),
        "retry": lambda: workflow.retry(request_id, by, reason or None),
    }
    try:
        operations[action]()
    except (InputError, PledgeError) as error:
        if isinstance(error, NotFound):
            raise
        system = web(request).system
        record = workflow.get_request(request_id)
        report = workflow.request_report(request_id)
        return page(
            request,
            "admin/request.html",
            422 if isinstance(error, InputError) else 409,
            title=f"Request {record.id[:8]}",
            admin=True,
            record=record,
            status=record.deadline_status(system.now()),
            steps=report["steps"],
            kept=report["kept"],
            archive=record.state == "completed" and record.kind in ("access", "portability"),
            errors=[error.message],
        )
    return RedirectResponse(f"/admin/requests/{request_id}?done={_ACTIONS[action]}", status_code=303)


@router.get("/admin/requests/{request_id}/archive")
def request_archive(request_id: str, request: Request) -> Response:
    if (refused := _gate(request)) is not None:
        return refused
    path = web(request).system.workflow.archive(request_id)
    return FileResponse(
        path,
        media_type="application/zip",
        filename=f"request-{request_id[:12]}.zip",
        headers={"Cache-Control": "no-store"},
    )


# --- people ---------------------------------------------------------------------------------------


@router.get("/admin/subjects", response_class=HTMLResponse)
def subjects_page(request: Request) -> Response:
    if (refused := _gate(request)) is not None:
        return refused
    return page(request, "admin/subjects.html", title="Find a person", admin=True, errors=[], email="")


@router.post("/admin/subjects", response_class=HTMLResponse)
async def find_subject(request: Request) -> Response:
    form = await read_form(request)
    _gate(request)
    system = web(request).system
    email = field(form, "email", 320).strip()
    try:
        found = system.find_subject("email", email) if email else None
    except InputError as error:
        return page(
            request,
            "admin/subjects.html",
            422,
            title="Find a person",
            admin=True,
            errors=[error.message],
            email=email,
        )
    if found is None:
        return page(
            request,
            "admin/subjects.html",
            404,
            title="Find a person",
            admin=True,
            errors=["Pledge knows no person by that address."],
            email=email,
        )
    return RedirectResponse(f"/admin/subjects/{found}", status_code=303)


@router.get("/admin/subjects/{subject_id}", response_class=HTMLResponse)
def subject_page(subject_id: str, request: Request) -> Response:
    if (refused := _gate(request)) is not None:
        return refused
    system = web(request).system
    root = system.directory.root(subject_id)
    view = consent_view(system, root)
    return page(
        request,
        "admin/subject.html",
        title="A person's consents and disclosures",
        admin=True,
        subject=root,
        view=view,
        kinds=system.directory.identity_kinds(root),
        disclosures=system.sharing.disclosures_for_subject(root),
    )


# --- complaints -----------------------------------------------------------------------------------


@router.get("/admin/complaints", response_class=HTMLResponse)
def complaints_page(request: Request) -> Response:
    if (refused := _gate(request)) is not None:
        return refused
    state = request.query_params.get("state") or None
    if state not in (None, "open", "closed"):
        raise InputError("state is open or closed")
    items = web(request).complaints.list(state=state)
    return page(
        request,
        "admin/complaints.html",
        title="Complaints and questions",
        admin=True,
        items=items,
        state=state,
    )


@router.post("/admin/complaints/{complaint_id}/close", response_class=HTMLResponse)
async def close_complaint(complaint_id: str, request: Request) -> Response:
    form = await read_form(request)
    _gate(request)
    web(request).complaints.close(complaint_id, by=field(form, "by", 200).strip() or "admin")
    return RedirectResponse("/admin/complaints?done=closed", status_code=303)


# --- the audit log --------------------------------------------------------------------------------


def _audit_page(request: Request, report: dict[str, Any] | None = None) -> HTMLResponse:
    audit = web(request).system.audit
    size, root = audit.current_root()
    return page(
        request,
        "admin/audit.html",
        title="Audit log",
        admin=True,
        size=size,
        root=root.hex(),
        latest=audit.latest_head(),
        public_key=audit.signer.public_hex if audit.signer is not None else None,
        report=report,
        recent=audit.entries(start=max(0, size - 15), limit=15)[::-1],
    )


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_page(request: Request) -> Response:
    if (refused := _gate(request)) is not None:
        return refused
    return _audit_page(request)


@router.post("/admin/audit/verify", response_class=HTMLResponse)
async def audit_verify(request: Request) -> Response:
    await read_form(request)
    _gate(request)
    report = web(request).system.audit.verify(workers=1).to_dict()
    return _audit_page(request, report)


@router.post("/admin/audit/sign", response_class=HTMLResponse)
async def audit_sign(request: Request) -> Response:
    await read_form(request)
    _gate(request)
    web(request).system.audit.sign_head()
    return RedirectResponse("/admin/audit?done=signed", status_code=303)
