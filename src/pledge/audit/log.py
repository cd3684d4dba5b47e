"""``AuditLog``: the database-backed ``AuditSink`` — a hash-chained, Merkle-tree log with signed heads.

Each entry gets the next index, its leaf hash (RFC 6962 over the entry's canonical JSON, see
``entry.py``) and a chain value ``SHA-256(0x02 || previous chain || leaf)``. The chain lets
verification name the first entry that was modified, removed, inserted or reordered; the Merkle
tree gives third parties compact proofs; signed tree heads make both hold against someone who can
write to the database but does not have the signing key.

Appends are serialised on the single ``audit_tip`` row: a row lock on PostgreSQL/MariaDB
(``SELECT ... FOR UPDATE``), SQLite's database write lock (a no-op ``UPDATE`` first, so the read
that follows cannot be stale). The lock is held until the caller's transaction ends, so indices
are gapless in commit order, and a rolled-back transaction gives its indices back.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pledge.audit.entry import Entry, PreparedEntry, leaf_data, now_text, prepare
from pledge.audit.merkle import Frontier
from pledge.audit.signing import HeadSigner, SignedHead, load_or_create_signer, signing_key_path
from pledge.audit.tables import audit_entries, audit_heads, audit_tip
from pledge.config import Settings
from pledge.errors import ConfigError, InputError, StorageError
from pledge.storage.db import Database

if TYPE_CHECKING:
    from pledge.audit.proofs import ConsistencyProof, InclusionProof
    from pledge.audit.verification import VerifyReport

__all__ = ["ZERO_CHAIN", "AuditLog", "chain_hash"]

log = logging.getLogger("pledge.audit")

ZERO_CHAIN = bytes(32)
ALLOWED_KIND = "decisions.allowed"
COUNTS_PER_ENTRY = 500  # keeps each counts entry far below the payload size limit


def chain_hash(previous: bytes, leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x02" + previous + leaf).digest()


class AuditLog:
    """The audit log on a :class:`~pledge.storage.Database` (migrated: ``db.migrate()``).

    ``signer`` signs tree heads (on demand with :meth:`sign_head`, and automatically every
    ``sign_every`` entries). Allowed decisions are counted in memory and written as one
    ``decisions.allowed`` entry per purpose/categories window every ``flush_interval`` seconds by
    a background thread, and on :meth:`flush` / :meth:`close`; ``log_each_allowed`` appends each
    one instead.
    """

    def __init__(
        self,
        db: Database,
        *,
        signer: HeadSigner | None = None,
        sign_every: int | None = 1000,
        flush_interval: float | None = 300.0,
        log_each_allowed: bool = False,
    ) -> None:
        if sign_every is not None and sign_every < 1:
            raise ConfigError("sign_every must be at least 1 (or None to sign only on demand)")
        self.db = db
        self.signer = signer
        self.sign_every = sign_every if signer is not None else None
        self.flush_interval = flush_interval
        self.log_each_allowed = log_each_allowed
        self._counts: dict[tuple[str, tuple[str, ...]], int] = {}
        self._window_start: str | None = None
        self._count_lock = threading.Lock()
        self._flusher: threading.Thread | None = None
        self._stop = threading.Event()

    @classmethod
    def from_settings(cls, settings: Settings, db: Database | None = None, **options: Any) -> AuditLog:
        """The log the application uses: its database, its signing key (created once)."""
        signer = load_or_create_signer(signing_key_path(settings))
        options.setdefault("log_each_allowed", settings.log_allowed_decisions)
        return cls(db or Database(settings.db_url), signer=signer, **options)

    # --- writing ----------------------------------------------------------------------------------

    def append(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        subject: str | None = None,
        conn: Connection | None = None,
    ) -> int:
        """Append one entry (inside ``conn``'s transaction when given); returns its index."""
        return self._append([prepare(kind, payload, subject)], conn)[0]

    def append_many(
        self,
        items: Iterable[tuple[str, Mapping[str, Any], str | None]],
        *,
        conn: Connection | None = None,
    ) -> list[int]:
        """Append ``(kind, payload, subject)`` items under one lock and one insert (batching)."""
        prepared = [prepare(kind, payload, subject) for kind, payload, subject in items]
        return self._append(prepared, conn) if prepared else []

    def _append(self, prepared: list[PreparedEntry], conn: Connection | None) -> list[int]:
        if conn is None:
            with self.db.begin() as own:
                return self._append_locked(own, prepared)
        return self._append_locked(conn, prepared)

    def _append_locked(self, conn: Connection, prepared: list[PreparedEntry]) -> list[int]:
        size, chain, frontier = _lock_tip(conn)
        now = now_text()  # taken under the lock, so times never run backwards along the log
        sha = hashlib.sha256
        hashes, count = frontier.hashes, size
        rows: list[dict[str, Any]] = []
        for seq, item in enumerate(prepared, size):
            kind, subject, payload = item.kind, item.subject, item.payload
            leaf = sha(b"\x00" + leaf_data(seq, now, kind, subject, payload).encode()).digest()
            chain = sha(b"\x02" + chain + leaf).digest()
            # Frontier.append, inlined: this loop is the whole cost of an append.
            node, k = leaf, count
            while k & 1:
                node = sha(b"\x01" + hashes.pop() + node).digest()
                k >>= 1
            hashes.append(node)
            count += 1
            rows.append(
                {
                    "seq": seq,
                    "recorded_at": now,
                    "kind": kind,
                    "subject": subject,
                    "payload": payload,
                    "leaf": leaf,
                    "chain": chain,
                }
            )
        frontier.size = count
        new_size = size + len(rows)
        try:
            conn.execute(_INSERT_ENTRIES, rows)
        except sa.exc.IntegrityError:
            raise StorageError(
                f"audit entry {size} already exists although the log's tip says it has {size} entries",
                hint="the audit tables were edited by hand; run `pledge audit verify`",
            ) from None
        conn.execute(
            _WRITE_TIP, {"new_size": new_size, "new_chain": chain, "new_frontier": frontier.to_bytes()}
        )
        every = self.sign_every
        if self.signer is not None and every and new_size // every > size // every:
            self._store_head(conn, self.signer.sign(new_size, frontier.root(), now))
        return list(range(size, new_size))

    # --- counted decisions ------------------------------------------------------------------------

    def count_allowed(self, purpose: str, categories: tuple[str, ...]) -> None:
        """Count an allowed decision; flushed as one entry per window (cheap: the decision hot path)."""
        if self.log_each_allowed:
            self.append("decision.allowed", {"purpose": purpose, "categories": list(categories)})
            return
        key = (purpose, tuple(categories))
        with self._count_lock:
            self._counts[key] = self._counts.get(key, 0) + 1
            if self._window_start is None:
                self._window_start = now_text()
                if self.flush_interval and self._flusher is None and not self._stop.is_set():
                    self._start_flusher()

    def flush(self, *, conn: Connection | None = None) -> int | None:
        """Write the counts gathered so far (one entry per ``COUNTS_PER_ENTRY`` purpose/categories
        pairs); returns the last entry's index (None if nothing was counted)."""
        with self._count_lock:
            counts, start = self._counts, self._window_start
            self._counts, self._window_start = {}, None
        if not counts:
            return None
        window = {"from": start, "to": now_text()}
        rows = []
        for (purpose, cats), n in sorted(counts.items(), key=lambda item: repr(item[0])):
            row = {"purpose": purpose, "categories": list(cats), "count": n}
            try:
                if not isinstance(purpose, str) or not all(isinstance(c, str) for c in cats):
                    raise InputError("purposes and categories are names")
                prepare(ALLOWED_KIND, row, None)
            except InputError:
                # One bad name (not text, or personal data) must not block every other count forever.
                log.warning(
                    "audit: dropped %d allowed decision(s) counted under an invalid purpose/category", n
                )
                continue
            rows.append(row)
        batches = [
            (ALLOWED_KIND, {"window": window, "counts": rows[i : i + COUNTS_PER_ENTRY]}, None)
            for i in range(0, len(rows), COUNTS_PER_ENTRY)
        ]
        try:
            written = self.append_many(batches, conn=conn)
        except Exception:
            with self._count_lock:  # keep the counts for the next attempt
                for key, n in counts.items():
                    self._counts[key] = self._counts.get(key, 0) + n
                if self._window_start is None or (start is not None and start < self._window_start):
                    self._window_start = start
            raise
        return written[-1] if written else None

    def _start_flusher(self) -> None:
        interval = float(self.flush_interval or 0)

        def run() -> None:
            while not self._stop.wait(interval):
                try:
                    self.flush()
                except Exception as exc:  # a database hiccup must not kill the flusher
                    log.warning("audit: could not flush allowed-decision counts: %s", type(exc).__name__)

        self._flusher = threading.Thread(target=run, name="pledge-audit-flush", daemon=True)
        self._flusher.start()

    def close(self) -> None:
        """Stop the background flusher and write what is still counted."""
        self._stop.set()
        flusher, self._flusher = self._flusher, None
        if flusher is not None:
            flusher.join()
        self.flush()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- tree heads -------------------------------------------------------------------------------

    def size(self, *, conn: Connection | None = None) -> int:
        with _reading(self.db, conn) as c:
            return int(c.execute(sa.select(audit_tip.c.size).where(audit_tip.c.id == 1)).scalar_one())

    def current_root(self, *, conn: Connection | None = None) -> tuple[int, bytes]:
        """``(size, Merkle root)`` of the log now, from the tip's frontier (unsigned)."""
        with _reading(self.db, conn) as c:
            row = c.execute(
                sa.select(audit_tip.c.size, audit_tip.c.frontier).where(audit_tip.c.id == 1)
            ).one()
        return int(row.size), Frontier.from_bytes(int(row.size), bytes(row.frontier)).root()

    def sign_head(self, *, conn: Connection | None = None) -> SignedHead:
        """Sign the current size and root and store the head; returns it."""
        if self.signer is None:
            raise ConfigError(
                "this audit log has no signing key", hint="build it with AuditLog.from_settings"
            )
        signer = self.signer
        with _writing(self.db, conn) as c:
            size, _chain, frontier = _lock_tip(c)  # no append can slip between reading and signing
            return self._store_head(c, signer.sign(size, frontier.root(), now_text()))

    def _store_head(self, conn: Connection, head: SignedHead) -> SignedHead:
        new_id = conn.execute(
            audit_heads.insert().values(
                tree_size=head.tree_size,
                root=head.root,
                signed_at=head.signed_at,
                key_id=head.key_id,
                signature=head.signature,
            )
        ).inserted_primary_key
        assert new_id is not None
        return SignedHead(
            head.tree_size, head.root, head.signed_at, head.key_id, head.signature, int(new_id[0])
        )

    def latest_head(self, *, conn: Connection | None = None) -> SignedHead | None:
        heads = self.heads(conn=conn, limit=1)
        return heads[0] if heads else None

    def heads(self, *, conn: Connection | None = None, limit: int | None = None) -> list[SignedHead]:
        """Signed heads, newest first."""
        query = sa.select(audit_heads).order_by(audit_heads.c.tree_size.desc(), audit_heads.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with _reading(self.db, conn) as c:
            return [head_from_row(row) for row in c.execute(query)]

    # --- proofs and verification (see proofs.py, verification.py) -------------------------------------

    def prove(self, index: int, *, sign: bool = True) -> InclusionProof:
        """Inclusion proof of entry ``index`` against the latest signed head (signing one if needed)."""
        from pledge.audit.proofs import prove

        return prove(self, index, sign=sign)

    def consistency(self, old_size: int, new_size: int | None = None) -> ConsistencyProof:
        """Proof that the log at ``old_size`` is a prefix of the log at ``new_size``."""
        from pledge.audit.proofs import consistency

        return consistency(self, old_size, new_size)

    def verify(self, **options: Any) -> VerifyReport:
        """Verify the whole log against this log's own public key (see ``pledge.audit.verification``)."""
        from pledge.audit.verification import verify

        key = self.signer.public_key if self.signer is not None else None
        return verify(self.db, options.pop("public_key", key), **options)

    # --- reading entries --------------------------------------------------------------------------

    def entry(self, index: int, *, conn: Connection | None = None) -> Entry | None:
        with _reading(self.db, conn) as c:
            row = c.execute(sa.select(audit_entries).where(audit_entries.c.seq == index)).one_or_none()
        return None if row is None else entry_from_row(row)

    def entries(
        self,
        *,
        subject: str | None = None,
        kind: str | None = None,
        start: int = 0,
        limit: int = 1000,
        conn: Connection | None = None,
    ) -> list[Entry]:
        """Entries from index ``start`` on, optionally of one subject and/or kind, oldest first."""
        query = sa.select(audit_entries).where(audit_entries.c.seq >= start)
        if subject is not None:
            query = query.where(audit_entries.c.subject == subject)
        if kind is not None:
            query = query.where(audit_entries.c.kind == kind)
        with _reading(self.db, conn) as c:
            rows = c.execute(query.order_by(audit_entries.c.seq).limit(limit))
            return [entry_from_row(row) for row in rows]


def entry_from_row(row: Any) -> Entry:
    return Entry(
        int(row.seq),
        row.recorded_at,
        row.kind,
        row.subject,
        row.payload,
        bytes(row.leaf),
        bytes(row.chain),
    )


def head_from_row(row: Any) -> SignedHead:
    return SignedHead(
        int(row.tree_size), bytes(row.root), row.signed_at, row.key_id, bytes(row.signature), int(row.id)
    )


# Statements built once: SQLAlchemy then reuses their compiled form and cache key, which is most
# of the cost of a one-entry append.
_TIP = audit_tip.c
_READ_TIP = sa.select(_TIP.size, _TIP.chain, _TIP.frontier).where(_TIP.id == 1)
_LOCK_TIP = _READ_TIP.with_for_update()
_TOUCH_TIP = audit_tip.update().where(_TIP.id == 1).values(size=_TIP.size)
_TOUCH_TIP_RETURNING = _TOUCH_TIP.returning(_TIP.size, _TIP.chain, _TIP.frontier)
_WRITE_TIP = (
    audit_tip.update()
    .where(_TIP.id == 1)
    .values(
        size=sa.bindparam("new_size"), chain=sa.bindparam("new_chain"), frontier=sa.bindparam("new_frontier")
    )
)
_INSERT_ENTRIES = audit_entries.insert()
_RETURNING_OK = sqlite3.sqlite_version_info >= (3, 35)


def _lock_tip(conn: Connection) -> tuple[int, bytes, Frontier]:
    """Lock the tip row for the rest of ``conn``'s transaction and read it."""
    if conn.dialect.name == "sqlite":
        # SQLite locks the whole database, but only once the transaction writes: write first.
        if _RETURNING_OK:
            row = conn.execute(_TOUCH_TIP_RETURNING).one_or_none()
        else:  # pragma: no cover - SQLite before 3.35
            conn.execute(_TOUCH_TIP)
            row = conn.execute(_READ_TIP).one_or_none()
    else:
        row = conn.execute(_LOCK_TIP).one_or_none()  # a row lock: PostgreSQL, MariaDB
    if row is None:
        raise StorageError("the audit log is not set up in this database", hint="run the migrations first")
    size = int(row[0])
    return size, bytes(row[1]), Frontier.from_bytes(size, bytes(row[2]))


class _reading:
    """Use the caller's connection, or a short one of our own."""

    def __init__(self, db: Database, conn: Connection | None, *, write: bool = False) -> None:
        self._db, self._conn, self._write = db, conn, write
        self._cm: Any = None

    def __enter__(self) -> Connection:
        if self._conn is not None:
            return self._conn
        self._cm = self._db.begin() if self._write else self._db.connect()
        conn: Connection = self._cm.__enter__()
        return conn

    def __exit__(self, *exc: Any) -> None:
        if self._cm is not None:
            self._cm.__exit__(*exc)


def _writing(db: Database, conn: Connection | None) -> _reading:
    return _reading(db, conn, write=True)
