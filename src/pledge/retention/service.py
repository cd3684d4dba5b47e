"""The few calls an adapter makes: read the clocks, check the stores, compile the plan.

    plan = prepare_plan(loaded, datamap, connectors, rules=["billing"], hash_key=keys.hash_key)
    report = run_sweep(plan, connectors, now=now, store=SweepStore(db), audit=audit, ...)

Everything is checked before a row is read: the clocks (``meta.pledge.retention_clocks`` of the
datamap files), that every database answers, that every table and column the plan needs exists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pledge.connectors.base import Connector, Table
from pledge.datamap.model import Datamap
from pledge.declaration.load import LoadedDeclaration
from pledge.declaration.model import Declaration
from pledge.errors import DatamapError, InputError, Problem
from pledge.retention.bindings import BindingSpec, read_bindings
from pledge.retention.plan import SweepPlan, compile_plan

__all__ = ["bindings_for", "live_schemas", "prepare_plan"]


def bindings_for(datamap: Datamap) -> tuple[list[BindingSpec], list[Problem]]:
    """The clocks written in the files ``datamap`` was read from; raises on located errors."""
    files = list(dict.fromkeys(d.origin.file for d in datamap.datasets))
    specs, problems = read_bindings(files)
    if any(p.severity == "error" for p in problems):
        raise DatamapError("the datamap's retention clocks have problems", problems=problems)
    return specs, problems


def live_schemas(connectors: Mapping[str, Connector]) -> dict[str, Mapping[str, Table]]:
    """Every database's schema; a database that does not answer is a ``ConnectorError``."""
    return {key: connector.describe() for key, connector in sorted(connectors.items())}


def prepare_plan(
    declaration: LoadedDeclaration | Declaration,
    datamap: Datamap,
    connectors: Mapping[str, Connector],
    *,
    rules: Sequence[str] | None = None,
    hash_key: bytes | None = None,
    specs: Sequence[BindingSpec] | None = None,
) -> SweepPlan:
    missing = sorted(d.fides_key for d in datamap.datasets if d.fides_key not in connectors)
    if missing:
        raise InputError(
            "no connection for some datasets",
            problems=[
                Problem(
                    f"no connection for dataset '{k}'", hint=f"add --connect {k}=URL", code="no_connection"
                )
                for k in missing
            ],
        )
    warnings: list[Problem] = []
    if specs is None:
        found, warnings = bindings_for(datamap)
        specs = found
    plan = compile_plan(
        declaration, datamap, specs, live_schemas(connectors), rules=rules, hash_key=hash_key is not None
    )
    if warnings:
        return SweepPlan(plan.units, plan.rules, (*warnings, *plan.warnings), plan.digest, plan.holds)
    return plan
