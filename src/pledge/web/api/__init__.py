"""The HTTP API under ``/api/v1``: one module per area, each a thin adapter over the core.

Admin endpoints need the API key (``Authorization: Bearer KEY`` or ``X-API-Key``); subject
endpoints need the session opened by an e-mail link; a few are public (the banner's consent
record, creating a request, the policy and its versions, the audit head).
"""

from __future__ import annotations

from fastapi import APIRouter

from pledge.web.api import audit, complaints, consent, decisions, declaration, disclosures, requests, signin
from pledge.web.errors import ERROR_RESPONSES

__all__ = ["api_router"]


def api_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)
    for module in (decisions, consent, requests, signin, disclosures, audit, declaration, complaints):
        router.include_router(module.router)
    return router
