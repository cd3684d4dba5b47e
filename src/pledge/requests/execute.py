"""Request execution over the business's databases: the :class:`StepPlanner` the workflow runs.

    executor = RequestExecutor(datamap, connectors, declaration=loaded, hash_key=keys.hash_key)
    steps = executor.plan("erase", [Identity("email", "ann@example.com")], {})

``plan`` checks everything first (identities known, every collection reachable, every mapped
table and column present in the live databases, rectify values valid) and raises ``InputError``
before any row is read. The steps it returns are idempotent; :func:`run_now` runs them in order
in-process (the CLI, bulk erasure, tests), the durable workflow runs them with persistence.

Steps per kind:

- ``exists``: ``exists:search`` → found or not, and in which collections (no values).
- ``access`` / ``portability``: ``access:collect`` → the archive (see :mod:`.access`).
- ``erase``: ``erase:collect`` (keys of every row found, every value searched), one
  ``erase:<fides_key>:<collection>`` per collection with something to erase, children first,
  then ``erase:verify``.
- ``rectify``: ``rectify:collect``, one step per collection holding the category, ``rectify:verify``.
- ``restrict`` / ``object`` / ``withdraw``: ``<kind>:record`` in the consent ledger.

Parameters (``params``): ``skip_unreachable`` (leave out collections no given identity reaches,
listed in the report), ``categories`` (erase only these), ``dry_run``, ``verify`` (False skips
the verification pass), ``set`` (rectify: ``{category: value}``), ``purposes``/``channel``
(rights). An identity's kind may also name a field, ``dataset:collection.field``, to start from
rows rather than from a person (retention sweeps: old orders by id).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pledge.connectors.base import Connector, RowChange, Table
from pledge.datamap.model import CollectionRef, Datamap
from pledge.declaration.load import LoadedDeclaration
from pledge.declaration.model import Declaration
from pledge.errors import ConfigError, InputError, Problem
from pledge.requests.access import write_archive
from pledge.requests.erasure import (
    apply_nested,
    erase_collection,
    erase_dependencies,
    erase_order,
    keys_of,
    parse_doc,
    read_by_keys,
)
from pledge.requests.erasure_check import verify_erasure
from pledge.requests.holds import hold_scopes
from pledge.requests.plan import TraversalPlan, build_plan
from pledge.requests.rectify import RectifyTarget, group_targets, parse_assignments, rectify_targets
from pledge.requests.steps import Identity, RequestKind, StepContext, StepSpec
from pledge.requests.strategies import CollectionErasure, resolve_collection
from pledge.requests.traverse import traverse

__all__ = [
    "DecisionSummary",
    "DisclosureSource",
    "RequestExecutor",
    "RightsRecorder",
    "erase_subjects",
    "run_now",
]

Progress = Callable[[str], None]
DisclosureSource = Callable[[Sequence[Identity]], Sequence[Mapping[str, Any]]]
"""Who received the person's data (``pledge.sharing``): one JSON-able record per disclosure."""
DecisionSummary = Callable[[Sequence[Identity]], Mapping[str, Any]]
"""The person's consent, objections and restrictions as the decisions core sees them."""


class RightsRecorder(Protocol):
    """Records restriction, objection and withdrawal in the consent ledger so later decisions
    deny. Must be idempotent per ``request_id`` (a step may run again after a crash)."""

    def record_right(
        self,
        kind: str,
        identities: Sequence[Identity],
        params: Mapping[str, Any],
        *,
        request_id: str,
    ) -> Mapping[str, Any]: ...


_RIGHTS = ("restrict", "object", "withdraw")
_KNOWN_PARAMS = {
    "skip_unreachable",
    "categories",
    "dry_run",
    "set",
    "category",
    "value",
    "purpose",
    "purposes",
    "channel",
    "generated_at",
    "verify",
}


@dataclass
class RequestExecutor:
    datamap: Datamap
    connectors: Mapping[str, Connector]
    declaration: LoadedDeclaration | Declaration | None = None
    hash_key: bytes | None = None
    """``Settings.keys.hash_key``: keys the ``hash`` strategy (and seeds ``mask``)."""
    disclosures: DisclosureSource | None = None
    decisions: DecisionSummary | None = None
    rights: RightsRecorder | None = None
    progress: Progress | None = None
    _plans: dict[tuple[frozenset[str], bool], TraversalPlan] = field(default_factory=dict, repr=False)

    @property
    def decl(self) -> Declaration | None:
        if isinstance(self.declaration, LoadedDeclaration):
            return self.declaration.declaration
        return self.declaration

    # --- planning ----------------------------------------------------------------------------------

    def schemas(self) -> dict[str, Mapping[str, Table]]:
        return {key: connector.describe() for key, connector in self.connectors.items()}

    def traversal(self, kinds: Sequence[str], *, skip_unreachable: bool = False) -> TraversalPlan:
        """The checked traversal for these identity kinds (cached: the plan depends on nothing else)."""
        cache_key = (frozenset(kinds), skip_unreachable)
        if cache_key not in self._plans:
            needed = sorted(d.fides_key for d in self.datamap.datasets)
            missing = [key for key in needed if key not in self.connectors]
            if missing:
                raise InputError(
                    "no connection for some datasets",
                    problems=[
                        Problem(
                            f"no connection for dataset '{k}'",
                            hint=f"add --connect {k}=URL",
                            code="no_connection",
                        )
                        for k in missing
                    ],
                )
            self._plans[cache_key] = build_plan(
                self.datamap, self.schemas(), kinds, skip_unreachable=skip_unreachable
            )
        return self._plans[cache_key]

    def erasures(
        self, plan: TraversalPlan, categories: Sequence[str] | None = None
    ) -> dict[CollectionRef, CollectionErasure]:
        decl = self.decl
        scopes = hold_scopes(decl, plan)
        out: dict[CollectionRef, CollectionErasure] = {}
        problems: list[Problem] = []
        for node in plan.nodes:
            erasure = resolve_collection(
                node.collection,
                node.table,
                node.key,
                decl,
                hash_key=self.hash_key is not None,
                categories=categories,
                scopes=scopes,
            )
            writes = erasure.delete_row or any(a.strategy != "keep" for a in erasure.actions)
            if writes and not node.key:
                problems.append(
                    node.collection.origin.problem(
                        f"{node.name}: personal fields would be erased, but the table has no primary key",
                        "add a primary key to the table, or mark one with fides_meta.primary_key",
                        code="no_primary_key",
                    )
                )
            out[node.ref] = erasure
        if problems:
            raise InputError("cannot erase", problems=problems)
        return out

    def _check_params(
        self, kind: RequestKind, identities: Sequence[Identity], params: Mapping[str, Any]
    ) -> None:
        if kind not in ("exists", "access", "portability", "rectify", "erase", *_RIGHTS):
            raise InputError(f"unknown request kind {kind!r}")
        if not identities:
            raise InputError("a request needs at least one identity", hint="e.g. --identity email=ADDR")
        unknown = sorted(set(params) - _KNOWN_PARAMS)
        if unknown:
            raise InputError(f"unknown request parameter(s): {', '.join(unknown)}")
        categories = params.get("categories")
        if categories is not None and (
            not isinstance(categories, list) or not all(isinstance(c, str) for c in categories)
        ):
            raise InputError("'categories' must be a list of category names")
        for flag in ("skip_unreachable", "dry_run", "verify"):
            if flag in params and not isinstance(params[flag], bool):
                raise InputError(f"'{flag}' must be true or false")

    def plan(
        self, kind: RequestKind, identities: Sequence[Identity], params: Mapping[str, Any]
    ) -> list[StepSpec]:
        self._check_params(kind, identities, params)
        if kind in _RIGHTS:
            return self._plan_right(kind, identities, params)
        tplan = self.traversal(
            [i.kind for i in identities], skip_unreachable=bool(params.get("skip_unreachable"))
        )
        if kind == "exists":
            return [
                StepSpec("exists:search", lambda ctx: self._exists(tplan, ctx), "search every collection")
            ]
        if kind in ("access", "portability"):
            return [
                StepSpec(
                    "access:collect",
                    lambda ctx: self._access(tplan, ctx),
                    "collect rows into the access archive",
                )
            ]
        if kind == "rectify":
            return self._plan_rectify(tplan, params)
        return self._plan_erase(tplan, params)

    def preview(
        self, kind: RequestKind, identities: Sequence[Identity], params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """What ``plan`` would do, without reading any row (``--plan``)."""
        steps = self.plan(kind, identities, params)
        out: dict[str, Any] = {
            "kind": kind,
            "steps": [{"name": s.name, "description": s.description} for s in steps],
        }
        if kind in _RIGHTS:
            return out
        tplan = self.traversal(
            [i.kind for i in identities], skip_unreachable=bool(params.get("skip_unreachable"))
        )
        out["traversal"] = tplan.as_dict()
        out["traversal_lines"] = tplan.lines()
        if kind == "erase":
            erasures = self.erasures(tplan, params.get("categories"))
            out["erasure"] = {
                node.name: {
                    "delete_row": erasures[node.ref].delete_row,
                    "why": erasures[node.ref].why,
                    "fields": [a.as_dict() for a in erasures[node.ref].actions],
                }
                for node in erase_order(tplan)
            }
        return out

    # --- steps -------------------------------------------------------------------------------------

    def _exists(self, plan: TraversalPlan, ctx: StepContext) -> dict[str, Any]:
        found = traverse(plan, self.connectors, ctx.identities, progress=self.progress)
        where = [name for name, count in found.counts(plan).items() if count]
        return {"found": bool(where), "collections": where}

    def _access(self, plan: TraversalPlan, ctx: StepContext) -> dict[str, Any]:
        found = traverse(plan, self.connectors, ctx.identities, progress=self.progress)
        notes = [f"{key} was not searched: {why}" for key, why in plan.skipped]
        notes.append(
            "CSV cells that a spreadsheet would run as formulas start with an apostrophe; data.json is exact"
        )
        return write_archive(
            ctx.workdir / "access",
            plan,
            found,
            request_id=ctx.request_id,
            identities=ctx.identities,
            disclosures=self.disclosures(ctx.identities) if self.disclosures is not None else None,
            decisions=self.decisions(ctx.identities) if self.decisions is not None else None,
            generated_at=ctx.params.get("generated_at"),
            notes=notes,
        )

    def _collect(self, plan: TraversalPlan, ctx: StepContext) -> dict[str, Any]:
        found = traverse(plan, self.connectors, ctx.identities, progress=self.progress, keys_only=True)
        return {
            "keys": {node.name: keys_of(node, found.rows_of(node.ref)) for node in plan.nodes if node.key},
            "searched": found.searched_json(plan),
            "counts": found.counts(plan),
        }

    def _plan_erase(self, plan: TraversalPlan, params: Mapping[str, Any]) -> list[StepSpec]:
        erasures = self.erasures(plan, params.get("categories"))
        dry_run = bool(params.get("dry_run"))
        steps = [StepSpec("erase:collect", lambda ctx: self._collect(plan, ctx), "find every row and key")]
        names: list[str] = []
        order = erase_order(plan)
        waits = erase_dependencies(order, erasures)
        step_of: dict[CollectionRef, str] = {}
        last_of: dict[str, str] = {}
        for node in order:
            erasure = erasures[node.ref]
            if not erasure.delete_row and all(a.strategy == "keep" for a in erasure.actions):
                continue
            name = f"erase:{node.name}"
            names.append(name)
            depends = ["erase:collect", *(step_of[r] for r in sorted(waits[node.ref]) if r in step_of)]
            dataset = node.ref[0]
            if dataset in last_of and getattr(self.connectors[dataset], "dialect", None) == "sqlite":
                depends.append(last_of[dataset])  # one writer at a time on a SQLite file
            step_of[node.ref] = last_of[dataset] = name

            def run(
                ctx: StepContext, node: Any = node, erasure: CollectionErasure = erasure
            ) -> dict[str, Any]:
                if self.progress is not None:
                    self.progress(node.name)
                keys = ctx.results["erase:collect"]["keys"].get(node.name, [])
                return erase_collection(
                    node, erasure, self.connectors[node.ref[0]], keys, hash_key=self.hash_key, dry_run=dry_run
                )

            what = "delete rows" if erasure.delete_row else "erase fields"
            steps.append(
                StepSpec(name, run, f"{what} of {node.name}", depends_on=tuple(dict.fromkeys(depends)))
            )

        def verify(ctx: StepContext) -> dict[str, Any]:
            if dry_run:
                return {"verified": None, "dry_run": True}
            if params.get("verify") is False:
                return {"verified": None, "skipped": "the caller asked for no verification pass"}
            results = {n: ctx.results[n] for n in names}
            return verify_erasure(
                plan, erasures, self.connectors, ctx.results["erase:collect"], results, hash_key=self.hash_key
            )

        steps.append(
            StepSpec(
                "erase:verify",
                verify,
                "search again and prove nothing personal is left",
                depends_on=("erase:collect", *names),
            )
        )
        return steps

    def _plan_rectify(self, plan: TraversalPlan, params: Mapping[str, Any]) -> list[StepSpec]:
        targets = rectify_targets(plan, parse_assignments(params), self.decl)
        writable = [t for t in targets if t.skip is None]
        grouped = group_targets(writable)
        if not grouped:
            reasons = "; ".join(f"{t.node.name}.{'.'.join(t.field.path)}: {t.skip}" for t in targets)
            raise InputError("nothing can be rectified", hint=reasons[:500])
        steps = [StepSpec("rectify:collect", lambda ctx: self._collect(plan, ctx), "find every row and key")]
        for name, group in grouped.items():

            def run(ctx: StepContext, group: list[RectifyTarget] = group) -> dict[str, Any]:
                return self._rectify(
                    group, ctx.results["rectify:collect"]["keys"].get(group[0].node.name, [])
                )

            steps.append(
                StepSpec(
                    f"rectify:{name}",
                    run,
                    f"set {', '.join('.'.join(t.field.path) for t in group)} in {name}",
                )
            )
        skipped = [
            {"collection": t.node.name, "field": ".".join(t.field.path), "why": t.skip}
            for t in targets
            if t.skip
        ]

        def verify(ctx: StepContext) -> dict[str, Any]:
            return self._rectify_verify(writable, ctx.results["rectify:collect"]["keys"], skipped)

        steps.append(StepSpec("rectify:verify", verify, "read back every changed field"))
        return steps

    def _rectify(self, group: Sequence[RectifyTarget], keys: Sequence[Sequence[Any]]) -> dict[str, Any]:
        node = group[0].node
        with self.connectors[node.ref[0]].session(write=True) as session:
            rows = read_by_keys(session, node, keys, lock=True)
            changes = []
            for row in rows:
                values: dict[str, Any] = {}
                for target in group:
                    if target.field.nested:
                        continue  # JSON keys: handled below
                    if row.get(target.field.column) != target.value:
                        values[target.field.column] = target.value
                _fold_nested(group, row, values)
                if values:
                    changes.append(RowChange(tuple(row.get(c) for c in node.key), values))
            updated = session.update(node.table.name, node.key, _merge(changes)) if changes else 0
        return {"collection": node.name, "found": len(rows), "updated": updated}

    def _rectify_verify(
        self, targets: Sequence[RectifyTarget], keys: Mapping[str, Any], skipped: list[dict[str, Any]]
    ) -> dict[str, Any]:
        wrong: list[dict[str, Any]] = []
        for name, group in group_targets(targets).items():
            node = group[0].node
            with self.connectors[node.ref[0]].session() as session:
                for row in read_by_keys(session, node, keys.get(name, [])):
                    for target in group:
                        if not target.field.nested and row.get(target.field.column) != target.value:
                            wrong.append({"collection": name, "field": target.field.column})
        return {"verified": not wrong, "not_changed": wrong[:100], "left_alone": skipped}

    def _plan_right(
        self, kind: str, identities: Sequence[Identity], params: Mapping[str, Any]
    ) -> list[StepSpec]:
        recorder = self.rights
        if recorder is None:
            raise ConfigError(
                f"{kind} requests are recorded in the consent ledger, which is not configured here",
                hint="build the executor with rights=... (pledge.consent)",
            )

        def record(ctx: StepContext) -> dict[str, Any]:
            return dict(recorder.record_right(kind, ctx.identities, ctx.params, request_id=ctx.request_id))

        return [StepSpec(f"{kind}:record", record, f"record the {kind} in the consent ledger")]


def _fold_nested(group: Sequence[RectifyTarget], row: Mapping[str, Any], values: dict[str, Any]) -> None:
    """Rectify keys inside JSON columns by rewriting the document into ``values``."""
    for target in group:
        if not target.field.nested:
            continue
        column = target.field.column
        doc, was_text = parse_doc(values.get(column, row.get(column)))
        if apply_nested(doc, target.field.path[1:], [column], lambda _v, _t, new=target.value: new):
            values[column] = json.dumps(doc, ensure_ascii=False, sort_keys=True) if was_text else doc


def _merge(changes: Sequence[RowChange]) -> list[RowChange]:
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for change in changes:
        merged.setdefault(change.key, {}).update(change.values)
    return [RowChange(k, v) for k, v in merged.items()]


# --- running in-process ---------------------------------------------------------------------------


def run_now(
    executor: RequestExecutor,
    kind: RequestKind,
    identities: Sequence[Identity],
    params: Mapping[str, Any] | None = None,
    *,
    workdir: Path,
    request_id: str | None = None,
    on_step: Callable[[int, int, StepSpec], None] | None = None,
    concurrent: bool = False,
) -> dict[str, Any]:
    """Plan and run a request synchronously (no persistence): the CLI and bulk erasure use it.

    ``concurrent``: a step starts as soon as the steps it ``depends_on`` are done, beside any
    others that are ready (bulk erasure: the newsletter list, the order lines and the customers'
    fields at once), instead of one after the other in the plan's order. Either way the results
    are the same; a step that raises stops the others from starting, and the error is raised
    once those running have finished."""
    params = dict(params or {})
    request_id = request_id or uuid.uuid4().hex
    steps = executor.plan(kind, identities, params)
    results: dict[str, Mapping[str, Any]] = {}

    def context(step: StepSpec) -> StepContext:
        return StepContext(
            request_id=request_id,
            kind=kind,
            identities=tuple(identities),
            params=params,
            results=dict(results),
            workdir=workdir,
        )

    if not concurrent:
        for index, step in enumerate(steps):
            if on_step is not None:
                on_step(index, len(steps), step)
            results[step.name] = dict(step.run(context(step)))
    else:
        _run_concurrently(steps, results, context, on_step)
        results = {step.name: results[step.name] for step in steps}  # the plan's order
    return {"request_id": request_id, "kind": kind, "steps": results, "summary": summarise(kind, results)}


def _run_concurrently(
    steps: Sequence[StepSpec],
    results: dict[str, Mapping[str, Any]],
    context: Callable[[StepSpec], StepContext],
    on_step: Callable[[int, int, StepSpec], None] | None,
) -> None:
    known = {step.name for step in steps}
    waiting = list(enumerate(steps))
    # A pool of its own: steps use the shared one for their own work, and wait for it.
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="pledge-step") as pool:
        running: dict[Future[Mapping[str, Any]], StepSpec] = {}
        while waiting or running:
            for index, step in list(waiting):
                if all(d in results or d not in known for d in step.depends_on):
                    waiting.remove((index, step))
                    if on_step is not None:
                        on_step(index, len(steps), step)
                    running[pool.submit(step.run, context(step))] = step
            if not running:  # every step left waits for another that is not done: a planning bug
                raise RuntimeError(f"steps wait for each other: {', '.join(s.name for _, s in waiting)}")
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                step = running.pop(future)
                results[step.name] = dict(future.result())  # raises here; the pool waits for the rest


def erase_subjects(
    executor: RequestExecutor,
    identities: Sequence[Identity],
    *,
    workdir: Path,
    categories: Sequence[str] | None = None,
    dry_run: bool = False,
    verify: bool = True,
    on_step: Callable[[int, int, StepSpec], None] | None = None,
) -> dict[str, Any]:
    """Erase many subjects in one pass (identities of many people, or ``dataset:collection.field``
    starting points such as old orders' ids): every query and write is batched across all of
    them, with ``categories`` only what is of those categories.

    ``verify=False`` skips the verification pass; the report then says the erasure was not
    verified. Collections that do not have to wait for each other (see
    :func:`~pledge.requests.erasure.erase_dependencies`) are erased at the same time, each in
    its own transaction, as the durable workflow would erase them one after the other.

    With ``categories``, a row is deleted (where the datamap asks for whole rows to go) only if
    every personal field of it is of those categories and nothing in it is held; otherwise the
    selected fields are erased in place and the rest stays."""
    params: dict[str, Any] = {"dry_run": dry_run, "verify": verify}
    if categories is not None:
        params["categories"] = list(categories)
    if any(":" in i.kind for i in identities):
        params["skip_unreachable"] = True
    return run_now(executor, "erase", identities, params, workdir=workdir, on_step=on_step, concurrent=True)


def summarise(kind: str, results: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The few numbers an operator reads first."""
    if kind == "exists":
        return dict(results.get("exists:search", {}))
    if kind in ("access", "portability"):
        access = results.get("access:collect", {})
        return {"archive": access.get("archive"), "rows": access.get("rows")}
    if kind in ("erase", "rectify"):
        steps = [r for name, r in results.items() if name not in (f"{kind}:collect", f"{kind}:verify")]
        out: dict[str, Any] = {
            "rows_found": dict(results.get(f"{kind}:collect", {}).get("counts", {})),
            "updated": sum(int(r.get("updated", 0)) for r in steps),
        }
        if kind == "erase":
            out["deleted"] = sum(int(r.get("deleted", 0)) for r in steps)
        out["verification"] = dict(results.get(f"{kind}:verify", {}))
        return out
    return {name: dict(r) for name, r in results.items()}
