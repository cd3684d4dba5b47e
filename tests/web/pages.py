"""Helpers for driving the server-rendered pages without a browser: read a form's CSRF token and
post the form the way a browser would (``application/x-www-form-urlencoded``)."""

from __future__ import annotations

import html
import re
from typing import Any

from fastapi.testclient import TestClient

_TOKEN = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf(client: TestClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code in (200, 401), (path, page.status_code)
    found = _TOKEN.search(page.text)
    assert found, f"no CSRF token on {path}"
    return html.unescape(found.group(1))


def submit(client: TestClient, page: str, action: str, data: dict[str, Any] | list[tuple[str, str]]) -> Any:
    """Load ``page``, then post ``data`` with its CSRF token to ``action`` (redirects not followed)."""
    token = csrf(client, page)
    items = list(data.items()) if isinstance(data, dict) else list(data)
    fields: dict[str, list[str]] = {"csrf_token": [token]}
    for name, value in items:
        fields.setdefault(name, []).append(value)
    return client.post(action, data=fields, follow_redirects=False)


def text_of(page: str) -> str:
    """The page's text without tags, whitespace collapsed (for asserting what a person reads)."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())
