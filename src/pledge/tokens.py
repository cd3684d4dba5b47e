"""Signed, expiring, single-use tokens: unsubscribe links now, e-mail verification links and
sessions later.

A token is ``<payload>.<signature>``, both unpadded base64url: the payload is compact JSON with
the token's use, a random id, its expiry and string claims; the signature is HMAC-SHA256 over the
payload *text* under a domain-separation prefix. Checking the text (and comparing signatures as
text, in constant time) rather than decoded bytes means a token has exactly one valid spelling:
flipping any character, even a base64 padding bit, invalidates it.

Keys rotate: sign with the current key, verify with it or any of ``old_keys``. Single use is a row
per redeemed token id (``tokens_redeemed``, created by the ``consent`` migration branch), inserted
with ``ON CONFLICT DO NOTHING`` so two concurrent redemptions cannot both win.

Errors (all :class:`pledge.errors.TokenError`): ``TokenInvalid`` (forged, tampered, malformed,
wrong use), ``TokenExpired``, ``TokenReplayed``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pledge.consent._sql import insert_ignore, utcnow
from pledge.errors import ConfigError, InputError, TokenExpired, TokenInvalid, TokenReplayed
from pledge.storage.db import Database, metadata

__all__ = ["Token", "TokenService", "redeemed_tokens"]

_PREFIX = b"pledge-token/v1\x00"
_MAX_LENGTH = 4096
_MIN_KEY = 16

redeemed_tokens = sa.Table(
    "tokens_redeemed",
    metadata,
    sa.Column("token_id", sa.String(64), primary_key=True),
    sa.Column("use", sa.String(60), nullable=False),
    sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_tokens_redeemed_expires_at", "expires_at"),
)


@dataclass(frozen=True, slots=True)
class Token:
    """A verified token's contents."""

    use: str
    token_id: str
    expires_at: dt.datetime
    claims: Mapping[str, str]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenService:
    def __init__(
        self,
        key: bytes,
        db: Database | None = None,
        *,
        old_keys: Iterable[bytes] = (),
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        keys = [key, *old_keys]
        for k in keys:
            if not isinstance(k, bytes) or len(k) < _MIN_KEY:
                raise ConfigError(f"a token key must be at least {_MIN_KEY} random bytes")
        self._key = key
        self._keys = tuple(keys)
        self._db = db
        self._clock = clock

    # --- issue and verify -----------------------------------------------------------------------

    def issue(self, use: str, claims: Mapping[str, str], ttl: dt.timedelta) -> str:
        if not use or not isinstance(use, str) or len(use) > 60:
            raise InputError("a token use is a short non-empty string (e.g. 'unsubscribe')")
        if ttl <= dt.timedelta(0):
            raise InputError("a token's time to live must be positive")
        for name, value in claims.items():
            if not isinstance(name, str) or not isinstance(value, str):
                raise InputError("token claims map strings to strings")
        expires = self._clock() + ttl
        body = {
            "u": use,
            "i": secrets.token_urlsafe(16),
            "x": int(expires.timestamp()),
            "c": dict(claims),
        }
        payload = _b64(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        return f"{payload}.{self._sign(self._key, payload)}"

    def verify(self, token: str, use: str) -> dict[str, str]:
        """The token's claims. Raises ``TokenInvalid`` or ``TokenExpired``."""
        return dict(self.inspect(token, use).claims)

    def inspect(self, token: str, use: str) -> Token:
        if not isinstance(token, str) or not token or len(token) > _MAX_LENGTH or not token.isascii():
            raise TokenInvalid("malformed token")
        payload, dot, signature = token.partition(".")
        if not dot or not payload or "." in signature:
            raise TokenInvalid("malformed token")
        # Check every key (no early exit) so timing does not tell which key matched.
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(self._sign(key, payload), signature)
        if not matched:
            raise TokenInvalid("token signature does not match", hint="the link was altered or forged")
        try:
            body = json.loads(_unb64(payload).decode("utf-8"))
            token_use, token_id, expiry, claims = body["u"], body["i"], body["x"], body["c"]
            if not (isinstance(token_use, str) and isinstance(token_id, str) and isinstance(expiry, int)):
                raise TypeError
            if not isinstance(claims, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in claims.items()
            ):
                raise TypeError
        except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
            raise TokenInvalid("malformed token") from None
        if not hmac.compare_digest(token_use.encode(), use.encode()):
            raise TokenInvalid("token was issued for another use")
        expires_at = dt.datetime.fromtimestamp(expiry, dt.UTC)
        if self._clock() >= expires_at:
            raise TokenExpired("token has expired", hint="ask for a new link")
        return Token(token_use, token_id, expires_at, claims)

    @staticmethod
    def _sign(key: bytes, payload: str) -> str:
        return _b64(hmac.new(key, _PREFIX + payload.encode("ascii"), hashlib.sha256).digest())

    # --- single use -----------------------------------------------------------------------------

    def redeem(self, token: str, use: str, conn: Connection | None = None) -> dict[str, str]:
        """Verify and use up ``token``. With ``conn``, the redemption joins the caller's
        transaction (a rollback un-redeems it). Raises ``TokenReplayed`` on a second use."""
        checked = self.inspect(token, use)
        if conn is not None:
            self._mark(conn, checked)
        else:
            if self._db is None:
                raise ConfigError("redeeming a token needs a database", hint="pass db= to TokenService")
            with self._db.begin() as own:
                self._mark(own, checked)
        return dict(checked.claims)

    def _mark(self, conn: Connection, token: Token) -> None:
        row: dict[str, Any] = {
            "token_id": token.token_id,
            "use": token.use,
            "redeemed_at": self._clock(),
            "expires_at": token.expires_at,
        }
        if not insert_ignore(conn, redeemed_tokens, row):
            raise TokenReplayed("this link was already used", hint="ask for a new link if you need one")

    def purge_expired(self) -> int:
        """Forget redeemed tokens that have expired: they fail verification before replay matters."""
        if self._db is None:
            return 0
        with self._db.begin() as conn:
            result = conn.execute(
                sa.delete(redeemed_tokens).where(redeemed_tokens.c.expires_at < self._clock())
            )
        return int(result.rowcount or 0)
