"""Field encryption with crypto-shredding: ``encrypt``/``decrypt`` a value of one subject and category,
``shred`` the subject's key so every copy of every such value becomes unreadable.

Ciphertext format (version 1), a short ASCII string safe for any text column::

    enc:v1:<base64url without padding of: key id (8 bytes) || nonce (12) || AES-256-GCM output>

The associated data binds the ciphertext to its key id, subject and category, so a value copied
into another person's row or another column does not decrypt. The key id tells a shredded key
apart from a wrong one: after ``shred`` (and even if the subject later gets a new key), decrypting
an old copy raises :class:`KeyShredded`.

What shredding does not reach: backups of *Pledge's own database* still hold the wrapped data key.
It is wrapped by the master key, which lives outside the database (``secrets.json``); rotating the
master key (``rotate_master_key``) and destroying the old one on your backup-retention schedule
bounds how long a restored backup could bring a shredded key back.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import Connection

from pledge.audit.entry import check_subject
from pledge.audit.sink import AuditSink
from pledge.config import Settings
from pledge.crypto.keys import KEY_ID_BYTES, MasterKeys, load_key, load_or_create_key
from pledge.crypto.tables import data_keys
from pledge.errors import InputError, NotFound
from pledge.storage.db import Database

__all__ = ["PREFIX", "CiphertextInvalid", "FieldCipher", "KeyShredded", "is_encrypted"]

PREFIX = "enc:v1:"
_NONCE = 12
_TAG = 16


class KeyShredded(NotFound):
    """The data key a value was encrypted with no longer exists: the value is gone for good."""

    code = "key_shredded"


class CiphertextInvalid(InputError):
    """Not a Pledge ciphertext, or one that was altered or belongs to another subject or category."""

    code = "ciphertext_invalid"


def is_encrypted(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def _aad(key_id: bytes, subject_id: str, category: str) -> bytes:
    subject, cat = subject_id.encode("utf-8"), category.encode("utf-8")
    return b"pledge-field/v1\x00" + key_id + struct.pack(">I", len(subject)) + subject + cat


class FieldCipher:
    """Encrypts chosen fields at rest under per-subject data keys (see the module docstring).

    ``audit`` records each shredding (``crypto.shred``) in the same transaction as the deletion.
    """

    def __init__(
        self,
        db: Database,
        master_key: bytes,
        *,
        previous_master_keys: Sequence[bytes] = (),
        audit: AuditSink | None = None,
    ) -> None:
        self.db = db
        self.masters = MasterKeys(master_key, previous_master_keys)
        self.audit = audit

    @classmethod
    def from_settings(
        cls, settings: Settings, db: Database, *, audit: AuditSink | None = None
    ) -> FieldCipher:
        return cls(db, settings.keys.master_key, audit=audit)

    def encrypt(self, subject_id: str, category: str, value: str, *, conn: Connection | None = None) -> str:
        _check_ids(subject_id, category)
        if not isinstance(value, str):
            raise InputError(f"only text is encrypted (got {type(value).__name__}); convert it first")
        try:
            plain = value.encode("utf-8")
        except UnicodeEncodeError:
            raise InputError("the value is not valid text (it holds a lone surrogate)") from None
        with self._conn(conn, write=True) as c:
            key = load_or_create_key(c, self.masters, subject_id)
        nonce = os.urandom(_NONCE)
        sealed = AESGCM(key.key).encrypt(nonce, plain, _aad(key.key_id, subject_id, category))
        return PREFIX + base64.urlsafe_b64encode(key.key_id + nonce + sealed).rstrip(b"=").decode("ascii")

    def decrypt(self, subject_id: str, category: str, token: str, *, conn: Connection | None = None) -> str:
        _check_ids(subject_id, category)
        key_id, nonce, sealed = _parse(token)
        with self._conn(conn) as c:
            key = load_key(c, self.masters, subject_id)
        if key is None or key.key_id != key_id:
            # Without a tombstone nobody can tell "erased" from "someone else's value": say both.
            raise KeyShredded(
                f"the data key of this value (key {key_id.hex()}) no longer exists for subject "
                f"{subject_id!r:.80}: it was erased (crypto-shredded) and the value cannot be recovered, "
                "or the value belongs to another subject"
            )
        try:
            plain = AESGCM(key.key).decrypt(nonce, sealed, _aad(key_id, subject_id, category))
        except InvalidTag:
            raise CiphertextInvalid(
                "the ciphertext does not decrypt: it was altered, or belongs to another category or subject"
            ) from None
        return plain.decode("utf-8")

    def shred(self, subject_id: str, *, conn: Connection | None = None) -> bool:
        """Delete the subject's data key (crypto-shredding); returns whether there was one.

        Audited as ``crypto.shred`` inside the same transaction: the deletion and its record commit
        together or not at all.
        """
        check_subject(subject_id)
        with self._conn(conn, write=True) as c:
            key_id = c.execute(
                sa.select(data_keys.c.key_id).where(data_keys.c.subject_id == subject_id)
            ).scalar_one_or_none()
            if key_id is not None:
                c.execute(data_keys.delete().where(data_keys.c.subject_id == subject_id))
            if self.audit is not None:
                self.audit.append("crypto.shred", {"key_id": key_id, "existed": key_id is not None},
                                  subject=subject_id, conn=c)  # fmt: skip
        return key_id is not None

    def has_key(self, subject_id: str, *, conn: Connection | None = None) -> bool:
        with self._conn(conn) as c:
            found = c.execute(sa.select(data_keys.c.key_id).where(data_keys.c.subject_id == subject_id))
            return found.first() is not None

    @contextmanager
    def _conn(self, conn: Connection | None, *, write: bool = False) -> Iterator[Connection]:
        if conn is not None:
            yield conn
            return
        with self.db.begin() if write else self.db.connect() as own:
            yield own


def _check_ids(subject_id: str, category: str) -> None:
    # Subject ids here are the same pseudonymous ids as in the audit log: the key table outlives
    # nothing, but shredding is audited under this id, and the log must not hold personal data.
    check_subject(subject_id)
    if not isinstance(category, str) or not category or len(category) > 200:
        raise InputError("a category is a non-empty name of at most 200 characters")


def _parse(token: str) -> tuple[bytes, bytes, bytes]:
    if not isinstance(token, str) or not token.startswith(PREFIX):
        raise CiphertextInvalid(
            "not a Pledge ciphertext", hint=f"encrypted values start with {PREFIX!r}; was it ever encrypted?"
        )
    body = token[len(PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise CiphertextInvalid("the ciphertext is damaged (not base64url)") from None
    if len(raw) < KEY_ID_BYTES + _NONCE + _TAG:
        raise CiphertextInvalid("the ciphertext is too short to be one")
    return raw[:KEY_ID_BYTES], raw[KEY_ID_BYTES : KEY_ID_BYTES + _NONCE], raw[KEY_ID_BYTES + _NONCE :]
