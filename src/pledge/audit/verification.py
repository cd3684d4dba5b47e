"""Replay the audit log from its rows and say whether, and where, it was changed.

``verify`` re-computes every entry's leaf hash and chain value, checks the indices are gapless,
re-computes the Merkle root at the size of every signed head and checks each head's signature, and
checks the log is not shorter than any head (or its own tip) says. The report names the first bad
entry and why.

What this catches, and what it cannot (someone with write access to the database, without the
signing key):

- Editing, removing, inserting or reordering entries *without* recomputing hashes: the exact entry.
- Doing so and recomputing every later leaf and chain value (and the tip): caught by the first
  signed head whose size covers the change, since its root no longer matches and the head cannot be
  re-signed. The finding then names the range between the last head that still matches and that
  head, not the exact entry: the original hashes are gone. Signing often (``sign_every``) narrows it.
- Entries appended after the latest signed head can be rewritten or cut off undetectably, as long as
  the tip is rewritten too. Heads also live in the database: deleting them removes that evidence, so
  publish heads elsewhere (``pledge audit head --json``) and check later heads against them.
- Appending forged entries through the normal path is not tampering; the log proves what was
  written, not that it was true.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from pledge.audit import _scan
from pledge.audit.diagnose import Finding, diagnose
from pledge.audit.log import head_from_row
from pledge.audit.merkle import EMPTY_ROOT, Frontier, fold
from pledge.audit.signing import PublicKeyLike, SignedHead, check_head, public_keys
from pledge.audit.tables import audit_entries, audit_heads, audit_tip
from pledge.errors import StorageError
from pledge.storage.db import Database

__all__ = ["Finding", "VerifyReport", "verify"]

CHUNK = 1 << 16
PARALLEL_FROM = 4 * CHUNK  # below this, starting worker processes costs more than it saves


@dataclass(frozen=True)
class VerifyReport:
    size: int
    root: bytes | None
    """The Merkle root of the whole log (None when a bad entry stopped the replay)."""
    heads: int
    """How many signed heads were checked."""
    signatures_checked: bool
    findings: tuple[Finding, ...] = ()
    latest_head: SignedHead | None = None
    seconds: float = 0.0
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first(self) -> Finding | None:
        """The finding about the earliest entry (findings about heads come after entry findings)."""
        return self.findings[0] if self.findings else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "size": self.size,
            "root": self.root.hex() if self.root is not None else None,
            "heads_checked": self.heads,
            "signatures_checked": self.signatures_checked,
            "latest_head": self.latest_head.to_dict() if self.latest_head else None,
            "first": self.first.to_dict() if self.first else None,
            "findings": [f.to_dict() for f in self.findings],
            "notes": list(self.notes),
            "seconds": round(self.seconds, 3),
        }


def verify(
    db: Database,
    public_key: PublicKeyLike | Iterable[PublicKeyLike] | None = None,
    *,
    workers: int | None = None,
    chunk_size: int = CHUNK,
    progress: Callable[[int, int], None] | None = None,
) -> VerifyReport:
    """Verify the whole log. ``public_key``: the key (or keys, e.g. before and after a rotation)
    heads must be signed with; without one, signatures are not checked (and the report says so).
    ``workers``: processes to hash in (default: one per CPU for large logs)."""
    if chunk_size < 1 or chunk_size & (chunk_size - 1):
        raise ValueError("chunk_size must be a power of two")
    began = time.perf_counter()
    keys = public_keys(public_key)
    with db.connect() as conn:
        # Heads first, then size and tip in one statement: a head signed meanwhile is never larger
        # than the size read after it, and the tip and the count come from one snapshot.
        heads = [head_from_row(r) for r in conn.execute(sa.select(audit_heads).order_by(audit_heads.c.id))]
        stats = conn.execute(
            sa.select(
                sa.select(sa.func.count()).select_from(audit_entries).scalar_subquery(),
                sa.select(sa.func.min(audit_entries.c.seq)).scalar_subquery(),
                audit_tip.c.size,
                audit_tip.c.chain,
                audit_tip.c.frontier,
            ).where(audit_tip.c.id == 1)
        ).one_or_none()
    if stats is None:
        raise StorageError("this database has no audit log", hint="run the migrations, or check --db")
    size, lowest = int(stats[0]), stats[1]
    tip_size, tip_chain, tip_frontier = int(stats[2]), bytes(stats[3]), bytes(stats[4])

    findings: list[Finding] = []
    trusted: list[SignedHead] = []
    for head in heads:
        problem = check_head(head, keys) if keys else None
        if problem:
            findings.append(Finding("bad_signature", f"signed head #{head.id}: {problem}", head_id=head.id))
        else:
            trusted.append(head)

    wanted = {h.tree_size for h in trusted if 0 < h.tree_size <= size} | {size}
    if 0 < tip_size <= size:
        wanted.add(tip_size)
    failure, roots, scanned = _scan_all(db, size, tuple(sorted(wanted)), chunk_size, workers, progress)
    roots[0] = EMPTY_ROOT

    if lowest is not None and int(lowest) < 0:
        findings.append(Finding("inserted", f"an entry with index {lowest} was inserted", int(lowest)))
    if failure is not None:
        with db.connect() as conn:
            findings.append(diagnose(conn, *failure))
    findings.extend(_check_heads(trusted, roots, size, scanned))
    findings.extend(_check_tip(db, tip_size, tip_chain, tip_frontier, size, roots, failure is None))

    notes = () if keys else ("no public key given: head signatures were not checked",)
    findings.sort(key=lambda f: (f.index is None, f.index if f.index is not None else 0))
    latest = max(trusted, key=lambda h: (h.tree_size, h.id or 0), default=None)
    return VerifyReport(
        size=size,
        root=roots.get(size),
        heads=len(heads),
        signatures_checked=bool(keys),
        findings=tuple(findings),
        latest_head=latest,
        seconds=time.perf_counter() - began,
        notes=notes,
    )


def _check_heads(heads: list[SignedHead], roots: dict[int, bytes], size: int, scanned: int) -> list[Finding]:
    """Heads beyond ``scanned`` (where a bad entry stopped the scan) are not compared: that entry's
    finding already says more."""
    findings: list[Finding] = []
    matched = 0  # the largest signed size whose root still matches: entries below it are proven
    truncated = False
    for head in sorted(heads, key=lambda h: h.tree_size):
        if head.tree_size > size:
            if not truncated:
                findings.append(
                    Finding(
                        "truncated",
                        f"the log ends after {size} entries but signed head #{head.id} covers "
                        f"{head.tree_size}: entries from {size} on were removed",
                        size,
                        head.id,
                    )
                )
            truncated = True
        elif head.tree_size > scanned:
            continue
        elif roots.get(head.tree_size) != head.root:
            findings.append(
                Finding(
                    "tampered",
                    f"entries {matched} to {head.tree_size - 1} were rewritten with recomputed hashes: "
                    f"they no longer match signed head #{head.id} (the exact entry cannot be named "
                    "without the original hashes)",
                    matched,
                    head.id,
                )
            )
            break
        else:
            matched = max(matched, head.tree_size)
    return findings


def _check_tip(
    db: Database,
    tip_size: int,
    chain: bytes,
    frontier: bytes,
    size: int,
    roots: dict[int, bytes],
    clean: bool,
) -> list[Finding]:
    if tip_size > size:
        return [
            Finding(
                "truncated",
                f"the log ends after {size} entries but its tip records {tip_size}: entries from {size} on "
                "were removed",
                size,
            )
        ]
    if tip_size < size:
        return [
            Finding(
                "inserted",
                f"entries from {tip_size} on were added behind the log's back (its tip records {tip_size})",
                tip_size,
            )
        ]
    if not clean:
        return []
    try:
        tip_root = Frontier.from_bytes(tip_size, frontier).root()
    except ValueError:
        tip_root = b""
    last_chain = _scan.ZERO_CHAIN
    if size:
        with db.connect() as conn:
            last_chain = bytes(
                conn.execute(
                    sa.select(audit_entries.c.chain).where(audit_entries.c.seq == size - 1)
                ).scalar_one()
            )
    if tip_root != roots.get(size) or chain != last_chain:
        return [Finding("tampered", "the log's tip record was edited: it does not match the entries")]
    return []


def _scan_all(
    db: Database,
    size: int,
    sizes: tuple[int, ...],
    chunk: int,
    workers: int | None,
    progress: Callable[[int, int], None] | None,
) -> tuple[tuple[int, str] | None, dict[int, bytes], int]:
    """Scan every chunk; return the first failure, the Merkle root at each of ``sizes`` and how many
    entries were scanned cleanly (roots are known up to there)."""
    tasks = []
    for start in range(0, size, chunk):
        stop = min(start + chunk, size)
        tasks.append((start, stop, tuple(sorted({s for s in sizes if start < s <= stop} | {stop}))))
    roots: dict[int, bytes] = {}
    chunk_roots = Frontier()  # perfect subtrees over the chunks scanned so far
    done = 0
    for result in _results(db, tasks, size, workers):
        if result.failure is not None:
            return result.failure, roots, done
        for s, subtrees in result.subtrees.items():
            roots[s] = fold([*chunk_roots.hashes, *subtrees])
        if result.stop - result.start == chunk:
            chunk_roots.append(result.subtrees[result.stop][0])
        done = result.stop
        if progress is not None:
            progress(done, size)
    return None, roots, done


def _results(db: Database, tasks: list[Any], size: int, workers: int | None) -> Iterator[_scan.ChunkResult]:
    count = workers if workers is not None else min(os.cpu_count() or 1, 8)
    in_memory = db.dialect == "sqlite" and db.engine.url.database in (None, "", ":memory:")
    url = db.engine.url.render_as_string(hide_password=False)
    if in_memory:  # one shared connection: the only way to see this database's rows
        with db.connect() as conn:
            pooled = _scan.Source(conn.connection, db.engine.dialect.paramstyle)
            for start, stop, sizes in tasks:
                yield _scan.scan_range(pooled, start, stop, sizes)
        return
    if count <= 1 or len(tasks) < 2 or (workers is None and size < PARALLEL_FROM):
        with _scan.open_source(url) as source:
            for start, stop, sizes in tasks:
                yield _scan.scan_range(source, start, stop, sizes)
        return
    with ProcessPoolExecutor(
        max_workers=min(count, len(tasks)),
        mp_context=_context(),
        initializer=_scan.init_worker,
        initargs=(url,),
    ) as pool:
        futures: list[Future[_scan.ChunkResult]] = [pool.submit(_scan.worker_scan, task) for task in tasks]
        try:
            for future in futures:
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def _context() -> Any:
    # fork is cheapest (no re-import), but forking a process that runs other threads can deadlock
    # a child on a lock held at fork time; then use forkserver, whose children start clean.
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" not in methods:
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # The server imports the scanner once and forks workers that have it: otherwise each worker
    # imports it (and SQLAlchemy) itself, about half a second on a small machine. (No effect once
    # this process's forkserver runs; "__main__" is the default, kept.)
    context.set_forkserver_preload(["__main__", _scan.__name__])
    return context
