"""Server-rendered pages: the privacy center, the published policy and the admin console."""

from fastapi import APIRouter

from pledge.web.pages import admin, center, policy, prefs

__all__ = ["admin_router", "center_router", "policy_router"]

center_router = APIRouter(include_in_schema=False)
center_router.include_router(center.router)
center_router.include_router(prefs.router)
policy_router = policy.router
admin_router = admin.router
