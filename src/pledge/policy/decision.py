"""The answer to "may this purpose use these categories of this subject (and may this recipient
receive them)?"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Decision"]


@dataclass(frozen=True, slots=True)
class Decision:
    """One decision. Immutable: the enforcer hands out the same object for the same question
    about the same subject state, so holding on to one is safe and costs nothing."""

    allowed: bool
    purpose: str
    lawful_basis: str | None
    """The purpose's declared lawful basis (None for an unknown purpose)."""
    reason: str
    """A stable code from :class:`pledge.policy.reasons.Reason`."""
    recipient: str | None
    categories: tuple[str, ...]
    """The categories asked about, de-duplicated and sorted."""
    detail: str
    """A sentence for humans; never parse it (use ``reason``)."""

    def __bool__(self) -> bool:
        return self.allowed

    def as_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "purpose": self.purpose,
            "lawful_basis": self.lawful_basis,
            "reason": self.reason,
            "recipient": self.recipient,
            "categories": list(self.categories),
            "detail": self.detail,
        }
