from __future__ import annotations

import gzip
import importlib
import io
import json
import os
import sys
from pathlib import Path

import pytest

from pledge.errors import InputError
from pledge.logs import LogRules, ingest
from pledge.logs.formats import FORMATS
from tests.logs.conftest import COMBINED, COMMON, VHOST

PERSONAL = [
    b"jane.roe",
    b"example.org",
    b"example.net",
    b"5f2b9c0e7d1a4b3c8e6f0a9d2c4b7e1f",
    b"4417893021",
    b"7946",
    b"203.0.113.77",
    b"7c9e6679-7425-40de-944b-e07fc1f90ae7",
    b"ops@example.com",
]


def test_sample_logs_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "anon.log"
    report = ingest([COMBINED, COMMON, VHOST], out=out)
    assert report.lines == 611
    assert report.malformed == 2
    assert report.malformed_samples() == [f"{COMBINED}:41", f"{COMBINED}:521"]
    assert [f.format for f in report.files] == ["combined", "common", "combined"]
    data = out.read_bytes()
    assert data.count(b"\n") == report.written == 609
    for secret in PERSONAL:
        assert secret not in data, secret
    # The vhost and the trailing X-Forwarded-For field: the host stays, the forwarded address goes.
    assert b"shop.example:443 " in data and b'"10.' not in data
    # Output is readable by the same parser, with our attribute field at the end.
    for line in data.splitlines():
        fields = FORMATS["combined"].match(line) or FORMATS["common"].match(line)
        assert fields is not None, line
        assert b'"pledge;br=' in fields[10] and b";cc=" in fields[10]  # type: ignore[operator]


def test_every_address_is_truncated(tmp_path: Path) -> None:
    out = tmp_path / "anon.log"
    ingest([COMBINED], out=out)
    for line in out.read_bytes().splitlines():
        host = line.split(b" ", 1)[0]
        if b":" in host:
            assert host.endswith(b"::"), host
        else:
            assert host.endswith(b".0"), host


def test_gzip_is_detected_by_content_not_name(tmp_path: Path) -> None:
    packed = tmp_path / "access.log"  # gzip data, plain name
    packed.write_bytes(gzip.compress(COMBINED.read_bytes()))
    plain = tmp_path / "access.log.gz"  # plain data, gzip name
    plain.write_bytes(COMBINED.read_bytes())
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    report = ingest([packed], out=a)
    ingest([plain], out=b)
    assert report.files[0].compressed
    assert a.read_bytes() == b.read_bytes()


def test_concatenated_gzip_members_are_read_as_one_stream(tmp_path: Path) -> None:
    data = COMBINED.read_bytes()
    half = data.index(b"\n", len(data) // 2) + 1
    joined = tmp_path / "rotated.gz"
    joined.write_bytes(gzip.compress(data[:half]) + gzip.compress(data[half:]))
    assert ingest([joined], out=tmp_path / "x.log").lines == 521


def test_truncated_gzip_is_an_error_and_writes_nothing(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gz"
    broken.write_bytes(gzip.compress(COMBINED.read_bytes() * 20)[:-300])
    out = tmp_path / "anon.log"
    out.write_bytes(b"previous run\n")
    with pytest.raises(InputError, match="truncated or corrupt"):
        ingest([broken], out=out)
    assert out.read_bytes() == b"previous run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["anon.log", "broken.gz"]


def test_binary_and_empty_inputs(tmp_path: Path) -> None:
    binary = tmp_path / "image.png"
    binary.write_bytes(os.urandom(200_000))  # also: no newline for a very long stretch
    out = tmp_path / "anon.log"
    with pytest.raises(InputError, match="access log"):
        ingest([COMBINED, binary], out=out)
    assert not out.exists()
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    with pytest.raises(InputError):
        ingest([empty], out=out)  # auto-detection has nothing to go on


def test_missing_inputs_are_reported_before_anything_is_written(tmp_path: Path) -> None:
    out = tmp_path / "anon.log"
    with pytest.raises(InputError) as caught:
        ingest([COMBINED, tmp_path / "nope.log", tmp_path], out=out)
    problems = caught.value.problems
    assert [p.message for p in problems] == ["no such file", "is a directory, expected an access log"]
    assert not out.exists()
    with pytest.raises(InputError, match="no such directory"):
        ingest([COMBINED], out=tmp_path / "missing" / "anon.log")


def test_explicit_format_counts_mismatches_as_malformed(tmp_path: Path) -> None:
    report = ingest([COMBINED], log_format="common", out=tmp_path / "x.log")
    # Combined lines are valid common lines with trailing fields; only the junk lines fail.
    assert report.malformed == 1
    with pytest.raises(InputError, match="no line could be read"):
        ingest([COMMON], log_format="combined", out=tmp_path / "y.log")


def test_json_lines_output(tmp_path: Path) -> None:
    out = tmp_path / "anon.jsonl"
    ingest([COMBINED], out=out, output_format="jsonl")
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 519
    first = rows[0]
    assert set(first) >= {"time", "host", "country", "target", "status", "browser", "os", "device", "bot"}
    assert first["time"].endswith("+01:00")
    text = out.read_bytes()
    for secret in PERSONAL:
        assert secret not in text


def test_rules_hash_drop_and_user_agent_modes(tmp_path: Path) -> None:
    out = tmp_path / "x.log"
    ingest(
        [COMBINED],
        out=out,
        rules=LogRules(ip="hash", user_agent="drop", geolocation="none"),
        hash_key=b"k" * 32,
    )
    first = out.read_bytes().splitlines()[0]
    assert first.startswith(b"h-")
    assert b'"-" "pledge;br=Other;os=Other;dev=other;bot=0;cc=--"' in first
    ingest([COMBINED], out=out, rules=LogRules(ip="drop", user_agent="keep", referrer="path"))
    data = out.read_bytes()
    assert all(line.startswith(b"- - - [") for line in data.splitlines())
    assert b"Mozilla/5.0" in data and b"ops@example.com" not in data
    assert b"https://www.google.com/search" in data and b"q=garden" not in data


def test_parallel_output_is_identical_to_sequential(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ingest_module = importlib.import_module(
        "pledge.logs.ingest"
    )  # the package exports a function of that name

    big = tmp_path / "big.log"
    big.write_bytes(COMBINED.read_bytes() * 6)
    one, two = tmp_path / "one.log", tmp_path / "two.log"
    sequential = ingest([big], out=one, jobs=1)
    monkeypatch.setattr(ingest_module, "_PARALLEL_MIN_BYTES", 0)
    parallel = ingest([big], out=two, jobs=3)
    assert parallel.jobs == 3
    assert one.read_bytes() == two.read_bytes()
    assert (parallel.lines, parallel.written, parallel.malformed) == (
        sequential.lines,
        sequential.written,
        12,
    )
    assert parallel.files[0].malformed_at == sequential.files[0].malformed_at == [41, 521, 562, 1042, 1083]


def test_standard_input(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = io.TextIOWrapper(io.BufferedReader(io.BytesIO(gzip.compress(COMMON.read_bytes()))))
    monkeypatch.setattr(sys, "stdin", fake)
    report = ingest(["-"], out=tmp_path / "x.log")
    assert report.files[0].name == "<stdin>" and report.written == 60
    with pytest.raises(InputError, match="only once"):
        ingest(["-", "-"], out=tmp_path / "x.log")


def test_progress_is_reported(tmp_path: Path) -> None:
    seen: list[tuple[int, int | None]] = []
    ingest([COMBINED], out=tmp_path / "x.log", progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1][0] == COMBINED.stat().st_size == seen[-1][1]


def test_long_lines_without_newlines_are_bounded(tmp_path: Path) -> None:
    from pledge.logs.sources import MAX_LINE, open_source

    path = tmp_path / "long.log"
    path.write_bytes(b"x" * (MAX_LINE * 3 + 10) + b"\n" + COMMON.read_bytes())
    with open_source(path) as source:
        lengths = [len(line) for line in source.lines()]
    assert max(lengths) <= MAX_LINE + (1 << 20)
    report = ingest([path], log_format="common", out=tmp_path / "x.log")
    assert report.written == 60 and report.malformed >= 1


@pytest.mark.parametrize("path", [COMBINED, COMMON, VHOST])
def test_batch_loop_matches_the_reference_line_by_line(path: Path) -> None:
    from pledge.logs.anonymise import Anonymiser
    from pledge.logs.formats import detect_format

    raw = path.read_bytes().split(b"\n")
    raw += [
        b"",
        b"   ",
        b'1.2.3.4 - - [10/Oct/2024:13:55:36 +0000] "GET /a\\"b HTTP/1.1" 200 5 "-" "x \\"y\\""',
    ]
    fmt = detect_format(raw)
    assert fmt is not None
    anonymiser = Anonymiser(LogRules())
    bad: list[int] = []
    out, blank = anonymiser.lines(raw, fmt, 100, bad.append)
    expected = [anonymiser.line(fields) for fields in map(fmt.match, raw) if fields is not None]
    assert out == expected
    assert blank == sum(1 for line in raw if not line.strip())
    assert bad == [100 + i + 1 for i, line in enumerate(raw) if line.strip() and fmt.match(line) is None]
