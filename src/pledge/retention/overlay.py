"""A dry run that agrees with the run: the same code writing into a layer over the real database.

A retention dry run does not *predict* what a run would do: it does it, through
:class:`OverlayConnector`, whose sessions read the real database (never locking, never writing)
and keep every delete and update in memory. Later reads of the same run see them: a row deleted
by one unit is gone for the next unit's scan, a parent whose children were deleted earlier is no
longer blocked by them. So the dry run takes every decision the run would take, with the same
counts, as long as nobody else writes to the database in between.

Rows are recognised by the primary-key columns the erasure engine names in its deletes and
updates; a read of a table adds those columns when the caller did not ask for them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pledge.connectors.base import Connector, Row, RowChange, Session, Table, fold_text

__all__ = ["Overlay", "OverlayConnector", "norm_key"]


def norm_key(values: Sequence[Any]) -> tuple[Any, ...]:
    """A key comparable whether it came from a scan, a session read or a JSON checkpoint."""
    return tuple(v if type(v) in (int, str) else str(v) for v in values)


@dataclass
class _TableLayer:
    key: tuple[str, ...]
    deleted: set[tuple[Any, ...]] = field(default_factory=set)
    changed: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)


@dataclass
class Overlay:
    """What a dry run has deleted and changed, per ``(dataset, table)``."""

    layers: dict[tuple[str, str], _TableLayer] = field(default_factory=dict)

    def layer(self, dataset: str, table: str, key: Sequence[str] | None = None) -> _TableLayer | None:
        found = self.layers.get((dataset, table))
        if found is None and key is not None:
            found = self.layers[(dataset, table)] = _TableLayer(tuple(key))
        return found

    def apply(self, dataset: str, table: str, rows: list[Row]) -> list[Row]:
        """``rows`` as the run would see them now: deleted ones dropped, changed values applied.
        Rows must carry the layer's key columns."""
        layer = self.layers.get((dataset, table))
        if layer is None or not (layer.deleted or layer.changed):
            return rows
        out: list[Row] = []
        for row in rows:
            k = norm_key([row.get(c) for c in layer.key])
            if k in layer.deleted:
                continue
            change = layer.changed.get(k)
            if change:
                row = dict(row)
                row.update({c: v for c, v in change.items() if c in row})
            out.append(row)
        return out


class OverlaySession:
    def __init__(self, connector: OverlayConnector, real: Session) -> None:
        self.c = connector
        self.real = real

    def read(
        self,
        table: str,
        columns: Sequence[str],
        where: str,
        values: Sequence[Any],
        *,
        lock: bool = False,
        fold: bool = False,
    ) -> list[Row]:
        # ``fold`` is passed on only when set: the Session contract lets a connector without the
        # feature fail only where a datamap asks for it.
        options = {"fold": True} if fold else {}
        layer = self.c.overlay.layer(self.c.key, table)
        if layer is None:
            return self.real.read(table, columns, where, values, **options)
        extra = [k for k in layer.key if k not in columns]
        rows = self.real.read(table, [*columns, *extra], where, values, **options)
        asked: set[Any] | None = None
        out: list[Row] = []
        for row in rows:
            k = norm_key([row.get(c) for c in layer.key])
            if k in layer.deleted:
                continue
            change = layer.changed.get(k)
            if change:
                if where in change:
                    # The dry run rewrote the searched column (a nulled link): match the new value.
                    if asked is None:
                        asked = {fold_text(v) if fold else v for v in values if isinstance(v, int | str)}
                    new = change[where]
                    if not isinstance(new, int | str) or (fold_text(new) if fold else new) not in asked:
                        continue
                row.update({c: v for c, v in change.items() if c in row})
            for name in extra:
                row.pop(name, None)
            out.append(row)
        return out

    def read_any(
        self,
        table: str,
        columns: Sequence[str],
        where: Mapping[str, Sequence[Any]],
        *,
        fold: Collection[str] = (),
    ) -> list[Row]:
        rows: list[Row] = []
        for column, values in where.items():
            rows.extend(self.read(table, columns, column, values, fold=column in fold))
        return rows

    def update(self, table: str, key: Sequence[str], changes: Sequence[RowChange]) -> int:
        layer = self.c.overlay.layer(self.c.key, table, key)
        assert layer is not None
        present = self._present(table, key, [c.key for c in changes], layer)
        done = 0
        for change in changes:
            k = norm_key(change.key)
            if k in present:
                layer.changed.setdefault(k, {}).update(change.values)
                done += 1
        return done

    def delete(self, table: str, key: Sequence[str], keys: Sequence[tuple[Any, ...]]) -> int:
        layer = self.c.overlay.layer(self.c.key, table, key)
        assert layer is not None
        present = self._present(table, key, keys, layer)
        layer.deleted.update(present)
        return len(present)

    def _present(
        self, table: str, key: Sequence[str], keys: Sequence[tuple[Any, ...]], layer: _TableLayer
    ) -> set[tuple[Any, ...]]:
        """The keys of rows that exist (in the real database, and not deleted by the dry run)."""
        wanted = {norm_key(k) for k in keys}
        if not wanted:
            return set()
        rows = self.real.read(table, list(key), key[0], list(dict.fromkeys(k[0] for k in keys)))
        found = {norm_key([r.get(c) for c in key]) for r in rows}
        return (found & wanted) - layer.deleted


class OverlayConnector:
    """A :class:`~pledge.connectors.base.Connector` that never writes (see the module docstring)."""

    scheme_help: ClassVar[str] = "(a dry-run layer over another connector)"

    def __init__(self, real: Connector, overlay: Overlay) -> None:
        self.real = real
        self.overlay = overlay
        self.key = real.key
        self.dialect = real.dialect

    @classmethod
    def accepts(cls, url: str) -> bool:
        return False

    def test(self) -> None:
        self.real.test()

    def describe(self, *, refresh: bool = False) -> Mapping[str, Table]:
        return self.real.describe(refresh=refresh)

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[OverlaySession]:
        with self.real.session(write=False) as real:
            yield OverlaySession(self, real)

    def close(self) -> None:
        """The real connector belongs to the caller."""
