from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi import Request as FastAPIRequest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from pledge.declaration import LoadedDeclaration
from pledge.middleware import (
    ConsentGate,
    ConsentMiddleware,
    DroppedCookie,
    format_consent_cookie,
    sign_consent_cookie,
)

from .conftest import KEY, VISITOR, MakeCookie

EVERY_COOKIE = ["session", "theme", "_stats", "_ga_G-1", "ad_spring", "_fbp", "mystery"]


async def set_all(request: Request) -> Response:
    response = PlainTextResponse("ok")
    for name in EVERY_COOKIE:
        response.set_cookie(name, "v")
    response.delete_cookie("_ga_old")
    return response


async def stream(request: Request) -> Response:
    async def body() -> AsyncIterator[bytes]:
        for i in range(5):
            yield f"chunk{i};".encode()

    response = StreamingResponse(body(), media_type="text/plain")
    response.set_cookie("_stats", "v")
    response.set_cookie("session", "v")
    return response


async def state(request: Request) -> Response:
    consent = request.state.pledge_consent
    return JSONResponse(
        {
            "choices": dict(consent.choices),
            "gpc": consent.gpc,
            "visitor": consent.visitor_id,
            "signed": consent.signed,
        }
    )


def make_app(site: LoadedDeclaration, **options: Any) -> Starlette:
    options.setdefault("signing_key", KEY)
    app = Starlette(
        routes=[Route("/set", set_all), Route("/stream", stream), Route("/state", state)],
    )
    app.add_middleware(ConsentMiddleware, declaration=site, **options)
    return app


def cookie_names(response: Any) -> list[str]:
    return [h.split("=", 1)[0] for h in response.headers.get_list("set-cookie")]


def test_without_consent_only_essential_cookies_and_deletions_pass(site: LoadedDeclaration) -> None:
    dropped: list[DroppedCookie] = []
    with TestClient(make_app(site, on_drop=dropped.append)) as client:
        response = client.get("/set")
    assert response.status_code == 200 and response.text == "ok"
    assert cookie_names(response) == ["session", "_ga_old"]
    assert [d.name for d in dropped] == ["theme", "_stats", "_ga_G-1", "ad_spring", "_fbp", "mystery"]


def test_each_grant_lets_exactly_its_category_through(
    site: LoadedDeclaration, consent_cookie: MakeCookie
) -> None:
    with TestClient(make_app(site)) as client:
        analytics = client.get("/set", headers={"cookie": consent_cookie({"analytics": True})})
        everything = client.get(
            "/set",
            headers={"cookie": consent_cookie({"preferences": True, "analytics": True, "advertising": True})},
        )
        with_gpc = client.get(
            "/set",
            headers={
                "cookie": consent_cookie({"preferences": True, "analytics": True, "advertising": True}),
                "sec-gpc": "1",
            },
        )
    assert cookie_names(analytics) == ["session", "_stats", "_ga_G-1", "_ga_old"]
    assert cookie_names(everything) == [
        "session",
        "theme",
        "_stats",
        "_ga_G-1",
        "ad_spring",
        "_fbp",
        "_ga_old",
    ]
    assert cookie_names(with_gpc) == ["session", "theme", "_stats", "_ga_G-1", "_ga_old"]


def test_forged_grant_changes_nothing(site: LoadedDeclaration, consent_cookie: MakeCookie) -> None:
    with TestClient(make_app(site)) as client:
        response = client.get("/set", headers={"cookie": consent_cookie({"advertising": True}, signed=False)})
    assert cookie_names(response) == ["session", "_ga_old"]


def test_streaming_body_is_untouched(site: LoadedDeclaration, consent_cookie: MakeCookie) -> None:
    with TestClient(make_app(site)) as client:
        refused = client.get("/stream")
        granted = client.get("/stream", headers={"cookie": consent_cookie({"analytics": True})})
    assert refused.text == granted.text == "chunk0;chunk1;chunk2;chunk3;chunk4;"
    assert cookie_names(refused) == ["session"]
    assert cookie_names(granted) == ["_stats", "session"]


def test_consent_state_reaches_the_app(site: LoadedDeclaration, consent_cookie: MakeCookie) -> None:
    with TestClient(make_app(site)) as client:
        data = client.get(
            "/state", headers={"cookie": consent_cookie({"analytics": True}), "sec-gpc": "1"}
        ).json()
        empty = client.get("/state").json()
    assert data == {
        "choices": {"preferences": False, "analytics": True, "advertising": False},
        "gpc": True,
        "visitor": VISITOR,
        "signed": True,
    }
    assert empty == {"choices": {}, "gpc": False, "visitor": None, "signed": False}


def test_undeclared_cookies_can_be_let_through_and_logged(site: LoadedDeclaration) -> None:
    with TestClient(make_app(site, undeclared="log")) as client:
        response = client.get("/set")
    assert "mystery" in cookie_names(response) and "_fbp" not in cookie_names(response)


def test_fastapi_app(site: LoadedDeclaration, consent_cookie: MakeCookie) -> None:
    app = FastAPI()

    @app.get("/")
    def home(request: FastAPIRequest, response: Response) -> dict[str, bool]:
        response.set_cookie("_fbp", "v")
        response.set_cookie("theme", "dark")
        return {"ads": request.state.pledge_consent.allows("advertising")}

    app.add_middleware(ConsentMiddleware, declaration=site, signing_key=KEY)
    with TestClient(app) as client:
        response = client.get("/", headers={"cookie": consent_cookie({"preferences": True})})
    assert response.json() == {"ads": False}
    assert cookie_names(response) == ["theme"]


def test_raw_asgi_headers_any_case_and_lifespan_pass_through(site: LoadedDeclaration) -> None:
    asyncio.run(_raw_asgi(site))


async def _raw_asgi(site: LoadedDeclaration) -> None:
    # Hand-rolled ASGI app and server: mixed-case header names, several Cookie headers (HTTP/2).
    sent: list[dict[str, Any]] = []
    seen: dict[str, Any] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen[scope["type"]] = scope.get("state", {}).get("pledge_consent")
        if scope["type"] != "http":
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"Set-Cookie", b"_stats=1"), (b"SET-COOKIE", b"session=1"), (b"x-other", b"1")],
            }
        )
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        await send({"type": "http.response.body", "body": b"b"})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    gate = ConsentGate(site, signing_key=KEY)
    middleware = ConsentMiddleware(app, gate=gate)
    await middleware({"type": "lifespan"}, receive, send)
    assert seen == {"lifespan": None}
    await middleware({"type": "websocket", "headers": [(b"sec-gpc", b"1")]}, receive, send)
    assert seen["websocket"].gpc and sent == []  # state for websockets too; nothing sent for them
    value = sign_consent_cookie(format_consent_cookie(VISITOR, {"analytics": True}, "2.1", "2.1"), KEY)
    scope = {
        "type": "http",
        "headers": [(b"Cookie", b"a=1"), (b"cookie", f"pledge_consent={value}".encode()), (b"Sec-GPC", b"1")],
    }
    await middleware(scope, receive, send)
    assert seen["http"].allows("analytics") and seen["http"].gpc
    assert sent[0]["headers"] == [
        (b"Set-Cookie", b"_stats=1"),
        (b"SET-COOKIE", b"session=1"),
        (b"x-other", b"1"),
    ]
    assert [m.get("body") for m in sent[1:]] == [b"a", b"b"]
    sent.clear()
    await middleware({"type": "http", "headers": []}, receive, send)
    assert sent[0]["headers"] == [(b"SET-COOKIE", b"session=1"), (b"x-other", b"1")]
