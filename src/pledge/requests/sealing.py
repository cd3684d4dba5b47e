"""Keep a request's identities usable by the steps without keeping them readable in Pledge's DB.

* ``seal``/``unseal``: AES-256-GCM under a key derived (HKDF) from the master key, with the request
  id as associated data, so a sealed blob copied onto another request does not open. The blob is
  wiped when the request closes, after which the identities exist nowhere in Pledge.
* ``subject_id``: a keyed hash (HMAC-SHA256 under the hash key) of the person's main identity,
  stable across requests so an operator can see "this person asked before" without knowing who.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pledge.errors import StorageError
from pledge.requests.steps import Identity

__all__ = ["Sealed", "Sealer", "actor_id", "normalise_identity", "reason_digest", "subject_id"]

_VERSION = "v1"
_ADDRESS_LIKE = re.compile(r"\d+\.\d+\.\d+\.\d+|[0-9A-Fa-f]*:[0-9A-Fa-f]*:")
_INFO = b"pledge/requests/sealed/v1"


@dataclass(frozen=True)
class Sealed:
    """What a request needs in the clear to run: who, with what parameters, where to write."""

    identities: tuple[Identity, ...]
    params: Mapping[str, Any]
    contact: str | None

    def __repr__(self) -> str:  # personal data: never in a log line or a traceback
        return f"Sealed({len(self.identities)} identities, contact={'yes' if self.contact else 'no'})"


def normalise_identity(identity: Identity) -> Identity:
    """E-mail addresses compare case-insensitively; everything else only loses outer blanks."""
    value = identity.value.strip()
    if identity.kind == "email":
        value = value.lower()
    return Identity(identity.kind.strip(), value)


def subject_id(hash_key: bytes, identities: Sequence[Identity]) -> str:
    """The pseudonym of the person: keyed hash of the e-mail if given, else of the first identity."""
    if not identities:
        raise ValueError("a subject needs at least one identity")
    chosen = next((i for i in identities if i.kind == "email"), identities[0])
    chosen = normalise_identity(chosen)
    message = f"subject\x00{chosen.kind}\x00{chosen.value}".encode()
    return hmac.new(hash_key, message, hashlib.sha256).hexdigest()


def actor_id(hash_key: bytes, by: str) -> str:
    """Who acted, as the audit log may keep it forever: a staff name as is, but anything that
    could be an e-mail or IP address (``alice@shop.example``) as a keyed hash. The request row
    keeps the name as given."""
    if "@" not in by and not _ADDRESS_LIKE.search(by):
        return by
    digest = hmac.new(hash_key, b"pledge-actor\x00" + by.encode(), hashlib.sha256).hexdigest()
    return f"actor_{digest[:24]}"


def reason_digest(reason: str) -> str:
    """Free text typed by staff may name people; the permanent audit log gets its digest, which
    proves later what the reason (kept in the erasable request row) said."""
    return hashlib.sha256(reason.encode("utf-8")).hexdigest()


class Sealer:
    def __init__(self, master_key: bytes) -> None:
        if len(master_key) < 16:
            raise ValueError("master key too short")
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(master_key)
        self._aead = AESGCM(derived)

    def seal(self, request_id: str, sealed: Sealed) -> str:
        payload = json.dumps(
            {
                "identities": [[i.kind, i.value] for i in sealed.identities],
                "params": dict(sealed.params),
                "contact": sealed.contact,
            },
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode("utf-8")
        nonce = os.urandom(12)
        blob = nonce + self._aead.encrypt(nonce, payload, request_id.encode())
        return f"{_VERSION}:{base64.urlsafe_b64encode(blob).decode('ascii')}"

    def unseal(self, request_id: str, text: str) -> Sealed:
        version, _, encoded = text.partition(":")
        if version != _VERSION:
            raise StorageError(f"request {request_id}: sealed identities in an unknown format")
        try:
            blob = base64.urlsafe_b64decode(encoded)
            payload = self._aead.decrypt(blob[:12], blob[12:], request_id.encode())
        except (InvalidTag, ValueError):
            raise StorageError(
                f"request {request_id}: sealed identities do not open",
                hint="was the master key (secrets.json) replaced?",
            ) from None
        raw = json.loads(payload)
        return Sealed(
            identities=tuple(Identity(kind, value) for kind, value in raw["identities"]),
            params=raw["params"],
            contact=raw["contact"],
        )
