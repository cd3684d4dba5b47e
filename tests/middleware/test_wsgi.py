from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import flask
import pytest

from pledge.declaration import LoadedDeclaration
from pledge.middleware import ConsentState, ConsentWSGIMiddleware

from .conftest import KEY, VISITOR, MakeCookie


class Streamed:
    """A WSGI body that yields chunks lazily and records whether the server closed it."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks

    def close(self) -> None:
        self.closed = True


class App:
    def __init__(self) -> None:
        self.body: Streamed | None = None
        self.consent: ConsentState | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        self.consent = environ["pledge.consent"]
        start_response(
            "200 OK",
            [
                ("Content-Type", "text/plain"),
                ("Set-Cookie", "session=1; HttpOnly"),
                ("Set-Cookie", "_ga_X=1; Max-Age=3600"),
                ("set-cookie", "ad_1=1"),
                ("Set-Cookie", "theme=dark"),
                ("Set-Cookie", "mystery=1"),
                ("Set-Cookie", "_fbp=; Max-Age=0"),
            ],
        )
        self.body = Streamed([b"one ", b"two ", b"three"])
        return self.body


def call(app: Callable[..., Iterable[bytes]], **headers: str) -> tuple[str, list[tuple[str, str]], bytes]:
    environ: dict[str, Any] = {f"HTTP_{k.upper()}": v for k, v in headers.items()}
    environ["QUERY_STRING"] = ""
    setup_testing_defaults(environ)
    captured: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured["status"], captured["headers"] = status, response_headers
        return lambda data: None

    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return captured["status"], captured["headers"], body


def cookie_names(headers: list[tuple[str, str]]) -> list[str]:
    return [v.split("=", 1)[0] for k, v in headers if k.lower() == "set-cookie"]


def test_headers_filtered_body_streamed_and_closed(
    site: LoadedDeclaration, consent_cookie: MakeCookie
) -> None:
    inner = App()
    # wsgiref's validator on both sides checks that the middleware itself speaks correct WSGI.
    app = validator(ConsentWSGIMiddleware(validator(inner), site, signing_key=KEY))
    status, headers, body = call(app)
    assert status == "200 OK" and body == b"one two three"
    assert cookie_names(headers) == ["session", "_fbp"]
    assert ("Content-Type", "text/plain") in headers
    assert inner.body is not None and inner.body.closed

    _, headers, _ = call(app, cookie=consent_cookie({"analytics": True, "preferences": True}))
    assert cookie_names(headers) == ["session", "_ga_X", "theme", "_fbp"]
    assert inner.consent is not None and inner.consent.visitor_id == VISITOR


def test_gpc_header_opts_out_of_advertising(site: LoadedDeclaration, consent_cookie: MakeCookie) -> None:
    inner = App()
    app = ConsentWSGIMiddleware(inner, site, signing_key=KEY)
    everything = consent_cookie({"analytics": True, "advertising": True})
    assert "ad_1" in cookie_names(call(app, cookie=everything)[1])
    _, headers, _ = call(app, cookie=everything, sec_gpc="1")
    assert "ad_1" not in cookie_names(headers) and "_ga_X" in cookie_names(headers)
    assert inner.consent is not None and inner.consent.gpc


def test_exc_info_is_passed_on(site: LoadedDeclaration) -> None:
    def failing(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("Set-Cookie", "_fbp=1")])
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            start_response("500 Internal Server Error", [("Set-Cookie", "_fbp=2")], sys.exc_info())
        return [b"error"]

    calls: list[tuple[str, list[tuple[str, str]], Any]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        calls.append((status, headers, exc_info))
        return lambda data: None

    environ: dict[str, Any] = {}
    setup_testing_defaults(environ)
    assert list(ConsentWSGIMiddleware(failing, site, signing_key=KEY)(environ, start_response)) == [b"error"]
    assert calls[0][:2] == ("200 OK", []) and calls[0][2] is None
    assert calls[1][:2] == ("500 Internal Server Error", []) and calls[1][2][0] is RuntimeError


def test_needs_a_declaration_or_a_gate() -> None:
    with pytest.raises(TypeError, match="declaration or a gate"):
        ConsentWSGIMiddleware(App())


def flask_app(site: LoadedDeclaration, streamed: list[str]) -> flask.Flask:
    app = flask.Flask(__name__)

    @app.get("/")
    def home() -> flask.Response:
        consent = flask.request.environ["pledge.consent"]
        response = flask.make_response("ads on" if consent.allows("advertising") else "ads off")
        response.set_cookie("_stats", "1")
        response.set_cookie("session", "1")
        response.set_cookie("_fbp", "1")
        return response

    @app.get("/stream")
    def stream() -> flask.Response:
        def body() -> Iterator[str]:
            try:
                for i in range(3):
                    streamed.append(f"chunk{i}")
                    yield f"chunk{i};"
            finally:
                streamed.append("closed")

        response = flask.Response(body(), mimetype="text/plain")
        response.set_cookie("session", "1")
        response.set_cookie("ad_spring", "1")
        return response

    app.wsgi_app = ConsentWSGIMiddleware(app.wsgi_app, site, signing_key=KEY)  # type: ignore[method-assign]
    return app


def flask_names(response: Any) -> list[str]:
    return [c.split("=", 1)[0] for c in response.headers.getlist("Set-Cookie")]


def consent_value(header: str) -> str:
    return header.split("=", 1)[1]  # the conftest helper makes a whole "name=value" Cookie header


def test_flask_app(site: LoadedDeclaration, consent_cookie: MakeCookie) -> None:
    client = flask_app(site, []).test_client()
    assert flask_names(client.get("/")) == ["session"]

    # Werkzeug's client sends the cookies in its jar and overrides a Cookie header given per
    # request, so consent goes into the jar, as a browser would hold it.
    client.set_cookie("pledge_consent", consent_value(consent_cookie({"analytics": True})))
    granted = client.get("/")
    assert flask_names(granted) == ["_stats", "session"] and granted.text == "ads off"

    client.set_cookie(
        "pledge_consent", consent_value(consent_cookie({"analytics": True, "advertising": True}))
    )
    assert flask_names(client.get("/")) == ["_stats", "session", "_fbp"]
    with_gpc = client.get("/", headers={"Sec-GPC": "1"})
    assert flask_names(with_gpc) == ["_stats", "session"] and with_gpc.text == "ads off"


def test_flask_forged_consent_is_no_consent(site: LoadedDeclaration, consent_cookie: MakeCookie) -> None:
    client = flask_app(site, []).test_client()
    everything = {"analytics": True, "advertising": True}
    for forged in (consent_cookie(everything, signed=False), consent_cookie(everything, key=b"x" * 32)):
        client.set_cookie("pledge_consent", consent_value(forged))
        assert flask_names(client.get("/")) == ["session"]


def test_flask_streaming_response(site: LoadedDeclaration, consent_cookie: MakeCookie) -> None:
    streamed: list[str] = []
    client = flask_app(site, streamed).test_client()
    client.set_cookie("pledge_consent", consent_value(consent_cookie({"advertising": True})))
    response = client.get("/stream", buffered=False)
    # The headers are filtered while the body is still being produced: Werkzeug's client pulls the
    # first chunk (an app may call start_response that late), the rest waits for the reader.
    assert flask_names(response) == ["session", "ad_spring"] and streamed == ["chunk0"]
    assert response.get_data() == b"chunk0;chunk1;chunk2;"
    response.close()
    assert streamed[-1] == "closed"
