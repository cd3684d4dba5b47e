"""Retention: the declaration's periods enforced on the business's databases and log files.

    plan = prepare_plan(loaded, datamap, connectors, hash_key=keys.hash_key)
    report = run_sweep(plan, connectors, now=parse_now(None), store=SweepStore(db), audit=audit)

- :mod:`.bindings` — which column dates each rule's event (``meta.pledge.retention_clocks``);
- :mod:`.plan` — rules → sweep units (rule × collection), with the holds and rules that keep data;
- :mod:`.sweep` — batches, exact per-row decisions, erasure through the requests engine, audit;
- :mod:`.overlay` — the dry run, which runs the same code over a write layer kept in memory;
- :mod:`.store` — checkpoints, resumable runs, the lease that keeps one sweep at a time;
- :mod:`.logfiles` — raw and anonymised server-log files past their retention;
- :mod:`.minors` — subjects under the minimum age, purged through the erasure path.

The core imports no CLI, web framework or task queue; ``pledge retention`` and the worker's
schedule are thin adapters over these functions.
"""

from pledge.retention.bindings import BindingSpec, Clock, parse_bindings, read_bindings
from pledge.retention.clock import parse_now
from pledge.retention.plan import SweepPlan, SweepUnit, compile_plan
from pledge.retention.service import bindings_for, live_schemas, prepare_plan
from pledge.retention.store import SweepStore
from pledge.retention.sweep import SweepReport, count_candidates, run_sweep

__all__ = [
    "BindingSpec",
    "Clock",
    "SweepPlan",
    "SweepReport",
    "SweepStore",
    "SweepUnit",
    "bindings_for",
    "compile_plan",
    "count_candidates",
    "live_schemas",
    "parse_bindings",
    "parse_now",
    "prepare_plan",
    "read_bindings",
    "run_sweep",
]
