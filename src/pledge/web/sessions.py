"""Server-side sessions for the privacy center (a verified person) and the admin console.

The browser holds a random 256-bit secret in an ``HttpOnly``, ``SameSite=Lax`` cookie (``Secure``
over TLS); the database holds only its SHA-256. A session is one row, so signing out revokes it
everywhere and every process behind a load balancer sees the same sessions.

A *subject* session names what a person proved by clicking an e-mail link: the consent subject
behind their address (their preferences) and the requests they verified (status and archive).
An *admin* session is opened with the API key on the console's login form.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa

from pledge.consent._sql import as_utc, utcnow
from pledge.storage.db import Database
from pledge.web.tables import sessions

__all__ = ["ADMIN_COOKIE", "SUBJECT_COOKIE", "Session", "SessionKind", "SessionStore"]

SUBJECT_COOKIE = "pledge_session"
ADMIN_COOKIE = "pledge_admin"
SessionKind = Literal["subject", "admin"]
_MAX_REQUESTS = 50
_SECRET_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    kind: SessionKind
    subject: str | None
    requests: tuple[str, ...]
    expires_at: dt.datetime

    def owns(self, request_id: str) -> bool:
        return request_id in self.requests


def _digest(secret: str) -> str:
    return hashlib.sha256(("pledge-session\x00" + secret).encode("ascii")).hexdigest()


def _plausible(secret: str | None) -> bool:
    return bool(secret) and 20 <= len(secret or "") <= 100 and set(secret or "") <= _SECRET_CHARS


class SessionStore:
    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
        subject_ttl: dt.timedelta = dt.timedelta(hours=1),
        admin_ttl: dt.timedelta = dt.timedelta(hours=8),
    ) -> None:
        self.db = db
        self._clock = clock
        self._ttl = {"subject": subject_ttl, "admin": admin_ttl}

    def ttl(self, kind: SessionKind) -> dt.timedelta:
        return self._ttl[kind]

    def create(
        self, kind: SessionKind, *, subject: str | None = None, requests: Iterable[str] = ()
    ) -> tuple[str, Session]:
        """A new session; returns the cookie secret (shown once) and the session."""
        secret = secrets.token_urlsafe(32)
        now = self._clock()
        owned = tuple(dict.fromkeys(requests))[:_MAX_REQUESTS]
        expires = now + self._ttl[kind]
        row: dict[str, object] = {
            "id": _digest(secret),
            "kind": kind,
            "subject": subject,
            "requests": json.dumps(list(owned)),
            "created_at": now,
            "expires_at": expires,
        }
        with self.db.begin() as conn:
            conn.execute(sa.insert(sessions).values(row))
            # Housekeeping rides along: expired sessions are useless and only take room.
            conn.execute(sa.delete(sessions).where(sessions.c.expires_at < now - dt.timedelta(days=1)))
        return secret, Session(_digest(secret), kind, subject, owned, expires)

    def load(self, secret: str | None, kind: SessionKind) -> Session | None:
        """The live session of ``kind`` behind ``secret``; None when absent, expired or unknown."""
        if not _plausible(secret):
            return None
        assert secret is not None
        with self.db.connect() as conn:
            row = conn.execute(sa.select(sessions).where(sessions.c.id == _digest(secret))).first()
        if row is None or row.kind != kind or as_utc(row.expires_at) <= self._clock():
            return None
        return Session(row.id, kind, row.subject, tuple(json.loads(row.requests)), as_utc(row.expires_at))

    def grant(self, session: Session, *, subject: str | None = None, requests: Iterable[str] = ()) -> Session:
        """Add what the person just proved to their session (another request, their subject)."""
        owned = tuple(dict.fromkeys([*session.requests, *requests]))[-_MAX_REQUESTS:]
        chosen = subject or session.subject
        with self.db.begin() as conn:
            conn.execute(
                sa.update(sessions)
                .where(sessions.c.id == session.id)
                .values(subject=chosen, requests=json.dumps(list(owned)))
            )
        return Session(session.id, session.kind, chosen, owned, session.expires_at)

    def delete(self, secret: str | None) -> None:
        if not _plausible(secret):
            return
        assert secret is not None
        with self.db.begin() as conn:
            conn.execute(sa.delete(sessions).where(sessions.c.id == _digest(secret)))
