"""How ``pledge request`` shows things: plans, results, the queue, one request's report, progress.

Values of personal data are never printed except where the operator asked for them (the access
archive is written to a file; erasure reports name collections and fields, not values).
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pledge.cli import _output

if TYPE_CHECKING:
    from pledge.requests.runner import Progress
    from pledge.requests.workflow import Listed

__all__ = ["print_listed", "print_plan", "print_report", "progress", "report", "save"]

ARCHIVE_KINDS = ("access", "portability")


def _print(text: str) -> None:
    _output.out.print(text, markup=False)


@contextmanager
def progress(json_out: bool) -> Iterator[Progress | None]:
    """``progress(done, total, step)`` drawing a bar on a terminal; None otherwise."""
    if json_out or not sys.stdout.isatty():
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  console=_output.out, transient=True) as bar:  # fmt: skip
        task = bar.add_task("request", total=None)

        def update(done: int, total: int, step: str) -> None:
            bar.update(task, total=total, completed=done, description=step or "request")

        yield update


def save(kind: str, outcome: dict[str, Any], out: Path | None) -> Path | None:
    """Copy the archive (access, portability) or write the JSON report where ``--out`` says."""
    if kind in ARCHIVE_KINDS:
        archive = Path(outcome["summary"]["archive"])
        target = out or Path(f"pledge-access-{outcome['request_id'][:12]}.zip")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(archive, target)
        outcome["summary"]["archive"] = str(target)
        return target
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(outcome, indent=2, default=str) + "\n", encoding="utf-8")
        return out
    return None


def print_plan(preview: dict[str, Any]) -> None:
    _print(f"{preview['kind']} request: steps")
    for step in preview["steps"]:
        _print(f"  {step['name']}: {step['description']}")
    if "traversal_lines" in preview:
        _print("search order:")
        for line in preview["traversal_lines"]:
            _print(f"  {line}")
    for name, erasure in preview.get("erasure", {}).items():
        head = "delete rows" if erasure["delete_row"] else "erase fields"
        _print(f"{name}: {head}" + (f" ({erasure['why']})" if erasure["why"] else ""))
        for action in erasure["fields"]:
            _print(f"  {action['field']:<24} {action['strategy']:<10} {action['reason']}")


def report(kind: str, outcome: dict[str, Any], saved: Path | None, json_out: bool) -> None:
    """What a finished request did, as the operator reads it first (or the whole of it as JSON)."""
    if json_out:
        _output.print_json(outcome)
        return
    summary = outcome["summary"]
    if kind == "exists":
        where = ", ".join(summary["collections"]) or "nowhere"
        _print(f"{'found' if summary['found'] else 'not found'}: {where}")
    elif kind in ARCHIVE_KINDS:
        rows = summary.get("rows") or {}
        _print(f"archive: {summary['archive']} ({sum(rows.values())} rows from {len(rows)} collections)")
    elif kind in ("erase", "rectify"):
        _report_changes(outcome)
    else:
        for name, result in outcome["steps"].items():
            _print(f"{name}: recorded {len(result.get('recorded', []))} event(s) for {result.get('subject')}")
    if saved is not None and kind not in ARCHIVE_KINDS:
        _print(f"report: {saved}")


def _report_changes(outcome: dict[str, Any]) -> None:
    for result in outcome["steps"].values():
        if "collection" in result:
            kept = f", {result['kept_row_count']} rows kept" if result.get("kept_row_count") else ""
            counts = f"found {result['found']:>5}  deleted {result.get('deleted', 0):>5}"
            _print(f"  {result['collection']:<40} {counts}  updated {result['updated']:>5}{kept}")
    verification = outcome["summary"]["verification"]
    for kept_field in verification.get("kept", []):
        until = f" until {kept_field['until']}" if kept_field.get("until") else ""
        _print(f"  kept {kept_field['collection']}.{kept_field['field']}: {kept_field['reason']}{until}")
    for field in verification.get("left_alone", []):
        _print(f"  left alone {field['collection']}.{field['field']}: {field['why']}")
    state = verification.get("verified")
    if state is True:
        _print("verified: nothing personal is left beyond what is listed as kept")
    elif state is None:
        _print("not verified (dry run)")
    else:
        _print(f"NOT verified: {verification.get('residual_count', 0)} field(s) still hold personal data")
    for item in verification.get("residual", []):
        _print(
            f"  residual {item['collection']} key {item['key']}: {item.get('field', 'row')} ({item['why']})"
        )


def _when(value: str | None) -> str:
    return value[:16].replace("T", " ") if value else "-"


def print_listed(found: Sequence[Listed], json_out: bool) -> None:
    """The queue: open requests first, the nearest deadline first."""
    if json_out:
        _output.print_json(
            [{**item.request.as_dict(), "deadline_status": item.deadline_status} for item in found]
        )
        return
    if not found:
        _print("no requests")
        return
    for item in found:
        r = item.request.as_dict()
        by = f"  by {r['operator']}" if r["operator"] else ""
        _print(
            f"{r['id']}  {r['kind']:<11} {r['state']:<9} {r['source']:<14} "
            f"due {_when(r['deadline'])} ({item.deadline_status}){by}"
        )


def print_report(found: dict[str, Any], json_out: bool) -> None:
    """One request: its record, steps, what was kept and its archive files."""
    if json_out:
        _output.print_json(found)
        return
    r = found["request"]
    _print(f"request {r['id']}: {r['kind']} ({r['right']}), {r['state']}")
    _print(f"  source {r['source']}" + (f", run by {r['operator']}" if r["operator"] else ""))
    _print(f"  received {_when(r['received_at'])}, due {_when(r['deadline'])} ({r['deadline_status']})")
    if r["verified_by"]:
        _print(f"  verified {_when(r['verified_at'])} by {r['verified_by']}")
    if r["approved_at"]:
        _print(f"  approved {_when(r['approved_at'])} by {r['decision_by']}")
    if r["finished_at"]:
        _print(f"  finished {_when(r['finished_at'])}")
    if r["decision_reason"] and r["state"] == "rejected":
        _print(f"  reason: {r['decision_reason']}")
    if r["error"]:
        _print(f"  error: {r['error']}")
    for step in found["steps"]:
        tries = f", {step['attempts']} start(s)" if step["attempts"] > 1 else ""
        _print(f"  step {step['name']}: {step['state']}{tries}")
    for kept in found["kept"]:
        _print(f"  kept {kept.get('collection')}.{kept.get('field')}: {kept.get('reason')}")
    if found["archive"]:
        _print(f"  archive files: {', '.join(found['archive'])}")
