"""Links between two collections of one dataset: which column of one equals which of the other.

Found in the datamap's references (declared on either side, any direction: a reference says the
two fields hold the same values) and in the live foreign keys of the database. A retention clock
kept in another table (an address ends with its customer's account) and a legal hold anchored in
another table (a customer's name is kept while their invoices are) both follow such links.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pledge.connectors.base import Table
from pledge.datamap.model import CollectionRef, Datamap

__all__ = ["Link", "links_between"]


@dataclass(frozen=True, slots=True)
class Link:
    """Rows of ``here`` and rows of ``there`` belong together when ``here.column == there.column``."""

    here: CollectionRef
    column: str
    there: CollectionRef
    there_column: str
    found_in: str
    """``reference`` (the datamap) or ``foreign key`` (the live schema)."""

    def describe(self) -> str:
        return f"{self.here[1]}.{self.column} = {self.there[1]}.{self.there_column} ({self.found_in})"


def links_between(
    datamap: Datamap,
    schemas: Mapping[str, Mapping[str, Table]],
    here: CollectionRef,
    there: CollectionRef,
) -> list[Link]:
    """Every link from ``here`` to ``there`` (same dataset; single-column links only)."""
    if here[0] != there[0] or here == there:
        return []
    found: dict[tuple[str, str], Link] = {}
    a, b = datamap.collection(here), datamap.collection(there)
    if a is None or b is None:
        return []
    for f in a.fields:
        for ref in f.references:
            if ref.target.collection_ref == there and len(ref.target.path) == 1:
                found.setdefault(
                    (f.column, ref.target.path[0]),
                    Link(here, f.column, there, ref.target.path[0], "reference"),
                )
    for f in b.fields:
        for ref in f.references:
            if ref.target.collection_ref == here and len(ref.target.path) == 1:
                found.setdefault(
                    (ref.target.path[0], f.column),
                    Link(here, ref.target.path[0], there, f.column, "reference"),
                )
    schema = schemas.get(here[0], {})
    table_a, table_b = schema.get(a.name), schema.get(b.name)
    if table_a is not None and table_b is not None:
        for fk in table_a.foreign_keys:
            if fk.target == table_b.name and len(fk.columns) == 1:
                pair = (fk.columns[0], fk.target_columns[0])
                found.setdefault(pair, Link(here, pair[0], there, pair[1], "foreign key"))
        for fk in table_b.foreign_keys:
            if fk.target == table_a.name and len(fk.columns) == 1:
                pair = (fk.target_columns[0], fk.columns[0])
                found.setdefault(pair, Link(here, pair[0], there, pair[1], "foreign key"))
    return sorted(found.values(), key=lambda link: (link.column, link.there_column))
