"""Retention clocks: which column says when a retention rule's event happened, per collection.

A declaration's rule counts its period ``from`` an event (``order_date``, ``last_activity``,
``account_closed``...). Fides datasets have no notion of time, so the datamap says where each
event is written, in a Pledge key of the dataset's free-form ``meta`` (Fides itself accepts any
mapping there, and Pledge's datamap loader ignores ``meta``, so the file stays a valid Fides
dataset and files without the key load unchanged)::

    dataset:
      - fides_key: shop
        meta:
          pledge:
            retention_clocks:
              orders: {order_date: placed_at}              # a column of the collection
              customers: {account_closed: closed_at, last_activity: last_seen_at}
              addresses: {account_closed: customers.closed_at}   # the customer's, by the link
              referrals: {sent: invited_at}                # a time, or a boolean sent marker
              order_lines:
                order_date: {column: orders.placed_at, via: order_id}
              "*": {collected: created_at}                 # every collection with that column
        collections: [...]

A clock in another collection (``customers.closed_at``) is reached through the link between the
two (a datamap reference or a live foreign key; ``via`` names the local column when there are
several). Without a binding, an event whose name is a column of the collection binds to it
(``order_date``), as legal holds do in requests. Events a rule uses when it gives no ``from``:
``collected`` for a duration, ``account_closed`` for ``while_account_active``, ``sent`` for
``until_sent``, ``session_end`` for ``session``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

from pledge.connectors.base import ColumnKind, Table
from pledge.datamap.model import CollectionRef, Datamap
from pledge.declaration.yamlpos import Path, SourceMap, YamlProblems, load_yaml
from pledge.errors import DatamapError, Problem, ProblemList
from pledge.retention.links import Link, links_between

__all__ = [
    "DEFAULT_EVENTS",
    "BindingSpec",
    "Clock",
    "ClockIndex",
    "parse_bindings",
    "read_bindings",
]

DEFAULT_EVENTS: Mapping[str, str] = {
    "duration": "collected",
    "while_account_active": "account_closed",
    "until_sent": "sent",
    "session": "session_end",
}
_EVENT = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,119}$")
_PLEDGE_KEYS = {"retention_clocks"}
_SPEC_KEYS = {"column", "via"}
_TIME_KINDS: frozenset[ColumnKind] = frozenset({"datetime", "date", "string", "integer", "number"})
_MAX_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class BindingSpec:
    """One ``collection: {event: column}`` entry as written."""

    dataset: str
    collection: str
    """A collection of the dataset, or ``*`` (every collection with the column)."""
    event: str
    column: str
    """``column``, or ``other_collection.column``."""
    via: str | None
    origin: Problem
    """Where it is written (a ready-made located problem to copy the location from)."""

    def problem(self, message: str, hint: str | None = None, *, code: str = "bad_clock") -> Problem:
        o = self.origin
        return Problem(message, file=o.file, line=o.line, column=o.column, hint=hint, code=code)

    @property
    def where(self) -> str:
        return self.origin.where()


@dataclass(frozen=True, slots=True)
class Clock:
    """Where the rows of ``collection`` have the time of ``event``."""

    event: str
    collection: CollectionRef
    source: CollectionRef
    """The collection holding the column: ``collection`` itself, or one linked to it."""
    source_table: str
    column: str
    kind: ColumnKind
    link: Link | None
    """How rows of ``collection`` find their rows of ``source`` (None: the same row)."""
    written_at: str
    """``file:line:column`` of the binding, or how it was inferred."""

    @property
    def marker(self) -> bool:
        """A boolean column: set or not, at no known time."""
        return self.kind == "boolean"

    def describe(self) -> str:
        where = self.column if self.link is None else f"{self.source[1]}.{self.column} via {self.link.column}"
        return f"{self.event} = {where}"


# --- reading the datamap files --------------------------------------------------------------------


def _located(
    source: SourceMap, path: Path, message: str, hint: str | None = None, *, key: bool = False
) -> Problem:
    return source.problem(path, message, hint=hint, key=key, code="bad_clock")


def _entries(
    value: Any, source: SourceMap, path: Path, dataset: str, problems: ProblemList
) -> list[BindingSpec]:
    if not isinstance(value, dict):
        problems.add(_located(source, path, "retention_clocks must map collections to {event: column}"))
        return []
    specs: list[BindingSpec] = []
    for collection, events in value.items():
        here = (*path, collection)
        if not isinstance(collection, str) or not collection:
            problems.add(_located(source, here, "a collection name must be text", key=True))
            continue
        if not isinstance(events, dict) or not events:
            problems.add(
                _located(
                    source,
                    here,
                    f"'{collection}' must map events to columns",
                    hint="e.g. {order_date: placed_at}",
                )
            )
            continue
        for event, spec in events.items():
            at = (*here, event)
            if not isinstance(event, str) or not _EVENT.match(event):
                problems.add(_located(source, at, f"{str(event)[:60]!r} is not an event name", key=True))
                continue
            column, via = spec, None
            if isinstance(spec, dict):
                unknown = [k for k in spec if k not in _SPEC_KEYS]
                for name in unknown:
                    near = difflib.get_close_matches(str(name), sorted(_SPEC_KEYS), n=1)
                    problems.add(
                        _located(
                            source,
                            (*at, name),
                            f"unknown key '{name}' in a clock",
                            hint=f"did you mean '{near[0]}'?" if near else "known: column, via",
                            key=True,
                        )
                    )
                column, via = spec.get("column"), spec.get("via")
                if via is not None and (not isinstance(via, str) or not via):
                    problems.add(_located(source, (*at, "via"), "via must name a column of this collection"))
                    continue
            if not isinstance(column, str) or not column.strip() or column.count(".") > 1:
                problems.add(
                    _located(
                        source,
                        at,
                        f"event '{event}' needs a column: 'column' or 'other_collection.column'",
                        hint="e.g. order_date: placed_at",
                    )
                )
                continue
            specs.append(
                BindingSpec(dataset, collection, event, column.strip(), via, _located(source, at, ""))
            )
    return specs


def parse_bindings(files: Iterable[tuple[str, bytes | str]]) -> tuple[list[BindingSpec], list[Problem]]:
    """The retention clocks written in datamap files, and every located problem with them.

    Only ``meta.pledge`` of each dataset is read; the rest of the file is the datamap loader's.
    """
    specs: list[BindingSpec] = []
    problems = ProblemList()
    for filename, data in files:
        raw = data.encode("utf-8") if isinstance(data, str) else data
        if len(raw) > _MAX_BYTES:
            continue  # the datamap loader reports it
        try:
            value, source = load_yaml(raw.decode("utf-8"), filename)
        except (UnicodeDecodeError, YamlProblems):
            continue  # the datamap loader reports it
        datasets = value.get("dataset") if isinstance(value, dict) else None
        if not isinstance(datasets, list):
            continue
        for i, dataset in enumerate(datasets):
            if not isinstance(dataset, dict) or not isinstance(dataset.get("meta"), dict):
                continue
            pledge = dataset["meta"].get("pledge")
            if pledge is None:
                continue
            path: Path = ("dataset", i, "meta", "pledge")
            if not isinstance(pledge, dict):
                problems.add(
                    _located(source, path, "meta.pledge must be a mapping", hint="retention_clocks: {...}")
                )
                continue
            for name in pledge:
                if name not in _PLEDGE_KEYS:
                    near = difflib.get_close_matches(str(name), sorted(_PLEDGE_KEYS), n=1, cutoff=0.5)
                    problems.add(
                        source.problem(
                            (*path, name),
                            f"unknown key '{name}' in meta.pledge (ignored)",
                            hint=f"did you mean '{near[0]}'?" if near else "known: retention_clocks",
                            key=True,
                            code="unknown_key",
                            severity="warning",
                        )
                    )
            key = dataset.get("fides_key")
            if "retention_clocks" in pledge and isinstance(key, str):
                specs.extend(
                    _entries(pledge["retention_clocks"], source, (*path, "retention_clocks"), key, problems)
                )
    return specs, problems.items


def read_bindings(paths: Sequence[str | FsPath]) -> tuple[list[BindingSpec], list[Problem]]:
    """:func:`parse_bindings` over datamap files (a folder: every ``*.yml``/``*.yaml`` in it)."""
    files: list[tuple[str, bytes | str]] = []
    for path in paths:
        target = FsPath(path)
        members = sorted([*target.glob("*.yml"), *target.glob("*.yaml")]) if target.is_dir() else [target]
        for member in members:
            try:
                files.append((str(member), member.read_bytes()))
            except OSError:
                continue  # the datamap loader has reported it already
    return parse_bindings(files)


# --- resolving against the datamap and the live schema --------------------------------------------


class ClockIndex:
    """Finds the clock of an event in a collection: an explicit binding, else a column named
    like the event. Problems with explicit bindings are collected in ``problems``."""

    def __init__(
        self, specs: Sequence[BindingSpec], datamap: Datamap, schemas: Mapping[str, Mapping[str, Table]]
    ) -> None:
        self.datamap = datamap
        self.schemas = schemas
        self.problems = ProblemList()
        self._clocks: dict[tuple[CollectionRef, str], Clock] = {}
        self._check(specs)

    def _table(self, ref: CollectionRef) -> Table | None:
        collection = self.datamap.collection(ref)
        schema = self.schemas.get(ref[0])
        return schema.get(collection.name) if collection is not None and schema is not None else None

    def _check(self, specs: Sequence[BindingSpec]) -> None:
        for spec in specs:
            dataset = self.datamap.dataset(spec.dataset)
            if dataset is None:
                continue
            names = [c.name for c in dataset.collections]
            if spec.collection == "*" and "." in spec.column:
                self.problems.add(spec.problem("'*' binds a column of each collection, not of another one"))
                continue
            if spec.collection == "*":
                targets = [
                    c.ref
                    for c in dataset.collections
                    if (t := self._table(c.ref)) and spec.column in t.columns
                ]
                if not targets and "." not in spec.column:
                    self.problems.add(
                        spec.problem(f"no collection of '{spec.dataset}' has a column '{spec.column}'")
                    )
                for ref in targets:
                    clock = self._resolve(spec, ref, quiet=True)
                    if clock is not None:
                        self._clocks.setdefault((ref, spec.event), clock)
                continue
            if spec.collection not in names:
                near = difflib.get_close_matches(spec.collection, names, n=1)
                self.problems.add(
                    spec.problem(
                        f"dataset '{spec.dataset}' has no collection '{spec.collection}'",
                        f"did you mean '{near[0]}'?" if near else f"collections: {', '.join(names)[:300]}",
                    )
                )
                continue
            ref = (spec.dataset, spec.collection)
            clock = self._resolve(spec, ref, quiet=False)
            if clock is not None:
                self._clocks[(ref, spec.event)] = clock  # explicit beats '*'

    def _resolve(self, spec: BindingSpec, ref: CollectionRef, *, quiet: bool) -> Clock | None:
        table = self._table(ref)
        if table is None:
            return None  # the plan reports missing tables
        other, dot, column = spec.column.rpartition(".")
        if not dot:
            return self._own(spec, ref, table, column, quiet=quiet)
        there = (ref[0], other)
        there_table = self._table(there)
        if there_table is None:
            if not quiet:
                self.problems.add(
                    spec.problem(
                        f"'{spec.column}': dataset '{ref[0]}' has no collection '{other}' in the live "
                        "database",
                        "a clock in another collection is written other_collection.column (same dataset)",
                    )
                )
            return None
        if column not in there_table.columns:
            self.problems.add(
                spec.problem(f"'{spec.column}': table '{there_table.name}' has no column '{column}'")
            )
            return None
        links = links_between(self.datamap, self.schemas, ref, there)
        if spec.via is not None:
            links = [link for link in links if link.column == spec.via]
            if not links and spec.via in table.columns:
                key = there_table.primary_key
                if len(key) == 1:
                    links = [Link(ref, spec.via, there, key[0], "via")]
        if len(links) != 1:
            found = "; ".join(link.describe() for link in links)
            self.problems.add(
                spec.problem(
                    f"'{spec.collection}' and '{other}' are linked in {len(links)} ways"
                    + (f" ({found})" if found else ""),
                    "name the local column: {column: " + spec.column + ", via: <column>}"
                    if links
                    else "add a reference in the datamap or a foreign key, or give via: <column>",
                )
            )
            return None
        kind = there_table.columns[column].kind
        if not self._usable(spec, kind, there_table.name, column):
            return None
        return Clock(spec.event, ref, there, there_table.name, column, kind, links[0], spec.where)

    def _own(
        self, spec: BindingSpec, ref: CollectionRef, table: Table, column: str, *, quiet: bool
    ) -> Clock | None:
        if column not in table.columns:
            if not quiet:
                near = difflib.get_close_matches(column, list(table.columns), n=1)
                self.problems.add(
                    spec.problem(
                        f"table '{table.name}' has no column '{column}' (clock of '{spec.event}')",
                        f"did you mean '{near[0]}'?"
                        if near
                        else f"columns: {', '.join(sorted(table.columns))[:300]}",
                    )
                )
            return None
        kind = table.columns[column].kind
        if not self._usable(spec, kind, table.name, column):
            return None
        return Clock(spec.event, ref, ref, table.name, column, kind, None, spec.where)

    def _usable(self, spec: BindingSpec, kind: ColumnKind, table: str, column: str) -> bool:
        if kind in _TIME_KINDS or kind == "boolean":
            return True
        self.problems.add(
            spec.problem(
                f"'{table}.{column}' is of kind {kind}: a clock is a date, a time, ISO text, epoch "
                "seconds, or a boolean sent marker"
            )
        )
        return False

    def clock(self, ref: CollectionRef, event: str) -> Clock | None:
        """The clock of ``event`` in collection ``ref``, or None when it is bound nowhere there."""
        found = self._clocks.get((ref, event))
        if found is not None:
            return found
        table = self._table(ref)
        if (
            table is not None
            and event in table.columns
            and table.columns[event].kind in (*_TIME_KINDS, "boolean")
        ):
            kind = table.columns[event].kind
            return Clock(event, ref, ref, table.name, event, kind, None, "a column named like the event")
        return None

    def bound_anywhere(self, event: str) -> list[Clock]:
        """Every collection where ``event`` has a clock (anchors of a legal hold)."""
        found = (self.clock(collection.ref, event) for collection in self.datamap.collections())
        return [clock for clock in found if clock is not None]


def require_valid(problems: Sequence[Problem]) -> None:
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise DatamapError(f"retention clocks have {len(errors)} problem(s)", problems=list(problems))
