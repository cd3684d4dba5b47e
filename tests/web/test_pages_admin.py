"""The admin console: key sign-in with a server-side session, the request queue by deadline with
its decisions, a person's consents and disclosures, complaints, the audit log, and charts."""

from __future__ import annotations

import json
import re

from pledge.requests.steps import Identity
from tests.web.pages import submit, text_of
from tests.web.sites import Site

KNOWN = "robin.quill@example.com"


def signed_in(site: Site) -> object:
    client = site.client()
    response = submit(client, "/admin/login", "/admin/login", {"api_key": site.admin_key})
    assert response.status_code == 303 and response.headers["location"] == "/admin"
    cookie = response.headers["set-cookie"]
    assert (
        "pledge_admin=" in cookie
        and "Path=/admin" in cookie
        and "HttpOnly" in cookie
        and "SameSite=lax" in cookie
    )
    return client


def test_sign_in_out_and_wrong_keys(pledge_site: Site) -> None:
    client = pledge_site.client()
    assert client.get("/admin", follow_redirects=False).headers["location"] == "/admin/login"
    wrong = submit(client, "/admin/login", "/admin/login", {"api_key": "guess"})
    assert wrong.status_code == 401 and "That key is not right." in wrong.text
    admin = signed_in(pledge_site)
    dashboard = admin.get("/admin")  # type: ignore[attr-defined]
    assert dashboard.status_code == 200 and "Requests by deadline" in dashboard.text
    cookie = admin.cookies.get("pledge_admin")  # type: ignore[attr-defined]
    assert submit(admin, "/admin", "/admin/logout", {}).status_code == 303  # type: ignore[arg-type]
    # Signing out deletes the session on the server: the old cookie opens nothing.
    replay = pledge_site.client()
    replay.cookies.set("pledge_admin", cookie, path="/admin")
    assert replay.get("/admin", follow_redirects=False).headers["location"] == "/admin/login"
    assert pledge_site.system.audit.entries(kind="admin.signed_in")


def test_guessing_the_key_is_rate_limited(pledge_site: Site) -> None:
    client = pledge_site.client()
    codes = [
        submit(client, "/admin/login", "/admin/login", {"api_key": f"guess{n}"}).status_code
        for n in range(11)
    ]
    assert codes[:10] == [401] * 10 and codes[10] == 429
    right = submit(client, "/admin/login", "/admin/login", {"api_key": pledge_site.admin_key})
    assert right.status_code == 429  # the network waits, even with the right key


def test_the_queue_by_deadline_and_the_decisions(pledge_site: Site) -> None:
    workflow = pledge_site.system.workflow
    record = workflow.create_request("erase", [Identity("email", KNOWN)], jurisdiction="gdpr")
    admin = signed_in(pledge_site)
    listing = admin.get("/admin/requests?deadline=fine").text  # type: ignore[attr-defined]
    assert record.id[:8] in listing and "badge-fine" in listing
    assert admin.get("/admin/requests?deadline=never").status_code == 422  # type: ignore[attr-defined]
    page = f"/admin/requests/{record.id}"
    assert "Extend the deadline" in admin.get(page).text  # type: ignore[attr-defined]
    no_csrf = admin.post(f"{page}/extend", data={"by": "dana", "reason": "x"})  # type: ignore[attr-defined]
    assert no_csrf.status_code == 403
    no_reason = submit(admin, page, f"{page}/reject", {"by": "dana", "reason": ""})  # type: ignore[arg-type]
    assert no_reason.status_code == 422 and "the reason is required" in no_reason.text
    extended = submit(admin, page, f"{page}/extend", {"by": "dana", "reason": "Checking the <tax> hold"})  # type: ignore[arg-type]
    assert extended.status_code == 303 and extended.headers["location"].endswith("done=extended")
    shown = admin.get(extended.headers["location"]).text  # type: ignore[attr-defined]
    assert "The deadline is extended" in shown and "Checking the &lt;tax&gt; hold" in shown
    again = submit(admin, page, f"{page}/extend", {"by": "dana", "reason": "again"})  # type: ignore[arg-type]
    assert again.status_code == 409 and "already extended" in again.text
    assert submit(admin, page, f"{page}/frobnicate", {"by": "dana"}).status_code == 404  # type: ignore[arg-type]
    rejected = submit(admin, page, f"{page}/reject", {"by": "dana", "reason": "Could not confirm."})  # type: ignore[arg-type]
    assert rejected.status_code == 303
    assert workflow.get_request(record.id).state == "rejected"
    anonymous = pledge_site.client()
    assert anonymous.post(f"{page}/approve", data={"by": "x"}).status_code == 403  # CSRF first
    anonymous.get("/privacy/request")
    token = re.search(r'name="csrf_token" value="([^"]+)"', anonymous.get("/privacy/request").text)
    assert token is not None
    no_session = anonymous.post(f"{page}/approve", data={"by": "x", "csrf_token": token.group(1)})
    assert no_session.status_code == 401


def test_an_approval_from_the_console_runs_the_request(pledge_site: Site) -> None:
    """PESI needs no approvals; an operator-run request shows the console's other path: retry."""
    workflow = pledge_site.system.workflow
    record = workflow.create_request(
        "access", [Identity("email", KNOWN)], jurisdiction="gdpr", source="cli", operator="ops"
    )
    assert pledge_site.system.run_pending() == 1
    admin = signed_in(pledge_site)
    page = admin.get(f"/admin/requests/{record.id}").text  # type: ignore[attr-defined]
    assert "completed" in page and "Download the access archive" in page
    archive = admin.get(f"/admin/requests/{record.id}/archive")  # type: ignore[attr-defined]
    assert archive.headers["content-type"] == "application/zip"


def test_a_person_s_consents_and_disclosures(pledge_site: Site) -> None:
    system = pledge_site.system
    subject = system.resolve_subject("email", KNOWN)
    system.ledger.grant(subject, "relevant_offers", "email", source="privacy_center")
    system.sharing.share(
        {"name": "Robin Quill"},
        "logistics",
        "order_fulfilment",
        subject_id=subject,
        fields={"name": "user.name"},
    )
    admin = signed_in(pledge_site)
    found = submit(admin, "/admin/subjects", "/admin/subjects", {"email": KNOWN.upper()})  # type: ignore[arg-type]
    assert found.status_code == 303 and found.headers["location"] == f"/admin/subjects/{subject}"
    page = text_of(admin.get(found.headers["location"]).text)  # type: ignore[attr-defined]
    assert "consented" in page and "Logistics and delivery companies" not in page  # ids, not prose
    assert "logistics" in page and "order_fulfilment" in page and "privacy center" in page
    missing = submit(admin, "/admin/subjects", "/admin/subjects", {"email": "who@example.org"})  # type: ignore[arg-type]
    assert missing.status_code == 404 and "knows no person" in missing.text
    assert admin.get("/admin/subjects/s_nobody").status_code == 404  # type: ignore[attr-defined]


def test_complaints_are_shown_escaped_and_closed(pledge_site: Site) -> None:
    web = pledge_site.web
    web.complaints.submit(
        kind="complaint",
        topic="other",
        message="<img src=x onerror=alert(1)> please stop",
        email="kim@example.org",
        name="Kim <b>",
    )
    admin = signed_in(pledge_site)
    page = admin.get("/admin/complaints").text  # type: ignore[attr-defined]
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt; please stop" in page
    assert "Kim &lt;b&gt;" in page
    [complaint] = web.complaints.list()
    closed = submit(admin, "/admin/complaints", f"/admin/complaints/{complaint.id}/close", {"by": "dana"})  # type: ignore[arg-type]
    assert closed.status_code == 303 and web.complaints.get(complaint.id).state == "closed"


def test_the_audit_page_verifies_and_signs(pledge_site: Site) -> None:
    system = pledge_site.system
    subject = system.resolve_subject("email", KNOWN)
    system.ledger.grant(subject, "relevant_offers", "email", source="api")
    admin = signed_in(pledge_site)
    verified = submit(admin, "/admin/audit", "/admin/audit/verify", {})  # type: ignore[arg-type]
    assert verified.status_code == 200 and "The log verifies" in verified.text
    signed = submit(admin, "/admin/audit", "/admin/audit/sign", {})  # type: ignore[arg-type]
    assert signed.status_code == 303
    assert "A new audit head is signed." in admin.get(signed.headers["location"]).text  # type: ignore[attr-defined]
    # Tamper with an entry: the button now says so, naming the first bad entry.
    with system.db.begin() as conn:
        conn.exec_driver_sql("UPDATE audit_entries SET payload = replace(payload, 'api', 'apx')")
    tampered = submit(admin, "/admin/audit", "/admin/audit/verify", {})  # type: ignore[arg-type]
    assert "The log does NOT verify" in tampered.text


def test_charts_are_accessible_svg_with_tables(pledge_site: Site) -> None:
    workflow = pledge_site.system.workflow
    for kind in ("access", "erase", "access"):
        workflow.create_request(kind, [Identity("email", KNOWN)], jurisdiction="gdpr")  # type: ignore[arg-type]
    pledge_site.client().post(
        "/api/v1/consent",
        json={
            "cookie_id": "chart-visitor-000001",
            "choices": {"analytics": True, "advertising": False},
            "policy_version": "2026-11-01",
            "source": "banner",
        },
    )
    admin = signed_in(pledge_site)
    page = admin.get("/admin").text  # type: ignore[attr-defined]
    svgs = re.findall(r"<svg[^>]*>.*?</svg>", page, flags=re.S)
    assert len(svgs) == 2
    for svg in svgs:
        assert 'role="img"' in svg and "<title" in svg and "<desc" in svg and "<script" not in svg
    assert "access 2" in svgs[0] and "erase 1" in svgs[0]  # the description states the numbers
    assert "Count visits and see how the site is used: allowed for 1 of 1 (100%)" in svgs[1]
    assert "Requests per week as a table" in page and "Consent rates as a table" in page


def test_log_statistics_charts_are_shown_when_present(pledge_site: Site) -> None:
    folder = pledge_site.system.settings.data_dir / "stats"
    folder.mkdir()
    (folder / "daily.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"></svg>', encoding="utf-8")
    charts = [
        {"table": "daily", "svg": "daily.svg", "alt": "Requests per day: 1,234 in total."},
        {"table": "evil", "svg": "../secrets.json", "alt": "no"},
    ]
    (folder / "statistics.json").write_text(json.dumps({"charts": charts}), encoding="utf-8")
    admin = signed_in(pledge_site)
    page = admin.get("/admin").text  # type: ignore[attr-defined]
    assert 'src="/admin/stats/daily.svg" alt="Requests per day: 1,234 in total."' in page
    assert "secrets.json" not in page
    served = admin.get("/admin/stats/daily.svg")  # type: ignore[attr-defined]
    assert served.status_code == 200 and served.headers["content-type"].startswith("image/svg+xml")
    assert admin.get("/admin/stats/..%2Fsecrets.json").status_code == 404  # type: ignore[attr-defined]
    assert pledge_site.client().get("/admin/stats/daily.svg", follow_redirects=False).status_code == 303
