"""Open access logs as streams of byte lines: plain or gzip (by magic bytes, not by name), or stdin.

Everything is read in bounded chunks, so memory stays constant whatever the file size. Read and
decompression errors become :class:`~pledge.errors.InputError` naming the file and line, so a
truncated or corrupt archive is a clear message, never a traceback.
"""

from __future__ import annotations

import gzip
import io
import os
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

from pledge.errors import InputError

__all__ = ["GZIP_MAGIC", "LogSource", "open_source"]

GZIP_MAGIC = b"\x1f\x8b"
_BUFFER = 256 * 1024  # larger reads gain nothing and keep more memory
MAX_LINE = 64 * 1024
"""Longer lines are cut here (and then fail to parse): a log line is never legitimately this long,
and a binary file with no newline must not be read into memory whole."""


@dataclass
class LogSource:
    """One opened input. ``raw`` is the underlying file, whose position gives progress in bytes."""

    name: str
    stream: BinaryIO
    raw: BinaryIO
    compressed: bool
    size: int | None
    """Size on disk in bytes, when known (not for pipes)."""
    _closers: list[BinaryIO] = field(default_factory=list)

    def position(self) -> int:
        try:
            return self.raw.tell()
        except (OSError, ValueError):
            return 0

    def batches(self) -> Iterator[list[bytes]]:
        """Lists of lines (without their newline), read ``_BUFFER`` bytes at a time.

        Splitting a whole buffer at once is several times faster than ``readline`` per line. A
        "line" longer than ``MAX_LINE`` (a binary file with no newline) is cut into pieces, which
        then fail to parse, instead of being read into memory whole.
        """
        carry = b""
        read = self.stream.read
        try:
            while True:
                chunk = read(_BUFFER)
                if not chunk:
                    break
                if carry:
                    chunk = carry + chunk
                lines = chunk.split(b"\n")
                carry = lines.pop()
                if len(carry) > MAX_LINE:
                    lines.append(carry)
                    carry = b""
                yield lines
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise InputError(
                f"{self.name}: compressed data is truncated or corrupt ({exc})",
                hint="check the file is complete (gzip -t FILE)",
            ) from None
        except OSError as exc:
            raise InputError(f"{self.name}: cannot read ({exc.strerror or exc})") from None
        if carry:
            yield [carry]

    def lines(self) -> Iterator[bytes]:
        for batch in self.batches():
            yield from batch

    def head_lines(self, limit: int) -> list[bytes]:
        """The first complete lines (at most ``limit``) without consuming them: format detection."""
        peek = getattr(self.stream, "peek", None)
        if peek is None:
            return []
        try:
            head = peek(256 * 1024)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise InputError(f"{self.name}: compressed data is truncated or corrupt ({exc})") from None
        except OSError as exc:
            raise InputError(f"{self.name}: cannot read ({exc.strerror or exc})") from None
        lines: list[bytes] = bytes(head).split(b"\n")
        if len(lines) > 1:
            lines.pop()  # probably cut in the middle
        return lines[:limit]

    def close(self) -> None:
        for closer in reversed(self._closers):
            closer.close()


@contextmanager
def open_source(name: str | Path) -> Iterator[LogSource]:
    """Open ``name`` (``-`` is standard input). Raises ``InputError`` for missing/unreadable files."""
    label = str(name)
    closers: list[BinaryIO] = []
    if label == "-":
        raw: BinaryIO = sys.stdin.buffer
        size = None
        label = "<stdin>"
        buffered: Any = (
            raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(cast(Any, raw), _BUFFER)
        )
    else:
        path = Path(name)
        if path.is_dir():
            raise InputError(f"{label}: is a directory, expected an access log file")
        try:
            raw = open(path, "rb", buffering=_BUFFER)  # noqa: SIM115 - closed by the context manager
        except FileNotFoundError:
            raise InputError(f"{label}: no such file") from None
        except OSError as exc:
            raise InputError(f"{label}: cannot open ({exc.strerror or exc})") from None
        closers.append(raw)
        size = _size_of(raw)
        buffered = raw
    try:
        head = buffered.peek(2)[:2] if hasattr(buffered, "peek") else b""
    except OSError as exc:
        for closer in closers:
            closer.close()
        raise InputError(f"{label}: cannot read ({exc.strerror or exc})") from None
    compressed = head == GZIP_MAGIC
    stream: BinaryIO = buffered
    if compressed:
        # GzipFile reads concatenated members (rotated logs joined with cat) as one stream.
        gz = gzip.GzipFile(fileobj=buffered, mode="rb")
        stream = cast(BinaryIO, io.BufferedReader(gz, _BUFFER))
        closers.append(stream)
    source = LogSource(label, stream, buffered, compressed, size, closers)
    try:
        yield source
    finally:
        source.close()


def _size_of(handle: BinaryIO) -> int | None:
    try:
        stat = os.fstat(handle.fileno())
    except (OSError, ValueError):
        return None
    return stat.st_size if stat.st_size > 0 else None
