"""Fixtures for web tests: a real Chromium and a real HTTP server.

- ``browser``: one headless Debian Chromium per test module, driven by Playwright (never
  ``playwright install``). Missing Chromium skips the test, unless ``CI`` is set: then it fails.
  Module scope, not session: Playwright's sync API keeps an asyncio loop marked as running in the
  main thread while it is open, which would break ``asyncio.run`` in every later test module.
- ``context``: a fresh browser context (cookies, storage) per test, closed afterwards.
- ``serve_app(app) -> base_url``: serve any ASGI app with uvicorn on a free port in a thread for
  the duration of the test (lifespan events run when the app supports them; pass
  ``lifespan="on"`` to make a failing startup fail the test); call it again for more servers.
- ``artifacts``: the ``test-artifacts/`` directory (gitignored) for screenshots.

Tests using ``browser`` or ``context`` are marked ``browser`` automatically.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext

CHROMIUM = Path(os.environ.get("PLEDGE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

ServeApp = Callable[..., str]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if {"browser", "context"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.browser)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so a missing browser is a failure)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing; `make browsers` installs Debian's chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context()
    ctx.set_default_timeout(10_000)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def serve_app() -> Iterator[ServeApp]:
    import uvicorn

    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def serve(app: Any, lifespan: str = "auto") -> str:
        # Bind first and hand uvicorn the socket: no race for the port between choosing and using it.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False, ws="none", lifespan=lifespan)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        servers.append((server, thread))
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return f"http://127.0.0.1:{port}"

    yield serve
    for server, _ in servers:
        server.should_exit = True
    for _, thread in servers:
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


# --- a whole Pledge site (web layer: API, privacy center, admin console) ---------------------------


@pytest.fixture
def pledge_site(tmp_path: Path) -> Iterator[Any]:
    """A real site on a fresh SQLite database with the demo's policies and a few customers
    (see ``tests/web/sites.py``); closed after the test."""
    from tests.web.sites import open_site

    site = open_site(tmp_path)
    try:
        yield site
    finally:
        site.close()
