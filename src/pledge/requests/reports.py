"""What a request did: its states, steps and results, what was kept and why, and the archive.

Convention with the steps (``pledge.requests.steps``): a step's result is a small JSON summary;
bulky or personal output (the access archive's ``data.json``, CSVs, ``manifest.json``) is written
to ``StepContext.workdir``. A result may carry ``"kept": [{...}]``, one object per thing kept on
purpose (e.g. ``{"collection": ..., "field": ..., "reason": ..., "law": ..., "until": ...}``); the
report gathers them so "what was kept and why" is answered in one place.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

from pledge.errors import Conflict, NotFound
from pledge.requests.services import RequestServices
from pledge.requests.store import RequestRecord, StepRecord, load_request, load_steps
from pledge.requests.verification import RESULT_USE, request_id_from_claims

__all__ = ["archive", "request_report", "subject_archive", "subject_result"]

ARCHIVE_KINDS = ("access", "portability")
ARCHIVE_NAME = "archive.zip"
_FIXED_TIME = (2000, 1, 1, 0, 0, 0)  # same files, same bytes: archives can be compared by hash


def _load(services: RequestServices, request_id: str) -> tuple[RequestRecord, list[StepRecord]]:
    with services.db.connect() as conn:
        return load_request(conn, request_id), load_steps(conn, request_id)


def _kept(step_rows: list[StepRecord]) -> list[dict[str, Any]]:
    kept: list[dict[str, Any]] = []
    for row in step_rows:
        items = (row.result or {}).get("kept")
        if isinstance(items, list):
            kept.extend({"step": row.name, **item} for item in items if isinstance(item, dict))
    return kept


def _archive_files(services: RequestServices, record: RequestRecord) -> list[Path]:
    folder = services.request_dir(record.id)
    if record.kind not in ARCHIVE_KINDS or not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not p.is_symlink() and p.name != ARCHIVE_NAME and not p.name.startswith(".")
    )


def request_report(services: RequestServices, request_id: str) -> dict[str, Any]:
    """Everything an operator needs to see about one request (JSON-able)."""
    record, step_rows = _load(services, request_id)
    folder = services.request_dir(record.id)
    return {
        "request": record.as_dict(services.clock()),
        "steps": [row.as_dict() for row in step_rows],
        "kept": _kept(step_rows),
        "archive": [str(p.relative_to(folder)) for p in _archive_files(services, record)],
    }


def archive(services: RequestServices, request_id: str) -> Path:
    """The access archive of a completed access/portability request, as one zip file."""
    record, _ = _load(services, request_id)
    if record.kind not in ARCHIVE_KINDS:
        raise NotFound(f"request {request_id} is a {record.kind} request; it has no archive")
    if record.state != "completed":
        raise Conflict(f"request {request_id} is {record.state}; its archive is ready once it completes")
    folder = services.request_dir(record.id)
    target = folder / ARCHIVE_NAME
    if target.is_file():
        return target
    files = _archive_files(services, record)
    if not files:
        raise NotFound(f"request {request_id} produced no archive files")
    tmp = folder / f".{ARCHIVE_NAME}.{os.getpid()}.tmp"
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for path in files:
            info = zipfile.ZipInfo(str(path.relative_to(folder)), date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            bundle.writestr(info, path.read_bytes())
    tmp.replace(target)
    return target


def subject_result(services: RequestServices, token: str) -> dict[str, Any]:
    """What the person sees behind their result link: their request, its steps and results."""
    request_id = request_id_from_claims(services.tokens.verify(token, RESULT_USE))
    record, step_rows = _load(services, request_id)
    return {
        "request": {
            "id": record.id,
            "kind": record.kind,
            "state": record.state,
            "received_at": record.received_at.isoformat(),
            "finished_at": record.finished_at.isoformat() if record.finished_at else None,
            "reason": record.decision_reason if record.state == "rejected" else None,
        },
        "steps": [
            {"name": r.name, "description": r.description, "state": r.state, "result": r.result}
            for r in step_rows
        ],
        "kept": _kept(step_rows),
        "archive": bool(_archive_files(services, record)) and record.state == "completed",
    }


def subject_archive(services: RequestServices, token: str) -> Path:
    request_id = request_id_from_claims(services.tokens.verify(token, RESULT_USE))
    return archive(services, request_id)
