"""The demo shop's own pages: what a business's site looks like with Pledge in front of it.

The home page includes the banner (two tags), writes its statistics and advertising scripts as
``<script type="text/plain" data-category=...>`` so they run only after consent, and sets a cart
cookie (strictly necessary) plus statistics and advertising cookies from the server, which the
consent middleware removes from the response until the visitor's signed consent allows them.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from pledge.middleware import ConsentGate, ConsentMiddleware
from pledge.web.banner import banner_snippet

if TYPE_CHECKING:
    from pledge.system import Pledge
    from pledge.web.context import Web

__all__ = ["CATALOG", "shop_app"]

CATALOG = (
    ("Anxiety in children and teens: a two-day seminar", "Seminar, Eau Claire and online", "219.99"),
    ("Trauma-informed care certificate", "Seminar, six sessions online", "249.99"),
    ("ADHD across the lifespan", "Seminar, Bristol and online", "199.99"),
    ("CBT workbook, second edition", "Book, 320 pages", "39.99"),
    ("DBT skills for everyday practice", "Book, 280 pages", "44.99"),
    ("Mindfulness for clinicians", "Video course, 6 hours", "59.99"),
)

_ANALYTICS_JS = """// The demo's statistics script: runs only after consent to statistics.
(function () {
  var s = document.getElementById("analytics-status");
  if (s) s.textContent = "Statistics script: running (you allowed statistics)";
  var days = 13 * 30;
  document.cookie = "_pk_id.shop=demo" + Date.now() + "; Path=/; Max-Age=" + days * 86400 + "; SameSite=Lax";
})();
"""
_ADS_JS = """// The demo's advertising tag: runs only after consent to advertising.
(function () {
  var s = document.getElementById("ads-status");
  if (s) s.textContent = "Advertising tag: running (you allowed advertising)";
})();
"""


def _page(org: str, lang: str) -> str:
    products = "\n".join(
        f'<li class="product"><h3>{escape(title)}</h3><p>{escape(kind)}</p><p class="price">${price}</p></li>'
        for title, kind, price in CATALOG
    )
    return f"""<!doctype html>
<html lang="{escape(lang)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(org)}: seminars and books for professionals (demo)</title>
<link rel="stylesheet" href="/static/pledge.css">
{banner_snippet()}
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="site"><div class="wrap">
<p class="brand"><a href="/">{escape(org)} seminars and books</a></p>
<nav aria-label="Main"><ul>
<li><a href="/" aria-current="page">Shop</a></li>
<li><a href="/privacy">Privacy center</a></li>
<li><a href="/policy">Privacy policy</a></li>
</ul></nav>
</div></header>
<main id="main" tabindex="-1" class="wrap">
<div class="shop-hero">
<h1>Continuing education for busy professionals</h1>
<p>This is a demonstration shop with made-up customers. Nothing here is for sale.</p>
</div>
<h2>This season</h2>
<ul class="products">
{products}
</ul>
<h2>What runs on this page</h2>
<div class="tracker-status" role="status" aria-live="polite">
<p id="analytics-status">Statistics script: not running (no consent to statistics)</p>
<p id="ads-status">Advertising tag: not running (no consent to advertising)</p>
</div>
<p><a href="#" data-pledge-open>Cookie settings</a></p>
</main>
<footer class="site"><div class="wrap">
<p>{escape(org)} (demo) · <a href="/privacy">Privacy center</a> · <a href="/policy">Privacy policy</a> ·
<a href="#" data-pledge-open>Cookie settings</a> · <a href="/admin">Admin</a></p>
</div></footer>
<script type="text/plain" data-category="analytics" src="/shop/static/analytics.js"></script>
<script type="text/plain" data-category="advertising" src="/shop/static/ads.js"></script>
</body>
</html>
"""


def shop_app(system: Pledge, web: Web) -> Any:
    """The shop (``/`` and ``/shop/...``) behind the consent middleware."""
    decl = system.loaded.declaration
    html = _page(decl.organisation.name, decl.language or "en")

    async def home(request: Request) -> Response:
        response = HTMLResponse(html)
        response.set_cookie("cart_session", "demo-cart", httponly=True, samesite="lax")
        # Set by the server on every page; the middleware keeps them off until consent.
        response.set_cookie("_pk_ses.shop", "1", max_age=1800, samesite="lax")
        response.set_cookie("ad_id", "demo-ad-id", max_age=180 * 86400, samesite="lax")
        return response

    async def analytics(request: Request) -> Response:
        return Response(_ANALYTICS_JS, media_type="text/javascript")

    async def ads(request: Request) -> Response:
        return Response(_ADS_JS, media_type="text/javascript")

    inner = Starlette(
        routes=[
            Route("/", home),
            Route("/shop/static/analytics.js", analytics),
            Route("/shop/static/ads.js", ads),
        ]
    )
    gate = ConsentGate(decl, signing_key=web.signing_key, material_version=system.material_version())
    return ConsentMiddleware(inner, gate=gate)
