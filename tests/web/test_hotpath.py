"""The banner's short way in (``pledge.web.hotpath``) answers exactly as the FastAPI endpoints
do, byte for byte, for what it takes, and hands everything else to them untouched."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pledge.web.hotpath import ConsentHotPath
from pledge.web.security import SecurityMiddleware
from tests.web.sites import BASE, Site, another_process, open_site

COOKIE_ID = "visitor-0123456789abcdef"
VERSION = "2026-11-01"


class Counting:
    """The FastAPI app, counting the requests that reach it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.calls = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.calls += 1
        await self.app(scope, receive, send)


def _hot(site: Site) -> ConsentHotPath:
    hot = site.app.app
    assert isinstance(hot, ConsentHotPath)
    return hot


@pytest.fixture
def twin(tmp_path: Path) -> Iterator[Site]:
    """A second site identical to ``pledge_site`` (same template, same keys)."""
    site = open_site(tmp_path / "twin")
    try:
        yield site
    finally:
        site.close()


def _without_hot_path(site: Site) -> TestClient:
    """A client of the same site with the requests going straight to FastAPI."""
    plain = SecurityMiddleware(_hot(site).app, web=site.web)
    return TestClient(plain, base_url=BASE, raise_server_exceptions=False)


def _same(hot: Any, plain: Any) -> None:
    """Same status, body and headers (the CSP's nonce differs on every response by design)."""
    assert hot.status_code == plain.status_code, (hot.text, plain.text)
    assert hot.content == plain.content

    def headers(response: Any) -> list[tuple[str, str]]:
        return [(k, v) for k, v in response.headers.multi_items() if k != "content-security-policy"]

    assert headers(hot) == headers(plain)
    assert "nonce-" in hot.headers["content-security-policy"]


def choice(analytics: bool, advertising: bool = False, **extra: Any) -> dict[str, Any]:
    return {
        "cookie_id": COOKIE_ID,
        "choices": {"analytics": analytics, "advertising": advertising},
        "policy_version": VERSION,
        "gpc": False,
        "source": "banner",
        **extra,
    }


WRITES: list[tuple[str, dict[str, Any]]] = [
    # (what, httpx request options) in order: each site gets the same sequence.
    ("first choice", {"json": choice(True)}),
    ("the same again", {"json": choice(True)}),
    ("a change", {"json": choice(False, True)}),
    ("with GPC", {"json": choice(True, True, gpc=True)}),
    (
        "charset",
        {
            "content": json.dumps(choice(False)),
            "headers": {"content-type": "application/json; charset=utf-8"},
        },
    ),
    ("stale policy", {"json": choice(True, policy_version="2018-05-24")}),
    ("unknown category", {"json": {**choice(True), "choices": {"marketing": True}}}),
    ("not strict", {"json": {**choice(True), "gpc": "yes"}}),
    ("unknown field", {"json": {**choice(True), "colour": "red"}}),
    ("bad cookie id", {"json": {**choice(True), "cookie_id": "short"}}),
    ("wrong source", {"json": choice(True, source="api")}),
    ("and a subject", {"json": choice(True, subject_id="s_x")}),
    ("no choices", {"json": {"cookie_id": COOKIE_ID, "source": "banner"}}),
    ("invalid JSON", {"content": b'{"cookie_id": ', "headers": {"content-type": "application/json"}}),
    ("not UTF-8", {"content": b'{"cookie_id": "\xff"}', "headers": {"content-type": "application/json"}}),
    ("a list", {"json": [choice(True)]}),
    ("text", {"content": json.dumps(choice(True)), "headers": {"content-type": "text/plain"}}),
    ("no content type", {"content": json.dumps(choice(True)).encode()}),
    ("empty", {"content": b"", "headers": {"content-type": "application/json"}}),
    ("deep", {"content": b"[" * 100_000 + b"]" * 100_000, "headers": {"content-type": "application/json"}}),
    ("too large to take", {"json": {**choice(True), "proof": "x" * 300_000}}),
    ("the admin's form", {"json": {"subject_id": "s_nobody", "changes": [{"action": "grant"}]}}),
]


def test_banner_writes_answer_as_fastapi_does(pledge_site: Site, twin: Site) -> None:
    hot_client = pledge_site.client(raise_server_exceptions=False)
    plain_client = _without_hot_path(twin)
    for what, options in WRITES:
        hot = hot_client.post("/api/v1/consent", **options)
        plain = plain_client.post("/api/v1/consent", **options)
        try:
            _same(hot, plain)
        except AssertionError as exc:
            raise AssertionError(f"{what}: {exc}") from None
        assert hot.status_code < 500, what
    # And both ledgers (and audit logs) hold the same: every recorded event with its entry.
    recorded = []
    for site in (pledge_site, twin):
        subject = site.system.find_subject("cookie_id", COOKIE_ID)
        assert subject is not None
        recorded.append([(e.kind, e.purpose, e.source, e.proof) for e in site.system.ledger.events(subject)])
    # 2 (first choice) + 0 (the same) + 2 (a change) + 3 (GPC: with its signal) + 1 (charset)
    assert recorded[0] == recorded[1] and len(recorded[0]) == 8
    assert pledge_site.system.audit.size() == twin.system.audit.size()


def test_banner_reads_answer_as_fastapi_does(pledge_site: Site) -> None:
    hot_client = pledge_site.client(raise_server_exceptions=False)
    plain_client = _without_hot_path(pledge_site)
    queries = [
        {"cookie_id": COOKIE_ID},  # not known yet
        {"cookie_id": "x" * 64},
        {"cookie_id": "x" * 65},
        {"cookie_id": "short"},
        {"cookie_id": COOKIE_ID, "jurisdiction": "gdpr"},
        {"cookie_id": COOKIE_ID, "jurisdiction": "nowhere"},
        {"cookie_id": COOKIE_ID, "subject_id": "s_x"},
        {},
    ]
    for round_ in range(2):
        for query in queries:
            _same(
                hot_client.get("/api/v1/consent", params=query),
                plain_client.get("/api/v1/consent", params=query),
            )
        for raw in (
            "cookie_id=visitor%2D0123456789abcdef",
            "cookie_id=" + COOKIE_ID + "&",
            "Cookie_id=" + COOKIE_ID,
        ):
            _same(hot_client.get(f"/api/v1/consent?{raw}"), plain_client.get(f"/api/v1/consent?{raw}"))
        if round_ == 0:  # then again once the visitor is known, with a history
            assert hot_client.post("/api/v1/consent", json=choice(True)).status_code == 200
    known = hot_client.get("/api/v1/consent", params={"cookie_id": COOKIE_ID}).json()
    assert known["known"] and known["categories"] == {"analytics": True, "advertising": False}
    for method in ("HEAD", "PUT", "DELETE"):
        _same(
            hot_client.request(method, "/api/v1/consent", params={"cookie_id": COOKIE_ID}),
            plain_client.request(method, "/api/v1/consent", params={"cookie_id": COOKIE_ID}),
        )


def test_only_the_banner_s_shapes_skip_fastapi(pledge_site: Site) -> None:
    hot = _hot(pledge_site)
    counting = hot.app = Counting(hot.app)
    client = pledge_site.client()
    assert client.get("/api/v1/consent", params={"cookie_id": COOKIE_ID}).status_code == 200
    assert client.post("/api/v1/consent", json=choice(True)).status_code == 200
    assert client.post("/api/v1/consent", json=choice(True, policy_version="old")).status_code == 409
    assert counting.calls == 0
    client.get("/api/v1/consent", params={"cookie_id": COOKIE_ID, "jurisdiction": "gdpr"})
    client.get("/api/v1/consent", params={"cookie_id": "short"})
    client.post("/api/v1/consent", json={**choice(True), "gpc": "no"})
    client.get("/api/v1/decisions")
    client.get("/api/v1/consent/", follow_redirects=False)
    assert counting.calls == 5


def test_an_unexpected_error_answers_500_as_fastapi_does(
    pledge_site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom with someone's data in it")

    monkeypatch.setattr("pledge.web.hotpath.banner_consent", broken)
    monkeypatch.setattr("pledge.web.api.consent.banner_consent", broken)
    monkeypatch.setattr("pledge.web.hotpath.banner_choice", broken)
    monkeypatch.setattr("pledge.web.api.consent.banner_choice", broken)
    hot_client = pledge_site.client(raise_server_exceptions=False)
    plain_client = _without_hot_path(pledge_site)
    read = hot_client.get("/api/v1/consent", params={"cookie_id": COOKIE_ID})
    _same(read, plain_client.get("/api/v1/consent", params={"cookie_id": COOKIE_ID}))
    assert read.status_code == 500 and read.json()["error"]["code"] == "internal"
    assert "boom" not in read.text
    _same(
        hot_client.post("/api/v1/consent", json=choice(True)),
        plain_client.post("/api/v1/consent", json=choice(True)),
    )
    # The error still reaches the server (as Starlette lets it), for its log.
    with pytest.raises(RuntimeError):
        pledge_site.client().get("/api/v1/consent", params={"cookie_id": COOKIE_ID})


def _asgi_post(app: Any, chunks: list[bytes], *, disconnect: bool = False) -> tuple[int, bytes]:
    """POST the body in ``chunks`` (one ASGI message each), straight to ``app``."""

    async def run() -> tuple[int, bytes]:
        messages: list[dict[str, Any]] = [
            {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
            for i, chunk in enumerate(chunks)
        ]
        if disconnect:
            messages[-1]["more_body"] = True
            messages.append({"type": "http.disconnect"})
        status: list[int] = []
        body: list[bytes] = []

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop(0)
            await asyncio.sleep(3600)
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            elif message["type"] == "http.response.body":
                body.append(message.get("body", b""))

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/api/v1/consent",
            "raw_path": b"/api/v1/consent",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"testserver"), (b"content-type", b"application/json")],
            "client": ("127.0.0.1", 1234),
            "server": ("testserver", 80),
        }
        await app(scope, receive, send)
        return (status[0] if status else 0), b"".join(body)

    return asyncio.run(run())


def test_a_body_in_pieces_is_read_whole_and_replayed_when_handed_on(pledge_site: Site, twin: Site) -> None:
    text = json.dumps(choice(True)).encode()
    pieces = [text[:7], text[7:30], text[30:]]
    status, body = _asgi_post(pledge_site.app, pieces)
    assert status == 200 and json.loads(body)["recorded"] == 2
    # Handed on after reading: a body that is not a valid choice, in pieces; then one too large.
    broken = json.dumps({**choice(True), "gpc": 1}).encode()
    for chunks in ([broken[:10], broken[10:]], [b'{"proof": "' + b"x" * 200_000, b"x" * 200_000 + b'"}']):
        hot = _asgi_post(pledge_site.app, chunks)
        plain = _asgi_post(SecurityMiddleware(_hot(twin).app, web=twin.web), chunks)
        assert hot == plain and hot[0] == 422
    # A client that goes away mid-body gets what FastAPI does with it: nothing recorded.
    before = pledge_site.system.audit.size()
    _asgi_post(pledge_site.app, [text[:10]], disconnect=True)
    assert pledge_site.system.audit.size() == before


def test_reads_show_every_write_whichever_server_process_took_it(tmp_path: Path) -> None:
    """Two server processes on one database: the banner reads through one right after writing
    through the other, and always sees its latest choice (the rendered answers are cached per
    state, and states per subject, in each process)."""
    first = open_site(tmp_path, cross_process=True)
    second = another_process(first)
    try:
        clients = [first.client(), second.client()]
        for n in range(8):
            analytics = n % 3 != 1
            writer, reader = clients[n % 2], clients[(n + 1) % 2]
            assert writer.post("/api/v1/consent", json=choice(analytics)).status_code == 200
            for client in (reader, writer):
                read = client.get("/api/v1/consent", params={"cookie_id": COOKIE_ID}).json()
                assert read["categories"]["analytics"] is analytics, n
            latest = [e["kind"] for e in read["events"] if e["purpose"] == "site_analytics"][-1]
            assert latest == ("grant" if analytics else "withdraw")
    finally:
        second.close()
        first.close()
