from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

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


@pytest.mark.skipif(
    importlib.util.find_spec("flask") is None, reason="Flask is not installed (not a dependency)"
)
def test_flask_app(site: LoadedDeclaration, consent_cookie: MakeCookie) -> None:  # pragma: no cover
    import flask

    app = flask.Flask(__name__)

    @app.get("/")
    def home() -> Any:
        response = flask.make_response("hi")
        response.set_cookie("_stats", "1")
        response.set_cookie("session", "1")
        return response

    app.wsgi_app = ConsentWSGIMiddleware(app.wsgi_app, site, signing_key=KEY)  # type: ignore[method-assign]
    client = app.test_client()
    assert [c.split("=")[0] for c in client.get("/").headers.getlist("Set-Cookie")] == ["session"]
    granted = client.get("/", headers={"Cookie": consent_cookie({"analytics": True})})
    assert [c.split("=")[0] for c in granted.headers.getlist("Set-Cookie")] == ["_stats", "session"]
