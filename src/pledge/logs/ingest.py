"""``pledge logs ingest``: stream access logs through the anonymiser into one anonymised log.

Inputs are checked (exist, readable, recognisable format) before any output is created; the
output is written to a temporary file and moved into place only when every input was read, so a
failure midway (a truncated archive, a binary file) changes nothing. Malformed lines are counted,
their first few line numbers reported (never their content: it is personal data), and skipped.

Large plain files are split into byte ranges processed by several worker processes
(:mod:`pledge.logs.parallel`); compressed files and standard input are read by one process.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

from pledge.errors import InputError, Problem
from pledge.logs.anonymise import Anonymiser
from pledge.logs.formats import LineFormat, detect_format, get_format
from pledge.logs.output import atomic_output
from pledge.logs.rules import LogRules
from pledge.logs.sources import LogSource, open_source

__all__ = ["MALFORMED_SAMPLES", "IngestReport", "Progress", "ingest"]

MALFORMED_SAMPLES = 5
_DETECT_LINES = 200
_PARALLEL_MIN_BYTES = 32 * 1024 * 1024
OutputFormat = Literal["log", "jsonl"]
Progress = Callable[[int, int | None], None]
"""Called with (bytes read so far, total bytes or None) every batch."""


@dataclass
class FileCounts:
    name: str
    format: str
    lines: int = 0
    written: int = 0
    blank: int = 0
    malformed: int = 0
    malformed_at: list[int] = field(default_factory=list)
    compressed: bool = False

    def note_malformed(self, lineno: int) -> None:
        self.malformed += 1
        if len(self.malformed_at) < MALFORMED_SAMPLES:
            self.malformed_at.append(lineno)


@dataclass
class IngestReport:
    files: list[FileCounts]
    output: str | None
    output_format: str
    seconds: float = 0.0
    jobs: int = 1
    warnings: list[str] = field(default_factory=list)

    @property
    def lines(self) -> int:
        return sum(f.lines for f in self.files)

    @property
    def written(self) -> int:
        return sum(f.written for f in self.files)

    @property
    def malformed(self) -> int:
        return sum(f.malformed for f in self.files)

    def malformed_samples(self) -> list[str]:
        """``file:line`` of the first few malformed lines over all files."""
        found = [f"{f.name}:{n}" for f in self.files for n in f.malformed_at]
        return found[:MALFORMED_SAMPLES]

    def as_dict(self) -> dict[str, object]:
        return {
            "output": self.output,
            "output_format": self.output_format,
            "lines": self.lines,
            "written": self.written,
            "malformed": self.malformed,
            "malformed_at": self.malformed_samples(),
            "seconds": round(self.seconds, 3),
            "lines_per_second": round(self.lines / self.seconds) if self.seconds > 0 else None,
            "jobs": self.jobs,
            "files": [asdict(f) for f in self.files],
            "warnings": self.warnings,
        }


def _choose_format(name: str, sample: Iterable[bytes], label: str, wanted: str) -> LineFormat:
    if wanted != "auto":
        return get_format(wanted)
    found = detect_format(sample)
    if found is None:
        raise InputError(
            f"{label}: no line looks like an access log in combined or common format",
            hint="check the file, or pass --format combined|common",
            problems=[Problem("not an access log (combined or common format)", file=label, line=1, column=1)],
        )
    return found


def _process(
    source: LogSource,
    fmt: LineFormat,
    anonymiser: Anonymiser,
    output_format: str,
    write: Callable[[bytes], object],
    counts: FileCounts,
    progress: Progress | None,
    done_before: int,
) -> None:
    """Parse, anonymise and write every line of one source, a batch at a time."""
    lineno = 0
    for batch in source.batches():
        if output_format == "log":
            out, blank = anonymiser.lines(batch, fmt, lineno, counts.note_malformed)
        else:
            out, blank = _json_lines(batch, fmt, anonymiser, lineno, counts)
        lineno += len(batch)
        counts.blank += blank
        counts.written += len(out)
        write(b"".join(out))
        if progress is not None:
            progress(done_before + source.position(), None)
    counts.lines = lineno


def _json_lines(
    batch: list[bytes], fmt: LineFormat, anonymiser: Anonymiser, lineno: int, counts: FileCounts
) -> tuple[list[bytes], int]:
    out = []
    blank = 0
    for raw in batch:
        lineno += 1
        fields = fmt.match(raw)
        if fields is None:
            if raw.strip():
                counts.note_malformed(lineno)
            else:
                blank += 1
            continue
        try:
            out.append(anonymiser.json_line(fields))
        except (ValueError, KeyError):  # an impossible date in an otherwise well-formed line
            counts.note_malformed(lineno)
    return out, blank


def ingest(
    paths: Sequence[str | Path],
    *,
    rules: LogRules | None = None,
    hash_key: bytes | None = None,
    log_format: str = "auto",
    out: Path | None = None,
    output_format: OutputFormat = "log",
    jobs: int = 1,
    progress: Progress | None = None,
) -> IngestReport:
    """Anonymise ``paths`` (``-`` is standard input) into ``out`` (``None``: standard output).

    Raises :class:`InputError` — before writing anything — for a missing file or one that is not
    an access log, and — removing the partial output — for an input that fails midway.
    """
    if not paths:
        raise InputError("no input files", hint="pass one or more access logs, or - for standard input")
    if log_format not in ("auto", "combined", "common"):
        raise InputError(f"unknown log format {log_format!r}", hint="use combined, common or auto")
    rules = rules or LogRules()
    names = [str(p) for p in paths]
    _check_inputs(names)
    anonymiser = Anonymiser(rules, hash_key=hash_key)
    report = IngestReport([], None if out is None else str(out), output_format)
    if rules.isp:
        report.warnings.append(
            "the declaration asks for the ISP; it cannot be derived offline and is not recorded"
        )
    total = sum(Path(n).stat().st_size for n in names if n != "-")
    started = time.perf_counter()
    with atomic_output(out) as stream:
        done = 0
        for name in names:
            counts = _ingest_one(name, log_format, anonymiser, stream, out, output_format,
                                 rules, hash_key, jobs, progress, done, total, report)  # fmt: skip
            report.files.append(counts)
            if counts.written == 0 and counts.malformed > 0:
                raise InputError(
                    f"{counts.name}: no line could be read as a {counts.format} access log "
                    f"({counts.malformed} malformed)",
                    hint="check the file, or pass --format",
                    problems=[
                        Problem("no valid access-log line", file=counts.name, line=counts.malformed_at[0])
                    ],
                )
            done += Path(name).stat().st_size if name != "-" else 0
    report.seconds = time.perf_counter() - started
    return report


def _check_inputs(names: Sequence[str]) -> None:
    problems = []
    for name in names:
        if name == "-":
            continue
        path = Path(name)
        if not path.exists():
            problems.append(Problem("no such file", file=name))
        elif path.is_dir():
            problems.append(Problem("is a directory, expected an access log", file=name))
        elif not os.access(path, os.R_OK):
            problems.append(Problem("not readable", file=name))
    if names.count("-") > 1:
        problems.append(Problem("standard input (-) can be read only once"))
    if len(problems) == 1:
        only = problems[0]
        raise InputError(f"{only.file}: {only.message}" if only.file else only.message, problems=problems)
    if problems:
        raise InputError(f"{len(problems)} inputs cannot be read", problems=problems)


def _ingest_one(
    name: str,
    log_format: str,
    anonymiser: Anonymiser,
    stream: BinaryIO,
    out: Path | None,
    output_format: OutputFormat,
    rules: LogRules,
    hash_key: bytes | None,
    jobs: int,
    progress: Progress | None,
    done_before: int,
    total: int,
    report: IngestReport,
) -> FileCounts:
    with open_source(name) as source:
        sample = source.head_lines(_DETECT_LINES)
        fmt = _choose_format(name, sample, source.name, log_format)
        counts = FileCounts(source.name, fmt.name, compressed=source.compressed)
        workers = _workers(jobs, source)
        if workers > 1:
            from pledge.logs.parallel import ingest_parallel

            stream.flush()
            report.jobs = max(report.jobs, workers)
            ingest_parallel(
                Path(name), fmt.name, rules, hash_key, output_format, stream, counts, workers,
                compress=out is not None and out.name.endswith(".gz"),
                progress=(lambda n, _t: progress(done_before + n, total)) if progress else None,
            )  # fmt: skip
            return counts
        _process(
            source, fmt, anonymiser, output_format, stream.write, counts,
            (lambda n, _t: progress(n, total)) if progress else None, done_before,
        )  # fmt: skip
        return counts


def _workers(jobs: int, source: LogSource) -> int:
    if source.compressed or source.size is None or source.name == "<stdin>":
        return 1
    wanted = jobs if jobs > 0 else min(os.cpu_count() or 1, 8)
    if wanted <= 1 or source.size < _PARALLEL_MIN_BYTES:
        return 1
    return wanted
