"""Raw and anonymised server-log files past their declared retention: found by their newest line
(or modification time), gzip rotations included, listed by a dry run, deleted and audited."""

from __future__ import annotations

import datetime as dt
import gzip
import os
from pathlib import Path

import pytest

from pledge.audit.sink import MemoryAudit
from pledge.declaration.model import ServerLogs
from pledge.errors import InputError
from pledge.retention.logfiles import newest_line_time, sweep_log_files

NOW = dt.datetime(2025, 6, 15, 12, 0, tzinfo=dt.UTC)
RULES = ServerLogs.model_validate(
    {
        "categories": ["user.device.ip_address"],
        "purposes": ["stats"],
        "raw_retention": "P30D",
        "anonymised_retention": "P1Y",
    }
)


def clf(when: dt.datetime, zone: str = "+0000") -> bytes:
    return (
        f'203.0.113.9 - - [{when:%d/%b/%Y:%H:%M:%S} {zone}] "GET /?e=a%40b.c HTTP/1.1" 200 5 "-" "curl/8"\n'
    ).encode()


def write(path: Path, *lines: bytes, mtime: dt.datetime | None = None, gz: bool = False) -> Path:
    data = b"".join(lines)
    path.write_bytes(gzip.compress(data) if gz else data)
    if mtime is not None:
        os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    return path


def test_newest_line_decides_even_in_gzip_and_across_zones(tmp_path: Path) -> None:
    old, recent = NOW - dt.timedelta(days=40), NOW - dt.timedelta(days=3)
    plain = write(tmp_path / "a.log", clf(old), clf(recent), b"garbage\n")
    assert newest_line_time(plain) == recent.replace(microsecond=0)
    zipped = write(tmp_path / "b.log.2.gz", *[clf(old)] * 5000, clf(recent, "+0200"), gz=True)
    assert newest_line_time(zipped) == recent - dt.timedelta(hours=2)
    iso = write(tmp_path / "c.log", b'{"time": "2025-06-01T10:00:00Z", "msg": "x"}\n')
    assert newest_line_time(iso) == dt.datetime(2025, 6, 1, 10, tzinfo=dt.UTC)
    assert newest_line_time(write(tmp_path / "d.log", b"\x00\xff binary\n")) is None


def test_sweep_deletes_what_outlived_its_period(tmp_path: Path) -> None:
    raw, anon = tmp_path / "raw", tmp_path / "anon"
    raw.mkdir()
    anon.mkdir()
    recent_write = NOW - dt.timedelta(days=1)
    write(raw / "access.log", clf(NOW - dt.timedelta(days=2)))
    write(raw / "access.log.1", clf(NOW - dt.timedelta(days=31)), mtime=recent_write)  # copied: mtime lies
    write(
        raw / "access.log.2.gz", clf(NOW - dt.timedelta(days=60)), gz=True, mtime=NOW - dt.timedelta(days=59)
    )
    write(raw / "access.log-20250610.gz", clf(NOW - dt.timedelta(days=5)), gz=True)
    write(raw / "error.log", b"no timestamps here\n", mtime=NOW - dt.timedelta(days=45))  # judged by mtime
    write(raw / "notes.txt", b"not a log\n", mtime=NOW - dt.timedelta(days=400))
    write(raw / ".access.log.tmp", clf(NOW - dt.timedelta(days=400)))
    write(anon / "anon.log.1", clf(NOW - dt.timedelta(days=200)))
    write(anon / "anon.log.2", clf(NOW - dt.timedelta(days=400)))
    audit = MemoryAudit()

    dry = sweep_log_files(RULES, raw=[raw], anonymised=[anon], now=NOW, dry_run=True, audit=audit)
    expired = sorted(f.path.name for f in dry.expired)
    assert expired == ["access.log.1", "access.log.2.gz", "anon.log.2", "error.log"]
    assert all(p.exists() for p in [raw / "access.log.1", anon / "anon.log.2"]) and not audit.entries
    bases = {f.path.name: f.basis for f in dry.files}
    assert bases["error.log"] == "modification time" and bases["access.log.1"] == "last line"

    done = sweep_log_files(RULES, raw=[raw], anonymised=[anon], now=NOW, audit=audit)
    assert sorted(f.path.name for f in done.files if f.deleted) == expired
    assert sorted(p.name for p in raw.iterdir()) == [
        ".access.log.tmp",
        "access.log",
        "access.log-20250610.gz",
        "notes.txt",
    ]
    assert [p.name for p in anon.iterdir()] == ["anon.log.1"]
    kinds = [(e.payload["kind"], e.payload["deleted"]) for e in audit.entries]
    assert kinds == [("raw", 3), ("anonymised", 1)]
    assert done.as_dict()["deleted"] == 4


def test_an_active_file_holding_old_lines_is_reported(tmp_path: Path) -> None:
    write(tmp_path / "access.log", clf(NOW - dt.timedelta(days=90)), clf(NOW - dt.timedelta(hours=1)))
    report = sweep_log_files(RULES, raw=[tmp_path], now=NOW, dry_run=True)
    assert not report.expired
    assert any("rotate the log" in w for w in report.warnings)


def test_no_anonymised_retention_keeps_them_with_a_warning(tmp_path: Path) -> None:
    rules = RULES.model_copy(update={"anonymised_retention": None})
    write(tmp_path / "anon.log", clf(NOW - dt.timedelta(days=4000)))
    report = sweep_log_files(rules, anonymised=[tmp_path], now=NOW)
    assert (tmp_path / "anon.log").exists() and "anonymised logs are kept" in report.warnings[0]


def test_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no server_logs section"):
        sweep_log_files(None, raw=[tmp_path], now=NOW)
    with pytest.raises(InputError, match="no such directory"):
        sweep_log_files(RULES, raw=[tmp_path / "missing"], now=NOW)


def test_a_file_that_cannot_be_deleted_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "old.log", clf(NOW - dt.timedelta(days=90)))
    write(tmp_path / "older.log", clf(NOW - dt.timedelta(days=95)))
    real = Path.unlink

    def refuse(self: Path, missing_ok: bool = False) -> None:
        if self.name == "old.log":
            raise PermissionError(13, "Permission denied")
        real(self, missing_ok)

    monkeypatch.setattr(Path, "unlink", refuse)
    audit = MemoryAudit()
    report = sweep_log_files(RULES, raw=[tmp_path], now=NOW, audit=audit)
    assert [f.path.name for f in report.failed] == ["old.log"] and report.failed[
        0
    ].error == "Permission denied"
    assert not (tmp_path / "older.log").exists()  # the others are still deleted
    assert audit.entries[0].payload["failed"] == 1 and audit.entries[0].payload["deleted"] == 1
