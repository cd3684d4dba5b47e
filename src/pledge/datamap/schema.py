"""Tables described by a datamap, for demos and tests: ``tables_for(datamap, "shop")``.

A datamap says little about storage, so this is a best effort: each field's ``data_type`` picks a
column type (``length`` sizes strings), ``primary_key`` fields form the key, and a reference within
the dataset to another collection's single-column primary key becomes a foreign key. Columns are
nullable except the key. Real businesses bring their own schema; this builds one to try Pledge on.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from pledge.datamap.model import Collection, Datamap, Field
from pledge.errors import InputError

__all__ = ["tables_for"]

_TYPES: dict[str, Any] = {
    "integer": sa.Integer,
    "float": sa.Float,
    "number": sa.Numeric,
    "boolean": sa.Boolean,
    "date": sa.Date,
    "datetime": sa.DateTime,
    "object": sa.JSON,
    "json": sa.JSON,
}


def _type(f: Field) -> Any:
    kind = (f.data_type or "string").lower()
    if f.fields or kind.endswith("[]"):
        return sa.JSON()
    if kind in _TYPES:
        return _TYPES[kind]()
    return sa.String(f.length or 255)


def _foreign_key(datamap: Datamap, collection: Collection, f: Field) -> str | None:
    for ref in f.references:
        target = datamap.collection(ref.target.collection_ref)
        if ref.target.dataset != collection.dataset or target is None or target is collection:
            continue
        key = [k.column for k in target.primary_key]
        if key == [ref.target.path[0]] and len(ref.target.path) == 1:
            return f"{target.name}.{key[0]}"
    return None


def tables_for(datamap: Datamap, fides_key: str, metadata: sa.MetaData | None = None) -> sa.MetaData:
    """A ``MetaData`` with one table per collection of the dataset (``create_all`` builds them)."""
    dataset = datamap.dataset(fides_key)
    if dataset is None:
        raise InputError(f"the datamap has no dataset '{fides_key}'")
    metadata = metadata if metadata is not None else sa.MetaData()
    for collection in dataset.collections:
        columns: list[sa.Column[Any]] = []
        for f in collection.fields:
            args: list[Any] = [_type(f)]
            target = _foreign_key(datamap, collection, f)
            if target is not None and not f.primary_key:
                args.append(sa.ForeignKey(target))
            columns.append(
                sa.Column(
                    f.column,
                    *args,
                    primary_key=f.primary_key,
                    autoincrement=False,
                    nullable=not f.primary_key,
                )
            )
        sa.Table(collection.name, metadata, *columns)
    return metadata
