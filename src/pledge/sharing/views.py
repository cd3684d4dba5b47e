"""Staff views: each role sees only the fields its job needs; everything else is masked.

A role sees a field when the field's category lies within what the role covers: its declared
narrow ``categories`` or, without them, every category of the purposes it serves (taxonomy
expanded, see :mod:`pledge.policy.compiled`). Fields the caller does not classify are masked too
(least privilege); a field classified as ``None`` is declared not personal and shown as is.

Masks keep the shape so a screen still makes sense: ``"j***@e***.com"`` for an e-mail address,
``"J***"`` for other text, ``None`` for anything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pledge.errors import InputError
from pledge.policy.compiled import CompiledPolicy

__all__ = ["mask", "view"]


def mask(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return ""
    local, at, domain = text.partition("@")
    if at and local and domain:
        host, dot, tld = domain.rpartition(".")
        masked_domain = f"{host[0]}***.{tld}" if dot and host else f"{domain[0]}***"
        return f"{local[0]}***@{masked_domain}"
    return f"{text[0]}***"


def view(
    policy: CompiledPolicy, role: str, record: Mapping[str, Any], fields: Mapping[str, str | None]
) -> dict[str, Any]:
    """``record`` as staff in ``role`` may see it: same keys, unneeded values masked."""
    visible = policy.roles.get(role)
    if visible is None:
        known = ", ".join(sorted(policy.roles)) or "none declared"
        raise InputError(f"unknown staff role '{str(role)[:60]}'", hint=f"roles: {known}")
    shown: dict[str, Any] = {}
    for name, value in record.items():
        category = fields.get(name)
        not_personal = name in fields and category is None
        shown[name] = value if not_personal or category in visible else mask(value)
    return shown
