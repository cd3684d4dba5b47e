"""The privacy center without JavaScript: forms with CSRF tokens, the request flow from the form to
the downloaded data, preferences, one-click unsubscribe, complaints, the referral removal, the
published policy, and the headers every page carries."""

from __future__ import annotations

import io
import re
import zipfile

from pledge.policy.reasons import ALLOWED_REASONS
from tests.web.pages import csrf, submit, text_of
from tests.web.sites import Site

KNOWN = "robin.quill@example.com"


def test_every_form_post_needs_its_csrf_token(pledge_site: Site) -> None:
    client = pledge_site.client()
    form = {"kind": "access", "email": KNOWN, "jurisdiction": "gdpr"}
    missing = client.post("/privacy/request", data=form, follow_redirects=False)
    assert missing.status_code == 403 and "csrf_failed" in missing.text
    assert missing.headers["content-type"].startswith("text/html")
    client.get("/privacy/request")  # now the browser holds a CSRF cookie
    forged = client.post("/privacy/request", data={**form, "csrf_token": "A" * 43}, follow_redirects=False)
    assert forged.status_code == 403
    other = pledge_site.client()
    stolen = csrf(other, "/privacy/request")  # valid, but bound to another visitor's cookie
    assert client.post("/privacy/request", data={**form, "csrf_token": stolen}).status_code == 403
    for path in (
        "/privacy/preferences",
        "/privacy/signin",
        "/privacy/complaint",
        "/privacy/signout",
        "/privacy/requests/verify",
        "/admin/login",
    ):
        assert client.post(path, data={}, follow_redirects=False).status_code == 403, path
    assert not pledge_site.mail.sent  # nothing happened
    assert submit(client, "/privacy/request", "/privacy/request", form).status_code == 303


def test_a_request_from_the_form_to_the_downloaded_data(pledge_site: Site) -> None:
    client = pledge_site.client()
    sent = submit(
        client,
        "/privacy/request?kind=access",
        "/privacy/request",
        {"kind": "access", "email": KNOWN, "jurisdiction": "gdpr"},
    )
    assert sent.status_code == 303 and sent.headers["location"] == "/privacy/request/sent"
    assert "Check your e-mail" in client.get("/privacy/request/sent").text
    link = pledge_site.last_link("/privacy/requests/verify", to=KNOWN)
    path = link.removeprefix("http://testserver")
    confirm = client.get(path)
    assert confirm.status_code == 200 and "Yes, this request is mine" in confirm.text
    assert client.get(path).status_code == 200  # looking at the page does not spend the link
    token = re.search(r'name="token" value="([^"]+)"', confirm.text)
    assert token is not None
    done = submit(client, path, "/privacy/requests/verify", {"token": token.group(1)})
    assert done.status_code == 303
    assert "pledge_session=" in done.headers["set-cookie"]
    request_page = done.headers["location"]
    assert pledge_site.system.run_pending() == 1
    page = client.get(request_page)
    assert page.status_code == 200
    words = text_of(page.text)
    assert "completed" in words and "Download my data" in words
    assert KNOWN in words and "pesi_shop:customers" in words and "pesi_mailing:house_file" in words
    archive = client.get(request_page + "/archive")
    assert archive.status_code == 200 and archive.headers["content-disposition"].startswith("attachment")
    with zipfile.ZipFile(io.BytesIO(archive.content)) as bundle:
        assert "access/data.json" in bundle.namelist()
    assert "My requests" in client.get("/privacy/my").text
    # Spent: the same link cannot confirm again.
    assert "This request is already completed" in text_of(client.get(path).text)  # no button now
    again = submit(client, "/privacy/request", "/privacy/requests/verify", {"token": token.group(1)})
    assert again.status_code == 409 and "already used" in again.text


def test_the_form_says_the_same_for_known_and_unknown_addresses(pledge_site: Site) -> None:
    answers = []
    for email in (KNOWN, "never.seen@example.org"):
        client = pledge_site.client()
        response = submit(
            client,
            "/privacy/request",
            "/privacy/request",
            {"kind": "erase", "email": email, "jurisdiction": "gdpr"},
        )
        answers.append(
            (response.status_code, response.headers["location"], client.get("/privacy/request/sent").text)
        )
    assert answers[0][:2] == answers[1][:2]
    assert re.sub(r'value="[^"]*"', "", answers[0][2]) == re.sub(r'value="[^"]*"', "", answers[1][2])
    assert len(pledge_site.mail.sent) == 2


def test_form_errors_are_shown_escaped_and_change_nothing(pledge_site: Site) -> None:
    client = pledge_site.client()
    hostile = '"><script>alert(1)</script>@x'
    response = submit(
        client,
        "/privacy/request",
        "/privacy/request",
        {"kind": "access", "email": hostile, "jurisdiction": "gdpr"},
    )
    assert response.status_code == 422
    assert "<script>alert(1)</script>" not in response.text and "&lt;script&gt;" in response.text
    assert 'role="alert"' in response.text
    no_kind = submit(client, "/privacy/request", "/privacy/request", {"email": KNOWN})
    assert no_kind.status_code == 422 and "choose what you would like us to do" in no_kind.text
    us = submit(
        client,
        "/privacy/request",
        "/privacy/request",
        {"kind": "access", "email": KNOWN, "jurisdiction": "us"},
    )
    assert us.status_code == 422 and "offers no access right" in us.text
    rectify = submit(
        client,
        "/privacy/request",
        "/privacy/request",
        {"kind": "rectify", "email": KNOWN, "jurisdiction": "gdpr"},
    )
    assert rectify.status_code == 422
    assert not pledge_site.mail.sent
    assert pledge_site.system.workflow.list_requests() == []


def test_preferences_by_sign_in_link(pledge_site: Site) -> None:
    client = pledge_site.client()
    assert "E-mail me a sign-in link" in client.get("/privacy/preferences").text
    assert submit(client, "/privacy/signin", "/privacy/signin", {"email": KNOWN}).status_code == 303
    link = pledge_site.last_link("/privacy/signin/confirm", to=KNOWN).removeprefix("http://testserver")
    page = client.get(link)
    token = re.search(r'name="token" value="([^"]+)"', page.text)
    assert token is not None
    signed_in = submit(client, link, "/privacy/signin/confirm", {"token": token.group(1)})
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/privacy/preferences"
    form = client.get("/privacy/preferences").text
    assert 'value="relevant_offers|email"' in form and "Do not sell or share my personal information" in form
    # Tick the offers by e-mail and the sale opt-out; keep every opt-out purpose as it is (on).
    checked = re.findall(r'name="consent" value="([^"]+)" checked', form)
    assert "third_party_offers|third_party_offers" in checked  # opt-out outside the UK and EEA
    choices = [("consent", v) for v in [*checked, "relevant_offers|email"]] + [("sale_opt_out", "1")]
    # Saying "I live in the UK/EEA" with boxes ticked by another place's defaults saves nothing:
    # the form comes back with that place's defaults (third-party offers are opt-in there).
    moved = submit(
        client,
        "/privacy/preferences",
        "/privacy/preferences",
        [("jurisdiction", "gdpr"), ("shown", ""), *choices],
    )
    assert moved.status_code == 303 and "done=check" in moved.headers["location"]
    again = client.get(moved.headers["location"]).text
    assert "Check them below" in again
    assert 'value="third_party_offers|third_party_offers" checked' not in again
    checked = re.findall(r'name="consent" value="([^"]+)" checked', again)
    choices = [("consent", v) for v in [*checked, "relevant_offers|email"]] + [("sale_opt_out", "1")]
    saved = submit(
        client,
        moved.headers["location"],
        "/privacy/preferences",
        [("jurisdiction", "gdpr"), ("shown", "gdpr"), *choices],
    )
    assert saved.status_code == 303 and saved.headers["location"].endswith("done=saved")
    assert "Your preferences are saved." in client.get(saved.headers["location"]).text
    subject = pledge_site.system.find_subject("email", KNOWN)
    decide = pledge_site.system.enforcer.decide
    assert (
        decide(subject, "relevant_offers", ("user.contact.email",), channel="email").reason in ALLOWED_REASONS
    )
    assert decide(subject, "list_rental", ("user.name",), "list_broker").reason == "sale_opted_out"
    assert decide(subject, "third_party_offers", (), channel="third_party_offers").reason == "consent_missing"
    # Untick the mail about comparable products by post.
    form = client.get("/privacy/preferences").text
    keep = [
        v
        for v in re.findall(r'name="consent" value="([^"]+)" checked', form)
        if v != "comparable_products|postal_mail"
    ]
    submit(
        client,
        "/privacy/preferences",
        "/privacy/preferences",
        [("jurisdiction", "gdpr"), ("shown", "gdpr"), ("sale_opt_out", "1"), *[("consent", v) for v in keep]],
    )
    assert decide(subject, "comparable_products", (), channel="postal_mail").reason == "channel_opted_out"
    assert decide(subject, "comparable_products", (), channel="email").reason in ALLOWED_REASONS
    unchanged = submit(
        client,
        "/privacy/preferences",
        "/privacy/preferences",
        [("jurisdiction", "gdpr"), ("shown", "gdpr"), ("sale_opt_out", "1"), *[("consent", v) for v in keep]],
    )
    assert unchanged.headers["location"].endswith("done=unchanged")
    history = client.get("/privacy/preferences").text
    assert "My recent choices" in history and "privacy center" in history


def test_one_click_unsubscribe(pledge_site: Site) -> None:
    system = pledge_site.system
    subject = system.resolve_subject("email", KNOWN)
    system.ledger.grant(subject, "relevant_offers", "email", source="api")
    token = system.unsubscribe.token(subject, "relevant_offers", "email")
    client = pledge_site.client()
    landing = client.get(f"/u/{token}")
    assert (
        landing.status_code == 200
        and "Unsubscribe" in landing.text
        and "Offers and resources" in landing.text
    )
    assert system.enforcer.decide(subject, "relevant_offers", (), channel="email")  # looking changes nothing
    # RFC 8058: the mail client posts this body, with no cookie and no CSRF token.
    one_click = client.post(
        f"/u/{token}",
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert one_click.status_code == 200 and "You are unsubscribed" in one_click.text
    assert (
        system.enforcer.decide(subject, "relevant_offers", (), channel="email").reason == "channel_opted_out"
    )
    assert (
        system.enforcer.decide(subject, "relevant_offers", (), channel="postal_mail").reason
        != "channel_opted_out"
    )
    again = client.post(f"/u/{token}")
    assert again.status_code == 200 and "already unsubscribed" in again.text
    forged = client.post(f"/u/{token[:-3]}xyz")
    assert forged.status_code == 400 and "token_invalid" in forged.text


def test_complaints_and_questions(pledge_site: Site) -> None:
    client = pledge_site.client()
    page = client.get("/privacy/complaint").text
    assert "Information Commissioner" in page  # where else to complain, from the declaration
    empty = submit(
        client, "/privacy/complaint", "/privacy/complaint", {"kind": "complaint", "topic": "other"}
    )
    assert empty.status_code == 422 and "the message is required" in empty.text
    sent = submit(
        client,
        "/privacy/complaint",
        "/privacy/complaint",
        {
            "kind": "complaint",
            "topic": "marketing",
            "message": "<b>Stop</b> the post",
            "jurisdiction": "gdpr",
        },
    )
    assert sent.status_code == 200 and "reference" in sent.text
    stored = pledge_site.web.complaints.list()
    assert [c.message for c in stored] == ["<b>Stop</b> the post"]


def test_a_referred_friend_asks_for_removal(pledge_site: Site) -> None:
    client = pledge_site.client()
    page = client.get("/privacy/referral").text
    assert "Remove my details" in page and 'name="kind" value="erase"' in page
    friend = "friend.of.robin@example.org"
    sent = submit(
        client,
        "/privacy/referral",
        "/privacy/request",
        {"kind": "erase", "referral": "1", "email": friend, "jurisdiction": ""},
    )
    assert sent.status_code == 303
    [listed] = pledge_site.system.workflow.list_requests()
    assert listed.request.kind == "erase" and listed.request.source == "privacy_center"
    assert pledge_site.links(to=friend)


def test_the_published_policy_with_its_versions_and_changes(pledge_site: Site) -> None:
    client = pledge_site.client()
    policy = client.get("/policy")
    assert policy.status_code == 200
    words = text_of(policy.text)
    assert "PESI privacy policy" in words and "Versions of this policy" in words
    assert "2018-05-24" in words and "material" in words
    assert policy.text.count("<main") == 1  # the policy's own <main> is the page's only one
    old = client.get("/policy/versions/2018-05-24")
    assert "no longer in force" in old.text and "Show advertising" not in old.text
    changes = client.get("/policy/changes")
    assert "Material changes" in changes.text and "New purpose &#39;interest_ads&#39;" in changes.text
    assert client.get("/policy/changes", params={"from": "2026-11-01", "to": "2018-05-24"}).status_code == 200
    missing = client.get("/policy/versions/1999-01-01", headers={"Accept": "text/html"})
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")


def test_pages_carry_the_security_headers(pledge_site: Site) -> None:
    client = pledge_site.client()
    page = client.get("/privacy")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self' 'nonce-" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("pledge_csrf=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie and "strict-transport-security" not in page.headers
    nonces = {client.get("/privacy").headers["content-security-policy"] for _ in range(2)}
    assert len(nonces) == 2  # a fresh nonce per response
    api = client.get("/api/v1/declaration")
    assert api.headers["x-content-type-options"] == "nosniff" and "set-cookie" not in api.headers


def test_over_tls_cookies_are_secure(pledge_site: Site) -> None:
    client = pledge_site.client(base_url="https://testserver")
    page = client.get("/privacy")
    assert "Secure" in page.headers["set-cookie"]
    assert page.headers["strict-transport-security"].startswith("max-age=")
    client.post("/api/v1/signin", json={"email": KNOWN})
    token = pledge_site.token("/privacy/signin/confirm", to=KNOWN)
    signed = client.post("/api/v1/signin/confirm", json={"token": token})
    assert "Secure" in signed.headers["set-cookie"] and "HttpOnly" in signed.headers["set-cookie"]


def test_a_session_sees_only_its_own_requests(pledge_site: Site) -> None:
    client = pledge_site.client()
    assert client.get("/privacy/my").status_code == 401
    client.post("/api/v1/signin", json={"email": KNOWN})
    client.post("/api/v1/signin/confirm", json={"token": pledge_site.token("signin", to=KNOWN)})
    assert client.get("/privacy/my").status_code == 200
    somebody = pledge_site.client()
    made = somebody.post(
        "/api/v1/requests", json={"kind": "access", "email": "x@example.org", "jurisdiction": "gdpr"}
    )
    request_id = made.json()["request_id"]
    assert client.get(f"/privacy/my/requests/{request_id}").status_code == 404
    assert client.get(f"/privacy/my/requests/{request_id}/archive").status_code == 404
