"""RFC 6962 hashing against the Certificate Transparency reference vectors, plus properties.

The vectors (leaf inputs, roots of sizes 1..8, audit paths and consistency proofs) are the ones the
CT reference implementation and transparency-dev/merkle test against (proof/verify_test.go there);
their indices are 1-based in that source and 0-based here.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pledge.audit.merkle import (
    EMPTY_ROOT,
    Frontier,
    MerkleTree,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    node_hash,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    bytes.fromhex(h)
    for h in (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]
# (index, tree size, audit path)
INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
# (old size, new size, proof)
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]
LEAVES = [leaf_hash(data) for data in LEAF_INPUTS]


# --- A literal transcription of RFC 6962's recursive definitions, as an independent oracle ----------


def _k(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def rfc_mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = _k(len(d))
    return node_hash(rfc_mth(d[:k]), rfc_mth(d[k:]))


def rfc_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*rfc_path(m, d[:k]), rfc_mth(d[k:])]
    return [*rfc_path(m - k, d[k:]), rfc_mth(d[:k])]


def rfc_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [rfc_mth(d)]
    k = _k(n)
    if m <= k:
        return [*rfc_subproof(m, d[:k], b), rfc_mth(d[k:])]
    return [*rfc_subproof(m - k, d[k:], False), rfc_mth(d[:k])]


def _leaves(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


# --- Reference vectors --------------------------------------------------------------------------------


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert merkle_root([]) == EMPTY_ROOT
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_reference(size: int) -> None:
    assert merkle_root(LEAVES[:size]) == ROOTS[size - 1]
    assert MerkleTree(LEAVES).root_at(size) == ROOTS[size - 1]


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_inclusion_proofs_match_reference(index: int, size: int, path: list[str]) -> None:
    proof = inclusion_proof(index, LEAVES[:size])
    assert [p.hex() for p in proof] == path
    assert verify_inclusion(index, size, LEAVES[index], proof, ROOTS[size - 1])


@pytest.mark.parametrize(("old", "new", "path"), CONSISTENCY)
def test_consistency_proofs_match_reference(old: int, new: int, path: list[str]) -> None:
    proof = consistency_proof(old, LEAVES[:new])
    assert [p.hex() for p in proof] == path
    assert verify_consistency(old, new, ROOTS[old - 1], ROOTS[new - 1], proof)


@pytest.mark.parametrize(("index", "size", "path"), [v for v in INCLUSION if v[2]])
def test_corrupted_reference_inclusion_proofs_fail(index: int, size: int, path: list[str]) -> None:
    proof = [bytes.fromhex(p) for p in path]
    root, leaf = ROOTS[size - 1], LEAVES[index]
    some = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
    probes = [
        (index - 1, size, leaf, proof, root),
        (index + 1, size, leaf, proof, root),
        (index ^ 2, size, leaf, proof, root),
        (index, size * 2, leaf, proof, root),
        (index, size // 2, leaf, proof, root),
        (index, size, leaf_hash(b"wrong"), proof, root),
        (index, size, leaf, proof, EMPTY_ROOT),
        (index, size, leaf, proof, some),
        (index, size, leaf, [*proof, root], root),
        (index, size, leaf, [root, *proof], root),
        (index, size, leaf, proof[:-1], root),
        (index, size, leaf, [proof[0], some, *proof[1:]], root),
        (index, size, leaf, [*proof, b""], root),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        probes.append((index, size, leaf, flipped, root))
    for probe in probes:
        assert not verify_inclusion(*probe), probe[:2]


@pytest.mark.parametrize(("old", "new", "path"), [v for v in CONSISTENCY if v[2]])
def test_corrupted_reference_consistency_proofs_fail(old: int, new: int, path: list[str]) -> None:
    proof = [bytes.fromhex(p) for p in path]
    r1, r2 = ROOTS[old - 1], ROOTS[new - 1]
    probes = [
        (old - 1, new, r1, r2, proof),
        (old + 1, new, r1, r2, proof),
        (old ^ 2, new, r1, r2, proof),
        (old, new * 2, r1, r2, proof),
        (old, new // 2, r1, r2, proof),
        (old, new, EMPTY_ROOT, r2, proof),
        (old, new, r1, EMPTY_ROOT, proof),
        (old, new, r2, r1, proof),
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*proof, r1]),
        (old, new, r1, r2, [*proof, r2]),
        (old, new, r1, r2, [r1, *proof]),
        (old, new, r1, r2, [r2, *proof]),
        (old, new, r1, r2, [proof[0], *proof]),
        (old, new, r1, r2, proof[:-1]),
        (old, new, r1, r2, [b"", *proof]),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        probes.append((old, new, r1, r2, flipped))
    for probe in probes:
        assert not verify_consistency(*probe), probe[:2]


def test_trivial_consistency_cases() -> None:
    r = ROOTS[0]
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert verify_consistency(0, 5, EMPTY_ROOT, ROOTS[4], [])
    assert verify_consistency(1, 1, r, r, [])
    assert not verify_consistency(1, 1, r, ROOTS[1], [])
    assert not verify_consistency(1, 1, r, r, [EMPTY_ROOT])
    assert not verify_consistency(0, 1, EMPTY_ROOT, r, [EMPTY_ROOT])
    assert not verify_consistency(2, 1, ROOTS[1], r, [])  # time travel to the past


def test_out_of_range_requests_raise() -> None:
    tree = MerkleTree(LEAVES[:5])
    for bad in (-1, 5):
        with pytest.raises(ProofError):
            tree.inclusion_proof(bad)
    with pytest.raises(ProofError):
        tree.consistency_proof(6)
    with pytest.raises(ProofError):
        root_from_inclusion_proof(5, 5, LEAVES[0], [])
    with pytest.raises(ProofError):
        MerkleTree([]).inclusion_proof(0)


# --- Properties over every (index, size) --------------------------------------------------------------


def test_every_proof_up_to_64_leaves_matches_the_rfc_definition() -> None:
    leaves = _leaves(64)
    for n in range(1, 65):
        tree = MerkleTree(leaves[:n])
        assert tree.root == rfc_mth(leaves[:n])
        for i in range(n):
            proof = tree.inclusion_proof(i)
            assert proof == rfc_path(i, leaves[:n])
            assert verify_inclusion(i, n, leaves[i], proof, tree.root)
        for m in range(0, n + 1):
            proof = tree.consistency_proof(m)
            expected = [] if m in (0, n) else rfc_subproof(m, leaves[:n], True)
            assert proof == expected
            assert verify_consistency(m, n, rfc_mth(leaves[:m]), tree.root, proof)


def test_frontier_tracks_the_root_after_each_append() -> None:
    leaves = _leaves(300)
    frontier = Frontier()
    tree = MerkleTree(leaves)
    for n, leaf in enumerate(leaves, start=1):
        frontier.append(leaf)
        assert frontier.root() == tree.root_at(n)
        again = Frontier.from_bytes(n, frontier.to_bytes())
        assert again.root() == frontier.root()
    with pytest.raises(ProofError):
        Frontier.from_bytes(3, b"x" * 32)  # size 3 needs two subtrees
    with pytest.raises(ProofError):
        Frontier.from_bytes(1, b"x" * 31)


def _mutate(proof: list[bytes], where: int, how: int) -> list[bytes]:
    out = list(proof)
    if how == 0 and out:  # flip a bit
        i = where % len(out)
        out[i] = bytes([out[i][0] ^ 1]) + out[i][1:]
    elif how == 1 and out:  # drop a hash
        del out[where % len(out)]
    elif how == 2:  # insert a hash
        out.insert(where % (len(out) + 1), leaf_hash(b"junk"))
    elif how == 3 and len(out) > 1:  # swap two hashes
        i = where % (len(out) - 1)
        if out[i] == out[i + 1]:
            return _mutate(proof, where, 2)
        out[i], out[i + 1] = out[i + 1], out[i]
    else:
        out.append(leaf_hash(b"junk"))
    return out


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 3000), data=st.data())
def test_any_altered_inclusion_proof_fails(n: int, data: st.DataObject) -> None:
    leaves = _leaves(n)
    tree = MerkleTree(leaves)
    i = data.draw(st.integers(0, n - 1))
    proof = tree.inclusion_proof(i)
    assert verify_inclusion(i, n, leaves[i], proof, tree.root)
    altered = _mutate(proof, data.draw(st.integers(0, 64)), data.draw(st.integers(0, 4)))
    assert not verify_inclusion(i, n, leaves[i], altered, tree.root)
    other = data.draw(st.integers(0, n - 1).filter(lambda j: j != i)) if n > 1 else None
    if other is not None:
        assert not verify_inclusion(other, n, leaves[i], proof, tree.root)
        assert not verify_inclusion(i, n, leaves[other], proof, tree.root)


@settings(max_examples=300, deadline=None)
@given(n=st.integers(2, 3000), data=st.data())
def test_any_altered_consistency_proof_fails(n: int, data: st.DataObject) -> None:
    leaves = _leaves(n)
    tree = MerkleTree(leaves)
    m = data.draw(st.integers(1, n - 1))
    proof = tree.consistency_proof(m)
    old_root = tree.root_at(m)
    assert verify_consistency(m, n, old_root, tree.root, proof)
    altered = _mutate(proof, data.draw(st.integers(0, 64)), data.draw(st.integers(0, 4)))
    assert not verify_consistency(m, n, old_root, tree.root, altered)
    # A tree that differs anywhere in the first m leaves is not an extension of the old one.
    j = data.draw(st.integers(0, m - 1))
    forked = [*leaves[:j], leaf_hash(b"forged"), *leaves[j + 1 :]]
    forked_tree = MerkleTree(forked)
    assert not verify_consistency(m, n, old_root, forked_tree.root, forked_tree.consistency_proof(m))
