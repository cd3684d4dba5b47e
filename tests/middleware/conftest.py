from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from pledge.declaration import LoadedDeclaration, load_declaration
from pledge.middleware import format_consent_cookie, sign_consent_cookie

SITE = Path(__file__).with_name("site.yaml")
KEY = b"k" * 32
VISITOR = "AAAAAAAAAAAAAAAAAAAAAA"

MakeCookie = Callable[..., str]


@pytest.fixture(scope="session")
def site() -> LoadedDeclaration:
    return load_declaration(SITE)


@pytest.fixture
def consent_cookie() -> MakeCookie:
    """``consent_cookie({"analytics": True}, signed=True)`` → a ``Cookie`` header value."""

    def make(
        choices: Mapping[str, bool],
        *,
        signed: bool = True,
        key: bytes = KEY,
        version: str = "2.1",
        material: str = "2.1",
        name: str = "pledge_consent",
    ) -> str:
        full = {"preferences": False, "analytics": False, "advertising": False, **choices}
        value = format_consent_cookie(VISITOR, full, version, material)
        if signed:
            value = sign_consent_cookie(value, key)
        return f"{name}={value}"

    return make
