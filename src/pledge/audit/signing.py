"""Signed tree heads: an Ed25519 signature over (tree size, Merkle root, time).

A signed head is what a third party keeps: any later proof is checked against it, and anyone who
altered an entry the head covers would have to forge the signature. The signed message is one
line of UTF-8 text, so a verifier needs no library beyond Ed25519::

    pledge-audit-head/v1 <tree size> <root, 64 hex digits> <signed_at>

The key pair is created once (PKCS#8 PEM, mode 0600) in the data directory, or read from the path
given in ``Settings.audit_signing_key``. Its key id is the first 16 hex digits of SHA-256 over the
raw 32-byte public key.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from pledge.config import Settings
from pledge.errors import ConfigError

__all__ = [
    "HEAD_FORMAT",
    "HeadSigner",
    "PublicKeyLike",
    "SignedHead",
    "check_head",
    "head_message",
    "key_id",
    "load_or_create_signer",
    "load_public_key",
    "public_keys",
    "signing_key_path",
]

HEAD_FORMAT = "pledge-audit-head/v1"
KEY_FILE = "audit-signing-key.pem"

PublicKeyLike = Ed25519PublicKey | bytes | str


def head_message(tree_size: int, root: bytes, signed_at: str) -> bytes:
    return f"{HEAD_FORMAT} {tree_size} {root.hex()} {signed_at}".encode()


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(raw_public(key)).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class SignedHead:
    tree_size: int
    root: bytes
    signed_at: str
    key_id: str
    signature: bytes
    id: int | None = None

    def message(self) -> bytes:
        return head_message(self.tree_size, self.root, self.signed_at)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "root": self.root.hex(),
            "signed_at": self.signed_at,
            "key_id": self.key_id,
            "signature": self.signature.hex(),
        }


class HeadSigner:
    """Holds the private key; signs heads. Build it at the edge and hand it to ``AuditLog``."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id(self.public_key)

    @classmethod
    def generate(cls) -> HeadSigner:
        return cls(Ed25519PrivateKey.generate())

    @property
    def public_hex(self) -> str:
        return raw_public(self.public_key).hex()

    @property
    def public_pem(self) -> str:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def sign(self, tree_size: int, root: bytes, signed_at: str) -> SignedHead:
        signature = self._key.sign(head_message(tree_size, root, signed_at))
        return SignedHead(tree_size, root, signed_at, self.key_id, signature)

    def private_pem(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def signing_key_path(settings: Settings) -> Path:
    return settings.audit_signing_key or settings.data_dir / KEY_FILE


def load_signer(path: Path) -> HeadSigner:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the audit signing key ({exc.strerror})") from None
    except (ValueError, TypeError):
        raise ConfigError(f"{path}: not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path}: the audit signing key must be Ed25519")
    return HeadSigner(key)


def load_or_create_signer(path: Path) -> HeadSigner:
    """Read the key at ``path``, creating it (mode 0600) the first time.

    Written beside and linked into place, as the secrets file is: two processes starting together
    both end up with the same key, and nobody reads a half-written file.
    """
    if path.exists():
        return load_signer(path)
    signer = HeadSigner.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(signer.private_pem())
    try:
        os.link(tmp, path)
    except FileExistsError:
        return load_signer(path)
    finally:
        tmp.unlink()
    return signer


def load_public_key(value: PublicKeyLike) -> Ed25519PublicKey:
    """An Ed25519 public key from a key object, PEM text, 64 hex digits or 32 raw bytes."""
    if isinstance(value, Ed25519PublicKey):
        return value
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    try:
        if "-----BEGIN" in text:
            key = serialization.load_pem_public_key(text.encode("ascii"))
            if isinstance(key, Ed25519PublicKey):
                return key
            raise ConfigError("the public key is not an Ed25519 key")
        if isinstance(value, bytes) and len(value) == 32:
            return Ed25519PublicKey.from_public_bytes(value)
        raw = bytes.fromhex(text.strip())
        if len(raw) != 32:
            raise ValueError("wrong length")
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, TypeError):
        raise ConfigError(
            "not an Ed25519 public key", hint="give PEM text or the 64 hex digits `pledge audit key` prints"
        ) from None


def public_keys(keys: PublicKeyLike | Iterable[PublicKeyLike] | None) -> dict[str, Ed25519PublicKey]:
    """Key id -> key, for one key or several (old keys stay valid for the heads they signed)."""
    if keys is None:
        return {}
    items = [keys] if isinstance(keys, Ed25519PublicKey | bytes | str) else list(keys)
    loaded = [load_public_key(item) for item in items]
    return {key_id(key): key for key in loaded}


def check_head(head: SignedHead, keys: Mapping[str, Ed25519PublicKey]) -> str | None:
    """None when the head's signature is valid under one of ``keys``, else what is wrong."""
    key = keys.get(head.key_id)
    if key is None:
        return f"signed with key {head.key_id}, which is not a trusted key"
    try:
        key.verify(head.signature, head.message())
    except InvalidSignature:
        return "its signature does not match its size, root and time"
    return None
