"""``/.well-known/gpc.json``: tells agents this site honours Global Privacy Control.

Format from the GPC specification: ``{"gpc": true, "lastUpdate": "YYYY-MM-DD"}``, served as
``application/json``. ``lastUpdate`` is when the site's GPC handling last changed; the policy's
effective date is the natural choice.
"""

from __future__ import annotations

import datetime as dt

from pledge.declaration.load import LoadedDeclaration
from pledge.declaration.model import Declaration

__all__ = ["GPC_PATH", "gpc_json"]

GPC_PATH = "/.well-known/gpc.json"


def gpc_json(source: LoadedDeclaration | Declaration | dt.date) -> dict[str, object]:
    """The document for ``/.well-known/gpc.json``; a declaration gives its effective date."""
    if isinstance(source, LoadedDeclaration):
        source = source.declaration
    when = source.effective if isinstance(source, Declaration) else source
    if isinstance(when, dt.datetime):
        when = when.date()
    return {"gpc": True, "lastUpdate": when.isoformat()}
