"""Tamper-evident audit log. ``sink.AuditSink`` is the contract the rest of Pledge writes through.

``AuditLog`` is the database implementation (Merkle tree, hash chain, signed heads, proofs);
``MemoryAudit`` the in-memory one for unit tests. Heavier names load on first use, so importing
``pledge.audit.sink`` from the decision hot path stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pledge.audit.sink import AuditSink, MemoryAudit, Recorded

if TYPE_CHECKING:
    from pledge.audit.entry import Entry, check_payload, pseudonym
    from pledge.audit.log import AuditLog
    from pledge.audit.proofs import ConsistencyProof, InclusionProof
    from pledge.audit.signing import HeadSigner, SignedHead
    from pledge.audit.verification import Finding, VerifyReport, verify

__all__ = [
    "AuditLog",
    "AuditSink",
    "ConsistencyProof",
    "Entry",
    "Finding",
    "HeadSigner",
    "InclusionProof",
    "MemoryAudit",
    "Recorded",
    "SignedHead",
    "VerifyReport",
    "check_payload",
    "pseudonym",
    "verify",
]

_LAZY = {
    "AuditLog": "pledge.audit.log",
    "ConsistencyProof": "pledge.audit.proofs",
    "Entry": "pledge.audit.entry",
    "Finding": "pledge.audit.verification",
    "HeadSigner": "pledge.audit.signing",
    "InclusionProof": "pledge.audit.proofs",
    "SignedHead": "pledge.audit.signing",
    "VerifyReport": "pledge.audit.verification",
    "check_payload": "pledge.audit.entry",
    "pseudonym": "pledge.audit.entry",
    "verify": "pledge.audit.verification",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pledge.audit' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
