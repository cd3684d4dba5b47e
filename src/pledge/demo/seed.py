"""Fill the demo shop's databases from a datamap: tables from ``pledge.datamap.schema.tables_for``,
rows made up for fictional people, following the datamap's references.

Any datamap whose fields give a ``data_type`` works (the PESI example's does). Each root collection
with an identity (``customers``) gets one row per person; a collection found *from* another one
(``orders`` from ``customers``) gets a few rows per parent row; a field pointing *to* another
collection (``orders.shipping_address_id``) takes a row of the same person. Values come from the
field's data category, helped by its name (``first_name`` vs ``last_name``). Deterministic.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from pledge.datamap.model import Collection, CollectionRef, Datamap, Field
from pledge.datamap.schema import tables_for
from pledge.demo.fake import Person

__all__ = ["SeededShop", "seed_shop"]

_PRODUCTS = (
    ("SEM-ANX-101", 219.99),
    ("SEM-TRAUMA-7", 249.99),
    ("SEM-ADHD-3", 199.99),
    ("SEM-ETHICS-2", 179.99),
    ("BK-CBT-2E", 39.99),
    ("BK-DBT-SKILLS", 44.99),
    ("BK-PLAYTHERAPY", 34.99),
    ("DVD-MINDFUL-1", 59.99),
)
_NOTES = (
    "Please leave with the neighbour if nobody is home.",
    "Gift for a colleague: no invoice in the parcel, please.",
    "I could not sign in to download the seminar handouts.",
    "Please change the name on my certificate.",
    "Can I move my registration to the spring seminar?",
    "The workbook arrived damaged.",
)
_BROKERS = ("Northfield Lists", "Meridian Mailing", "Harbour Data Partners")
_CHANNELS = ("email", "postal_mail", "phone")
_OUTCOMES = ("passed", "passed", "passed", "review")
# A "last ..." time never comes before the row's own start (a house-file entry is last active after
# it joined), so retention clocks counted from it read like a shop's.
_STARTS = ("created_at", "joined_at", "opened_at")


@dataclass
class SeededShop:
    rows: dict[str, int] = field(default_factory=dict)
    """``dataset:collection`` → rows written."""
    present: dict[str, set[int]] = field(default_factory=dict)
    """``dataset:collection`` → indexes of the people with a row there."""


@dataclass
class _Row:
    person: int
    values: dict[str, Any]


def _parents(collection: Collection) -> list[tuple[Field, CollectionRef]]:
    """Fields whose reference says rows here are found *from* another collection's rows."""
    return [
        (f, ref.target.collection_ref)
        for f in collection.fields
        for ref in f.references
        if ref.direction in ("from", "both") and ref.target.collection_ref != collection.ref
    ]


def _pointers(collection: Collection) -> list[tuple[Field, CollectionRef, str]]:
    return [
        (f, ref.target.collection_ref, ref.target.path[0])
        for f in collection.fields
        for ref in f.references
        if ref.direction == "to" and ref.target.collection_ref != collection.ref
    ]


def _order(datamap: Datamap) -> list[Collection]:
    """Collections, each after the ones it is found from or points to."""
    collections = {c.ref: c for c in datamap.collections()}
    done: list[Collection] = []
    seen: set[CollectionRef] = set()

    def visit(ref: CollectionRef, stack: frozenset[CollectionRef]) -> None:
        if ref in seen or ref in stack or ref not in collections:
            return
        collection = collections[ref]
        for _, target in _parents(collection):
            visit(target, stack | {ref})
        for _, target, _ in _pointers(collection):
            visit(target, stack | {ref})
        seen.add(ref)
        done.append(collection)

    for ref in collections:
        visit(ref, frozenset())
    return done


def seed_shop(
    datamap: Datamap,
    urls: Mapping[str, str],
    persons: Sequence[Person],
    *,
    today: dt.date,
    seed: int = 2018,
) -> SeededShop:
    """Create every dataset's tables at its URL and fill them. Tables must not exist yet."""
    rng = random.Random(seed)
    rows: dict[CollectionRef, list[_Row]] = defaultdict(list)
    next_id: dict[CollectionRef, int] = defaultdict(lambda: 1)
    for collection in _order(datamap):
        parents = _parents(collection)
        has_identity = bool(collection.identities)
        owners: list[tuple[int, _Row | None]] = []
        if not parents:
            owners = [(p.index, None) for p in persons] if has_identity else []
        else:
            link, parent_ref = parents[0]
            for above in rows[parent_ref]:
                if has_identity:
                    count = 1 if above.person == 0 or rng.random() < 0.6 else 0
                else:
                    count = rng.choice((0, 1, 1, 2, 3)) if above.person else 2
                owners.extend((above.person, above) for _ in range(count))
        for person_index, parent in owners:
            person = persons[person_index]
            row_id = next_id[collection.ref]
            next_id[collection.ref] += 1
            values: dict[str, Any] = {}
            for f in collection.fields:
                values[f.column] = _value(f, person, row_id, rng, today)
            _in_order(values)
            if parent is not None:
                link, parent_ref = parents[0]
                target_column = next(
                    r.target.path[0] for r in link.references if r.target.collection_ref == parent_ref
                )
                values[link.column] = parent.values.get(target_column)
            for f, target, column in _pointers(collection):
                mine = [r for r in rows[target] if r.person == person_index]
                values[f.column] = rng.choice(mine).values.get(column) if mine else None
            rows[collection.ref].append(_Row(person_index, values))

    shop = SeededShop()
    for dataset in datamap.datasets:
        url = urls.get(dataset.fides_key)
        if url is None:
            continue
        engine = sa.create_engine(url)
        try:
            metadata = tables_for(datamap, dataset.fides_key)
            metadata.create_all(engine)
            with engine.begin() as conn:
                for table in metadata.sorted_tables:
                    ref = (dataset.fides_key, table.name)
                    found = rows.get(ref, [])
                    if found:
                        conn.execute(table.insert(), [r.values for r in found])
                    key = f"{dataset.fides_key}:{table.name}"
                    shop.rows[key] = len(found)
                    shop.present[key] = {r.person for r in found}
        finally:
            engine.dispose()
    return shop


def _in_order(values: dict[str, Any]) -> None:
    starts = [v for k, v in values.items() if k in _STARTS and isinstance(v, dt.datetime)]
    if not starts:
        return
    for column, value in values.items():
        if column.startswith("last_") and isinstance(value, dt.datetime):
            values[column] = max(value, *starts)


def _value(f: Field, person: Person, row_id: int, rng: random.Random, today: dt.date) -> Any:
    kind = (f.data_type or "string").lower()
    name = f.name.lower()
    cats = f.categories
    category = cats[0] if cats else ""
    if f.primary_key:
        return row_id
    if f.fields or kind in ("object", "json"):
        return {"note": "demo"}
    if kind == "boolean":
        return rng.random() < 0.15
    if kind in ("date", "datetime"):
        if "closed" in name:  # an account closed: a few, in the last year or so; never the demo's own
            if person.index == 0 or rng.random() >= 0.12:
                return None
            day = today - dt.timedelta(days=rng.randrange(1, 400))
        elif "birth" in name or category == "user.demographic.date_of_birth":
            day = person.birth_date
        elif person.index == 0 and name.startswith("last_"):  # the demo's own person is active
            day = today - dt.timedelta(days=rng.randrange(3, 60))
        else:
            day = today - dt.timedelta(days=rng.randrange(3, 5 * 365))
        if kind == "date":
            return day
        return dt.datetime.combine(day, dt.time(rng.randrange(8, 20), rng.randrange(60)))
    if kind == "integer":
        return rng.randrange(1, 4)
    if kind in ("float", "number"):
        return round(rng.choice(_PRODUCTS)[1] * rng.randrange(1, 3), 2)
    text = _text(f, name, category, person, row_id, rng)
    return text[: f.length] if f.length else text


def _text(f: Field, name: str, category: str, person: Person, row_id: int, rng: random.Random) -> str:
    if category.startswith("user.contact.email"):
        return person.email
    if category.startswith("user.contact.phone"):
        return person.phone
    if category == "user.contact.address.street":
        return person.street
    if category == "user.contact.address.city":
        return person.city
    if category == "user.contact.address.state":
        return person.state
    if category == "user.contact.address.postal_code":
        return person.postal_code
    if category == "user.contact.address.country":
        return person.country
    if category.startswith("user.contact.address"):
        return person.address
    if category.startswith("user.name"):
        if "first" in name or "given" in name:
            return person.first
        if "last" in name or "family" in name or "surname" in name:
            return person.last
        return person.name
    if category.startswith("user.job_title"):
        return person.profession
    if category.startswith("user.account"):
        return person.username
    if category.startswith("user.authorization"):
        return f"$argon2id$v=19$demo${row_id:08x}"
    if category.startswith("user.content.private.call_recording"):
        return f"https://recordings.example.net/calls/{row_id:05d}.mp3"
    if category.startswith("user.content"):
        return rng.choice(_NOTES)
    if category.startswith("user.privacy_preferences"):
        return rng.choice(_CHANNELS)
    if category.startswith("user.device.ip_address"):
        return f"203.0.113.{rng.randrange(1, 255)}"  # TEST-NET-3, reserved for documentation (RFC 5737)
    if category.startswith("user.behavior.purchase_history"):
        if (f.length or 0) <= 4:
            return f"{rng.randrange(10000):04d}"
        return rng.choice(_PRODUCTS)[0]
    if "token" in name:
        return f"tok_{rng.getrandbits(64):016x}"
    if "broker" in name:
        return rng.choice(_BROKERS)
    if "channel" in name:
        return rng.choice(_CHANNELS)
    if "outcome" in name:
        return rng.choice(_OUTCOMES)
    return f"demo-{row_id}"
