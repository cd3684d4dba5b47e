"""The demo's two policy versions: the PESI example as published, and a later version in which the
shop adds a statistics script and an advertising partner's tag (both asked for in the banner) and
has an operator approve each erasure.

The second version is a *material* change (new purposes, a new recipient, new cookies), so the
demo shows the version history, what changed, and the banner asking again. It is written next to
the demo's database so it can be read, edited and validated like any ``privacy.yaml``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from pledge.declaration import LoadedDeclaration, load_declaration

__all__ = ["DEMO_VERSION", "demo_declarations", "pesi_path"]

DEMO_VERSION = "2026-11-01"

_PURPOSES = [
    {
        "id": "site_analytics",
        "name": "Count visits and see how the site is used",
        "description": "Our own statistics script counts page views so we can improve the site.",
        "lawful_basis": "consent",
        "cookie_category": "analytics",
        "categories": ["user.device.cookie_id", "user.behavior.browsing_history"],
        "subjects": ["visitors"],
        "sources": ["site_cookies"],
        "consent": {"default": "opt_in", "offered_at": ["first_visit", "privacy_center"]},
        "withdraw": ["banner", "privacy_center"],
        "never_sold": True,
    },
    {
        "id": "interest_ads",
        "name": "Show advertising based on your interests",
        "description": "An advertising partner recognises your browser across sites to show seminar adverts.",
        "lawful_basis": "consent",
        "cookie_category": "advertising",
        "categories": ["user.device.cookie_id", "user.behavior.browsing_history"],
        "subjects": ["visitors"],
        "sources": ["site_cookies"],
        "consent": {"default": "opt_in", "offered_at": ["first_visit", "privacy_center"]},
        "withdraw": ["banner", "privacy_center", "browser_settings"],
    },
]
_SOURCE = {
    "id": "site_cookies",
    "name": "Statistics and advertising cookies, with consent",
    "kind": "cookie",
    "subjects": ["visitors"],
    "categories": ["user.device.cookie_id", "user.behavior.browsing_history"],
}
_RECIPIENT = {
    "id": "ad_network",
    "name": "Seminar advertising network",
    "kind": "third_party",
    "purposes": ["interest_ads"],
    "categories": ["user.device.cookie_id", "user.behavior.browsing_history"],
    "sale": True,
    "legal_basis": "consent",
    "description": "Receives a browser identifier and the pages visited, only with consent.",
}
_COOKIES = [
    {
        "name": "_pk_id.<site>",
        "category": "analytics",
        "purpose": "site_analytics",
        "lifetime": "P13M",
        "description": "Tells one visit from the next, for our own statistics.",
    },
    {
        "name": "_pk_ses.<site>",
        "category": "analytics",
        "purpose": "site_analytics",
        "lifetime": "P1D",
        "description": "Groups the pages of one visit.",
    },
    {
        "name": "ad_id",
        "provider": "ad_network",
        "category": "advertising",
        "purpose": "interest_ads",
        "lifetime": "P6M",
        "description": "Recognises your browser on other sites that show the network's adverts.",
    },
]


def pesi_path() -> Path:
    """The PESI example: in the checkout (``make demo``), or beside the installed package."""
    here = Path("examples/pesi/privacy.yaml")
    if here.is_file():
        return here
    return Path(__file__).resolve().parents[3] / "examples" / "pesi" / "privacy.yaml"


def _later(document: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(document)
    data["policy_version"] = DEMO_VERSION
    data["effective"] = DEMO_VERSION
    data["data_sources"] = [*data.get("data_sources", []), _SOURCE]
    data["purposes"] = [*data["purposes"], *_PURPOSES]
    data["recipients"] = [*data.get("recipients", []), _RECIPIENT]
    data["cookies"] = [*data.get("cookies", []), *_COOKIES]
    # The shop now has an operator approve each erasure before it runs (the admin console's
    # "Approve" button): erasing a customer with open orders needs a human look first.
    for right in data.get("rights", []):
        if right.get("right") == "erasure":
            right["approval"] = True
    return data


def demo_declarations(
    folder: Path, source: Path | None = None
) -> tuple[LoadedDeclaration, LoadedDeclaration]:
    """(the PESI example as published, the demo's later version), the latter written to
    ``folder/privacy.yaml``."""
    original = source or pesi_path()
    first = load_declaration(original)
    document = yaml.safe_load(original.read_text(encoding="utf-8"))
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "privacy.yaml"
    header = (
        "# The demo shop's policy: the PESI example plus a statistics script and an advertising\n"
        f"# partner (policy version {DEMO_VERSION}). Written by `pledge demo`; edit and validate freely.\n"
    )
    target.write_text(
        header + yaml.safe_dump(_later(document), sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    return first, load_declaration(target)
