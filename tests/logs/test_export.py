from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from pledge.errors import InputError
from pledge.logs.aggregate import Aggregate, Hit
from pledge.logs.export import table_csv, write_release
from pledge.logs.suppress import release_suppressed

DAY = 1_730_419_200


def _release(path: str = "/") -> object:
    hits = [
        Hit(DAY + v * 4000, v, "DE", "Chrome", "Windows", "desktop", False, "GET", path, 200, "(direct)")
        for v in range(30)
    ]
    return release_suppressed(Aggregate(cap=3).add_all(hits), 3)


def test_formula_like_cells_are_neutralised() -> None:
    release = _release('=HYPERLINK("http://evil.example")')
    rows = list(csv.reader(io.StringIO(table_csv(release, "pages"))))  # type: ignore[arg-type]
    assert rows[1][0] == '\'=HYPERLINK("http://evil.example")'


def test_failure_leaves_the_previous_release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "stats"
    write_release(_release(), out, charts=False)  # type: ignore[arg-type]
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(*_args: object) -> object:
        raise OSError("disk full")

    monkeypatch.setattr("pledge.logs.charts.draw_charts", broken)
    with pytest.raises(OSError):
        write_release(_release("/other"), out)  # type: ignore[arg-type]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["stats"]  # no staging folder left behind


def test_stale_files_of_older_releases_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "stats"
    write_release(_release(), out)  # type: ignore[arg-type]
    assert (out / "pages.png").exists()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    hits = [
        Hit(DAY, v, "DE", "Chrome", "Windows", "desktop", False, "GET", "/", 200, "(direct)")
        for v in range(2)
    ]
    tiny = release_suppressed(Aggregate(cap=3).add_all(hits), 3)  # everything withheld: no charts
    write_release(tiny, out)
    assert not (out / "pages.png").exists()
    assert (out / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_output_must_be_a_directory(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x", encoding="utf-8")
    with pytest.raises(InputError):
        write_release(_release(), target)  # type: ignore[arg-type]
    with pytest.raises(InputError):
        write_release(_release(), tmp_path / "missing" / "stats")  # type: ignore[arg-type]


def test_charts_describe_themselves(tmp_path: Path) -> None:
    from pledge.logs.charts import draw_charts

    drawn = draw_charts(_release(), tmp_path)  # type: ignore[arg-type]
    daily = next(chart for chart in drawn if chart["table"] == "daily")
    assert daily["alt"].startswith("Visits and page views per day, 2 days:")
    svg = (tmp_path / "daily.svg").read_text(encoding="utf-8")
    assert "Day (UTC)" in svg and "Count" in svg
    assert (tmp_path / "countries.png").stat().st_size > 1000
