"""The whole site in Debian's Chromium: the demo shop's banner against the real consent API and
middleware, a request from the privacy center to the downloaded data (the link read from the
outbox), preferences, unsubscribe, the admin console's approve, and keyboard-only use.
Screenshots of the privacy center and the admin console go to ``test-artifacts/``."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from pledge.requests.steps import Identity
from tests.web.conftest import ServeApp
from tests.web.sites import Site, open_site

KNOWN = "robin.quill@example.com"


@dataclass
class Served:
    site: Site
    base: str

    def outbox_link(self, contains: str, to: str) -> str:
        """The newest link containing ``contains`` in the outbox's .eml files addressed to ``to``,
        pointed at the running server."""
        found: list[str] = []
        for path in sorted((self.site.folder / "outbox").glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if message["To"] != to:
                continue
            body = message.get_body(("plain",))
            text = body.get_content() if body is not None else ""  # type: ignore[union-attr]
            found += [link for link in re.findall(r"https?://\S+", text) if contains in link]
        assert found, f"no link with {contains!r} in the outbox for {to}"
        parts = urlsplit(found[-1])
        return f"{self.base}{parts.path}?{parts.query}"


@pytest.fixture
def served(tmp_path: Path, serve_app: ServeApp) -> Iterator[Served]:
    site = open_site(tmp_path, shop=True, worker=True)
    try:
        yield Served(site, serve_app(site.app, lifespan="off"))
    finally:
        site.close()


def visit(context: BrowserContext, url: str) -> Page:
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.problems = problems  # type: ignore[attr-defined]
    page.goto(url)
    return page


def no_problems(page: Page) -> None:
    assert page.problems == []  # type: ignore[attr-defined]  # no CSP violation, no script error


def test_the_shop_s_banner_records_consent_and_the_middleware_honours_it(
    served: Served, context: BrowserContext, artifacts: Path
) -> None:
    page = visit(context, served.base + "/")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#analytics-status")).to_contain_text("not running")
    names = {c["name"] for c in context.cookies()}
    assert "cart_session" in names and "ad_id" not in names and "_pk_ses.shop" not in names
    page.screenshot(path=str(artifacts / "web-shop-banner.png"))
    with page.expect_response("**/api/v1/consent") as answer:
        page.get_by_role("button", name="Accept all", exact=True).click()
    assert answer.value.status == 200
    expect(page.locator("#analytics-status")).to_contain_text("running (you allowed statistics)")
    expect(page.locator("#ads-status")).to_contain_text("running (you allowed advertising)")
    consent = next(c for c in context.cookies() if c["name"] == "pledge_consent")
    assert consent["value"].count("~") == 5  # signed by the server
    page.reload()
    names = {c["name"] for c in context.cookies()}
    assert {"_pk_ses.shop", "ad_id"} <= names  # the middleware lets the consented cookies through
    subject = served.site.system.find_subject("cookie_id", consent["value"].split("~")[1])
    assert served.site.system.enforcer.decide(subject, "interest_ads", ("user.device.cookie_id",))
    no_problems(page)


def test_a_request_from_the_privacy_center_to_the_downloaded_data(
    served: Served, context: BrowserContext, artifacts: Path
) -> None:
    page = visit(context, served.base + "/privacy")
    page.screenshot(path=str(artifacts / "web-privacy-center.png"), full_page=True)
    page.get_by_role("link", name="See my data").click()
    expect(page.get_by_role("radio", name="See my data")).to_be_checked()
    page.get_by_label("Your e-mail address").fill(KNOWN)
    page.get_by_label("Where you live").select_option(label="United Kingdom and European Economic Area")
    page.screenshot(path=str(artifacts / "web-request-form.png"), full_page=True)
    page.get_by_role("button", name="Send the request").click()
    expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()

    page.goto(served.outbox_link("/privacy/requests/verify", KNOWN))
    page.get_by_role("button", name="Yes, this request is mine").click()
    expect(page.get_by_role("heading", name="See my data")).to_be_visible()
    for _ in range(40):  # the in-process worker runs it; the page says so until it is done
        if "completed" in page.locator("dl.facts").inner_text():
            break
        page.wait_for_timeout(250)
        page.reload()
    expect(page.locator("dl.facts")).to_contain_text("completed")
    expect(page.get_by_role("table").first).to_contain_text(KNOWN)
    page.screenshot(path=str(artifacts / "web-my-data.png"), full_page=True)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download my data").click()
    saved = artifacts / "web-my-data.zip"
    download.value.save_as(saved)
    assert saved.read_bytes()[:2] == b"PK"
    no_problems(page)


def test_preferences_and_one_click_unsubscribe(
    served: Served, context: BrowserContext, artifacts: Path
) -> None:
    page = visit(context, served.base + "/privacy/preferences")
    page.get_by_label("Your e-mail address").fill(KNOWN)
    page.get_by_role("button", name="E-mail me a sign-in link").click()
    page.goto(served.outbox_link("/privacy/signin/confirm", KNOWN))
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="My preferences")).to_be_visible()
    offers = page.get_by_role("group", name="Offers and resources the person asked for")
    offers.get_by_label("E-mail").check()
    page.get_by_label("Do not sell or share my personal information").check()
    page.screenshot(path=str(artifacts / "web-preferences.png"), full_page=True)
    page.get_by_role("button", name="Save my preferences").click()
    expect(page.get_by_role("status")).to_contain_text("Your preferences are saved.")
    expect(
        page.get_by_role("group", name="Offers and resources the person asked for").get_by_label("E-mail")
    ).to_be_checked()

    system = served.site.system
    subject = system.find_subject("email", KNOWN)
    assert subject is not None
    assert system.enforcer.decide(subject, "relevant_offers", ("user.contact.email",), channel="email")
    token = system.unsubscribe.token(subject, "relevant_offers", "email")
    page.goto(f"{served.base}/u/{token}")
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", name="You are unsubscribed")).to_be_visible()
    decision = system.enforcer.decide(subject, "relevant_offers", ("user.contact.email",), channel="email")
    assert decision.reason == "channel_opted_out"
    no_problems(page)


def test_the_admin_signs_in_and_approves_an_erasure(
    served: Served, context: BrowserContext, artifacts: Path
) -> None:
    workflow = served.site.system.workflow
    record = workflow.create_request(
        "erase", [Identity("email", KNOWN)], jurisdiction="gdpr", source="cli", operator="front desk"
    )
    assert record.state == "verified" and record.requires_approval
    page = visit(context, served.base + "/admin")
    page.get_by_label("API key").fill(served.site.admin_key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Admin console")).to_be_visible()
    page.screenshot(path=str(artifacts / "web-admin-dashboard.png"), full_page=True)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Requests").click()
    page.get_by_role("link", name=record.id[:8]).click()
    approve = page.get_by_role("group", name="Approve")
    approve.get_by_label("Your name").fill("Dana")
    page.screenshot(path=str(artifacts / "web-admin-request.png"), full_page=True)
    approve.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_contain_text("approved")
    for _ in range(40):
        if workflow.get_request(record.id).state == "completed":
            break
        page.wait_for_timeout(250)
    assert workflow.get_request(record.id).state == "completed", workflow.get_request(record.id).error
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    page.get_by_role("button", name="Verify the whole log").click()
    expect(page.get_by_role("status")).to_contain_text("The log verifies")
    no_problems(page)


def _tab_to(page: Page, selector: str, limit: int = 60) -> None:
    target = page.locator(selector)
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            outline = target.evaluate("el => getComputedStyle(el).outlineStyle")
            assert outline != "none", f"{selector} has no visible focus"
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_the_privacy_center_works_with_the_keyboard_alone(served: Served, context: BrowserContext) -> None:
    page = visit(context, served.base + "/privacy/request")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    _tab_to(page, "#kind-access")
    page.keyboard.press("ArrowDown")  # radios move with the arrow keys
    expect(page.locator("#kind-portability")).to_be_checked()
    page.keyboard.press("ArrowUp")
    expect(page.locator("#kind-access")).to_be_checked()
    _tab_to(page, "#email")
    page.keyboard.type(KNOWN)
    _tab_to(page, "#jurisdiction")
    for _ in range(3):  # United States, California, then the UK and EEA
        page.keyboard.press("ArrowDown")
    expect(page.locator("#jurisdiction")).to_have_value("gdpr")
    _tab_to(page, "button[type=submit]")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()
    assert served.site.system.workflow.list_requests()[0].request.kind == "access"
    no_problems(page)
