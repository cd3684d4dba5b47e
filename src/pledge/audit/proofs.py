"""Proofs a third party can check with ``hashlib`` and an Ed25519 library (see docs/audit-proofs.md).

An *inclusion proof* shows one entry is in the log a signed head commits to: the entry's leaf data,
its index, the RFC 6962 audit path and the signed head. A *consistency proof* shows the log at one
size is a prefix of the log at a later size: nothing that was there was changed or removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pledge.audit.merkle import MerkleTree, leaf_hash, verify_consistency, verify_inclusion
from pledge.audit.signing import PublicKeyLike, SignedHead, check_head, public_keys
from pledge.audit.tables import audit_entries
from pledge.errors import Conflict, InputError, NotFound

if TYPE_CHECKING:
    from pledge.audit.log import AuditLog

__all__ = [
    "CONSISTENCY_FORMAT",
    "INCLUSION_FORMAT",
    "ConsistencyProof",
    "InclusionProof",
    "consistency",
    "prove",
]

INCLUSION_FORMAT = "pledge-audit-inclusion/v1"
CONSISTENCY_FORMAT = "pledge-audit-consistency/v1"


@dataclass(frozen=True)
class InclusionProof:
    index: int
    leaf: str
    audit_path: tuple[bytes, ...]
    head: SignedHead
    public_key: str | None
    """Hex of the raw Ed25519 key that signed ``head`` (a convenience: trust the one you were given)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": INCLUSION_FORMAT,
            "index": self.index,
            "leaf": self.leaf,
            "leaf_hash": leaf_hash(self.leaf.encode()).hex(),
            "tree_size": self.head.tree_size,
            "audit_path": [h.hex() for h in self.audit_path],
            "head": self.head.to_dict(),
            "public_key": self.public_key,
        }

    def verify(self, trusted_key: PublicKeyLike) -> bool:
        """Check the path leads to the head's root and the head is signed by ``trusted_key``."""
        leaf = leaf_hash(self.leaf.encode())
        path = list(self.audit_path)
        in_tree = verify_inclusion(self.index, self.head.tree_size, leaf, path, self.head.root)
        return in_tree and check_head(self.head, public_keys(trusted_key)) is None


@dataclass(frozen=True)
class ConsistencyProof:
    old_size: int
    new_size: int
    old_root: bytes
    new_root: bytes
    path: tuple[bytes, ...]
    old_head: SignedHead | None
    new_head: SignedHead | None
    public_key: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": CONSISTENCY_FORMAT,
            "old_size": self.old_size,
            "new_size": self.new_size,
            "old_root": self.old_root.hex(),
            "new_root": self.new_root.hex(),
            "proof": [h.hex() for h in self.path],
            "old_head": self.old_head.to_dict() if self.old_head else None,
            "new_head": self.new_head.to_dict() if self.new_head else None,
            "public_key": self.public_key,
        }

    def verify(self) -> bool:
        path = list(self.path)
        return verify_consistency(self.old_size, self.new_size, self.old_root, self.new_root, path)


def prove(log: AuditLog, index: int, *, sign: bool = True) -> InclusionProof:
    """Inclusion proof for entry ``index`` against the latest signed head, signing a new head when
    none covers the entry yet (and ``sign`` and the log has a key)."""
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise InputError(f"an audit entry index is a number from 0, got {index!r:.40}")
    size = log.size()
    if index >= size:
        raise NotFound(f"there is no audit entry {index}: the log has {size} entries")
    head = _latest_head(log)
    if head is None or head.tree_size <= index:
        if not sign or log.signer is None:
            raise NotFound(
                f"audit entry {index} is not covered by a signed head yet",
                hint="sign one with `pledge audit head --sign`",
            )
        head = log.sign_head()
    with log.db.connect() as conn:
        tree = _tree(conn, head.tree_size)
        if tree.root != head.root:
            raise Conflict(
                f"the stored log does not match signed head #{head.id}", hint="run `pledge audit verify`"
            )
        entry = log.entry(index, conn=conn)
    assert entry is not None
    if leaf_hash(entry.data.encode()) != entry.leaf:
        raise Conflict(f"audit entry {index} no longer matches its hash", hint="run `pledge audit verify`")
    return InclusionProof(index, entry.data, tuple(tree.inclusion_proof(index)), head, _public_hex(log, head))


def consistency(log: AuditLog, old_size: int, new_size: int | None = None) -> ConsistencyProof:
    """Proof that the log at ``old_size`` is a prefix of the log at ``new_size`` (default: the
    latest signed head's size, or the current size when nothing is signed)."""
    size = log.size()
    if new_size is None:
        latest = _latest_head(log)
        new_size = latest.tree_size if latest is not None else size
    for name, value in (("old size", old_size), ("new size", new_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InputError(f"{name} must be a number from 0, got {value!r:.40}")
    if old_size > new_size:
        raise InputError(f"old size {old_size} is larger than new size {new_size}")
    if new_size > size:
        raise NotFound(f"the log has only {size} entries (asked for {new_size})")
    with log.db.connect() as conn:
        tree = _tree(conn, new_size)
    old_root, new_root = tree.root_at(old_size), tree.root
    heads = log.heads()
    return ConsistencyProof(
        old_size,
        new_size,
        old_root,
        new_root,
        tuple(tree.consistency_proof(old_size)),
        _head_at(heads, old_size, old_root),
        _head_at(heads, new_size, new_root),
        log.signer.public_hex if log.signer is not None else None,
    )


def _tree(conn: Connection, size: int) -> MerkleTree:
    query = sa.select(audit_entries.c.leaf).where(audit_entries.c.seq < size).order_by(audit_entries.c.seq)
    leaves = [bytes(leaf) for leaf in conn.execute(query).scalars()]
    if len(leaves) != size:
        raise Conflict(f"the log is missing entries below {size}", hint="run `pledge audit verify`")
    return MerkleTree(leaves)


def _latest_head(log: AuditLog) -> SignedHead | None:
    """The largest head, preferring those signed by the log's own key."""
    heads = log.heads()
    if log.signer is not None:
        own = [h for h in heads if h.key_id == log.signer.key_id]
        heads = own or heads
    return heads[0] if heads else None


def _head_at(heads: list[SignedHead], size: int, root: bytes) -> SignedHead | None:
    return next((h for h in heads if h.tree_size == size and h.root == root), None)


def _public_hex(log: AuditLog, head: SignedHead) -> str | None:
    if log.signer is not None and log.signer.key_id == head.key_id:
        return log.signer.public_hex
    return None
