"""Write a release to a directory: ``statistics.json``, one CSV per table, and charts.

Everything is written to a temporary directory beside the destination first; only when all files
exist are they moved into place (one ``os.replace`` each), so a failure leaves the previous
release as it was. Files of tables that this release no longer has are removed, so a directory
never mixes two releases. Other files in the directory are left alone.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from pledge.errors import InputError
from pledge.logs.aggregate import TABLES
from pledge.logs.release import Release

__all__ = ["release_json", "write_release"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    # A spreadsheet runs a cell starting with "=" (CSV injection): paths and names come from
    # visitors, so such text is prefixed with a quote, as OWASP recommends.
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def table_csv(release: Release, name: str) -> str:
    table = release.table(name)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.columns)
    for key, values in table.rows:
        writer.writerow([_cell(key), *values])
    return buffer.getvalue()


def release_json(release: Release, charts: list[dict[str, str]] | None = None) -> dict[str, Any]:
    data = release.as_dict()
    if charts is not None:
        data["charts"] = charts
    return data


def write_release(release: Release, directory: Path, *, charts: bool = True) -> list[str]:
    """Write the release into ``directory`` (created if missing); returns the file names written."""
    if directory.exists() and not directory.is_dir():
        raise InputError(f"{directory}: exists and is not a directory")
    parent = directory.parent if directory.parent != Path() else Path()
    if not parent.exists():
        raise InputError(f"{parent}: no such directory")
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=parent))
    try:
        written = []
        drawn = None
        if charts:
            from pledge.logs.charts import draw_charts

            drawn = draw_charts(release, staging)
            written += [name for chart in drawn for name in (chart["png"], chart["svg"])]
        for table in release.tables:
            (staging / f"{table.name}.csv").write_text(table_csv(release, table.name), encoding="utf-8")
            written.append(f"{table.name}.csv")
        document = json.dumps(release_json(release, drawn), indent=2, ensure_ascii=False) + "\n"
        (staging / "statistics.json").write_text(document, encoding="utf-8")
        written.append("statistics.json")
        directory.mkdir(exist_ok=True)
        for name in written:
            (staging / name).replace(directory / name)
        ours = {f"{table}.{suffix}" for table in TABLES for suffix in ("csv", "png", "svg")}
        for stale in ours - set(written):
            (directory / stale).unlink(missing_ok=True)
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)
