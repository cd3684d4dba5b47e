"""AuditLog: appends inside the caller's transaction, gapless under concurrency, counted decisions."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from pledge.audit import AuditLog, AuditSink, HeadSigner
from pledge.audit.entry import leaf_data
from pledge.audit.merkle import MerkleTree, leaf_hash
from pledge.audit.tables import audit_entries
from pledge.errors import ConfigError, InputError, StorageError
from pledge.storage import Database
from tests.audit.conftest import fill, sql

ROOT = Path(__file__).resolve().parents[2]


def test_an_audit_log_is_an_audit_sink(sqlite_log: AuditLog) -> None:
    sink: AuditSink = sqlite_log
    assert sink.append("consent.grant", {"purpose": "marketing"}, subject="s_1") == 0
    assert sink.append("consent.withdraw", {"purpose": "marketing"}, subject="s_1") == 1


def test_entries_are_canonical_json_and_hash_as_rfc6962_leaves(sqlite_log: AuditLog) -> None:
    index = sqlite_log.append("disclosure", {"z": 1, "a": {"y": [1, 2], "b": 'ü "q" %'}}, subject="s_9")
    entry = sqlite_log.entry(index)
    assert entry is not None
    assert entry.payload_json == '{"a":{"b":"ü \\"q\\" %","y":[1,2]},"z":1}'
    assert entry.data == leaf_data(index, entry.time, "disclosure", "s_9", entry.payload_json)
    assert json.loads(entry.data) == {
        "index": 0,
        "kind": "disclosure",
        "payload": {"a": {"b": 'ü "q" %', "y": [1, 2]}, "z": 1},
        "subject": "s_9",
        "time": entry.time,
    }
    assert entry.leaf == leaf_hash(entry.data.encode("utf-8"))
    assert entry.time.endswith("Z") and len(entry.time) == 27


def test_the_tip_root_is_the_merkle_root_of_all_leaves(sqlite_log: AuditLog) -> None:
    fill(sqlite_log, 777, batch=100)
    sqlite_log.append("request.step", {"step": "last"})
    with sqlite_log.db.connect() as conn:
        leaves = [bytes(x) for x in conn.execute(sa.select(audit_entries.c.leaf).order_by("seq")).scalars()]
    size, root = sqlite_log.current_root()
    assert size == 778 and root == MerkleTree(leaves).root


def test_append_joins_the_callers_transaction_and_a_rollback_leaves_no_gap(any_log: AuditLog) -> None:
    any_log.append("consent.grant", {"n": 0})
    with pytest.raises(RuntimeError), any_log.db.begin() as conn:
        assert any_log.append("consent.grant", {"n": 1}, conn=conn) == 1
        raise RuntimeError("the business write failed")
    assert any_log.size() == 1
    assert any_log.append("consent.grant", {"n": 2}) == 1  # index 1 is given out again
    assert any_log.verify().ok


def test_bad_input_is_rejected_and_changes_nothing(sqlite_log: AuditLog) -> None:
    sqlite_log.append("consent.grant", {"purpose": "x"})
    bad_calls = [
        lambda: sqlite_log.append("Consent Grant", {}),
        lambda: sqlite_log.append("", {}),
        lambda: sqlite_log.append("consent.grant", {"who": "ann@example.com"}),
        lambda: sqlite_log.append("consent.grant", {}, subject="ann@example.com"),
        lambda: sqlite_log.append("consent.grant", {"x": float("nan")}),
        lambda: sqlite_log.append("consent.grant", {"x": object()}),
        lambda: sqlite_log.append("consent.grant", {"x": "\ud800"}),
        lambda: sqlite_log.append("consent.grant", {"x": "a" * 300_000}),
        lambda: sqlite_log.append("consent.grant", ["not", "a", "mapping"]),  # type: ignore[arg-type]
        lambda: sqlite_log.append_many(
            [("consent.grant", {}, None), ("consent.grant", {"ip": "10.1.2.3"}, None)]
        ),
    ]
    for call in bad_calls:
        with pytest.raises(InputError):
            call()
    assert sqlite_log.size() == 1
    assert sqlite_log.verify().ok


def test_hostile_but_legal_payloads_round_trip_and_verify(sqlite_log: AuditLog) -> None:
    hostile = [
        {"q": "'; DROP TABLE audit_entries; --", "pct": "%s %d %%", "nul": "a\x00b"},
        {"emoji": "🙂" * 1000, "rtl": "\u202e", "sep": "\u2028", "big": "x" * 10_000},
        {"nested": {"deep": [[[[{"k": None}]]]], "bool": True, "neg": -0.0, "big_int": 2**70}},
        {'key "with" quotes': "and \\ backslashes", "": "empty key"},
    ]
    for payload in hostile:
        index = sqlite_log.append("request.step", payload, subject="s_x")
        entry = sqlite_log.entry(index)
        assert entry is not None and entry.payload == json.loads(json.dumps(payload))
    assert sqlite_log.verify().ok


def test_entries_can_be_read_by_subject_and_kind(sqlite_log: AuditLog) -> None:
    sqlite_log.append("consent.grant", {"p": 1}, subject="s_a")
    sqlite_log.append("disclosure", {"p": 2}, subject="s_b")
    sqlite_log.append("consent.withdraw", {"p": 3}, subject="s_a")
    assert [e.index for e in sqlite_log.entries(subject="s_a")] == [0, 2]
    assert [e.index for e in sqlite_log.entries(kind="disclosure")] == [1]
    assert [e.index for e in sqlite_log.entries(start=1, limit=1)] == [1]
    assert sqlite_log.entry(99) is None


# --- signed heads -------------------------------------------------------------------------------


def test_heads_are_signed_on_demand_and_every_n_entries(sqlite_url: str, signer: HeadSigner) -> None:
    db = Database(sqlite_url)
    db.migrate()
    log = AuditLog(db, signer=signer, sign_every=10, flush_interval=None)
    for i in range(25):
        log.append("consent.grant", {"i": i})
    assert [h.tree_size for h in log.heads()] == [20, 10]
    log.append_many([("consent.grant", {"i": i}, None) for i in range(30)])  # 25 -> 55: one head at 55
    head = log.sign_head()
    assert head.tree_size == 55 and head.root == log.current_root()[1]
    assert head.key_id == signer.key_id and head.id is not None
    assert signer.public_key.verify(head.signature, head.message()) is None
    assert [h.tree_size for h in log.heads()][:2] == [55, 55]
    db.dispose()


def test_signing_without_a_key_is_a_config_error(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    db.migrate()
    with pytest.raises(ConfigError):
        AuditLog(db).sign_head()
    with pytest.raises(ConfigError):
        AuditLog(db, signer=HeadSigner.generate(), sign_every=0)
    db.dispose()


def test_an_unmigrated_database_is_a_clear_storage_error(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    with pytest.raises(StorageError):
        AuditLog(db).append("consent.grant", {})
    db.dispose()


def test_a_tip_out_of_step_with_the_entries_refuses_to_append(sqlite_log: AuditLog) -> None:
    sqlite_log.append("consent.grant", {})
    sql(sqlite_log, "UPDATE audit_tip SET size = 0, frontier = x''")
    with pytest.raises(StorageError, match="already exists") as caught:
        sqlite_log.append("consent.grant", {})
    assert caught.value.hint is not None and "pledge audit verify" in caught.value.hint


# --- concurrency ----------------------------------------------------------------------------------


def _indices(log: AuditLog) -> list[int]:
    with log.db.connect() as conn:
        return [int(x) for x in conn.execute(sa.select(audit_entries.c.seq).order_by("seq")).scalars()]


def test_concurrent_threads_get_a_gapless_sequence(any_log: AuditLog) -> None:
    got: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(worker: int) -> None:
        try:
            for i in range(25):
                index = any_log.append("consent.grant", {"worker": worker, "i": i}, subject=f"s_{worker}")
                with lock:
                    got.append(index)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(got) == list(range(200)) == _indices(any_log)
    assert any_log.verify().ok


_APPENDER = """
import sys
from pledge.audit import AuditLog
from pledge.storage import Database
db = Database(sys.argv[1])
log = AuditLog(db, flush_interval=None)
out = [log.append("consent.grant", {"proc": int(sys.argv[2]), "i": i}) for i in range(int(sys.argv[3]))]
print(",".join(map(str, out)))
"""


def test_concurrent_processes_get_a_gapless_sequence(any_log: AuditLog) -> None:
    url = any_log.db.engine.url.render_as_string(hide_password=False)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _APPENDER, url, str(p), "30"], stdout=subprocess.PIPE, cwd=ROOT
        )
        for p in range(4)
    ]
    outputs = [proc.communicate(timeout=120)[0].decode() for proc in procs]
    assert all(proc.returncode == 0 for proc in procs)
    got = sorted(int(x) for out in outputs for x in out.strip().split(","))
    assert got == list(range(120)) == _indices(any_log)
    report = any_log.verify()
    assert report.ok, report.findings


# --- counted decisions ----------------------------------------------------------------------------


def test_allowed_decisions_are_counted_and_flushed_as_one_entry(sqlite_log: AuditLog) -> None:
    for _ in range(3):
        sqlite_log.count_allowed("marketing", ("user.contact.email",))
    sqlite_log.count_allowed("analytics", ("user.device.cookie_id", "user.behavior"))
    assert sqlite_log.size() == 0  # nothing written per decision
    index = sqlite_log.flush()
    assert index == 0 and sqlite_log.flush() is None
    entry = sqlite_log.entry(0)
    assert entry is not None and entry.kind == "decisions.allowed" and entry.subject is None
    assert entry.payload["counts"] == [
        {"purpose": "analytics", "categories": ["user.device.cookie_id", "user.behavior"], "count": 1},
        {"purpose": "marketing", "categories": ["user.contact.email"], "count": 3},
    ]
    window = entry.payload["window"]
    assert window["from"] <= window["to"]


def test_close_flushes_and_a_background_thread_flushes_periodically(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    db.migrate()
    log = AuditLog(db, flush_interval=0.05)
    log.count_allowed("marketing", ("user.name",))
    deadline = time.monotonic() + 10
    while log.size() == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert log.size() == 1
    log.count_allowed("marketing", ("user.name",))
    log.close()
    assert log.size() == 2
    entry = log.entry(1)
    assert entry is not None and entry.payload["counts"][0]["count"] == 1
    db.dispose()


def test_a_failed_flush_keeps_the_counts(sqlite_log: AuditLog, monkeypatch: pytest.MonkeyPatch) -> None:
    sqlite_log.count_allowed("marketing", ("user.name",))

    def broken(*args: object, **kwargs: object) -> int:
        raise StorageError("storage unavailable")

    monkeypatch.setattr(sqlite_log, "append_many", broken)
    with pytest.raises(StorageError):
        sqlite_log.flush()
    monkeypatch.undo()
    sqlite_log.count_allowed("marketing", ("user.name",))
    sqlite_log.flush()
    entry = sqlite_log.entry(0)
    assert entry is not None and entry.payload["counts"][0]["count"] == 2


def test_log_each_allowed_appends_every_decision(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    db.migrate()
    log = AuditLog(db, log_each_allowed=True, flush_interval=None)
    log.count_allowed("marketing", ("user.name",))
    log.count_allowed("marketing", ("user.name",))
    assert [e.kind for e in log.entries()] == ["decision.allowed", "decision.allowed"]
    db.dispose()


def test_counting_is_thread_safe(sqlite_log: AuditLog) -> None:
    def work() -> None:
        for _ in range(2000):
            sqlite_log.count_allowed("marketing", ("user.name",))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sqlite_log.flush()
    entry = sqlite_log.entry(0)
    assert entry is not None and entry.payload["counts"][0]["count"] == 8000


def test_mariadb_is_tolerated(mariadb_url: str, signer: HeadSigner) -> None:
    db = Database(mariadb_url)
    db.migrate()
    log = AuditLog(db, signer=signer, sign_every=50, flush_interval=None)
    fill(log, 120, batch=40)
    log.append("consent.grant", {"big": "x" * 100_000}, subject="s_1")  # beyond MariaDB's TEXT
    assert log.verify().ok
    assert log.prove(7).verify(signer.public_key)
    db.dispose()


def test_a_bad_counted_name_is_dropped_without_blocking_the_rest(
    sqlite_log: AuditLog, caplog: pytest.LogCaptureFixture
) -> None:
    sqlite_log.count_allowed("marketing", ("user.name",))
    sqlite_log.count_allowed("ann@example.com", ("user.name",))  # a caller's mistake
    sqlite_log.count_allowed(None, ("user.name",))  # type: ignore[arg-type]
    sqlite_log.count_allowed("analytics", (None,))  # type: ignore[arg-type]
    assert sqlite_log.flush() == 0
    entry = sqlite_log.entry(0)
    assert entry is not None and [c["purpose"] for c in entry.payload["counts"]] == ["marketing"]
    assert "ann@example.com" not in caplog.text and "dropped" in caplog.text


def test_many_distinct_counts_are_split_across_entries(sqlite_log: AuditLog) -> None:
    for i in range(1234):
        sqlite_log.count_allowed(f"purpose_{i}", ("user.name",))
    assert sqlite_log.flush() == 2
    assert [len(e.payload["counts"]) for e in sqlite_log.entries()] == [500, 500, 234]
    assert sqlite_log.verify().ok
