"""Per-subject data keys, wrapped (AES-256-GCM) by a master key; master-key rotation.

The master key never touches the database; each data key is stored only wrapped, with the id of
the master key that wrapped it and associated data binding it to its subject and key id (a wrapped
key moved to another subject's row does not unwrap). Rotation re-wraps data keys in batches and
leaves every ciphertext alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from pledge.crypto.tables import data_keys
from pledge.errors import ConfigError
from pledge.storage.db import Database

__all__ = ["DataKey", "MasterKeys", "master_key_id", "rotate_master_key"]

KEY_ID_BYTES = 8


def master_key_id(master_key: bytes) -> str:
    """A public name for a master key (an HMAC under the key itself: reveals nothing about it)."""
    return hmac.new(master_key, b"pledge master key id", hashlib.sha256).hexdigest()[:16]


def _wrap_aad(subject_id: str, key_id: bytes) -> bytes:
    return b"pledge-dek/v1\x00" + key_id + subject_id.encode("utf-8")


@dataclass(frozen=True, slots=True)
class DataKey:
    key_id: bytes
    key: bytes


class MasterKeys:
    """The current master key (wraps new data keys) and older ones (still unwrap during rotation)."""

    def __init__(self, current: bytes, previous: Iterable[bytes] = ()) -> None:
        keys = [current, *previous]
        for key in keys:
            if not isinstance(key, bytes) or len(key) != 32:
                raise ConfigError("a master key is 32 random bytes (AES-256)")
        self.current_id = master_key_id(current)
        self._by_id = {master_key_id(key): AESGCM(key) for key in reversed(keys)}

    def wrap(self, subject_id: str, key: DataKey) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._by_id[self.current_id].encrypt(nonce, key.key, _wrap_aad(subject_id, key.key_id))

    def unwrap(self, subject_id: str, key_id: bytes, master_id: str, wrapped: bytes) -> bytes:
        aead = self._by_id.get(master_id)
        if aead is None:
            raise ConfigError(
                f"a data key is wrapped by master key {master_id}, which is not configured",
                hint="pass the previous master key until rotate_master_key has re-wrapped every data key",
            )
        try:
            return aead.decrypt(wrapped[:12], wrapped[12:], _wrap_aad(subject_id, key_id))
        except InvalidTag:
            raise ConfigError(
                f"the stored data key of subject {subject_id!r:.80} does not unwrap: it was altered or moved",
                hint="restore crypto_data_keys from a backup",
            ) from None


def load_key(conn: Connection, masters: MasterKeys, subject_id: str) -> DataKey | None:
    row = conn.execute(sa.select(data_keys).where(data_keys.c.subject_id == subject_id)).one_or_none()
    if row is None:
        return None
    key_id = bytes.fromhex(row.key_id)
    return DataKey(key_id, masters.unwrap(subject_id, key_id, row.master_key_id, bytes(row.wrapped)))


def load_or_create_key(conn: Connection, masters: MasterKeys, subject_id: str) -> DataKey:
    """The subject's data key, created on first use. Two writers creating one at once both end up
    with the same key: the insert is "do nothing on conflict", then everyone reads the winner."""
    existing = load_key(conn, masters, subject_id)
    if existing is not None:
        return existing
    fresh = DataKey(os.urandom(KEY_ID_BYTES), AESGCM.generate_key(bit_length=256))
    values = {
        "subject_id": subject_id,
        "key_id": fresh.key_id.hex(),
        "master_key_id": masters.current_id,
        "wrapped": masters.wrap(subject_id, fresh),
        "created_at": dt.datetime.now(dt.UTC),
    }
    conn.execute(_insert_ignore(conn, values))
    winner = load_key(conn, masters, subject_id)
    assert winner is not None
    return winner


def _insert_ignore(conn: Connection, values: dict[str, object]) -> sa.Executable:
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(data_keys).values(values).on_conflict_do_nothing()
    if name == "sqlite":
        return sqlite.insert(data_keys).values(values).on_conflict_do_nothing()
    return sa.insert(data_keys).values(values).prefix_with("IGNORE")  # MariaDB/MySQL


def rotate_master_key(db: Database, new_key: bytes, old_keys: Sequence[bytes], *, batch: int = 500) -> int:
    """Re-wrap every data key under ``new_key``; returns how many were re-wrapped.

    Ciphertexts are untouched (they are encrypted under the data keys, which do not change).
    Batches commit one by one, so an interrupted rotation resumes where it stopped; run it again
    after every process has switched to the new key, to catch keys created meanwhile.
    """
    masters = MasterKeys(new_key, old_keys)
    new_id = masters.current_id
    done = 0
    while True:
        with db.begin() as conn:
            rows = conn.execute(
                sa.select(data_keys)
                .where(data_keys.c.master_key_id != new_id)
                .order_by(data_keys.c.subject_id)
                .limit(batch)
                .with_for_update()
            ).all()
            for row in rows:
                key_id = bytes.fromhex(row.key_id)
                key = DataKey(
                    key_id, masters.unwrap(row.subject_id, key_id, row.master_key_id, bytes(row.wrapped))
                )
                conn.execute(
                    data_keys.update()
                    .where(data_keys.c.subject_id == row.subject_id, data_keys.c.key_id == row.key_id)
                    .values(master_key_id=new_id, wrapped=masters.wrap(row.subject_id, key))
                )
            done += len(rows)
        if len(rows) < batch:
            return done
