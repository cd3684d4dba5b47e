"""What someone with write access to the database can do to the log, and what verification says.

Every test edits the tables directly (the attacker's view) and checks the report names the right
entry for the right reason.
"""

from __future__ import annotations

import hashlib
import random
import threading

import pytest

from pledge.audit import AuditLog, HeadSigner, verify
from pledge.audit.entry import leaf_data
from pledge.audit.log import chain_hash
from tests.audit.conftest import fill, rehash_from, row, sql

SIZE = 600


@pytest.fixture
def log(sqlite_log: AuditLog) -> AuditLog:
    fill(sqlite_log, SIZE)
    sqlite_log.sign_head()
    return sqlite_log


def first(log: AuditLog, **options: object) -> tuple[str, int | None]:
    report = verify(log.db, log.signer.public_key if log.signer else None, **options)  # type: ignore[arg-type]
    assert not report.ok
    assert report.first is not None
    return report.first.reason, report.first.index


def _leaf(r: object, index: int) -> bytes:
    data = leaf_data(index, r.recorded_at, r.kind, r.subject, r.payload)  # type: ignore[attr-defined]
    return hashlib.sha256(b"\x00" + data.encode()).digest()


def test_an_untouched_log_verifies(log: AuditLog) -> None:
    report = verify(log.db, log.signer.public_key)  # type: ignore[union-attr]
    assert report.ok and report.size == SIZE and report.heads == 1 and report.signatures_checked
    assert report.latest_head is not None and report.latest_head.tree_size == SIZE
    assert report.root == log.current_root()[1]


# Each way of editing one entry, applied at a position; the entry must be named every time.
EDITS = [
    ("payload", "UPDATE audit_entries SET payload = '{\"n\":-1}' WHERE seq = :i"),
    ("kind", "UPDATE audit_entries SET kind = 'consent.forged' WHERE seq = :i"),
    ("subject", "UPDATE audit_entries SET subject = 's_someone_else' WHERE seq = :i"),
    ("no subject", "UPDATE audit_entries SET subject = NULL WHERE seq = :i AND subject IS NOT NULL"),
    ("time", "UPDATE audit_entries SET recorded_at = '2001-01-01T00:00:00.000000Z' WHERE seq = :i"),
    ("leaf", "UPDATE audit_entries SET leaf = zeroblob(32) WHERE seq = :i"),
    ("chain", "UPDATE audit_entries SET chain = zeroblob(32) WHERE seq = :i"),
    ("quote", "UPDATE audit_entries SET kind = kind || '\"' WHERE seq = :i"),
]


def test_tampering_at_100_random_positions_is_found_at_the_right_entry(log: AuditLog) -> None:
    rng = random.Random(20261123)
    positions = rng.sample(range(SIZE), 100)
    found = 0
    for n, i in enumerate(positions):
        before = row(log, i)
        name, statement = EDITS[n % len(EDITS)]
        if name == "no subject" and before.subject is None:
            statement = "UPDATE audit_entries SET subject = 's_added' WHERE seq = :i"
        sql(log, statement, i=i)
        reason, index = first(log)
        assert (reason, index) == ("tampered", i), (name, i)
        found += 1
        sql(
            log,
            "UPDATE audit_entries SET payload = :p, kind = :k, subject = :s, recorded_at = :t, leaf = :l, "
            "chain = :c WHERE seq = :i",
            p=before.payload, k=before.kind, s=before.subject, t=before.recorded_at, l=before.leaf,
            c=before.chain, i=i,
        )  # fmt: skip
    assert found == 100
    assert verify(log.db, log.signer.public_key).ok  # type: ignore[union-attr]


def test_an_edit_with_its_leaf_recomputed_is_still_named(log: AuditLog) -> None:
    sql(log, "UPDATE audit_entries SET payload = '{\"n\":-1}' WHERE seq = 321")
    sql(log, "UPDATE audit_entries SET leaf = :l WHERE seq = 321", l=_leaf(row(log, 321), 321))
    assert first(log) == ("tampered", 321)


def test_removing_an_entry(log: AuditLog) -> None:
    sql(log, "DELETE FROM audit_entries WHERE seq = 250")
    assert first(log) == ("removed", 250)


def test_removing_a_range_and_renumbering_the_rest(log: AuditLog) -> None:
    sql(log, "DELETE FROM audit_entries WHERE seq BETWEEN 100 AND 102")
    sql(log, "UPDATE audit_entries SET seq = seq - 3 WHERE seq > 102")
    report = verify(log.db, log.signer.public_key)  # type: ignore[union-attr]
    assert report.first is not None and (report.first.reason, report.first.index) == ("removed", 100)
    assert "3 entries removed" in report.first.message
    assert any(f.reason == "truncated" for f in report.findings)  # the tip and the head still say 600


def _shift_up(log: AuditLog, start: int) -> None:
    sql(log, "UPDATE audit_entries SET seq = -seq - 1 WHERE seq >= :s", s=start)
    sql(log, "UPDATE audit_entries SET seq = -seq WHERE seq < 0")


def test_inserting_a_well_formed_forged_entry(log: AuditLog) -> None:
    _shift_up(log, 300)
    prev = row(log, 299)
    when = prev.recorded_at
    payload = '{"purpose":"marketing"}'
    data = leaf_data(300, when, "consent.grant", "s_forged", payload).encode()
    leaf = hashlib.sha256(b"\x00" + data).digest()
    sql(
        log,
        "INSERT INTO audit_entries (seq, recorded_at, kind, subject, payload, leaf, chain) "
        "VALUES (300, :t, 'consent.grant', 's_forged', :p, :l, :c)",
        t=when, p=payload, l=leaf, c=chain_hash(bytes(prev.chain), leaf),
    )  # fmt: skip
    assert first(log) == ("inserted", 300)


def test_inserting_a_copied_entry(log: AuditLog) -> None:
    _shift_up(log, 42)
    copy = row(log, 10)
    sql(
        log,
        "INSERT INTO audit_entries (seq, recorded_at, kind, subject, payload, leaf, chain) "
        "VALUES (42, :t, :k, :s, :p, :l, :c)",
        t=copy.recorded_at, k=copy.kind, s=copy.subject, p=copy.payload, l=copy.leaf, c=copy.chain,
    )  # fmt: skip
    reason, index = first(log)
    assert index == 42 and reason in ("inserted", "tampered")


def test_swapping_two_entries(log: AuditLog) -> None:
    sql(log, "UPDATE audit_entries SET seq = -1 WHERE seq = 200")
    sql(log, "UPDATE audit_entries SET seq = 200 WHERE seq = 207")
    sql(log, "UPDATE audit_entries SET seq = 207 WHERE seq = -1")
    assert first(log) == ("reordered", 200)


def test_swapping_neighbours_with_their_hashes_recomputed(log: AuditLog) -> None:
    # Leaves recomputed for the new positions, chain values left alone: the chain shows the order.
    sql(log, "UPDATE audit_entries SET seq = -1 WHERE seq = 500")
    sql(log, "UPDATE audit_entries SET seq = 500 WHERE seq = 501")
    sql(log, "UPDATE audit_entries SET seq = 501 WHERE seq = -1")
    for i in (500, 501):
        sql(log, "UPDATE audit_entries SET leaf = :l WHERE seq = :i", l=_leaf(row(log, i), i), i=i)
    reason, index = first(log)
    assert index == 500 and reason in ("reordered", "tampered")


def test_truncation_below_a_signed_head_even_with_the_tip_rewritten(log: AuditLog) -> None:
    sql(log, "DELETE FROM audit_entries WHERE seq >= 590")
    rehash_from(log, 590)  # makes the tip agree with the shortened log
    report = verify(log.db, log.signer.public_key)  # type: ignore[union-attr]
    assert [(f.reason, f.index) for f in report.findings] == [("truncated", 590)]
    assert "signed head" in report.findings[0].message


def test_truncation_is_caught_by_the_tip_before_any_head(sqlite_log: AuditLog) -> None:
    fill(sqlite_log, 50)
    sql(sqlite_log, "DELETE FROM audit_entries WHERE seq >= 45")
    assert first(sqlite_log) == ("truncated", 45)


def test_an_entry_added_behind_the_logs_back(log: AuditLog) -> None:
    last = row(log, SIZE - 1)
    data = leaf_data(SIZE, last.recorded_at, "consent.grant", None, "{}").encode()
    leaf = hashlib.sha256(b"\x00" + data).digest()
    sql(
        log,
        "INSERT INTO audit_entries VALUES (:i, :t, 'consent.grant', NULL, '{}', :l, :c)",
        i=SIZE, t=last.recorded_at, l=leaf, c=chain_hash(bytes(last.chain), leaf),
    )  # fmt: skip
    assert first(log) == ("inserted", SIZE)


def test_rewriting_with_every_hash_recomputed_is_caught_by_the_signed_head(sqlite_log: AuditLog) -> None:
    fill(sqlite_log, 100)
    sqlite_log.sign_head()
    fill(sqlite_log, 100, seed=8)
    sqlite_log.sign_head()
    sql(sqlite_log, "UPDATE audit_entries SET payload = '{\"n\":-1}' WHERE seq = 150")
    rehash_from(sqlite_log, 150)
    report = verify(sqlite_log.db, sqlite_log.signer.public_key)  # type: ignore[union-attr]
    assert [(f.reason, f.index) for f in report.findings] == [("tampered", 100)]
    assert "entries 100 to 199 were rewritten" in report.findings[0].message


def test_an_edited_tip_is_reported(log: AuditLog) -> None:
    sql(log, "UPDATE audit_tip SET chain = zeroblob(32)")
    report = verify(log.db, log.signer.public_key)  # type: ignore[union-attr]
    assert [(f.reason, f.index) for f in report.findings] == [("tampered", None)]


def test_forged_and_altered_heads_are_bad_signatures(log: AuditLog) -> None:
    head = log.latest_head()
    assert head is not None
    sql(
        log,
        "INSERT INTO audit_heads (tree_size, root, signed_at, key_id, signature) VALUES (:n, :r, :t, :k, :s)",
        n=SIZE, r=head.root, t=head.signed_at, k=head.key_id, s=bytes(64),
    )  # fmt: skip
    other = HeadSigner.generate().sign(SIZE, head.root, head.signed_at)
    sql(
        log,
        "INSERT INTO audit_heads (tree_size, root, signed_at, key_id, signature) VALUES (:n, :r, :t, :k, :s)",
        n=SIZE, r=other.root, t=other.signed_at, k=other.key_id, s=other.signature,
    )  # fmt: skip
    sql(log, "UPDATE audit_heads SET tree_size = 5000 WHERE id = :i", i=head.id)
    report = verify(log.db, log.signer.public_key)  # type: ignore[union-attr]
    reasons = sorted(f.reason for f in report.findings)
    assert reasons == ["bad_signature"] * 3
    assert any("not a trusted key" in f.message for f in report.findings)


def test_old_keys_still_vouch_for_the_heads_they_signed(sqlite_url: str) -> None:
    from pledge.storage import Database

    db = Database(sqlite_url)
    db.migrate()
    old, new = HeadSigner.generate(), HeadSigner.generate()
    fill(AuditLog(db, signer=old, sign_every=None), 30)
    AuditLog(db, signer=old).sign_head()
    AuditLog(db, signer=new).sign_head()
    assert not verify(db, new.public_key).ok
    assert verify(db, [old.public_hex, new.public_pem]).ok
    report = verify(db)
    assert report.ok and not report.signatures_checked and report.notes
    db.dispose()


@pytest.mark.parametrize("position", [0, 63, 64, 65, 127, 599])
def test_chunked_parallel_verification_names_the_same_entry(log: AuditLog, position: int) -> None:
    assert verify(log.db, log.signer.public_key, workers=2, chunk_size=64).ok  # type: ignore[union-attr]
    sql(log, "UPDATE audit_entries SET payload = '{}' WHERE seq = :i", i=position)
    for workers in (1, 2):
        assert first(log, workers=workers, chunk_size=64) == ("tampered", position)


def test_a_missing_entry_at_a_chunk_boundary(log: AuditLog) -> None:
    sql(log, "DELETE FROM audit_entries WHERE seq = 128")
    for workers in (1, 2):
        assert first(log, workers=workers, chunk_size=64) == ("removed", 128)


def test_a_column_of_the_wrong_type_is_tampering_not_a_crash(log: AuditLog) -> None:
    sql(log, "UPDATE audit_entries SET leaf = 12345 WHERE seq = 77")
    assert first(log) == ("tampered", 77)


def test_verification_reports_progress(log: AuditLog) -> None:
    seen: list[tuple[int, int]] = []
    verify(log.db, chunk_size=256, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(256, SIZE), (512, SIZE), (SIZE, SIZE)]


def test_parallel_verification_while_other_threads_run(log: AuditLog) -> None:
    # With threads alive, forking is unsafe: workers start from a clean forkserver instead.
    stop = threading.Event()
    busy = threading.Thread(target=stop.wait)
    busy.start()
    try:
        assert verify(log.db, log.signer.public_key, workers=2, chunk_size=128).ok  # type: ignore[union-attr]
        sql(log, "UPDATE audit_entries SET payload = '{}' WHERE seq = 300")
        assert first(log, workers=2, chunk_size=128) == ("tampered", 300)
    finally:
        stop.set()
        busy.join()


def test_parallel_verification_on_postgresql(any_log: AuditLog) -> None:
    fill(any_log, 300)
    any_log.sign_head()
    key = any_log.signer.public_key  # type: ignore[union-attr]
    assert verify(any_log.db, key, workers=2, chunk_size=64).ok
    sql(any_log, "UPDATE audit_entries SET kind = 'consent.forged' WHERE seq = 130")
    report = verify(any_log.db, key, workers=2, chunk_size=64)
    assert report.first is not None and (report.first.reason, report.first.index) == ("tampered", 130)
    sql(any_log, "UPDATE audit_entries SET kind = 'a\"b' WHERE seq = 70")
    report = verify(any_log.db, key, workers=1, chunk_size=64)
    assert report.first is not None and (report.first.reason, report.first.index) == ("tampered", 70)
