"""Proofs for third parties, checked with the exact verifier code printed in docs/audit-proofs.md."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pledge.audit import AuditLog, HeadSigner
from pledge.errors import Conflict, InputError, NotFound
from pledge.storage import Database
from tests.audit.conftest import fill, sql

DOC = Path(__file__).resolve().parents[2] / "docs" / "audit-proofs.md"


def doc_verifiers() -> dict[str, Callable[..., bool]]:
    """Run the Markdown's verifier blocks, as a reader would paste them, and return the functions."""
    text = DOC.read_text(encoding="utf-8")
    blocks = dict(re.findall(r"<!-- verifier: (\w+) -->\n```python\n(.*?)```", text, flags=re.DOTALL))
    assert set(blocks) == {"inclusion", "consistency"}
    namespace: dict[str, Any] = {}
    exec(compile(blocks["inclusion"], str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    exec(compile(blocks["consistency"], str(DOC), "exec"), namespace)  # noqa: S102
    assert len(blocks["inclusion"].strip().splitlines()) <= 40  # "a few lines of code"
    return {"inclusion": namespace["verify_inclusion"], "consistency": namespace["verify_consistency"]}


@pytest.fixture(scope="module")
def verifiers() -> dict[str, Callable[..., bool]]:
    return doc_verifiers()


@pytest.fixture
def log(sqlite_log: AuditLog) -> AuditLog:
    fill(sqlite_log, 300)
    return sqlite_log


def _key(log: AuditLog) -> str:
    assert log.signer is not None
    return log.signer.public_hex


def test_the_documented_verifier_accepts_real_proofs(log: AuditLog, verifiers: dict[str, Any]) -> None:
    for index in (0, 1, 150, 298, 299):
        proof = json.loads(json.dumps(log.prove(index).to_dict()))  # through JSON, as a third party gets it
        assert verifiers["inclusion"](proof, _key(log)), index
        assert proof["tree_size"] == 300 and json.loads(proof["leaf"])["index"] == index


def test_the_documented_verifier_rejects_altered_proofs(log: AuditLog, verifiers: dict[str, Any]) -> None:
    good = log.prove(123).to_dict()
    key = _key(log)

    def altered(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        proof = copy.deepcopy(good)
        change(proof)
        return proof

    def flip(hex_text: str) -> str:
        return ("1" if hex_text[0] == "0" else "0") + hex_text[1:]

    changes: list[Callable[[dict[str, Any]], None]] = [
        lambda p: p.update(leaf=p["leaf"].replace('"n":123', '"n":124')),
        lambda p: p.update(index=124),
        lambda p: p.update(leaf=p["leaf"].replace('"index":123', '"index":124'), index=124),
        lambda p: p["audit_path"].__setitem__(0, flip(p["audit_path"][0])),
        lambda p: p["audit_path"].pop(),
        lambda p: p["audit_path"].append(p["head"]["root"]),
        lambda p: p["head"].update(tree_size=301),
        lambda p: p["head"].update(root=flip(p["head"]["root"])),
        lambda p: p["head"].update(signed_at="2030-01-01T00:00:00.000000Z"),
        lambda p: p["head"].update(signature=flip(p["head"]["signature"])),
    ]
    assert verifiers["inclusion"](good, key)
    for n, change in enumerate(changes):
        assert not verifiers["inclusion"](altered(change), key), n
    assert not verifiers["inclusion"](good, HeadSigner.generate().public_hex)  # someone else's key


def test_a_proof_verifies_with_the_library_too(log: AuditLog) -> None:
    proof = log.prove(7)
    assert proof.verify(_key(log))
    assert not proof.verify(HeadSigner.generate().public_key)


def test_prove_signs_a_head_only_when_none_covers_the_entry(log: AuditLog) -> None:
    assert log.latest_head() is None
    first = log.prove(10)
    assert first.head.tree_size == 300 and len(log.heads()) == 1
    log.prove(299)
    assert len(log.heads()) == 1  # covered already
    fill(log, 10, seed=3)
    assert log.prove(5).head.tree_size == 300  # the latest head still covers entry 5
    assert log.prove(305).head.tree_size == 310
    with pytest.raises(NotFound):
        log.prove(310)  # no such entry
    fill(log, 1, seed=4)
    with pytest.raises(NotFound, match="not covered"):
        log.prove(310, sign=False)


def test_prove_refuses_bad_indices_and_an_unsigned_log(log: AuditLog, sqlite_url: str) -> None:
    with pytest.raises(NotFound):
        log.prove(300)
    with pytest.raises(InputError):
        log.prove(-1)
    with pytest.raises(InputError):
        log.prove(True)
    unsigned = AuditLog(log.db, flush_interval=None)
    with pytest.raises(NotFound, match="not covered by a signed head"):
        unsigned.prove(3)


def test_prove_refuses_when_the_stored_log_was_tampered_with(log: AuditLog) -> None:
    log.sign_head()
    sql(log, "UPDATE audit_entries SET payload = '{}' WHERE seq = 9")
    with pytest.raises(Conflict):
        log.prove(9)
    sql(log, "UPDATE audit_entries SET leaf = zeroblob(32) WHERE seq = 10")
    with pytest.raises(Conflict):
        log.prove(11)


def test_consistency_proofs_verify_with_the_documented_code(log: AuditLog, verifiers: dict[str, Any]) -> None:
    log.sign_head()
    old_head = log.latest_head()
    fill(log, 77, seed=5)
    log.sign_head()
    for old, new in [(1, 377), (64, 377), (100, 300), (300, 377), (377, 377), (0, 377), (299, 300)]:
        proof = log.consistency(old, new).to_dict()
        assert verifiers["consistency"](proof), (old, new)
        assert log.consistency(old, new).verify()
    proof = log.consistency(300).to_dict()  # new size defaults to the latest signed head
    assert proof["new_size"] == 377 and proof["new_head"] is not None
    assert old_head is not None and proof["old_head"]["root"] == old_head.root.hex()
    bad = copy.deepcopy(proof)
    bad["proof"][0] = bad["proof"][0][::-1]
    assert not verifiers["consistency"](bad)
    bad = dict(proof, old_root=proof["new_root"])
    assert not verifiers["consistency"](bad)


def test_consistency_refuses_impossible_sizes(log: AuditLog) -> None:
    for old, new in [(-1, 5), (10, 5)]:
        with pytest.raises(InputError):
            log.consistency(old, new)
    with pytest.raises(NotFound):
        log.consistency(1, 301)


def test_proofs_on_postgresql(any_log: AuditLog, verifiers: dict[str, Any]) -> None:
    fill(any_log, 40)
    proof = any_log.prove(33).to_dict()
    assert verifiers["inclusion"](proof, _key(any_log))
    assert verifiers["consistency"](any_log.consistency(17, 40).to_dict())


def test_a_fresh_database_can_hand_out_the_empty_tree(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    db.migrate()
    log = AuditLog(db, signer=HeadSigner.generate(), flush_interval=None)
    head = log.sign_head()
    assert head.tree_size == 0
    assert head.root.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert log.consistency(0, 0).verify()
    db.dispose()
