"""Consent: the append-only ledger, the subject directory, change feeds and unsubscribe links.

ledger = ConsentLedger(db, policy, audit, hash_key=settings.keys.hash_key)
subject = ledger.directory.resolve("email", "ann@example.com")
ledger.grant(subject, "newsletter", "email", source="privacy_center", proof=form_text)
enforcer = open_enforcer(ledger, log_allowed=settings.log_allowed_decisions)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pledge.consent.derive import derive_state
from pledge.consent.directory import Identity, SubjectDirectory, normalise_identity
from pledge.consent.events import SOURCES, ConsentEvent, EventKind
from pledge.consent.ledger import ConsentLedger, FlaggedMinor
from pledge.consent.service import open_enforcer, published_history

if TYPE_CHECKING:
    from pledge.consent.unsubscribe import Unsubscribe

__all__ = [
    "SOURCES",
    "ConsentEvent",
    "ConsentLedger",
    "EventKind",
    "FlaggedMinor",
    "Identity",
    "SubjectDirectory",
    "Unsubscribe",
    "derive_state",
    "normalise_identity",
    "open_enforcer",
    "published_history",
]


def __getattr__(name: str) -> Any:
    # Imported lazily: pledge.tokens uses this package's SQL helpers, so an eager import of the
    # unsubscribe module (which uses pledge.tokens) would be circular.
    if name == "Unsubscribe":
        from pledge.consent.unsubscribe import Unsubscribe

        return Unsubscribe
    raise AttributeError(name)
