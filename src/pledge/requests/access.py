"""The access archive: everything found about a person, portable and self-describing.

    access/
      data.json        {"<fides_key>:<collection>": [row, ...], ...}  (every collection searched)
      <key>__<collection>.csv   one per collection, same rows
      manifest.json    what was searched and how, row counts, field categories, who received the
                       person's data (disclosures) and the decisions summary, when available
    archive.zip        the same files under access/, for download (beside the folder)

Files are written to a temporary folder and renamed into place, so a crash never leaves half an
archive, and running the step again rewrites the same content.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pledge.requests.plan import TraversalPlan
from pledge.requests.steps import Identity
from pledge.requests.traverse import Found, jsonable

__all__ = ["FORMAT", "csv_cell", "write_archive"]

FORMAT = "pledge-access/1"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_ZIP_TIME = (2000, 1, 1, 0, 0, 0)  # fixed, so the same data always gives the same archive


def csv_cell(value: Any) -> str:
    """A value for a spreadsheet cell. Text that a spreadsheet would run as a formula gets a
    leading apostrophe (OWASP's advice); ``data.json`` keeps the exact value."""
    value = jsonable(value)
    if value is None:
        return ""
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    if text.startswith(_FORMULA):
        return "'" + text
    return text


def _file_name(collection_key: str, taken: set[str]) -> str:
    dataset, _, name = collection_key.partition(":")
    base = _UNSAFE.sub("_", f"{dataset}__{name}").strip("._")[:80] or "collection"
    candidate = f"{base}.csv"
    if candidate in taken or base != f"{dataset}__{name}":
        digest = hashlib.sha256(collection_key.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        candidate = f"{base}-{digest}.csv"
    taken.add(candidate)
    return candidate


def _value(value: Any, document: bool) -> Any:
    """A JSON column arrives as text from some drivers (SQLite, MariaDB): give the document."""
    if document and isinstance(value, str):
        try:
            return jsonable(json.loads(value))
        except ValueError:
            return value
    return jsonable(value)


def _dump(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=False).encode("utf-8") + b"\n"


def write_archive(
    target: Path,
    plan: TraversalPlan,
    found: Found,
    *,
    request_id: str,
    identities: Sequence[Identity],
    disclosures: Sequence[Mapping[str, Any]] | None = None,
    decisions: Mapping[str, Any] | None = None,
    generated_at: str | None = None,
    notes: Sequence[str] = (),
) -> dict[str, Any]:
    """Write ``target/`` and ``archive.zip`` beside it; returns a summary without personal data."""
    data: dict[str, list[dict[str, Any]]] = {}
    files: dict[str, bytes] = {}
    collections: dict[str, Any] = {}
    taken: set[str] = set()
    for node in plan.nodes:
        documents = {f.column for f in node.collection.fields if f.fields} | {
            c for c in node.columns if node.table.columns[c].kind == "json"
        }
        rows = [
            {column: _value(row.get(column), column in documents) for column in node.columns}
            for row in found.rows_of(node.ref)
        ]
        data[node.name] = rows
        name = _file_name(node.name, taken)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow([csv_cell(c) for c in node.columns])
        for row in rows:
            writer.writerow([csv_cell(row.get(c)) for c in node.columns])
        files[name] = buffer.getvalue().encode("utf-8-sig")  # BOM: spreadsheets then read UTF-8
        collections[node.name] = {
            "rows": len(rows),
            "file": name,
            "fields": {
                ".".join(f.path): list(f.categories) for f in node.collection.all_fields() if f.categories
            },
        }
    manifest = {
        "format": FORMAT,
        "request": request_id,
        "generated_at": generated_at,
        "identities": [{"kind": i.kind, "value": i.value} for i in identities],
        "searched": plan.as_dict(),
        "collections": collections,
        "disclosures": list(disclosures) if disclosures is not None else None,
        "decisions": dict(decisions) if decisions is not None else None,
        "notes": list(notes),
    }
    files["data.json"] = _dump(data)
    files["manifest.json"] = _dump(jsonable(manifest))
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".access-", dir=target.parent))
    try:
        for name, content in files.items():
            (staging / name).write_bytes(content)
        archive = staging / "archive.zip"
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
            for name in sorted(files):
                info = zipfile.ZipInfo(f"access/{name}", date_time=_ZIP_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o600 << 16
                zipped.writestr(info, files[name])
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        # Named as the workflow's reports expect (``<request dir>/archive.zip``), same layout.
        zip_path = target.parent / "archive.zip"
        archive.replace(zip_path)
        if target.exists():
            shutil.rmtree(target)
        staging.replace(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return {
        "archive": str(zip_path),
        "folder": str(target),
        "sha256": digest,
        "rows": {name: info["rows"] for name, info in collections.items()},
        "files": sorted(files),
    }
