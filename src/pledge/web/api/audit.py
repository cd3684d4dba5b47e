"""The audit log over HTTP: the head (public, like a transparency log's), and with the API key
signed heads, inclusion and consistency proofs, and a full verification."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from pledge.web.api.models import AuditHeadOut, SignedHeadOut
from pledge.web.context import admin_key, web

router = APIRouter(tags=["audit"])


@router.get("/audit/head", response_model=AuditHeadOut)
def head(request: Request) -> AuditHeadOut:
    """Size and Merkle root of the log now, the latest signed head and the key that signs heads."""
    audit = web(request).system.audit
    size, root = audit.current_root()
    latest = audit.latest_head()
    return AuditHeadOut(
        size=size,
        root=root.hex(),
        latest_signed=SignedHeadOut(**latest.to_dict()) if latest else None,
        public_key=audit.signer.public_hex if audit.signer is not None else None,
    )


@router.post("/audit/head", response_model=SignedHeadOut, dependencies=[Depends(admin_key)])
def sign_head(request: Request) -> SignedHeadOut:
    """Sign the log's current size and root, and keep the signed head."""
    return SignedHeadOut(**web(request).system.audit.sign_head().to_dict())


@router.get("/audit/proof/{index}", dependencies=[Depends(admin_key)])
def proof(index: int, request: Request) -> dict[str, Any]:
    """Inclusion proof of entry ``index`` against a signed head (format ``pledge-audit-inclusion/v1``)."""
    return web(request).system.audit.prove(index).to_dict()


@router.get("/audit/consistency", dependencies=[Depends(admin_key)])
def consistency(
    request: Request,
    old: Annotated[int, Query(ge=0, le=2**40)],
    new: Annotated[int | None, Query(ge=0, le=2**40)] = None,
) -> dict[str, Any]:
    """Proof that the log at size ``old`` is a prefix of the log at size ``new`` (default: now)."""
    return web(request).system.audit.consistency(old, new).to_dict()


@router.post("/audit/verify", dependencies=[Depends(admin_key)])
def verify(request: Request) -> dict[str, Any]:
    """Replay the whole log: hash chain, Merkle roots and signed heads. ``ok`` is false and
    ``first`` names the first bad entry when anything was tampered with."""
    return web(request).system.audit.verify(workers=1).to_dict()
