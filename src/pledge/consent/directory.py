"""The subject directory: identities (e-mail, phone, account id, banner cookie id, ...) → a stable
pseudonymous subject id.

Identities are stored only as keyed HMACs (``Settings.keys.hash_key``) of their normalised value,
so Pledge's own database can find a person by e-mail without holding the address. A visitor known
only by a banner cookie is a subject too; when they sign in, :meth:`ConsentLedger.link` merges the
cookie subject into the account's (``merged_into``), keeping both histories.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import itertools
import re
import secrets
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pledge.consent import queries as q
from pledge.consent._sql import insert_ignore, utcnow
from pledge.consent.tables import identities, subjects
from pledge.errors import ConfigError, InputError, NotFound
from pledge.storage.db import Database

__all__ = ["Identity", "SubjectDirectory", "normalise_identity"]

_KIND = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_MAX_VALUE = 1000
COOKIE_KINDS = frozenset({"cookie_id"})
KNOWN_LIMIT = 100_000
"""Identities remembered per process (their subject never changes: see ``SubjectDirectory``)."""


@dataclass(frozen=True, slots=True)
class Identity:
    kind: str
    value: str

    def __repr__(self) -> str:  # the value is personal data: never print it
        return f"Identity({self.kind}=<redacted>)"

    @classmethod
    def parse(cls, text: str) -> Identity:
        """``kind=value`` as typed on a command line (``email=ann@example.com``)."""
        kind, sep, value = text.partition("=")
        if not sep:
            raise InputError("an identity is KIND=VALUE, e.g. email=ann@example.com")
        return cls(kind.strip(), value)


def normalise_identity(kind: str, value: str) -> str:
    """The canonical spelling two inputs of the same identity share."""
    if not isinstance(kind, str) or not _KIND.match(kind):
        raise InputError(
            f"'{str(kind)[:40]}' is not an identity kind", hint="e.g. email, phone, account_id, cookie_id"
        )
    if not isinstance(value, str) or len(value) > _MAX_VALUE:
        raise InputError(f"a {kind} must be text of at most {_MAX_VALUE} characters")
    text = value.strip()
    if kind == "email":
        text = text.lower()
        if (
            text.count("@") != 1
            or text.startswith("@")
            or text.endswith("@")
            or any(c.isspace() for c in text)
        ):
            raise InputError("not an e-mail address")
    elif kind == "phone":
        digits = "".join(c for c in text if c.isdigit())
        if len(digits) < 4:
            raise InputError("not a phone number")
        text = ("+" if text.startswith(("+", "00")) else "") + (
            digits[2:] if text.startswith("00") else digits
        )
    if not text:
        raise InputError(f"the {kind} is empty")
    return text


class SubjectDirectory:
    """Identities → subjects.

    An identity row is written once and never changed or deleted (merges move the *subject*, via
    ``merged_into``), so the subject an identity was registered to is remembered per process
    after its first committed sighting: a returning visitor's cookie id costs no query. Only
    committed rows are remembered (a caller's transaction may still roll back), never an absence
    (another process may register the identity at any moment), and the root after merges is
    always read, since merges do change it.
    """

    def __init__(
        self,
        db: Database,
        hash_key: bytes,
        *,
        policy_version: str,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        if not isinstance(hash_key, bytes) or len(hash_key) < 16:
            raise ConfigError("the identity hash key must be at least 16 random bytes")
        self.db = db
        self._key = hash_key
        self._version = policy_version
        self._clock = clock
        self._known: dict[tuple[str, str], str] = {}
        self._known_lock = threading.Lock()

    def digest(self, kind: str, value: str) -> str:
        canonical = normalise_identity(kind, value)
        message = f"pledge-identity/v1\x00{kind}\x00{canonical}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    # --- lookups --------------------------------------------------------------------------------

    def lookup(self, kind: str, value: str) -> str | None:
        """The subject this identity was registered to (before merges: the ledger follows them),
        or None. Remembered after the first committed sighting."""
        digest = self.digest(kind, value)
        known = self._known.get((kind, digest))
        if known is not None:
            return known
        with self.db.connect() as c:
            row = c.execute(q.FIND, {"kind": kind, "digest": digest}).first()
        if row is None:
            return None
        self._remember(kind, digest, row.subject_id)
        return str(row.subject_id)

    def ensure(self, kind: str, value: str) -> str:
        """Like :meth:`lookup`, creating the subject on first sight (see :meth:`resolve`)."""
        found = self.lookup(kind, value)
        if found is not None:
            return found
        digest = self.digest(kind, value)
        with self.db.begin() as c:
            registered = self._register(c, kind, digest)
        self._remember(kind, digest, registered)
        return registered

    def find(self, kind: str, value: str, *, conn: Connection | None = None) -> str | None:
        """The subject (after merges) known by this identity, or None."""
        digest = self.digest(kind, value)
        with self._conn(conn) as c:
            row = c.execute(q.FIND, {"kind": kind, "digest": digest}).first()
        if row is None:
            return None
        if conn is None:
            self._remember(kind, digest, row.subject_id)
        return str(row.root)

    def resolve(self, kind: str, value: str, *, conn: Connection | None = None) -> str:
        """The subject known by this identity, created on first sight. Safe under concurrency:
        two first sightings of one identity at once yield one subject."""
        found = self.find(kind, value, conn=conn)
        if found is not None:
            return found
        digest = self.digest(kind, value)
        with self._tx(conn) as c:
            registered = self._register(c, kind, digest)
            return self.root(registered, conn=c)

    def _register(self, c: Connection, kind: str, digest: str) -> str:
        fresh = self._new_subject(c)
        if insert_ignore(
            c, identities, {"kind": kind, "digest": digest, "subject_id": fresh, "created_at": self._clock()}
        ):
            return fresh
        # Someone else registered it first: theirs is the subject, ours is discarded.
        c.execute(sa.delete(subjects).where(subjects.c.id == fresh))
        return str(c.execute(q.OWNER, {"kind": kind, "digest": digest}).scalar_one())

    def _remember(self, kind: str, digest: str, subject_id: str) -> None:
        known = self._known
        if len(known) >= KNOWN_LIMIT:
            with self._known_lock:  # forget the oldest tenth (dicts keep insertion order)
                for stale in list(itertools.islice(known, KNOWN_LIMIT // 10)):
                    known.pop(stale, None)
        known[(kind, digest)] = str(subject_id)

    def create(self, *, conn: Connection | None = None) -> str:
        """A subject with no identity yet (e.g. before the first cookie is set)."""
        with self._tx(conn) as c:
            return self._new_subject(c)

    def root(self, subject_id: str, *, conn: Connection | None = None) -> str:
        """Follow a merge to the subject that now holds the history (one hop: merges compress)."""
        with self._conn(conn) as c:
            row = c.execute(q.ROOT, {"sid": subject_id}).one_or_none()
        if row is None:
            raise NotFound(f"no subject '{subject_id[:60]}'")
        return str(row.merged_into or row.id)

    def aliases(self, subject_id: str, *, conn: Connection | None = None) -> list[str]:
        """``subject_id`` and every subject merged into it."""
        with self._conn(conn) as c:
            return [subject_id, *c.execute(q.ALIASES, {"root": subject_id}).scalars()]

    def identity_kinds(self, subject_id: str, *, conn: Connection | None = None) -> list[str]:
        with self._conn(conn) as c:
            ids = self.aliases(subject_id, conn=c)
            rows = c.execute(
                sa.select(identities.c.kind).where(identities.c.subject_id.in_(ids)).distinct()
            ).scalars()
            return sorted(rows)

    def exists(self, subject_id: str, *, conn: Connection | None = None) -> bool:
        with self._conn(conn) as c:
            return (
                c.execute(sa.select(subjects.c.id).where(subjects.c.id == subject_id)).scalar_one_or_none()
                is not None
            )

    # --- helpers --------------------------------------------------------------------------------

    def _new_subject(self, conn: Connection) -> str:
        subject_id = "s_" + secrets.token_urlsafe(15)
        now = self._clock()
        conn.execute(
            q.INSERT_SUBJECT,
            {"id": subject_id, "created_at": now, "updated_at": now, "policy_version": self._version},
        )
        return subject_id

    def _conn(self, conn: Connection | None) -> AbstractContextManager[Connection]:
        # A caller's connection is used as is: neither committed nor closed here.
        return nullcontext(conn) if conn is not None else self.db.connect()

    def _tx(self, conn: Connection | None) -> AbstractContextManager[Connection]:
        return nullcontext(conn) if conn is not None else self.db.begin()
