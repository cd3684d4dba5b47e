"""The cookie banner in a real Chromium, against a real server with a stub consent endpoint.

The site below is a shop page with tagged scripts in every category, served through the consent
middleware; its consent endpoint records every POST and answers with the signed cookie.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from pledge.declaration import LoadedDeclaration, load_declaration, parse_declaration
from pledge.middleware import (
    ConsentGate,
    ConsentMiddleware,
    consent_set_cookie_header,
    format_consent_cookie,
    sign_consent_cookie,
)
from pledge.web.banner import build_banner, gpc_json

from .conftest import ServeApp

pytestmark = pytest.mark.browser

SITE_YAML = Path(__file__).resolve().parents[1] / "middleware" / "site.yaml"
PESI = Path(__file__).resolve().parents[2] / "examples" / "pesi" / "privacy.yaml"
KEY = b"browser-test-signing-key-32bytes"
GPC_INIT = "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true});"
EVERYTHING_AFTER_ACCEPT = ["analytics-inline", "tracker", "analytics-after-src", "ads", "prefs", "both"]
# On a page load with consent already given, every tagged script runs in document order.
EVERYTHING_ON_LOAD = [*EVERYTHING_AFTER_ACCEPT, "necessary"]

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Acme shop</title>
<link rel="stylesheet" href="/static/banner.css">
<script src="/static/banner.js" defer></script>
</head><body>
<h1>Acme Books</h1><p>Seminars and books for busy professionals.</p>
<button id="page-button">A page button</button>
<script>window.log = [];</script>
<script type="text/plain" data-category="analytics">window.log.push("analytics-inline")</script>
<script type="text/plain" data-category="analytics" src="/static/tracker.js"></script>
<script type="text/plain" data-category="analytics">window.log.push("analytics-after-src")</script>
<script type="text/plain" data-category="advertising">window.log.push("ads")</script>
<script type="text/plain" data-category="preferences">window.log.push("prefs")</script>
<script type="text/plain" data-category="analytics advertising">window.log.push("both")</script>
<script type="text/plain" data-category="">window.log.push("empty")</script>
<script type="text/plain" data-category="marketing">window.log.push("undeclared")</script>
<script type="text/plain" data-category="strictly_necessary">window.log.push("necessary")</script>
<footer><a href="#" id="prefs-link" data-pledge-open>Cookie settings</a></footer>
</body></html>"""


@dataclass
class Site:
    """The test site: an ASGI app whose declaration and material version can change mid-test."""

    declaration: LoadedDeclaration
    material: str | None = None
    sign: bool = True
    fail: bool = False
    posts: list[dict[str, Any]] = field(default_factory=list)
    gpc_headers: list[str | None] = field(default_factory=list)
    tracker_hits: int = 0

    def __post_init__(self) -> None:
        routes = [
            Route("/", self.home),
            Route("/static/banner.js", self.js),
            Route("/static/banner.css", self.css),
            Route("/static/tracker.js", self.tracker),
            Route("/api/v1/consent", self.consent, methods=["POST"]),
            Route("/.well-known/gpc.json", self.gpc),
        ]
        self.inner = Starlette(routes=routes)
        self.configure(self.declaration, self.material)

    def configure(self, declaration: LoadedDeclaration, material: str | None = None) -> None:
        self.declaration, self.material = declaration, material
        self.assets = build_banner(declaration, material_version=material)
        gate = ConsentGate(declaration, signing_key=KEY, material_version=material)
        self.app = ConsentMiddleware(self.inner, gate=gate)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    async def home(self, request: Request) -> Response:
        self.gpc_headers.append(request.headers.get("sec-gpc"))
        response = HTMLResponse(PAGE)
        for name in ("session", "_stats", "ad_spring"):
            response.set_cookie(name, "1")
        return response

    async def js(self, request: Request) -> Response:
        return Response(self.assets.js, media_type="text/javascript")

    async def css(self, request: Request) -> Response:
        return Response(self.assets.css, media_type="text/css")

    async def tracker(self, request: Request) -> Response:
        self.tracker_hits += 1
        return Response('window.log.push("tracker")', media_type="text/javascript")

    async def gpc(self, request: Request) -> Response:
        return JSONResponse(gpc_json(self.declaration))

    async def consent(self, request: Request) -> Response:
        body = await request.json()
        self.posts.append(body)
        if self.fail:
            return JSONResponse({"error": "down"}, status_code=500)
        response = JSONResponse({"recorded": True})
        if self.sign:
            material = self.material or self.declaration.version
            value = format_consent_cookie(
                body["cookie_id"], body["choices"], body["policy_version"], material
            )
            response.headers.append(
                "set-cookie", consent_set_cookie_header(sign_consent_cookie(value, KEY), secure=False)
            )
        return response


@pytest.fixture(scope="module")
def declaration() -> LoadedDeclaration:
    return load_declaration(SITE_YAML)


@pytest.fixture
def site(declaration: LoadedDeclaration) -> Site:
    return Site(declaration)


@pytest.fixture
def base(site: Site, serve_app: ServeApp) -> str:
    return serve_app(site)


def visit(context: BrowserContext, url: str) -> Page:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    page.wait_for_load_state("networkidle")
    page.errors = errors  # type: ignore[attr-defined]
    return page


def log(page: Page) -> list[str]:
    result: list[str] = page.evaluate("window.log")
    return result


def expect_log(page: Page, expected: list[str]) -> None:
    """The scripts that ran, once activation has settled (a src= script loads asynchronously)."""
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(
            "e => JSON.stringify(window.log) === e",
            arg=json.dumps(expected, separators=(",", ":")),
            timeout=5000,
        )
    assert log(page) == expected


def click_and_record(page: Page, name: str) -> None:
    """Click a banner button and wait until the consent POST has been answered."""
    with page.expect_response("**/api/v1/consent"):
        page.get_by_role("button", name=name, exact=True).click()
    page.wait_for_load_state("networkidle")


def dialog_open(page: Page) -> bool:
    return page.locator("[role=dialog]").is_visible()


def consent_cookie(context: BrowserContext) -> dict[str, Any]:
    return next(c for c in context.cookies() if c["name"] == "pledge_consent")  # type: ignore[return-value]


def cookie_names(context: BrowserContext) -> set[str]:
    return {c["name"] for c in context.cookies()}


# --- first visit ---------------------------------------------------------------------------------


def test_first_visit_shows_the_banner_and_runs_nothing_optional(
    context: BrowserContext, base: str, site: Site, artifacts: Path
) -> None:
    page = visit(context, base)
    assert dialog_open(page)
    expect_log(page, ["necessary"])
    assert site.tracker_hits == 0
    assert site.posts == []
    assert cookie_names(context) == {"session"}  # the middleware kept _stats and ad_spring off
    heading = page.locator("#pledge-title")
    assert heading.text_content() == 'Cookies on Acme Books & "Seminars"'
    assert page.evaluate("document.querySelector('[role=dialog]').contains(document.activeElement)")
    assert page.errors == []  # type: ignore[attr-defined]
    page.screenshot(path=str(artifacts / "banner-default.png"))


def test_accept_all_runs_every_script_in_order_and_records(
    context: BrowserContext, base: str, site: Site
) -> None:
    page = visit(context, base)
    click_and_record(page, "Accept all")
    assert not dialog_open(page)
    expect_log(page, ["necessary", *EVERYTHING_AFTER_ACCEPT])
    assert site.tracker_hits == 1
    [post] = site.posts
    cookie = consent_cookie(context)
    visitor = cookie["value"].split("~")[1]
    assert post == {
        "cookie_id": visitor,
        "choices": {"preferences": True, "analytics": True, "advertising": True},
        "policy_version": "2.1",
        "gpc": False,
        "source": "banner",
    }
    assert cookie["sameSite"] == "Lax" and not cookie["secure"] and not cookie["httpOnly"]
    assert cookie["expires"] > page.evaluate("Date.now() / 1000") + 179 * 86400

    # Next page load: no banner, no new record, scripts run again from the stored choice, and the
    # server (trusting the signed cookie) now sets the analytics and advertising cookies.
    page.reload()
    page.wait_for_load_state("networkidle")
    assert not dialog_open(page)
    expect_log(page, EVERYTHING_ON_LOAD)
    assert len(site.posts) == 1
    assert {"_stats", "ad_spring"} <= cookie_names(context)


def test_reject_all_runs_nothing_now_or_later(context: BrowserContext, base: str, site: Site) -> None:
    page = visit(context, base)
    click_and_record(page, "Reject all")
    assert not dialog_open(page)
    assert site.posts[0]["choices"] == {"preferences": False, "analytics": False, "advertising": False}
    page.reload()
    page.wait_for_load_state("networkidle")
    assert not dialog_open(page)
    expect_log(page, ["necessary"])
    assert site.tracker_hits == 0
    assert cookie_names(context) == {"session", "pledge_consent"}


def test_customise_grants_exactly_the_chosen_categories(
    context: BrowserContext, base: str, site: Site, artifacts: Path
) -> None:
    page = visit(context, base)
    page.get_by_role("button", name="Customise").click()
    necessary = page.get_by_role("checkbox", name="Strictly necessary")
    assert necessary.is_checked() and necessary.is_disabled()
    for name in ("Preferences", "Statistics", "Advertising"):
        box = page.get_by_role("checkbox", name=name)
        assert not box.is_checked() and box.is_enabled()  # nothing optional is pre-ticked
    page.locator("#pledge-cats details").first.locator("summary").click()
    page.screenshot(path=str(artifacts / "banner-customise.png"), full_page=True)
    page.get_by_role("checkbox", name="Statistics").check()
    click_and_record(page, "Save my choices")
    expect_log(page, ["necessary", "analytics-inline", "tracker", "analytics-after-src"])
    assert site.posts[0]["choices"] == {"preferences": False, "analytics": True, "advertising": False}
    page.reload()
    page.wait_for_load_state("networkidle")
    assert "_stats" in cookie_names(context) and "ad_spring" not in cookie_names(context)


def test_category_descriptions_and_cookie_lists_come_from_the_declaration(
    context: BrowserContext, base: str
) -> None:
    page = visit(context, base)
    page.get_by_role("button", name="Customise").click()
    assert "Count visits and popular pages" in (page.locator("#pledge-d-analytics").text_content() or "")
    page.locator("#pledge-cats details").nth(3).locator("summary").click()
    items = page.locator("#pledge-cats details").nth(3).locator("li").all_text_contents()
    assert items == ["ad_<campaign> AdNet Inc. · 90 days", "_fbp AdNet Inc. · 3 months"]


# --- Global Privacy Control -----------------------------------------------------------------------


def test_gpc_opts_out_of_advertising(browser: Any, base: str, site: Site, artifacts: Path) -> None:
    context = browser.new_context(extra_http_headers={"Sec-GPC": "1"})
    try:
        context.add_init_script(GPC_INIT)
        page = visit(context, base)
        note = page.locator(".pledge-gpc")
        assert note.is_visible() and "Global Privacy Control" in (note.text_content() or "")
        page.get_by_role("button", name="Customise").click()
        ads = page.get_by_role("checkbox", name="Advertising")
        assert ads.is_disabled() and not ads.is_checked()
        page.screenshot(path=str(artifacts / "banner-gpc.png"), full_page=True)
        click_and_record(page, "Accept all")
        expect_log(page, ["necessary", "analytics-inline", "tracker", "analytics-after-src", "prefs"])
        assert site.posts[0]["gpc"] is True
        assert site.posts[0]["choices"] == {"preferences": True, "analytics": True, "advertising": False}
        assert page.evaluate("Pledge.allowed('advertising')") is False
        page.reload()
        page.wait_for_load_state("networkidle")
        assert site.gpc_headers == ["1", "1"]
        names = cookie_names(context)
        assert "_stats" in names and "ad_spring" not in names
        assert page.request.get(base + "/.well-known/gpc.json").json() == {
            "gpc": True,
            "lastUpdate": "2025-03-01",
        }
    finally:
        context.close()


def test_gpc_turned_on_later_overrides_an_earlier_grant(browser: Any, base: str, site: Site) -> None:
    context = browser.new_context()
    try:
        page = visit(context, base)
        click_and_record(page, "Accept all")
        context.add_init_script(GPC_INIT)
        page.reload()
        page.wait_for_load_state("networkidle")
        expect_log(page, ["analytics-inline", "tracker", "analytics-after-src", "prefs", "necessary"])
    finally:
        context.close()


# --- changes to the policy ------------------------------------------------------------------------


def test_a_material_change_asks_again_and_a_minor_one_does_not(
    context: BrowserContext, base: str, site: Site, declaration: LoadedDeclaration
) -> None:
    page = visit(context, base)
    click_and_record(page, "Accept all")
    newer = parse_declaration(SITE_YAML.read_text().replace('policy_version: "2.1"', 'policy_version: "2.2"'))

    site.configure(newer, material="2.1")  # 2.2 changed nothing material
    page.reload()
    page.wait_for_load_state("networkidle")
    assert not dialog_open(page)
    expect_log(page, EVERYTHING_ON_LOAD)

    site.configure(newer, material="2.2")  # 2.2 is a material change: consent must be asked again
    page.reload()
    page.wait_for_load_state("networkidle")
    assert dialog_open(page)
    expect_log(page, ["necessary"])
    click_and_record(page, "Accept all")
    assert site.posts[-1]["policy_version"] == "2.2"
    expect_log(page, ["necessary", *EVERYTHING_AFTER_ACCEPT])


# --- reopening and withdrawing -------------------------------------------------------------------


def test_footer_link_reopens_and_withdrawal_stops_scripts(
    context: BrowserContext, base: str, site: Site
) -> None:
    page = visit(context, base)
    click_and_record(page, "Accept all")
    page.click("#prefs-link")
    assert dialog_open(page)
    assert page.get_by_role("checkbox", name="Statistics").is_checked()
    page.get_by_role("checkbox", name="Statistics").uncheck()
    page.get_by_role("checkbox", name="Advertising").uncheck()
    # Scripts that ran cannot be unloaded: once the withdrawal is recorded, the page starts afresh.
    with page.expect_navigation(), page.expect_response("**/api/v1/consent"):
        page.get_by_role("button", name="Save my choices").click()
    page.wait_for_load_state("networkidle")
    assert site.posts[-1]["choices"] == {"preferences": True, "analytics": False, "advertising": False}
    expect_log(page, ["prefs", "necessary"])
    page.evaluate("Pledge.open()")
    assert dialog_open(page) and not page.get_by_role("checkbox", name="Statistics").is_checked()


def test_failing_consent_endpoint_does_not_break_the_page(
    context: BrowserContext, base: str, site: Site
) -> None:
    site.fail = True
    page = visit(context, base)
    click_and_record(page, "Accept all")
    assert not dialog_open(page)
    expect_log(page, ["necessary", *EVERYTHING_AFTER_ACCEPT])
    assert page.errors == []  # type: ignore[attr-defined]
    # Nothing was recorded, so the server does not trust the browser's own grant.
    page.reload()
    page.wait_for_load_state("networkidle")
    assert "_stats" not in cookie_names(context)


def test_tagged_scripts_added_later_run_only_with_consent(context: BrowserContext, base: str) -> None:
    page = visit(context, base)
    add = """cat => { const s = document.createElement('script'); s.type = 'text/plain';
        s.dataset.category = cat; s.text = 'window.log.push("late-' + cat + '")';
        document.body.append(s); }"""
    page.evaluate(add, "analytics")
    page.wait_for_timeout(50)
    assert "late-analytics" not in log(page)
    click_and_record(page, "Reject all")
    page.evaluate(add, "analytics")
    page.wait_for_timeout(50)
    assert "late-analytics" not in log(page)
    page.get_by_text("Cookie settings").click()
    page.get_by_role("checkbox", name="Statistics").check()
    click_and_record(page, "Save my choices")
    page.evaluate(add, "analytics")
    page.wait_for_function("window.log.filter(x => x === 'late-analytics').length === 3")


def test_essential_only_site_shows_no_banner_until_asked(
    context: BrowserContext, serve_app: ServeApp
) -> None:
    if not PESI.exists():
        pytest.skip("the PESI example is not there yet")
    site = Site(load_declaration(PESI))
    page = visit(context, serve_app(site))
    assert not dialog_open(page)
    page.click("#prefs-link")
    assert dialog_open(page)
    assert page.locator(".pledge-btn:visible").all_text_contents() == ["OK"]
    page.keyboard.press("Tab")
    page.get_by_role("button", name="OK").click()
    assert not dialog_open(page) and site.posts == []


# --- keyboard, accessibility, layout --------------------------------------------------------------


def focused(page: Page) -> str:
    result: str = page.evaluate(
        """() => { const a = document.activeElement;
        if (!document.querySelector('[role=dialog]').contains(a)) return 'OUTSIDE:' + a.tagName;
        return a.getAttribute('role') === 'dialog' ? 'dialog' : (a.textContent || a.id).trim(); }"""
    )
    return result


def test_keyboard_only(context: BrowserContext, base: str, site: Site) -> None:
    page = visit(context, base)
    assert focused(page) == "dialog"
    stops = []
    for _ in range(9):
        page.keyboard.press("Tab")
        stops.append(focused(page))
    assert stops == ["Privacy policy", "Accept all", "Reject all", "Customise"] * 2 + ["Privacy policy"]
    page.keyboard.press("Shift+Tab")
    assert focused(page) == "Customise"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"

    page.keyboard.press("Enter")  # open the customise view
    assert page.locator("#pledge-cats").is_visible()
    assert page.evaluate("document.activeElement.id") == "pledge-c-preferences"
    page.keyboard.press("Space")
    assert page.get_by_role("checkbox", name="Preferences").is_checked()
    for _ in range(30):  # still trapped with the longer view
        page.keyboard.press("Tab")
        assert not focused(page).startswith("OUTSIDE")
    page.keyboard.press("Escape")  # closes the customise view, decides nothing
    assert not page.locator("#pledge-cats").is_visible()
    assert focused(page) == "Customise"
    page.keyboard.press("Escape")  # and on the first view Escape does nothing at all
    assert dialog_open(page)
    assert site.posts == [] and "pledge_consent" not in cookie_names(context)

    page.keyboard.press("Shift+Tab")
    assert focused(page) == "Reject all"
    with page.expect_response("**/api/v1/consent"):
        page.keyboard.press("Space")
    assert not dialog_open(page)
    assert site.posts[0]["choices"] == {"preferences": False, "analytics": False, "advertising": False}

    # Reopen from the footer link by keyboard; Escape closes the review; focus returns to the link.
    page.focus("#prefs-link")
    page.keyboard.press("Enter")
    assert dialog_open(page) and page.locator("#pledge-cats").is_visible()
    page.keyboard.press("Escape")
    assert not dialog_open(page)
    assert page.evaluate("document.activeElement.id") == "prefs-link"
    assert len(site.posts) == 1


def test_dialog_semantics_and_equal_prominence(context: BrowserContext, base: str) -> None:
    page = visit(context, base)
    dialog = page.locator("[role=dialog]")
    assert dialog.get_attribute("aria-modal") == "true"
    labelled = dialog.get_attribute("aria-labelledby")
    assert labelled and page.locator(f"#{labelled}").evaluate("e => e.tagName") == "H2"
    assert page.get_by_role("dialog", name='Cookies on Acme Books & "Seminars"').is_visible()
    described = dialog.get_attribute("aria-describedby")
    assert described and "optional cookies" in (page.locator(f"#{described}").text_content() or "")

    props = [
        "tagName",
        "className",
        "backgroundColor",
        "color",
        "fontSize",
        "fontWeight",
        "fontFamily",
        "paddingTop",
        "paddingLeft",
        "borderTopWidth",
        "borderTopColor",
        "borderRadius",
        "textDecorationLine",
    ]
    style = """(e, props) => { const s = getComputedStyle(e); const r = e.getBoundingClientRect();
        return {...Object.fromEntries(props.map(p => [p, e[p] ?? s[p]])),
                w: Math.round(r.width), h: Math.round(r.height)}; }"""
    accept = page.get_by_role("button", name="Accept all").evaluate(style, props)
    reject = page.get_by_role("button", name="Reject all").evaluate(style, props)
    assert accept == reject
    assert accept["tagName"] == "BUTTON" and accept["h"] >= 44


CONTRAST = """() => {
  const rgb = c => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = c => { const [r, g, b] = rgb(c).map(v => { v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const bg = e => { for (; e; e = e.parentElement) { const c = getComputedStyle(e).backgroundColor;
      if (!c.startsWith('rgba') || !c.endsWith(', 0)')) return c; } return 'rgb(255, 255, 255)'; };
  const ratio = (a, b) => { const x = lum(a), y = lum(b);
    return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
  return [...document.querySelectorAll('.pledge-dialog, .pledge-dialog *')]
    .filter(e => e.getClientRects().length && [...e.childNodes].some(n => n.nodeType === 3 && n.data.trim()))
    .map(e => [e.tagName + ':' + e.textContent.trim().slice(0, 20), ratio(getComputedStyle(e).color, bg(e))]);
}"""


def test_text_contrast_meets_wcag_aa(browser: Any, base: str) -> None:
    context = browser.new_context(extra_http_headers={"Sec-GPC": "1"})  # the GPC note has its own colours
    try:
        context.add_init_script(GPC_INIT)
        page = visit(context, base)
        page.get_by_role("button", name="Customise").click()
        page.locator("#pledge-cats summary").first.click()
        ratios = page.evaluate(CONTRAST)
        assert len(ratios) > 15
        low = [(what, round(r, 2)) for what, r in ratios if r < 4.5]
        assert low == []
        while page.evaluate("document.activeElement.tagName") != "BUTTON":
            page.keyboard.press("Tab")
        ring = page.evaluate("getComputedStyle(document.activeElement).outlineColor")
        assert ring == "rgb(26, 26, 26)"  # 17:1 on the white dialog, and set off from the blue button
    finally:
        context.close()


def test_reduced_motion_is_respected(browser: Any, base: str) -> None:
    for motion, expected in (("no-preference", "pledge-in"), ("reduce", "none")):
        context = browser.new_context(reduced_motion=motion)
        try:
            page = visit(context, base)
            assert (
                page.evaluate("getComputedStyle(document.querySelector('.pledge-dialog')).animationName")
                == expected
            )
        finally:
            context.close()


def test_readable_on_a_phone(browser: Any, base: str, artifacts: Path) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    try:
        page = visit(context, base)
        page.screenshot(path=str(artifacts / "banner-phone-default.png"))
        fits = """() => { const w = document.documentElement.clientWidth;
            return [...document.querySelectorAll('.pledge-dialog, .pledge-dialog *')]
              .filter(e => e.getClientRects().length)
              .every(e => { const r = e.getBoundingClientRect();
                            return r.left >= 0 && r.right <= w + 0.5; }); }"""
        assert page.evaluate(fits)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        page.get_by_role("button", name="Customise").click()
        page.screenshot(path=str(artifacts / "banner-phone-customise.png"))
        assert page.evaluate(fits)
        save = page.get_by_role("button", name="Save my choices")
        save.scroll_into_view_if_needed()
        assert save.is_visible()
        font = page.evaluate("parseFloat(getComputedStyle(document.querySelector('#pledge-intro')).fontSize)")
        assert font >= 16
    finally:
        context.close()


# --- hostile declarations ------------------------------------------------------------------------

HOSTILE_NAME = '<img src=x onerror="window.pwned=1"></script><script>window.pwned=2</script>'


def test_declaration_text_is_never_markup(context: BrowserContext, serve_app: ServeApp) -> None:
    text = SITE_YAML.read_text()
    text = text.replace('name: Acme Books & "Seminars"', "name: '" + HOSTILE_NAME + "'")
    text = text.replace(
        "description: Keeps you signed in.",
        'description: "Line\\u2028separator \\u2029 and <b>bold</b> {{x}} %s ${x}"',
    )
    assert HOSTILE_NAME in text
    site = Site(parse_declaration(text))
    page = visit(context, serve_app(site))
    assert dialog_open(page)
    assert page.locator("#pledge-title").text_content() == "Cookies on " + HOSTILE_NAME
    page.get_by_role("button", name="Customise").click()
    page.locator("#pledge-cats summary").first.click()
    assert "<b>bold</b> {{x}} %s ${x}" in (page.locator("#pledge-cats li").first.text_content() or "")
    assert page.evaluate("window.pwned") is None
    assert page.locator(".pledge-root img, .pledge-root b, .pledge-root script").count() == 0
    assert page.errors == []  # type: ignore[attr-defined]


def test_assets_are_served_as_built(context: BrowserContext, base: str, site: Site) -> None:
    page = visit(context, base)
    served = page.request.get(base + "/static/banner.js").text()
    assert served == site.assets.js
    config = page.evaluate("JSON.stringify(Pledge.consent())")
    assert json.loads(config) == {
        "strictly_necessary": True,
        "preferences": False,
        "analytics": False,
        "advertising": False,
    }
