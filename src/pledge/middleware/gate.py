"""The framework-free heart of both middlewares: read the visitor's consent, judge each Set-Cookie.

``ConsentGate`` is built once per app from the declaration; ``consent(cookie_header, sec_gpc)``
gives the request's :class:`ConsentState`; ``allow_set_cookie(header_value, state)`` says whether a
response may set that cookie. The ASGI and WSGI adapters only move headers in and out.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Literal

from pledge.declaration.load import LoadedDeclaration
from pledge.declaration.model import Declaration
from pledge.errors import ConfigError
from pledge.middleware.consent_cookie import (
    DEFAULT_COOKIE_NAME,
    OPTIONAL_CATEGORIES,
    ConsentCookie,
    parse_consent_cookie,
    version_token,
)
from pledge.middleware.rules import CookieRule, CookieRules

__all__ = ["ConsentGate", "ConsentState", "DroppedCookie", "cookie_values"]

log = logging.getLogger("pledge.middleware")

_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}")  # an RFC 6265 token
_MAX_NAME = 256
_MAX_LOGGED_NAMES = 1000


@dataclass(frozen=True, slots=True)
class ConsentState:
    """What this request's visitor agreed to, as far as the server can trust it."""

    choices: Mapping[str, bool] = field(default_factory=dict)
    """Optional category → granted, *after* applying trust and GPC (absent: not granted)."""
    gpc: bool = False
    """The request carried ``Sec-GPC: 1``: opt-out of sale and of advertising."""
    visitor_id: str | None = None
    decided: bool = False
    """The visitor made a choice that is still current (not older than the last material change)."""
    signed: bool = False
    """The choice carried the server's signature (grants are trusted only then, unless configured)."""

    def allows(self, category: str, *, sale: bool = False) -> bool:
        """May a cookie (or script, or purpose) of ``category`` run for this visitor?"""
        if sale and self.gpc:
            return False
        if category == "strictly_necessary":
            return True
        return self.choices.get(category, False)


@dataclass(frozen=True, slots=True)
class DroppedCookie:
    name: str
    category: str | None
    """``None`` when the cookie is not declared."""
    reason: Literal["no_consent", "gpc", "undeclared"]


class ConsentGate:
    """Compiled cookie rules plus the trust policy for consent cookies.

    ``signing_key`` (normally ``Settings.keys.signing_key``): grants count only from cookies the
    server signed after recording them. Without a key, pass ``trust_unsigned=True`` to accept the
    banner's own cookie as proof of consent (for sites that record consent elsewhere); there is no
    silent default, because trusting an unsigned grant is a decision the operator must make.
    Refusals count from any well-formed cookie either way.
    """

    def __init__(
        self,
        declaration: LoadedDeclaration | Declaration,
        *,
        signing_key: bytes | None = None,
        trust_unsigned: bool = False,
        cookie_name: str = DEFAULT_COOKIE_NAME,
        material_version: str | None = None,
        undeclared: Literal["drop", "log"] = "drop",
        on_drop: Callable[[DroppedCookie], None] | None = None,
    ) -> None:
        decl = declaration.declaration if isinstance(declaration, LoadedDeclaration) else declaration
        if signing_key is None and not trust_unsigned:
            raise ConfigError(
                "the consent middleware needs a signing key",
                hint="pass signing_key=settings.keys.signing_key, or trust_unsigned=True to accept "
                "the banner's unsigned cookie as proof of consent",
            )
        if signing_key is not None and len(signing_key) < 16:
            raise ConfigError("the consent cookie signing key must be at least 16 bytes")
        if not _COOKIE_NAME.fullmatch(cookie_name):
            raise ConfigError(f"{cookie_name!r} is not a valid cookie name")
        if undeclared not in ("drop", "log"):
            raise ConfigError(f"undeclared must be 'drop' or 'log', not {undeclared!r}")
        self.rules = CookieRules.from_declaration(decl)
        self.cookie_name = cookie_name
        self.material = version_token(material_version or decl.policy_version)
        self.undeclared = undeclared
        self._signing_key = signing_key
        self._trust_unsigned = trust_unsigned
        self._on_drop = on_drop
        self._logged: set[str] = set()

    # --- reading the request -------------------------------------------------------------------

    def consent(self, cookie_header: str | None, sec_gpc: str | None = None) -> ConsentState:
        gpc = (sec_gpc or "").strip() == "1"
        stored: ConsentCookie | None = None
        for value in cookie_values(cookie_header or "", self.cookie_name):
            stored = parse_consent_cookie(value, self._signing_key)
            if stored is not None:
                break  # the browser sends the most specific path first
        if stored is None:
            return ConsentState(gpc=gpc)
        current = stored.material == self.material
        trusted = stored.signed or self._trust_unsigned
        choices = {
            category: bool(granted and current and trusted and not (gpc and category == "advertising"))
            for category, granted in stored.choices.items()
            if category in OPTIONAL_CATEGORIES
        }
        return ConsentState(choices, gpc, stored.visitor_id, current, stored.signed)

    # --- judging the response ------------------------------------------------------------------

    def allow_set_cookie(self, header_value: str, state: ConsentState) -> bool:
        """May this ``Set-Cookie`` header reach the browser? Calls ``on_drop`` when it may not."""
        name = header_value.split(";", 1)[0].split("=", 1)[0].strip() if "=" in header_value else ""
        if name == self.cookie_name:
            return True  # the consent cookie itself is what makes consent possible
        if name and len(name) <= _MAX_NAME and _is_deletion(header_value):
            return True  # removing a cookie never needs consent; withdrawal depends on it
        rule = self.rules.match(name) if name and len(name) <= _MAX_NAME else None
        if rule is None:
            if self.undeclared == "log":
                self._log_once(name)
                return True
            return self._drop(DroppedCookie(name, None, "undeclared"))
        if state.allows(rule.category, sale=rule.sale):
            return True
        reason: Literal["no_consent", "gpc"] = (
            "gpc" if state.gpc and (rule.sale or rule.category == "advertising") else "no_consent"
        )
        return self._drop(DroppedCookie(name, rule.category, reason))

    def rule_for(self, name: str) -> CookieRule | None:
        return self.rules.match(name)

    def _drop(self, dropped: DroppedCookie) -> bool:
        if self._on_drop is not None:
            self._on_drop(dropped)
        return False

    def _log_once(self, name: str) -> None:
        # Only the name, never the value: cookie values may identify the visitor.
        if name in self._logged or len(self._logged) >= _MAX_LOGGED_NAMES:
            return
        self._logged.add(name)
        log.warning("response sets undeclared cookie %r; declare it in privacy.yaml", name[:_MAX_NAME])


def cookie_values(header: str, name: str) -> list[str]:
    """Every value of cookie ``name`` in a ``Cookie`` request header, in order."""
    values = []
    for pair in header.split(";"):
        key, sep, value = pair.partition("=")
        if sep and key.strip() == name:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            values.append(value)
    return values


def _is_deletion(header_value: str) -> bool:
    """``Max-Age`` ≤ 0, or (without Max-Age, which takes precedence) an ``Expires`` in the past:
    the response removes the cookie rather than setting it."""
    max_age: str | None = None
    expires: str | None = None
    for attribute in header_value.split(";")[1:]:
        key, _, value = attribute.partition("=")
        key = key.strip().lower()
        if key == "max-age":
            max_age = value.strip()
        elif key == "expires":
            expires = value.strip()
    if max_age is not None and re.fullmatch(r"-?\d{1,12}", max_age):
        return int(max_age) <= 0
    if expires is None:
        return False
    try:
        when = parsedate_to_datetime(expires.replace("-", " "))
    except (TypeError, ValueError, IndexError, OverflowError):
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when <= dt.datetime.now(dt.UTC)
