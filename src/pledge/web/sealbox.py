"""Small authenticated encryption for what the web layer must keep or send but not show:
complaint texts in the database, the address inside a sign-in link.

AES-256-GCM under a key derived (HKDF-SHA256) from the master key with a purpose label, so each
use has its own key; the associated data binds a sealed text to where it belongs (a complaint id,
a link's use), so it does not open anywhere else.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["SealBox"]

_PREFIX = "v1."


class SealBox:
    def __init__(self, master_key: bytes, label: str) -> None:
        info = f"pledge/web/{label}/v1".encode()
        self._aead = AESGCM(
            HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master_key)
        )

    def seal(self, bound_to: str, data: dict[str, Any]) -> str:
        nonce = os.urandom(12)
        blob = nonce + self._aead.encrypt(nonce, json.dumps(data).encode("utf-8"), bound_to.encode())
        return _PREFIX + base64.urlsafe_b64encode(blob).rstrip(b"=").decode("ascii")

    def open(self, bound_to: str, text: str | None) -> dict[str, Any] | None:
        """The sealed data, or None when the text is not ours, was altered or belongs elsewhere."""
        if not text or not text.startswith(_PREFIX) or len(text) > 100_000:
            return None
        body = text[len(_PREFIX) :]
        try:
            blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            data = json.loads(self._aead.decrypt(blob[:12], blob[12:], bound_to.encode()))
        except (InvalidTag, ValueError, binascii.Error):
            return None
        return data if isinstance(data, dict) else None
