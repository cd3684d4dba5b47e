"""The web layer's own storage on SQLite and PostgreSQL (and a MariaDB smoke test): sessions,
rate limits that hold across processes, sealed complaints, sealed sign-in links, CSRF tokens."""

from __future__ import annotations

import datetime as dt
import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from starlette.datastructures import FormData
from starlette.requests import Request

from pledge.audit.sink import MemoryAudit
from pledge.errors import Conflict, InputError, NotFound, RateLimited
from pledge.storage import Database
from pledge.web.complaints import ComplaintStore
from pledge.web.errors import ApiError
from pledge.web.ratelimit import Limit, RateLimiter
from pledge.web.sealbox import SealBox
from pledge.web.security import CSRF_COOKIE, check_csrf, csrf_token
from pledge.web.sessions import SessionStore

KEY = b"k" * 32


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    db = Database(db_url)
    db.migrate()
    yield db
    db.dispose()


def test_sessions_expire_are_revoked_and_keep_only_a_digest(database: Database) -> None:
    clock = Clock()
    store = SessionStore(database, clock=clock, subject_ttl=dt.timedelta(hours=1))
    secret, session = store.create("subject", subject="s_abc", requests=["r1", "r1", "r2"])
    assert session.requests == ("r1", "r2") and session.owns("r2") and not session.owns("r3")
    with database.connect() as conn:
        stored = conn.exec_driver_sql("SELECT id FROM web_sessions").scalars().all()
    assert secret not in stored and len(stored[0]) == 64  # the secret itself is never stored
    loaded = store.load(secret, "subject")
    assert loaded is not None and loaded.subject == "s_abc"
    assert store.load(secret, "admin") is None  # a subject session does not open the console
    grown = store.grant(loaded, requests=["r3"])
    assert store.load(secret, "subject").requests == ("r1", "r2", "r3") == grown.requests  # type: ignore[union-attr]
    for junk in (None, "", "x", "a" * 500, "ünïcode" * 5, "' OR 1=1 --" * 3):
        assert store.load(junk, "subject") is None
    clock.now += dt.timedelta(hours=1, seconds=1)
    assert store.load(secret, "subject") is None  # expired
    other, _ = store.create("admin")
    store.delete(other)
    assert store.load(other, "admin") is None  # signed out everywhere
    store.delete("not a secret")  # harmless


def test_rate_limits_count_every_attempt_and_reset_with_the_window(database: Database) -> None:
    clock = Clock()
    limiter = RateLimiter(database, KEY, clock=clock)
    limit = Limit(3, dt.timedelta(minutes=10))
    for _ in range(3):
        limiter.hit("mail", "ann@example.com", limit)
    with pytest.raises(RateLimited) as refused:
        limiter.hit("mail", "ann@example.com", limit)
    assert 1 <= refused.value.retry_after <= 600
    limiter.hit("mail", "bob@example.com", limit)  # another address has its own allowance
    limiter.hit("other-scope", "ann@example.com", limit)
    with database.connect() as conn:
        buckets = conn.exec_driver_sql("SELECT bucket FROM web_rate_limits").scalars().all()
    assert not any("ann" in b or "example" in b for b in buckets)  # keyed hashes only
    clock.now += dt.timedelta(minutes=10)
    limiter.hit("mail", "ann@example.com", limit)  # a new window


def test_concurrent_attempts_never_exceed_the_limit(database: Database) -> None:
    limiter = RateLimiter(database, KEY)
    limit = Limit(10, dt.timedelta(hours=1))

    def attempt(_: int) -> bool:
        try:
            RateLimiter(database, KEY).hit("mail", "race@example.com", limit)
        except RateLimited:
            return False
        return True

    with ThreadPoolExecutor(8) as pool:
        allowed = sum(pool.map(attempt, range(40)))
    assert allowed == 10
    with pytest.raises(RateLimited):
        limiter.hit("mail", "race@example.com", limit)


def _hit_in_another_process(url: str, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    db = Database(url)
    try:
        RateLimiter(db, KEY).hit("mail", "cross@example.com", Limit(2, dt.timedelta(hours=1)))
        queue.put("allowed")
    except RateLimited:
        queue.put("refused")
    finally:
        db.dispose()


def test_the_limit_holds_across_processes(database: Database, db_url: str) -> None:
    limit = Limit(2, dt.timedelta(hours=1))
    RateLimiter(database, KEY).hit("mail", "cross@example.com", limit)
    RateLimiter(database, KEY).hit("mail", "cross@example.com", limit)
    queue: multiprocessing.Queue = multiprocessing.get_context("spawn").Queue()  # type: ignore[type-arg]
    child = multiprocessing.get_context("spawn").Process(target=_hit_in_another_process, args=(db_url, queue))
    child.start()
    child.join(60)
    assert queue.get(timeout=5) == "refused"


def test_complaints_are_sealed_audited_and_closed_once(database: Database) -> None:
    audit = MemoryAudit()
    store = ComplaintStore(
        database, audit, master_key=b"m" * 32, hash_key=KEY, jurisdictions=frozenset({"gdpr"}), clock=Clock()
    )
    ref = store.submit(
        kind="complaint",
        topic="cookies",
        message="  Too many cookies. ",
        email="Kim@Example.org",
        name="Kim",
        jurisdiction="gdpr",
    )
    [entry] = audit.entries
    assert entry.kind == "complaint.received" and entry.payload["complaint"] == ref
    assert "Kim" not in str(entry.payload) and entry.subject is not None and "@" not in entry.subject
    got = store.get(ref)
    assert (got.message, got.email, got.name) == ("Too many cookies.", "Kim@Example.org", "Kim")
    assert "Too many" not in repr(got)
    for bad in (
        {"kind": "rant"},
        {"topic": "weather"},
        {"message": "   "},
        {"message": "x" * 5001},
        {"message": "nul\x00"},
        {"email": "not an address"},
        {"jurisdiction": "mars"},
    ):
        args = {"kind": "question", "topic": "other", "message": "hello", **bad}
        with pytest.raises(InputError):
            store.submit(**args)  # type: ignore[arg-type]
    assert len(store.list()) == 1  # nothing else was stored
    store.close(ref, by="dana@shop.example")
    assert audit.entries[-1].payload["by"].startswith("actor_")  # a staff address is hashed
    with pytest.raises(Conflict):
        store.close(ref, by="dana")
    with pytest.raises(NotFound):
        store.get("../../etc")
    other = ComplaintStore(database, audit, master_key=b"n" * 32, hash_key=KEY)
    assert other.get(ref).message is None  # another master key cannot open it


def test_sealed_texts_open_only_where_they_belong() -> None:
    box = SealBox(b"m" * 32, "signin")
    sealed = box.seal("privacy.signin", {"e": "ann@example.com"})
    assert "ann" not in sealed
    assert box.open("privacy.signin", sealed) == {"e": "ann@example.com"}
    assert box.open("complaint:1", sealed) is None
    assert SealBox(b"m" * 32, "complaints").open("privacy.signin", sealed) is None
    assert SealBox(b"n" * 32, "signin").open("privacy.signin", sealed) is None
    flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    for junk in (flipped, "", "v1.", "v1.!!!", "v0." + sealed[3:], None, "v1." + "A" * 200_000):
        assert box.open("privacy.signin", junk) is None


def _request(cookie: str | None, token: str | None = None) -> Request:
    headers = [(b"cookie", f"{CSRF_COOKIE}={cookie}".encode())] if cookie else []
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": headers,
        "state": {"csrf_cookie": cookie},
    }
    return Request(scope)


def test_csrf_tokens_are_bound_to_the_visitor_s_cookie() -> None:
    cookie = "c" * 43
    token = csrf_token(_request(cookie), KEY)
    check_csrf(_request(cookie), FormData([("csrf_token", token)]), KEY)
    for request, form in (
        (_request(cookie), FormData()),
        (_request(None), FormData([("csrf_token", token)])),
        (_request("d" * 43), FormData([("csrf_token", token)])),
        (_request(cookie), FormData([("csrf_token", token[:-1] + "x")])),
        (_request("short"), FormData([("csrf_token", token)])),
    ):
        with pytest.raises(ApiError) as refused:
            check_csrf(request, form, KEY)
        assert refused.value.status == 403 and refused.value.code == "csrf_failed"
    with pytest.raises(ApiError):
        check_csrf(_request(cookie), FormData([("csrf_token", token)]), b"other-key" * 4)


@pytest.mark.mariadb
def test_the_web_tables_migrate_on_mariadb(mariadb_url: str) -> None:
    db = Database(mariadb_url)
    try:
        db.migrate()
        secret, _ = SessionStore(db).create("admin")
        assert SessionStore(db).load(secret, "admin") is not None
        RateLimiter(db, KEY).hit("mail", "m@example.com", Limit(1, dt.timedelta(hours=1)))
        with pytest.raises(RateLimited):
            RateLimiter(db, KEY).hit("mail", "m@example.com", Limit(1, dt.timedelta(hours=1)))
    finally:
        db.dispose()


def test_a_missing_folder_for_sqlite_is_created(tmp_path: Path) -> None:
    from pledge.system import _check_sqlite_file

    _check_sqlite_file(f"sqlite:///{tmp_path / 'a' / 'b' / 'pledge.db'}", create=True)
    assert (tmp_path / "a" / "b").is_dir()
    _check_sqlite_file("sqlite://", create=True)  # in memory: nothing to create


def test_a_missing_sqlite_file_is_bad_input_when_it_must_exist(tmp_path: Path) -> None:
    from pledge.errors import InputError
    from pledge.system import _check_sqlite_file

    with pytest.raises(InputError, match="no database"):
        _check_sqlite_file(f"sqlite:///{tmp_path / 'missing.db'}", create=False)
    assert not (tmp_path / "missing.db").exists()
