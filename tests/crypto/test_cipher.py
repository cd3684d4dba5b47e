"""Field encryption: round trips, binding to subject and category, crypto-shredding, rotation."""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from pledge.audit import AuditLog, MemoryAudit
from pledge.config import Settings
from pledge.crypto import (
    PREFIX,
    CiphertextInvalid,
    FieldCipher,
    KeyShredded,
    is_encrypted,
    master_key_id,
    rotate_master_key,
)
from pledge.crypto.tables import data_keys
from pledge.errors import ConfigError, InputError
from pledge.storage import Database

MASTER = bytes(range(32))


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def sqlite_db(sqlite_url: str) -> Iterator[Database]:
    database = Database(sqlite_url)
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def audit() -> MemoryAudit:
    return MemoryAudit()


@pytest.fixture
def cipher(sqlite_db: Database, audit: MemoryAudit) -> FieldCipher:
    return FieldCipher(sqlite_db, MASTER, audit=audit)


def test_round_trip_of_hostile_values(cipher: FieldCipher) -> None:
    for value in ["", "ann@example.com", "'; DROP TABLE x; --", "%s %d", "ü🙂\u202e\x00", "x" * 10_000]:
        token = cipher.encrypt("s_ann", "user.contact.email", value)
        assert is_encrypted(token) and token.startswith(PREFIX) and token.isascii()
        assert value not in token or value == ""
        assert cipher.decrypt("s_ann", "user.contact.email", token) == value


def test_each_encryption_is_fresh_and_one_key_serves_a_subject(
    cipher: FieldCipher, sqlite_db: Database
) -> None:
    a = cipher.encrypt("s_ann", "user.name", "Ann")
    b = cipher.encrypt("s_ann", "user.name", "Ann")
    assert a != b  # random nonce
    cipher.encrypt("s_bob", "user.name", "Bob")
    with sqlite_db.connect() as conn:
        rows = conn.execute(sa.select(data_keys)).all()
    assert sorted(r.subject_id for r in rows) == ["s_ann", "s_bob"]
    assert all(MASTER not in bytes(r.wrapped) for r in rows)


def test_a_value_is_bound_to_its_subject_and_category(cipher: FieldCipher) -> None:
    token = cipher.encrypt("s_ann", "user.contact.email", "ann@example.com")
    cipher.encrypt("s_bob", "user.contact.email", "bob@example.com")
    with pytest.raises(CiphertextInvalid):
        cipher.decrypt("s_ann", "user.contact.phone", token)  # copied into another column
    with pytest.raises(KeyShredded, match="another subject"):
        cipher.decrypt("s_bob", "user.contact.email", token)  # copied into another person's row


def test_altered_or_foreign_ciphertexts_are_clear_errors(cipher: FieldCipher) -> None:
    token = cipher.encrypt("s_ann", "user.name", "Ann")
    raw = bytearray(base64.urlsafe_b64decode(token[len(PREFIX) :] + "=" * (-len(token[len(PREFIX) :]) % 4)))
    raw[-1] ^= 1
    flipped = PREFIX + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    for bad in ["Ann", "enc:v2:AAAA", PREFIX + "***", PREFIX + "AAAA", flipped]:
        with pytest.raises(CiphertextInvalid):
            cipher.decrypt("s_ann", "user.name", bad)


def test_bad_input_is_rejected(cipher: FieldCipher) -> None:
    bad_calls = [
        lambda: cipher.encrypt("ann@example.com", "user.name", "Ann"),  # subject ids are pseudonymous
        lambda: cipher.encrypt("s_ann", "", "Ann"),
        lambda: cipher.encrypt("s_ann", "user.name", 42),  # type: ignore[arg-type]
        lambda: cipher.encrypt("s_ann", "user.name", "\ud800"),
        lambda: cipher.shred("10.0.0.1"),
    ]
    for call in bad_calls:
        with pytest.raises(InputError):
            call()
    with pytest.raises(ConfigError):
        FieldCipher(cipher.db, b"short")


def test_shredding_makes_a_backup_copy_unreadable(db: Database) -> None:
    """The crypto-shredding promise, end to end: a business table, its backup, an erasure."""
    log = AuditLog(db, flush_interval=None)
    cipher = FieldCipher(db, MASTER, audit=log)
    meta = sa.MetaData()
    customers = sa.Table(
        "shop_customers", meta, sa.Column("id", sa.String(40), primary_key=True), sa.Column("email", sa.Text)
    )
    meta.create_all(db.engine)
    with db.begin() as conn:
        for who, email in [("s_ann", "ann@example.com"), ("s_bob", "bob@example.com")]:
            token = cipher.encrypt(who, "user.contact.email", email, conn=conn)
            conn.execute(customers.insert().values(id=who, email=token))
    with db.connect() as conn:  # the nightly backup of the business table
        backup = {row.id: row.email for row in conn.execute(sa.select(customers))}
    assert cipher.decrypt("s_ann", "user.contact.email", backup["s_ann"]) == "ann@example.com"

    assert cipher.shred("s_ann") is True

    with pytest.raises(KeyShredded, match="crypto-shredded"):
        cipher.decrypt("s_ann", "user.contact.email", backup["s_ann"])
    with db.connect() as conn:
        live = conn.execute(sa.select(customers.c.email).where(customers.c.id == "s_ann")).scalar_one()
    with pytest.raises(KeyShredded):
        cipher.decrypt("s_ann", "user.contact.email", live)
    assert cipher.decrypt("s_bob", "user.contact.email", backup["s_bob"]) == "bob@example.com"
    # A new key for the same subject (they come back later) does not revive old copies.
    cipher.encrypt("s_ann", "user.contact.email", "ann@new.example")
    with pytest.raises(KeyShredded):
        cipher.decrypt("s_ann", "user.contact.email", backup["s_ann"])
    shredded = log.entries(kind="crypto.shred")
    assert [(e.subject, e.payload["existed"]) for e in shredded] == [("s_ann", True)]
    assert log.verify().ok


def test_shredding_is_audited_and_idempotent(cipher: FieldCipher, audit: MemoryAudit) -> None:
    cipher.encrypt("s_ann", "user.name", "Ann")
    assert cipher.shred("s_ann") is True
    assert cipher.shred("s_ann") is False
    assert [(r.kind, r.subject, r.payload["existed"]) for r in audit.entries] == [
        ("crypto.shred", "s_ann", True),
        ("crypto.shred", "s_ann", False),
    ]
    assert not cipher.has_key("s_ann")


def test_a_shred_rolled_back_with_its_transaction_keeps_the_key(db: Database) -> None:
    log = AuditLog(db, flush_interval=None)
    cipher = FieldCipher(db, MASTER, audit=log)
    token = cipher.encrypt("s_ann", "user.name", "Ann")
    with pytest.raises(RuntimeError), db.begin() as conn:
        cipher.shred("s_ann", conn=conn)
        raise RuntimeError("the erasure request failed later on")
    assert cipher.decrypt("s_ann", "user.name", token) == "Ann"
    assert log.size() == 0


def test_master_key_rotation_rewraps_without_touching_ciphertexts(db: Database) -> None:
    old = FieldCipher(db, MASTER)
    tokens = {f"s_{i}": old.encrypt(f"s_{i}", "user.name", f"name {i}") for i in range(23)}
    new_master = os.urandom(32)
    assert rotate_master_key(db, new_master, [MASTER], batch=5) == 23
    assert rotate_master_key(db, new_master, [MASTER], batch=5) == 0  # resumable, idempotent
    with db.connect() as conn:
        ids = set(conn.execute(sa.select(data_keys.c.master_key_id)).scalars())
    assert ids == {master_key_id(new_master)}
    rotated = FieldCipher(db, new_master)
    assert all(rotated.decrypt(s, "user.name", t) == f"name {s[2:]}" for s, t in tokens.items())
    with pytest.raises(ConfigError, match="not configured"):
        old.decrypt("s_1", "user.name", tokens["s_1"])  # the old master key alone no longer unwraps
    both = FieldCipher(db, MASTER, previous_master_keys=[new_master])
    assert both.decrypt("s_2", "user.name", tokens["s_2"]) == "name 2"


def test_a_wrapped_key_moved_to_another_subject_does_not_unwrap(
    cipher: FieldCipher, sqlite_db: Database
) -> None:
    cipher.encrypt("s_ann", "user.name", "Ann")
    token = cipher.encrypt("s_bob", "user.name", "Bob")
    with sqlite_db.begin() as conn:
        ann = conn.execute(sa.select(data_keys).where(data_keys.c.subject_id == "s_ann")).one()
        conn.execute(
            data_keys.update()
            .where(data_keys.c.subject_id == "s_bob")
            .values(wrapped=ann.wrapped, key_id=ann.key_id)
        )
    with pytest.raises(ConfigError, match="altered or moved"):
        cipher.decrypt("s_bob", "user.name", token)


def test_concurrent_first_encryptions_agree_on_one_key(db: Database) -> None:
    cipher = FieldCipher(db, MASTER)
    tokens: list[str] = []
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            tokens.append(cipher.encrypt("s_new", "user.name", f"v{i}"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(cipher.decrypt("s_new", "user.name", t) for t in tokens) == [f"v{i}" for i in range(8)]


def test_from_settings_uses_the_master_key(tmp_path: object, sqlite_db: Database) -> None:
    settings = Settings(data_dir=tmp_path).with_secrets()  # type: ignore[arg-type]
    cipher = FieldCipher.from_settings(settings, sqlite_db)
    token = cipher.encrypt("s_x", "user.name", "X")
    assert FieldCipher(sqlite_db, settings.keys.master_key).decrypt("s_x", "user.name", token) == "X"
