"""Anonymise one large plain log with several processes, each over its own byte range.

The file is cut at line starts into ``workers`` ranges; each worker process runs the same hot
loop as the single-process path (:func:`pledge.logs.ingest._process`) over its range and writes
its part to a temporary file; the parent then concatenates the parts in order, so the output is
byte-for-byte what one process would have written. Line numbers of malformed lines are made
global by adding the line counts of the ranges before.

Workers are started with ``spawn`` (not ``fork``): forking a process that may hold threads or
open database connections is unsafe, and the start-up cost (~0.5 s, mostly loading the
user-agent rules) is small next to the files this path is used for (32 MB and up).
"""

from __future__ import annotations

import multiprocessing
import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from pledge.logs.rules import LogRules

__all__ = ["ingest_parallel", "line_boundaries"]

_BUFFER = 256 * 1024  # larger reads gain nothing and keep more memory
_counter: Any = None


@dataclass(frozen=True)
class _Task:
    path: str
    start: int
    end: int
    fmt: str
    rules: LogRules
    hash_key: bytes | None
    output_format: str
    part: str


class _RangeSource:
    """The ``batches()``/``position()`` part of ``LogSource`` over bytes ``[start, end)``."""

    def __init__(self, handle: BinaryIO, start: int, end: int) -> None:
        self.handle = handle
        self.start = start
        self.end = end
        self.done = 0

    def position(self) -> int:
        return self.done

    def batches(self) -> Iterator[list[bytes]]:
        from pledge.logs.sources import MAX_LINE

        self.handle.seek(self.start)
        remaining = self.end - self.start
        carry = b""
        while remaining > 0:
            chunk = self.handle.read(min(_BUFFER, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            self.done += len(chunk)
            if carry:
                chunk = carry + chunk
            lines = chunk.split(b"\n")
            carry = lines.pop()
            if len(carry) > MAX_LINE:
                lines.append(carry)
                carry = b""
            yield lines
        if carry:
            yield [carry]


def line_boundaries(path: Path, size: int, parts: int) -> list[int]:
    """Byte offsets ``[0, ..., size]`` cutting ``path`` into about ``parts`` ranges at line starts."""
    bounds = [0]
    with open(path, "rb") as handle:
        for i in range(1, parts):
            handle.seek(max(size * i // parts - 1, 0))
            handle.readline()  # up to and including the next newline
            at = handle.tell()
            if bounds[-1] < at < size:
                bounds.append(at)
    bounds.append(size)
    return bounds


def _init(counter: Any) -> None:
    global _counter
    _counter = counter


def _work(task: _Task) -> dict[str, Any]:
    from pledge.logs.anonymise import Anonymiser
    from pledge.logs.formats import get_format
    from pledge.logs.ingest import FileCounts, _process

    anonymiser = Anonymiser(task.rules, hash_key=task.hash_key)
    counts = FileCounts(task.path, task.fmt)
    last = [0]

    def progress(done: int, _total: int | None) -> None:
        if _counter is not None:
            with _counter.get_lock():
                _counter.value += done - last[0]
            last[0] = done

    with open(task.path, "rb") as handle, open(task.part, "wb", buffering=_BUFFER) as out:
        source = _RangeSource(handle, task.start, task.end)
        _process(source, get_format(task.fmt), anonymiser, task.output_format, out.write, counts, progress, 0)  # type: ignore[arg-type]
    return {
        "lines": counts.lines,
        "written": counts.written,
        "blank": counts.blank,
        "malformed": counts.malformed,
        "malformed_at": counts.malformed_at,
    }


def ingest_parallel(
    path: Path,
    fmt: str,
    rules: LogRules,
    hash_key: bytes | None,
    output_format: str,
    stream: BinaryIO,
    counts: Any,
    workers: int,
    *,
    compress: bool = False,
    progress: Callable[[int, int | None], None] | None = None,
    workdir: Path | None = None,
) -> None:
    """Anonymise ``path`` with ``workers`` processes, appending the result to ``stream`` in order."""
    from pledge.logs.ingest import MALFORMED_SAMPLES

    del compress  # the parent's stream compresses (or not) as it concatenates the parts
    size = path.stat().st_size
    bounds = line_boundaries(path, size, workers)
    context = multiprocessing.get_context("spawn")
    counter = context.Value("q", 0)
    with tempfile.TemporaryDirectory(prefix="pledge-ingest-", dir=workdir) as tmp:
        tasks = [
            _Task(
                str(path),
                bounds[i],
                bounds[i + 1],
                fmt,
                rules,
                hash_key,
                output_format,
                str(Path(tmp) / f"part{i}"),
            )
            for i in range(len(bounds) - 1)
        ]
        with ProcessPoolExecutor(
            len(tasks), mp_context=context, initializer=_init, initargs=(counter,)
        ) as pool:
            futures = [pool.submit(_work, task) for task in tasks]
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, timeout=0.25, return_when=FIRST_EXCEPTION)
                if progress is not None:
                    progress(counter.value, size)
                for future in finished:
                    if future.exception() is not None:
                        for other in pending:
                            other.cancel()
                        raise future.exception()  # type: ignore[misc]
            results = [future.result() for future in futures]
        offset = 0
        for task, result in zip(tasks, results, strict=True):
            counts.lines += result["lines"]
            counts.written += result["written"]
            counts.blank += result["blank"]
            counts.malformed += result["malformed"]
            for local in result["malformed_at"]:
                if len(counts.malformed_at) < MALFORMED_SAMPLES:
                    counts.malformed_at.append(offset + local)
            offset += result["lines"]
            with open(task.part, "rb") as part:
                shutil.copyfileobj(part, stream, 4 << 20)
            Path(task.part).unlink()
