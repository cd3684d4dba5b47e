"""Assemble ``banner.js`` and ``banner.css``: the hand-written files with the declaration's
configuration embedded, ready to serve at ``/static/banner.js`` and ``/static/banner.css``."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from html import escape
from importlib.resources import files
from typing import Any

from pledge.declaration.load import LoadedDeclaration
from pledge.declaration.model import Declaration
from pledge.web.banner.config import banner_config

__all__ = ["BannerAssets", "banner_snippet", "build_banner", "embed_json"]

_PLACEHOLDER = "__PLEDGE_CONFIG__"


@dataclass(frozen=True, slots=True)
class BannerAssets:
    js: str
    css: str
    config: Mapping[str, Any]

    @property
    def etag(self) -> str:
        """A strong validator for both files (changes whenever the declaration or code does)."""
        return hashlib.sha256((self.js + "\0" + self.css).encode("utf-8")).hexdigest()[:32]

    def gzipped_size(self, level: int = 9) -> int:
        """Bytes on the wire when each file is served gzip-compressed."""
        return sum(len(gzip.compress(text.encode("utf-8"), level, mtime=0)) for text in (self.js, self.css))


@cache
def _template(name: str) -> str:
    return files("pledge.web.banner").joinpath(name).read_text(encoding="utf-8")


def embed_json(value: Any) -> str:
    """JSON that is safe inside a script, even inlined in HTML: ASCII only (no raw U+2028/2029),
    and no ``<``, ``>`` or ``&`` that could close a ``<script>`` element or open a comment."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def build_banner(declaration: LoadedDeclaration | Declaration, **options: Any) -> BannerAssets:
    """``banner.js`` and ``banner.css`` for ``declaration``; ``options`` go to
    :func:`~pledge.web.banner.config.banner_config` (``material_version``, ``consent_endpoint``,
    ``policy_url``, ``cookie_name``, ``cookie_days``, ``texts``, ``labels``)."""
    config = banner_config(declaration, **options)
    js = _template("banner.js").replace(_PLACEHOLDER, embed_json(config), 1)
    return BannerAssets(js=js, css=_template("banner.css"), config=config)


def banner_snippet(js_url: str = "/static/banner.js", css_url: str = "/static/banner.css") -> str:
    """The two tags a page includes (in ``<head>``), and a reminder of the footer link."""
    return (
        f'<link rel="stylesheet" href="{escape(css_url)}">\n'
        f'<script src="{escape(js_url)}" defer></script>\n'
        '<!-- footer: <a href="#" data-pledge-open>Cookie settings</a> -->'
    )
