"""The cookie banner: ``banner.js`` and ``banner.css`` generated from the declaration.

    assets = build_banner(loaded, material_version=last_material, consent_endpoint="/api/v1/consent")
    # serve assets.js at /static/banner.js and assets.css at /static/banner.css (ETag: assets.etag)
    # serve gpc_json(loaded) at /.well-known/gpc.json

A page includes :func:`banner_snippet`'s two tags and writes optional scripts as
``<script type="text/plain" data-category="analytics">``; an element with ``data-pledge-open``
(or ``window.Pledge.open()``) reopens the preferences. The banner stores the choice in a
first-party cookie (format in ``pledge.middleware.consent_cookie``) and POSTs it to the consent
endpoint as ``{"cookie_id", "choices", "policy_version", "gpc", "source": "banner"}``; that
endpoint may answer with a ``Set-Cookie`` carrying the signed value, which the middleware trusts.
After each choice the banner dispatches ``pledge:consent`` on ``document`` (detail: the choices);
``window.Pledge.allowed(category)`` and ``window.Pledge.consent()`` read the current state.
"""

from pledge.web.banner.assets import BannerAssets, banner_snippet, build_banner, embed_json
from pledge.web.banner.config import DEFAULT_LABELS, DEFAULT_TEXTS, banner_config
from pledge.web.banner.gpc import GPC_PATH, gpc_json

__all__ = [
    "DEFAULT_LABELS",
    "DEFAULT_TEXTS",
    "GPC_PATH",
    "BannerAssets",
    "banner_config",
    "banner_snippet",
    "build_banner",
    "embed_json",
    "gpc_json",
]
