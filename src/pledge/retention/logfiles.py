"""Server-log files past their retention: raw access logs (``server_logs.raw_retention``) and the
anonymised outputs of ``pledge logs ingest`` (``server_logs.anonymised_retention``).

A file's age is the time of its newest line (Common Log Format ``[10/Oct/2024:13:55:36 +0200]``
or an ISO 8601 time); when no line has one, its modification time. A file is deleted when its
newest line has outlived the period. Plain files are read from the end (a few kilobytes); gzip
files (rotated logs, found by their magic bytes) are read through as a stream, except when their
modification time is already past the period (no line can be newer than the last write).

A file still being written (``access.log``) is never expired by its newest line; when its
*oldest* line is past the period the report warns that logs must be rotated more often, since
Pledge does not cut lines out of a file a web server holds open.

Only files matching the patterns (``*.log``, ``*.log.*``, ``*.log-*``: rotations by number or by
date) directly in the configured directories are considered; hidden files never are.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from pledge.audit.sink import AuditSink
from pledge.declaration.durations import IsoDuration
from pledge.declaration.model import ServerLogs
from pledge.errors import InputError
from pledge.retention.clock import Delay, read_time
from pledge.retention.sweep import audit_safe

__all__ = ["DEFAULT_PATTERNS", "LogFile", "LogSweep", "newest_line_time", "sweep_log_files"]

DEFAULT_PATTERNS = ("*.log", "*.log.*", "*.log-*")
_TAIL = 64 * 1024
_CLF = re.compile(
    rb"\[(\d{2})/([A-Za-z]{3})/(\d{4}):(\d{2}):(\d{2}):(\d{2})(?:\.\d+)? ([+-])(\d{2})(\d{2})\]"
)
_ISO = re.compile(rb"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)")
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_GZIP = b"\x1f\x8b"


def _line_time(line: bytes) -> dt.datetime | None:
    found = _CLF.search(line)
    if found is not None:
        day, month, year, hh, mm, ss, sign, zh, zm = found.groups()
        number = _MONTHS.get(month.decode("ascii").lower())
        if number is None:
            return None
        try:
            local = dt.datetime(int(year), number, int(day), int(hh), int(mm), int(ss))
        except ValueError:
            return None
        offset = dt.timedelta(hours=int(zh), minutes=int(zm)) * (-1 if sign == b"-" else 1)
        return (local - offset).replace(tzinfo=dt.UTC)
    iso = _ISO.search(line)
    if iso is not None:
        when = read_time(iso.group(1).decode("ascii").replace(" ", "T", 1))
        return when if isinstance(when, dt.datetime) else None
    return None


def _last_time(lines: Sequence[bytes]) -> dt.datetime | None:
    for line in reversed(lines):
        when = _line_time(line)
        if when is not None:
            return when
    return None


def _first_time(lines: Sequence[bytes]) -> dt.datetime | None:
    for line in lines[:50]:
        when = _line_time(line)
        if when is not None:
            return when
    return None


def newest_line_time(path: Path) -> dt.datetime | None:
    """The time of the last dated line of ``path`` (plain or gzip), or None."""
    with open(path, "rb") as handle:
        magic = handle.read(2)
        if magic == _GZIP:
            handle.seek(0)
            tail: list[bytes] = []
            carry = b""
            try:
                with gzip.GzipFile(fileobj=handle) as stream:
                    while chunk := stream.read(256 * 1024):
                        lines = (carry + chunk).split(b"\n")
                        carry = lines.pop()[-_TAIL:]
                        if lines:
                            tail = lines[-200:]
            except (OSError, EOFError, zlib.error):
                pass  # a truncated archive: judge by what could be read
            return _last_time([*tail, carry])
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - _TAIL))
        return _last_time(handle.read(_TAIL).split(b"\n"))


def _oldest_line_time(path: Path) -> dt.datetime | None:
    with open(path, "rb") as handle:
        head = handle.read(_TAIL)
    if head[:2] == _GZIP:
        return None
    return _first_time(head.split(b"\n"))


@dataclass(frozen=True, slots=True)
class LogFile:
    path: Path
    kind: str
    """``raw`` or ``anonymised``."""
    size: int
    newest: dt.datetime | None
    basis: str
    """``last line`` or ``modification time``."""
    expired: bool
    deleted: bool = False
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "kind": self.kind,
            "bytes": self.size,
            "newest": self.newest.isoformat() if self.newest else None,
            "basis": self.basis,
            "expired": self.expired,
            "deleted": self.deleted,
            "error": self.error,
        }


@dataclass
class LogSweep:
    now: dt.datetime
    dry_run: bool
    periods: dict[str, str | None] = field(default_factory=dict)
    files: list[LogFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    audited: list[int] = field(default_factory=list)

    @property
    def expired(self) -> list[LogFile]:
        return [f for f in self.files if f.expired]

    @property
    def failed(self) -> list[LogFile]:
        return [f for f in self.files if f.error]

    def as_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "dry_run": self.dry_run,
            "periods": self.periods,
            "files": [f.as_dict() for f in self.files],
            "expired": len(self.expired),
            "deleted": sum(1 for f in self.files if f.deleted),
            "bytes_deleted": sum(f.size for f in self.files if f.deleted),
            "failed": len(self.failed),
            "warnings": self.warnings,
            "audit_entries": self.audited,
        }


def _candidates(directory: Path, patterns: Sequence[str]) -> list[Path]:
    if not directory.is_dir():
        raise InputError(
            f"{directory}: no such directory", hint="give the folder the web server writes its logs to"
        )
    out = []
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith(".") or not entry.is_file() or entry.is_symlink():
            continue
        if any(fnmatch(entry.name, p) for p in patterns):
            out.append(entry)
    return out


def _judge(path: Path, kind: str, period: IsoDuration, now: dt.datetime, warnings: list[str]) -> LogFile:
    delay = Delay(period)
    try:
        stat = path.stat()
        mtime = dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC)
        with open(path, "rb") as handle:
            gz = handle.read(2) == _GZIP
        if gz and delay.end(mtime) <= now:
            newest, basis = mtime, "modification time"
        else:
            found = newest_line_time(path)
            newest, basis = (found, "last line") if found is not None else (mtime, "modification time")
        expired = delay.end(newest) <= now
        if not expired and kind == "raw" and not gz:
            oldest = _oldest_line_time(path)
            if oldest is not None and delay.end(oldest) <= now:
                warnings.append(
                    f"{path}: holds lines from {oldest.date().isoformat()}, older than the raw retention "
                    f"({period.describe()}); rotate the log at least that often"
                )
        return LogFile(path, kind, stat.st_size, newest, basis, expired)
    except OSError as exc:
        return LogFile(path, kind, 0, None, "unreadable", False, error=exc.strerror or type(exc).__name__)


def sweep_log_files(
    server_logs: ServerLogs | None,
    *,
    raw: Sequence[Path] = (),
    anonymised: Sequence[Path] = (),
    now: dt.datetime,
    dry_run: bool = False,
    patterns: Sequence[str] = DEFAULT_PATTERNS,
    audit: AuditSink | None = None,
) -> LogSweep:
    """Delete (or, dry run, list) log files past the declared retention; one audit entry per folder."""
    if (raw or anonymised) and server_logs is None:
        raise InputError(
            "the declaration has no server_logs section, so it declares no retention for log files",
            hint="declare server_logs (raw_retention, anonymised_retention) before sweeping log folders",
        )
    report = LogSweep(now, dry_run)
    if server_logs is None:
        return report
    report.periods = {
        "raw": str(server_logs.raw_retention),
        "anonymised": str(server_logs.anonymised_retention) if server_logs.anonymised_retention else None,
    }
    plan: list[tuple[str, Path, IsoDuration | None]] = [("raw", d, server_logs.raw_retention) for d in raw]
    plan += [("anonymised", d, server_logs.anonymised_retention) for d in anonymised]
    folders = [
        (kind, directory, period, _candidates(directory, patterns)) for kind, directory, period in plan
    ]
    for kind, directory, period, paths in folders:
        if period is None:
            report.warnings.append(
                f"{directory}: the declaration gives no anonymised_retention, so anonymised logs are kept"
            )
            continue
        judged = [_judge(p, kind, period, now, report.warnings) for p in paths]
        done: list[LogFile] = []
        for item in judged:
            if item.expired and not dry_run:
                try:
                    item.path.unlink()
                    item = LogFile(
                        item.path, item.kind, item.size, item.newest, item.basis, True, deleted=True
                    )
                except FileNotFoundError:
                    item = LogFile(
                        item.path, item.kind, item.size, item.newest, item.basis, True, deleted=True
                    )
                except OSError as exc:
                    item = LogFile(
                        item.path,
                        item.kind,
                        item.size,
                        item.newest,
                        item.basis,
                        True,
                        error=exc.strerror or "error",
                    )
            done.append(item)
        report.files.extend(done)
        removed = [f for f in done if f.deleted]
        if audit is not None and not dry_run and (removed or any(f.error for f in done)):
            report.audited.append(
                audit.append(
                    "retention.logs",
                    audit_safe(
                        {
                            "kind": kind,
                            "directory": str(directory),
                            "period": str(period),
                            "clock_at": now.isoformat(),
                            "deleted": len(removed),
                            "bytes": sum(f.size for f in removed),
                            # Counts only: a file name could be anything (even an address).
                            "failed": sum(1 for f in done if f.error),
                        }
                    ),
                )
            )
    return report
