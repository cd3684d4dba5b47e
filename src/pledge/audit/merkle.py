"""RFC 6962 Merkle hash trees: roots, inclusion (audit) proofs, consistency proofs, verifiers.

Pure functions over *leaf hashes* (``leaf_hash(data)``); nothing here touches storage. Hashing
follows RFC 6962 section 2.1: a leaf is ``SHA-256(0x00 || data)``, an interior node
``SHA-256(0x01 || left || right)``, the tree over ``n`` leaves splits at the largest power of two
smaller than ``n``, and the empty tree's root is ``SHA-256("")``.

Building the tree level by level (pair neighbours, carry an unpaired last node up unchanged) gives
exactly the RFC's tree, so :class:`MerkleTree` computes every level once (``n - 1`` node hashes)
and answers any proof from them in ``O(log n)``. :class:`Frontier` keeps only the right-most
perfect subtrees (``log n`` hashes), which is all an append-only log needs to know its root after
each append. The verifiers follow RFC 9162 sections 2.1.3.2 and 2.1.4.2 (the bit-walking forms of
RFC 6962's recursive definitions).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from pledge.errors import InputError

__all__ = [
    "EMPTY_ROOT",
    "Frontier",
    "MerkleTree",
    "ProofError",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "merkle_root",
    "node_hash",
    "root_from_inclusion_proof",
    "verify_consistency",
    "verify_inclusion",
]

_sha256 = hashlib.sha256
HASH_SIZE = 32
EMPTY_ROOT = _sha256(b"").digest()


class ProofError(InputError):
    """A proof is malformed or cannot belong to the position it claims."""


def leaf_hash(data: bytes) -> bytes:
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def build_levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree, leaves first; ``levels[k][j]`` covers leaves ``[j*2^k, (j+1)*2^k)``
    (cut at the tree's right edge). A list comprehension per level keeps Python overhead low."""
    level = list(leaves)
    levels = [level]
    sha = _sha256
    while len(level) > 1:
        nxt = [sha(b"\x01" + a + b).digest() for a, b in zip(level[::2], level[1::2], strict=False)]
        if len(level) & 1:
            nxt.append(level[-1])  # an unpaired right-edge node moves up unchanged (RFC's split)
        levels.append(nxt)
        level = nxt
    return levels


def fold(subtrees: Sequence[bytes]) -> bytes:
    """Root over perfect subtrees listed left to right by decreasing size (a compact range from 0)."""
    if not subtrees:
        return EMPTY_ROOT
    acc = subtrees[-1]
    for node in reversed(subtrees[:-1]):
        acc = node_hash(node, acc)
    return acc


def prefix_subtrees(levels: Sequence[Sequence[bytes]], count: int, offset: int = 0) -> list[bytes]:
    """The perfect subtrees covering leaves ``[offset, offset + count)`` of a tree whose levels start
    at ``offset`` (``offset`` a multiple of a power of two at least ``count``)."""
    out: list[bytes] = []
    start = 0
    for height in range(count.bit_length() - 1, -1, -1):
        if count >> height & 1:
            out.append(levels[height][start >> height])
            start += 1 << height
    return out


class MerkleTree:
    """The whole tree over a fixed list of leaf hashes."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.size = len(leaves)
        self._levels = build_levels(leaves) if leaves else [[]]

    @property
    def root(self) -> bytes:
        return self._levels[-1][0] if self.size else EMPTY_ROOT

    def root_at(self, size: int) -> bytes:
        """Root of the tree over the first ``size`` leaves (``0 <= size <= self.size``)."""
        _check_range(size, 0, self.size, "size")
        return fold(prefix_subtrees(self._levels, size))

    def inclusion_proof(self, index: int) -> list[bytes]:
        """RFC 6962 ``PATH(index, D[n])``: the siblings from the leaf up to the root."""
        _check_range(index, 0, self.size - 1, "index")
        path: list[bytes] = []
        for level in self._levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            index >>= 1
        return path

    def consistency_proof(self, old_size: int) -> list[bytes]:
        """RFC 6962 ``PROOF(m, D[n])`` for ``m = old_size``; empty when ``m`` is 0 or ``n``."""
        _check_range(old_size, 0, self.size, "old size")
        if old_size in (0, self.size):
            return []
        return self._subproof(old_size, 0, self.size, True)

    def _subproof(self, m: int, lo: int, hi: int, complete: bool) -> list[bytes]:
        # Iterative form of RFC 6962 SUBPROOF: walk down, collecting the sibling subtree of each
        # step, then emit them bottom-up (the RFC appends on the way back up the recursion).
        collected: list[bytes] = []
        while True:
            n = hi - lo
            if m == n:
                if not complete:
                    collected.append(self._node(lo, hi))
                break
            k = 1 << ((n - 1).bit_length() - 1)
            if m <= k:
                collected.append(self._node(lo + k, hi))
                hi = lo + k
            else:
                collected.append(self._node(lo, lo + k))
                m, lo, complete = m - k, lo + k, False
        # The node found at the bottom comes first, then the siblings from the bottom up.
        if not complete:
            bottom = collected.pop()
            return [bottom, *reversed(collected)]
        return list(reversed(collected))

    def _node(self, lo: int, hi: int) -> bytes:
        # Every range the RFC recursion visits is a node of this tree: [lo, hi) with lo a multiple
        # of 2^height, so it is levels[height][lo >> height].
        height = (hi - lo - 1).bit_length()
        return self._levels[height][lo >> height]


class Frontier:
    """The right-most perfect subtrees of a growing tree: append a leaf, read the root, persist it."""

    __slots__ = ("hashes", "size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != size.bit_count():
            raise ProofError(
                f"a frontier of {size} leaves holds {size.bit_count()} hashes, got {len(hashes)}"
            )
        self.size = size
        self.hashes = list(hashes)

    def append(self, leaf: bytes) -> None:
        node, size = leaf, self.size
        while size & 1:
            node = node_hash(self.hashes.pop(), node)
            size >>= 1
        self.hashes.append(node)
        self.size += 1

    def root(self) -> bytes:
        return fold(self.hashes)

    def to_bytes(self) -> bytes:
        return b"".join(self.hashes)

    @classmethod
    def from_bytes(cls, size: int, blob: bytes) -> Frontier:
        if len(blob) % HASH_SIZE:
            raise ProofError("a frontier is a whole number of 32-byte hashes")
        return cls(size, [blob[i : i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE)])


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    return MerkleTree(leaves).root


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    return MerkleTree(leaves).inclusion_proof(index)


def consistency_proof(old_size: int, leaves: Sequence[bytes]) -> list[bytes]:
    """Proof that the tree over ``leaves[:old_size]`` is a prefix of the tree over ``leaves``."""
    return MerkleTree(leaves).consistency_proof(old_size)


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` implies for ``leaf`` at ``index`` in a tree of ``size`` (RFC 9162
    2.1.3.2); raises :class:`ProofError` when the proof cannot be one for that position."""
    if not 0 <= index < size:
        raise ProofError(f"index {index} is outside a tree of {size}")
    _check_hashes(leaf, *proof)
    fn, sn, node = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            raise ProofError("proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            node = node_hash(sibling, node)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            node = node_hash(node, sibling)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("proof is shorter than the path to the root")
    return node


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    try:
        return root_from_inclusion_proof(index, size, leaf, proof) == root
    except ProofError:
        return False


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2: does ``proof`` show the ``old_size`` tree is a prefix of the ``new_size`` one?"""
    try:
        _check_hashes(old_root, new_root, *proof)
    except ProofError:
        return False
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof  # the empty tree is a prefix of every tree
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is itself a node of the new tree
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for node in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(node, fr), node_hash(node, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, node)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


def _check_hashes(*hashes: bytes) -> None:
    for value in hashes:
        if not isinstance(value, bytes) or len(value) != HASH_SIZE:
            raise ProofError("every hash must be 32 bytes")


def _check_range(value: int, low: int, high: int, what: str) -> None:
    if not low <= value <= high:
        raise ProofError(f"{what} {value} is outside 0..{high}")
