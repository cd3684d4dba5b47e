"""The application factory: ``create_app(system)`` → an ASGI app serving the API, the privacy
center, the published policy, the admin console and the banner.

    system = Pledge.open(settings, declaration="privacy.yaml").start()
    app = create_app(system)                 # uvicorn serves it; `pledge serve` does exactly this

``shop=True`` (``pledge demo``) also serves the demo shop's home page at ``/``, behind the consent
middleware, as a business would put its own site behind it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from pledge.web.api import api_router
from pledge.web.banner import GPC_PATH, build_banner, gpc_json
from pledge.web.context import Web
from pledge.web.errors import install_error_handlers
from pledge.web.hotpath import ConsentHotPath
from pledge.web.pages import admin_router, center_router, policy_router
from pledge.web.pages.render import render_error
from pledge.web.security import SecurityMiddleware

if TYPE_CHECKING:
    from pledge.system import Pledge

__all__ = ["create_app"]

Scope = MutableMapping[str, Any]
ASGI = Callable[[Scope, Any, Any], Awaitable[None]]


def create_app(system: Pledge, *, shop: bool = False) -> SecurityMiddleware:
    """The whole site for ``system`` (which the caller opens, starts and closes)."""
    banner = build_banner(
        system.loaded,
        material_version=system.material_version(),
        consent_endpoint="/api/v1/consent",
        policy_url="/policy",
    )
    app = FastAPI(
        title=f"Pledge API: {system.loaded.declaration.organisation.name}",
        version="1",
        description=(
            "Decisions, consent, data-subject requests, disclosures, the audit log and the "
            "published policy. Admin endpoints need the API key (Authorization: Bearer KEY or "
            "X-API-Key); subject endpoints need the session opened by an e-mail link."
        ),
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    _accurate_openapi(app)
    app.state.web = Web(system=system, banner=banner, shop=shop)
    app.state.render_error = render_error
    install_error_handlers(app)
    app.include_router(api_router())
    app.include_router(center_router)
    app.include_router(policy_router)
    app.include_router(admin_router)
    _banner_routes(app)
    app.mount("/static", StaticFiles(directory=str(files("pledge.web").joinpath("static"))), name="static")

    if not shop:

        @app.get("/", include_in_schema=False)
        def home() -> RedirectResponse:
            return RedirectResponse("/privacy", status_code=303)

        return SecurityMiddleware(ConsentHotPath(app, app.state.web), web=app.state.web)

    from pledge.web.shop import shop_app

    pledge = ConsentHotPath(app, app.state.web)
    return SecurityMiddleware(_Dispatch(shop_app(system, app.state.web), pledge), web=app.state.web)


def _accurate_openapi(app: FastAPI) -> None:
    """FastAPI documents every 200 as JSON; routes answering files or text say what they really
    send (``responses=``), so the JSON placeholder FastAPI adds beside it is dropped."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                content = operation.get("responses", {}).get("200", {}).get("content", {})
                if len(content) > 1 and content.get("application/json") == {"schema": {}}:
                    del content["application/json"]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _banner_routes(app: FastAPI) -> None:
    @app.get("/static/banner.js", include_in_schema=False)
    def banner_js(request: Request) -> Response:
        return _asset(request, "js", "text/javascript; charset=utf-8")

    @app.get("/static/banner.css", include_in_schema=False)
    def banner_css(request: Request) -> Response:
        return _asset(request, "css", "text/css; charset=utf-8")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204, headers={"Cache-Control": "max-age=86400"})

    @app.get(GPC_PATH, include_in_schema=False)
    def gpc(request: Request) -> JSONResponse:
        return JSONResponse(gpc_json(request.app.state.web.system.loaded))


def _asset(request: Request, kind: str, media: str) -> Response:
    assets = request.app.state.web.banner
    etag = f'"{assets.etag}-{kind}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(assets.js if kind == "js" else assets.css, media_type=media, headers=headers)


class _Dispatch:
    """The demo shop's pages (``/`` and ``/shop/...``) go to the shop app; everything else to
    Pledge. Only the shop sits behind the consent middleware: Pledge's own cookies (session,
    CSRF) are strictly necessary and never optional."""

    def __init__(self, shop: ASGI, pledge: ASGI) -> None:
        self.shop = shop
        self.pledge = pledge

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] in ("http", "websocket") else ""
        if path == "/" or path.startswith("/shop/"):
            await self.shop(scope, receive, send)
        else:
            await self.pledge(scope, receive, send)
