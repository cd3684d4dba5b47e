"""The banner's configuration, derived from the declaration: what the visitor is asked about.

Only categories that declared cookies actually use appear (a site without advertising cookies
does not ask about advertising). Each category carries its label, a description built from the
purposes that use it, and the cookies in it, so the visitor sees exactly what the policy lists.
English wording is the default; ``texts`` and ``labels`` override any of it (other languages).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pledge.declaration.durations import IsoDuration
from pledge.declaration.load import LoadedDeclaration
from pledge.declaration.model import Cookie, Declaration
from pledge.errors import ConfigError
from pledge.middleware.consent_cookie import DEFAULT_COOKIE_NAME, version_token

__all__ = ["CATEGORY_ORDER", "DEFAULT_LABELS", "DEFAULT_TEXTS", "banner_config"]

CATEGORY_ORDER = ("strictly_necessary", "preferences", "analytics", "advertising")

DEFAULT_LABELS: Mapping[str, str] = {
    "strictly_necessary": "Strictly necessary",
    "preferences": "Preferences",
    "analytics": "Statistics",
    "advertising": "Advertising",
}

_DEFAULT_DESCRIPTIONS: Mapping[str, str] = {
    "strictly_necessary": "Needed for the site to work; they cannot be switched off.",
    "preferences": "Remember choices you make, such as language or display settings.",
    "analytics": "Help us count visits and see how the site is used, so we can improve it.",
    "advertising": "Used to show you advertising based on your interests.",
}

DEFAULT_TEXTS: Mapping[str, str] = {
    "title": "Cookies on {organisation}",
    "intro": "We use cookies the site needs to work. With your permission we would also like to use "
    "the optional cookies described here. Nothing optional is set until you choose, and you can "
    "change your mind at any time.",
    "essential": "This site uses only the cookies it needs to work. They are listed below.",
    "accept": "Accept all",
    "reject": "Reject all",
    "customise": "Customise",
    "save": "Save my choices",
    "ok": "OK",
    "policy": "Privacy policy",
    "always": "Always on",
    "gpc": "Your browser sent a Global Privacy Control signal. We honour it as an opt-out of the sale "
    "of your data and of advertising: those cookies stay off while the signal is on.",
    "gpc_off": "Off: Global Privacy Control",
    "cookies": "Cookies",
}

_KIND = {"local_storage": "local storage", "pixel": "pixel", "sdk": "SDK", "device_id": "device identifier"}
_PERIOD_WORDS = {
    "session": "until you close the browser",
    "while_account_active": "while your account is open",
    "until_sent": "until sent",
    "indefinite": "no fixed limit",
}
_URL = re.compile(r"(?:/(?!/)|https?://)[^\s\x00-\x1f\x7f]*")
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}")


def banner_config(
    declaration: LoadedDeclaration | Declaration,
    *,
    material_version: str | None = None,
    consent_endpoint: str = "/api/v1/consent",
    policy_url: str = "/policy",
    cookie_name: str = DEFAULT_COOKIE_NAME,
    cookie_days: int = 180,
    texts: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The JSON-ready configuration embedded in ``banner.js``.

    ``material_version``: the policy version of the declaration's last *material* change (what
    ``pledge diff`` finds); visitors who chose before it are asked again. Defaults to the
    current version, i.e. every new version counts as material.
    """
    decl = declaration.declaration if isinstance(declaration, LoadedDeclaration) else declaration
    if not _COOKIE_NAME.fullmatch(cookie_name):
        raise ConfigError(f"{cookie_name!r} is not a valid cookie name")
    if not 1 <= cookie_days <= 400:
        raise ConfigError("cookie_days must be between 1 and 400 (browsers cap cookies at 400 days)")
    for what, url in (("consent_endpoint", consent_endpoint), ("policy_url", policy_url)):
        # Both end up in the page (href, fetch): no javascript: or data: URLs, no control characters.
        if not _URL.fullmatch(url):
            raise ConfigError(f"{what} must be a path starting with / or an http(s) URL, not {url!r}")
    unknown = set(texts or {}) - set(DEFAULT_TEXTS)
    if unknown:
        raise ConfigError(
            f"unknown banner texts: {', '.join(sorted(unknown))}", hint=", ".join(DEFAULT_TEXTS)
        )
    words = {**DEFAULT_TEXTS, **(texts or {})}
    # str.replace, not str.format: an organisation name may contain braces.
    words["title"] = words["title"].replace("{organisation}", decl.organisation.name)
    names = {**DEFAULT_LABELS, **(labels or {})}

    categories = []
    for category in CATEGORY_ORDER:
        cookies = [c for c in decl.cookies if c.category == category]
        if not cookies:
            continue
        categories.append(
            {
                "id": category,
                "label": names[category],
                "desc": _describe(decl, category, cookies),
                "cookies": [_cookie(decl, c) for c in cookies],
            }
        )
    sold = {c.category for c in decl.cookies if (r := decl.recipient(c.provider)) is not None and r.sale}
    return {
        "cookie": cookie_name,
        "days": cookie_days,
        "endpoint": consent_endpoint,
        "policy": policy_url,
        "version": decl.policy_version,
        "vt": version_token(decl.policy_version),
        "mt": version_token(material_version or decl.policy_version),
        # Categories Global Privacy Control turns off: advertising, and any whose cookies are sold.
        "gpcOff": [
            c for c in CATEGORY_ORDER if c == "advertising" or (c in sold and c != "strictly_necessary")
        ],
        "cats": categories,
        "t": words,
    }


def _describe(decl: Declaration, category: str, cookies: list[Cookie]) -> str:
    """The purposes behind a category, in the declaration's words."""
    ids = [p.id for p in decl.purposes if p.cookie_category == category]
    ids += [c.purpose for c in cookies if c.purpose and c.purpose not in ids]
    parts = []
    for purpose_id in ids:
        purpose = decl.purpose(purpose_id)
        if purpose is None:
            continue
        text = purpose.name if not purpose.description else f"{purpose.name}: {purpose.description}"
        parts.append(text if text.endswith((".", "!", "?")) else text + ".")
    return " ".join(parts) or _DEFAULT_DESCRIPTIONS[category]


def _cookie(decl: Declaration, cookie: Cookie) -> dict[str, str]:
    if cookie.provider == "first_party":
        provider = decl.organisation.name
    else:
        recipient = decl.recipient(cookie.provider)
        provider = recipient.name if recipient is not None else cookie.provider
    lifetime = cookie.lifetime
    kept = lifetime.describe() if isinstance(lifetime, IsoDuration) else _PERIOD_WORDS[lifetime]
    entry = {"n": cookie.name, "by": provider, "for": kept}
    if cookie.kind != "cookie":
        entry["k"] = _KIND[cookie.kind]
    if cookie.description:
        entry["d"] = cookie.description
    return entry
