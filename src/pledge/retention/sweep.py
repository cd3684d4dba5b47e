"""Running a sweep: each unit in batches, each row decided exactly, erased by the erasure engine.

For each unit (one rule in one collection), in the plan's order:

1. scan a page of candidate rows (:mod:`.scan`), in primary-key order after the checkpoint;
2. read the clocks that live in linked tables (an account's closing date, an invoice's date);
3. decide each row: has the rule's period ended (exactly, calendar-correct)? which fields must
   stay (an active legal hold, another rule still running, an indefinite rule)? → delete the row,
   erase some fields, or nothing;
4. hand each group of rows to :func:`pledge.requests.erasure.erase_collection` (strategies, rows
   still referenced by others emptied instead of deleted, fixed-point rewrites), then read them
   again as a dry run of the same erasure: anything it would still change is *residual*;
5. checkpoint the page (run id, unit, last key, counts) in Pledge's database.

A dry run does the same through :class:`~pledge.retention.overlay.OverlayConnector`, so its
counts are the run's. When the last unit of a rule is done, one audit entry records the rule's
counts per collection (never a value, never a key).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pledge.audit.entry import check_payload
from pledge.audit.sink import AuditSink
from pledge.connectors.base import Connector, Row
from pledge.errors import InputError, PledgeError
from pledge.requests.erasure import erase_collection
from pledge.requests.strategies import CollectionErasure, FieldAction
from pledge.retention.bindings import Clock
from pledge.retention.clock import HAPPENED, UNREADABLE, read_time
from pledge.retention.overlay import Overlay, OverlayConnector, norm_key
from pledge.retention.plan import SweepPlan, SweepUnit
from pledge.retention.scan import Scanner, ScanSpec, decode_cursor, encode_cursor, scanner_for
from pledge.retention.store import RunState, SweepStore, UnitProgress

__all__ = ["Progress", "SweepReport", "count_candidates", "run_sweep"]

Progress = Callable[[str, int], None]
"""``progress(unit name, rows just looked at)``."""

_LATEST = "latest"  # several linked rows: a rule ends with the latest of them (None if any is unset)
_HOLD = "hold"  # a hold lasts until the latest dated linked record
_MOD = 2**128


def audit_text(text: str | None) -> str | None:
    """Declaration text (a rule's reason, a law) as the audit log may hold it: the log refuses
    anything that looks like an e-mail or IP address, so such a text is named by its digest."""
    if text is None:
        return None
    try:
        check_payload({"text": text})
    except InputError:
        return f"(declaration text sha256:{hashlib.sha256(text.encode()).hexdigest()[:16]})"
    return text


def audit_safe(value: Any) -> Any:
    """``value`` with every text passed through :func:`audit_text` (names from a datamap or a
    folder path could look like an address too)."""
    if isinstance(value, str):
        return audit_text(value)
    if isinstance(value, dict):
        return {k: audit_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [audit_safe(v) for v in value]
    return value


def _later(current: str | None, label: str) -> str:
    """The later of two hold ends (ISO dates); ``unknown`` outlasts any date."""
    if current is None or label == "unknown" or (current != "unknown" and label > current):
        return label
    return current


def _empty_counts() -> dict[str, Any]:
    return {
        "matched": 0,
        "deleted": 0,
        "updated": 0,
        "unchanged": 0,
        "nothing_to_erase": 0,
        "blocked": 0,
        "unreadable": 0,
        "residual": 0,
        "holds": {},
        "needed": {},
        "rows_deleted_digest": "0",
        "rows_erased_digest": "0",
    }


def _add_digest(counts: dict[str, Any], name: str, keys: Sequence[Sequence[Any]]) -> None:
    """An order-free digest of row keys (a sum of hashes), so the same rows give the same digest
    whatever the batches, and a resumed run can carry it on from its checkpoint."""
    total = int(counts[name], 16)
    blake = hashlib.blake2b
    for k in keys:
        text = "\x1f".join(v if type(v) is str else repr(v) for v in k)
        total += int.from_bytes(blake(text.encode("utf-8", "surrogatepass"), digest_size=16).digest(), "big")
    counts[name] = format(total % _MOD, "x")


@dataclass
class UnitReport:
    unit: SweepUnit
    counts: dict[str, Any]
    resumed_from: int = 0
    """Batches done before a resume."""

    def as_dict(self) -> dict[str, Any]:
        u = self.unit
        holds = {h.hold.id: h.hold for h in u.holds}
        c = self.counts
        return {
            "rule": u.rule.id,
            "collection": u.node.name,
            "action": u.rule.action,
            "strategy": u.strategy,
            "period": str(u.rule.period),
            "grace": str(u.rule.grace) if u.rule.grace else None,
            "clock": u.clock.describe(),
            "clock_written_at": u.clock.written_at,
            "reason": u.rule.reason,
            "matched": c["matched"],
            "deleted": c["deleted"],
            "updated": c["updated"],
            "unchanged": c["unchanged"],
            "nothing_to_erase": c["nothing_to_erase"],
            "blocked": c["blocked"],
            "unreadable_clocks": c["unreadable"],
            "residual": c["residual"],
            "kept": [
                {
                    "hold": hold_id,
                    "law": holds[hold_id].law if hold_id in holds else None,
                    "rows": entry["rows"],
                    "until": entry["until"],
                }
                for hold_id, entry in sorted(c["holds"].items())
            ],
            "needed": [{"rule": rule_id, "rows": n} for rule_id, n in sorted(c["needed"].items())],
            "delete_blocked_by": u.blocked_delete,
            "rows_deleted_digest": c["rows_deleted_digest"],
            "rows_erased_digest": c["rows_erased_digest"],
            "resumed_after_batches": self.resumed_from,
        }


@dataclass
class SweepReport:
    plan: SweepPlan
    now: dt.datetime
    dry_run: bool
    units: list[UnitReport] = field(default_factory=list)
    run_id: str | None = None
    resumed: bool = False
    audited: list[int] = field(default_factory=list)

    @property
    def residual(self) -> int:
        return sum(int(u.counts["residual"]) for u in self.units)

    @property
    def ok(self) -> bool:
        return self.residual == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "dry_run": self.dry_run,
            "now": self.now.isoformat(),
            "resumed": self.resumed,
            "ok": self.ok,
            "units": [u.as_dict() for u in self.units],
            "rules": [
                {
                    "rule": s.rule.id,
                    "status": s.status,
                    "period": str(s.rule.period),
                    "from": s.event,
                    "action": s.rule.action,
                    "reason": s.rule.reason,
                    "collections": list(s.collections),
                    "unbound": list(s.unbound),
                }
                for s in self.plan.rules
            ],
            "warnings": [str(w) for w in self.plan.warnings],
            "audit_entries": list(self.audited),
        }


# --- reading times -------------------------------------------------------------------------------


def _combine(times: Sequence[Any], how: str) -> Any:
    if not times:
        return None
    if how == _HOLD:
        dated = [t for t in times if isinstance(t, dt.datetime)]
        if any(t is UNREADABLE for t in times):
            return UNREADABLE
        return max(dated) if dated else None
    if any(t is None for t in times):
        return None
    if any(t is UNREADABLE for t in times):
        return UNREADABLE
    dated = [t for t in times if isinstance(t, dt.datetime)]
    return max(dated) if dated else HAPPENED


class _Linked:
    """Clock values that live in linked rows, read once per batch (through the dry-run layer)."""

    def __init__(self, connector: Connector) -> None:
        self.connector = connector
        self.values: dict[tuple[Clock, str], dict[Any, Any]] = {}

    def load(self, clocks: Sequence[tuple[Clock, str]], rows: Sequence[Row]) -> None:
        self.values.clear()
        wanted = [(c, how) for c, how in clocks if c.link is not None]
        if not wanted:
            return
        with self.connector.session() as session:
            for clock, how in wanted:
                assert clock.link is not None
                keys = list(dict.fromkeys(v for r in rows if (v := r.get(clock.link.column)) is not None))
                found = (
                    session.read(
                        clock.source_table,
                        [clock.link.there_column, clock.column],
                        clock.link.there_column,
                        keys,
                    )
                    if keys
                    else []
                )
                times: dict[Any, list[Any]] = {}
                for source in found:
                    times.setdefault(norm_key([source[clock.link.there_column]])[0], []).append(
                        read_time(source[clock.column])
                    )
                self.values[(clock, how)] = {k: _combine(v, how) for k, v in times.items()}

    def time(self, clock: Clock, how: str, row: Row) -> Any:
        if clock.link is None:
            return read_time(row.get(clock.column))
        value = row.get(clock.link.column)
        if value is None:
            return None
        return self.values.get((clock, how), {}).get(norm_key([value])[0])


# --- one unit ------------------------------------------------------------------------------------


class _UnitRun:
    def __init__(
        self,
        unit: SweepUnit,
        connector: Connector,
        verifier: Connector | None,
        now: dt.datetime,
        hash_key: bytes | None,
        counts: dict[str, Any],
    ) -> None:
        self.unit = unit
        self.connector = connector
        self.verifier = verifier
        self.now = now
        self.hash_key = hash_key
        self.counts = counts
        self.linked = _Linked(connector)
        self._erasures: dict[Any, CollectionErasure] = {}
        deleting = unit.rule.action == "delete" and unit.blocked_delete is None
        self.relevant = frozenset(f.path for f in (unit.personal if deleting else unit.fields))
        self.deleting = deleting
        self.surely_ended = unit.delay.loose_cutoff(now, -dt.timedelta(days=4))
        self.surely_running = unit.delay.loose_cutoff(now, dt.timedelta(days=4))

    def clocks(self) -> list[tuple[Clock, str]]:
        out = [(self.unit.clock, _LATEST)]
        out += [(k.clock, _LATEST) for k in self.unit.keepers if k.clock is not None]
        out += [(h.clock, _HOLD) for h in self.unit.holds if h.clock is not None]
        return list(dict.fromkeys(out))

    def ended(self, row: Row) -> bool | None:
        """Has the rule's period ended for ``row``? None: its clock cannot be read."""
        t = self.linked.time(self.unit.clock, _LATEST, row)
        if t is UNREADABLE:
            return None
        if t is None:
            return False
        if t is HAPPENED:
            return True
        # Far from the edge, no calendar arithmetic is needed (see Delay.loose_cutoff).
        if t < self.surely_ended:
            return True
        if t > self.surely_running:
            return False
        return bool(self.unit.delay.end(t) <= self.now)

    def kept(self, row: Row) -> set[tuple[str, ...]]:
        """Fields of an ended row that must stay, with the reasons counted."""
        keep: set[tuple[str, ...]] = set()
        for other in self.unit.keepers:
            if not other.paths & self.relevant:
                continue
            if other.clock is None:
                active = True
            else:
                t = self.linked.time(other.clock, _LATEST, row)
                active = t is None or t is UNREADABLE or (t is not HAPPENED and other.delay.end(t) > self.now)
            if active:
                keep |= other.paths
                needed = self.counts["needed"]
                needed[other.rule.id] = needed.get(other.rule.id, 0) + 1
        ends: dict[str, str] = {}  # hold id → the latest end date among the guards that apply
        for guard in self.unit.holds:
            if not guard.paths & self.relevant:
                continue
            if guard.clock is None:
                label = "unknown"
            else:
                t = self.linked.time(guard.clock, _HOLD, row)
                if t is None or t is HAPPENED:
                    continue  # no dated record: the law keeps nothing here
                if t is UNREADABLE:
                    label = "unknown"
                else:
                    end = guard.delay.end(t)
                    if end <= self.now:
                        continue
                    label = end.date().isoformat()
            keep |= guard.paths
            ends[guard.hold.id] = _later(ends.get(guard.hold.id), label)
        for hold_id, label in ends.items():
            entry = self.counts["holds"].setdefault(hold_id, {"rows": 0, "until": None})
            entry["rows"] += 1
            entry["until"] = _later(entry["until"], label)
        return keep

    def erasure(self, group: Any) -> CollectionErasure:
        found = self._erasures.get(group)
        if found is not None:
            return found
        unit = self.unit
        reason = f"retention rule '{unit.rule.id}': {unit.rule.period} from {unit.clock.event}"
        if group == ("delete",):
            actions: list[FieldAction] = []
            for f in unit.personal:
                a = unit.actions[f.path]
                if a.strategy == "keep":
                    actions.append(a)
                else:
                    fallback = a.fallback if a.strategy == "delete_row" else a.strategy
                    actions.append(FieldAction(a.path, "delete_row", reason, a.categories, fallback=fallback))
            made = CollectionErasure(unit.node.collection, tuple(actions), True, reason)
        else:
            paths = group[1]
            actions = [
                replace(a, strategy=a.fallback) if a.strategy == "delete_row" else a
                for f in unit.fields
                if f.path in paths and (a := unit.actions[f.path])
            ]
            made = CollectionErasure(unit.node.collection, tuple(actions), False, "")
        self._erasures[group] = made
        return made

    def batch(self, rows: Sequence[Row]) -> None:
        unit, counts = self.unit, self.counts
        self.linked.load(self.clocks(), rows)
        groups: dict[Any, list[Row]] = {}
        for row in rows:
            ended = self.ended(row)
            if ended is None:
                counts["unreadable"] += 1
                continue
            if not ended:
                continue
            counts["matched"] += 1
            keep = self.kept(row)
            if self.deleting and not keep & self.relevant:
                groups.setdefault(("delete",), []).append(row)
                continue
            erase = frozenset(
                f.path
                for f in unit.fields
                if f.path not in keep
                and (a := unit.actions[f.path]).strategy != "keep"
                and (a.strategy != "delete_row" or a.fallback != "keep")
            )
            if not erase:
                counts["nothing_to_erase"] += 1
                continue
            groups.setdefault(("fields", erase), []).append(row)
        for group in sorted(groups, key=repr):
            members = groups[group]
            keys = [[r[c] for c in unit.node.key] for r in members]
            erasure = self.erasure(group)
            result = erase_collection(unit.node, erasure, self.connector, keys, hash_key=self.hash_key)
            deleted, updated = int(result.get("deleted", 0)), int(result.get("updated", 0))
            counts["deleted"] += deleted
            counts["updated"] += updated
            counts["blocked"] += int(result.get("kept_row_count", 0))
            counts["unchanged"] += max(0, len(keys) - deleted - updated)
            _add_digest(counts, "rows_deleted_digest" if group == ("delete",) else "rows_erased_digest", keys)
            if self.verifier is not None:
                check = erase_collection(
                    unit.node, erasure, self.verifier, keys, hash_key=self.hash_key, dry_run=True
                )
                counts["residual"] += int(check.get("deleted", 0)) + int(check.get("updated", 0))


# --- the whole sweep -----------------------------------------------------------------------------


def _spec(unit: SweepUnit, connector: Connector, now: dt.datetime) -> ScanSpec:
    schema = connector.describe()
    clock_table = schema.get(unit.clock.source_table)
    if clock_table is None:
        raise InputError(
            f"{connector.key}: no table '{unit.clock.source_table}' for the clock of {unit.name}"
        )
    return ScanSpec(
        table=unit.node.table,
        key=unit.node.key,
        columns=tuple(unit.columns()),
        clock=unit.clock,
        clock_table=clock_table,
        cutoff=unit.delay.loose_cutoff(now),
    )


def count_candidates(
    plan: SweepPlan, connectors: Mapping[str, Connector], now: dt.datetime
) -> dict[str, int]:
    """Candidate rows per unit (an upper bound: the progress bar's total)."""
    out: dict[str, int] = {}
    for unit in plan.units:
        connector = connectors[unit.node.ref[0]]
        out[unit.name] = scanner_for(connector).count(_spec(unit, connector, now))
    return out


def _audit_payload(plan: SweepPlan, rule_id: str, state: RunState, now: dt.datetime) -> dict[str, Any]:
    units = plan.units_of(rule_id)
    rule = units[0].rule
    collections = []
    for unit in units:
        report = UnitReport(unit, state.unit(unit.name).counts).as_dict()
        collections.append(
            {
                k: report[k]
                for k in (
                    "collection",
                    "clock",
                    "strategy",
                    "matched",
                    "deleted",
                    "updated",
                    "unchanged",
                    "nothing_to_erase",
                    "blocked",
                    "unreadable_clocks",
                    "residual",
                    "kept",
                    "needed",
                )
            }
        )
    return {
        "run": state.id,
        "rule": rule.id,
        "period": str(rule.period),
        "grace": str(rule.grace) if rule.grace else None,
        "from": units[0].clock.event,
        "action": rule.action,
        "reason": audit_text(rule.reason),
        "clock_at": now.isoformat(),
        "resumed": state.resumed,
        "deleted": sum(c["deleted"] for c in collections),
        "updated": sum(c["updated"] for c in collections),
        "collections": collections,
    }


def run_sweep(
    plan: SweepPlan,
    connectors: Mapping[str, Connector],
    *,
    now: dt.datetime,
    dry_run: bool = False,
    store: SweepStore | None = None,
    audit: AuditSink | None = None,
    hash_key: bytes | None = None,
    batch_size: int = 500,
    explicit_now: bool = True,
    progress: Progress | None = None,
    scanners: Mapping[str, Scanner] | None = None,
) -> SweepReport:
    """Run (or dry-run) every unit of ``plan``; see the module docstring.

    With a ``store`` a run is checkpointed, resumable and holds the sweep lease; ``audit`` gets one
    entry per rule. A dry run writes nothing anywhere.
    """
    if batch_size < 1:
        raise InputError("the batch size must be at least 1")
    now = now.astimezone(dt.UTC).replace(microsecond=0)
    overlay = Overlay()
    working: dict[str, Connector] = {
        k: OverlayConnector(c, overlay) if dry_run else c for k, c in connectors.items()
    }
    scan_with = {k: (scanners or {}).get(k) or scanner_for(c) for k, c in connectors.items()}
    state = RunState("dry-run", now, False)
    persist = store if store is not None and not dry_run else None
    if persist is not None:
        persist.acquire()
    try:
        if persist is not None:
            state = persist.open_run("sweep", plan.digest, now, explicit_now=explicit_now)
            now = state.clock_at
        report = SweepReport(plan, now, dry_run, run_id=None if dry_run else state.id, resumed=state.resumed)
        remaining = {r.rule.id: len(plan.units_of(r.rule.id)) for r in plan.rules if plan.units_of(r.rule.id)}
        for unit in plan.units:
            record = state.unit(unit.name)
            if not record.counts:
                record.counts = _empty_counts()
            resumed_from = record.batches
            if not record.done:
                _run_unit(
                    unit,
                    record,
                    working,
                    connectors,
                    scan_with,
                    now,
                    dry_run,
                    hash_key,
                    batch_size,
                    persist,
                    state,
                    progress,
                )
            report.units.append(UnitReport(unit, record.counts, resumed_from))
            remaining[unit.rule.id] -= 1
            if remaining[unit.rule.id] == 0 and persist is not None:
                index = _audit_rule(plan, unit.rule.id, state, persist, audit, now)
                if index is not None:
                    report.audited.append(index)
        if persist is not None:
            persist.finish_run(state.id, "done", summary={"units": [u.as_dict() for u in report.units]})
        return report
    except BaseException as exc:
        if persist is not None and state.id != "dry-run":
            message = exc.message if isinstance(exc, PledgeError) else type(exc).__name__
            # Pledge's own database may be down too: the run then stays "running" and resumes.
            with contextlib.suppress(PledgeError):
                persist.finish_run(state.id, "failed", error=message)
        raise
    finally:
        if persist is not None:
            with contextlib.suppress(PledgeError):  # else the lease expires on its own
                persist.release()


def _run_unit(
    unit: SweepUnit,
    record: UnitProgress,
    working: Mapping[str, Connector],
    real: Mapping[str, Connector],
    scanners: Mapping[str, Scanner],
    now: dt.datetime,
    dry_run: bool,
    hash_key: bytes | None,
    batch_size: int,
    persist: SweepStore | None,
    state: RunState,
    progress: Progress | None,
) -> None:
    dataset = unit.node.ref[0]
    connector = working[dataset]
    spec = _spec(unit, real[dataset], now)
    runner = _UnitRun(unit, connector, None if dry_run else real[dataset], now, hash_key, record.counts)
    overlay = connector.overlay if isinstance(connector, OverlayConnector) else None
    after = decode_cursor(record.cursor) if record.cursor is not None else None
    while True:
        page = scanners[dataset].scan(spec, after, batch_size)
        if not page:
            break
        rows = overlay.apply(dataset, unit.node.table.name, page) if overlay is not None else page
        runner.batch(rows)
        after = [page[-1][c] for c in unit.node.key]
        record.batches += 1
        record.cursor = encode_cursor(after)
        if persist is not None:
            persist.save_unit(state.id, record)
            persist.renew()
        if progress is not None:
            progress(unit.name, len(page))
        if len(page) < batch_size:
            break
    record.done = True
    if persist is not None:
        persist.save_unit(state.id, record)


def _audit_rule(
    plan: SweepPlan,
    rule_id: str,
    state: RunState,
    persist: SweepStore,
    audit: AuditSink | None,
    now: dt.datetime,
) -> int | None:
    marker = state.unit(f"audit:{rule_id}")
    if marker.done:
        return None
    payload = _audit_payload(plan, rule_id, state, now)
    marker.done = True
    marker.counts = {"deleted": payload["deleted"], "updated": payload["updated"]}
    index: int | None = None
    with persist.db.begin() as conn:
        if audit is not None:
            index = audit.append("retention.swept", audit_safe(payload), conn=conn)
        persist.save_unit(state.id, marker, conn=conn)
    return index
