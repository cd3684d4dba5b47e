"""A realistic shop for the retention tests, on SQLite, PostgreSQL or MariaDB.

customers ← addresses, orders ← order_lines, referrals, sessions ← session_locations, tickets,
telemetry. NOT NULL columns, foreign keys two levels deep, times stored as DATE and DATETIME.
The clock of every rule is written in the datamap (``meta.pledge.retention_clocks``), some of them
through a linked table (addresses end with their customer's account).

The clock is fixed: ``NOW`` = 2025-06-15T12:00:00Z. Row data is built relative to it.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from pledge.audit.sink import MemoryAudit
from pledge.connectors import open_connector
from pledge.connectors.base import Connector
from pledge.datamap import Datamap, parse_datamap
from pledge.declaration import LoadedDeclaration, parse_declaration
from pledge.retention import SweepPlan, SweepReport, SweepStore, compile_plan, parse_bindings, run_sweep
from pledge.storage import Database

HASH_KEY = b"h" * 32
NOW = dt.datetime(2025, 6, 15, 12, 0, tzinfo=dt.UTC)
N = NOW.replace(tzinfo=None)

meta = sa.MetaData()
customers = sa.Table(
    "customers",
    meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("email", sa.String(254), nullable=False, unique=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("phone", sa.String(30), nullable=True),
    sa.Column("birth_date", sa.Date, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("closed_at", sa.DateTime, nullable=True),
)
addresses = sa.Table(
    "addresses",
    meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False, index=True),
    sa.Column("street", sa.String(200), nullable=False),
    sa.Column("city", sa.String(100), nullable=False),
    sa.Column("postal_code", sa.String(20), nullable=True),
)
orders = sa.Table(
    "orders",
    meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False, index=True),
    sa.Column("placed_at", sa.Date, nullable=False),
    sa.Column("billing_name", sa.String(160), nullable=False),
    sa.Column("total", sa.Numeric(10, 2), nullable=False),
    sa.Column("note", sa.Text, nullable=True),
)
order_lines = sa.Table(
    "order_lines",
    meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("order_id", sa.Integer, sa.ForeignKey("orders.id"), nullable=False, index=True),
    sa.Column("sku", sa.String(40), nullable=False),
    sa.Column("gift_message", sa.String(200), nullable=True),
)
referrals = sa.Table(
    "referrals",
    meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("referrer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False, index=True),
    sa.Column("friend_name", sa.String(100), nullable=False),
    sa.Column("friend_email", sa.String(254), nullable=False),
    sa.Column("invited_at", sa.DateTime, nullable=True),
)
sessions = sa.Table(
    "sessions",
    meta,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=True),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("ended_at", sa.DateTime, nullable=True),
)
session_locations = sa.Table(
    "session_locations",
    meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("session_id", sa.String(40), sa.ForeignKey("sessions.id"), nullable=False, index=True),
    sa.Column("city", sa.String(100), nullable=False),
    sa.Column("latitude", sa.Float, nullable=True),
)
tickets = sa.Table(
    "tickets",
    meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=True),
    sa.Column("contact_email", sa.String(254), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("last_activity_at", sa.DateTime, nullable=False),
)
telemetry = sa.Table(
    "telemetry",
    meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=True),
    sa.Column("ip", sa.String(45), nullable=True),
    sa.Column("user_agent", sa.String(300), nullable=False),
    sa.Column("collected_at", sa.DateTime, nullable=False),
)
suppressions = sa.Table(
    "suppressions",
    meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("customer_id", sa.Integer, nullable=True),
    sa.Column("email_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)


def days(n: float) -> dt.timedelta:
    return dt.timedelta(days=n)


def base_rows() -> dict[sa.Table, list[dict[str, Any]]]:
    """A small, hand-made shop: each row is there to test one thing (see the comments)."""
    return {
        customers: [
            # 1: active, with recent orders. 2: closed 60 days ago, orders 8 years old (hold over).
            # 3: closed 10 days ago (grace of 30 days still running). 4: closed 2 years ago, an order
            # 3 years old (the tax hold keeps the name). 5: a minor (born 12 years ago).
            _customer(1, "ann@example.com", "Ann Archer", None, None),
            _customer(2, "bob@example.com", "Bob Baker", N - days(60), None),
            _customer(3, "cat@example.com", "Cat Cole", N - days(10), None),
            _customer(4, "dan@example.com", "Dan Dale", N - days(730), None),
            _customer(5, "eve@example.com", "Eve Young", None, (N - days(12 * 365)).date()),
        ],
        addresses: [
            {"id": 10, "customer_id": 1, "street": "1 Long Lane", "city": "Leeds", "postal_code": "LS1"},
            {"id": 20, "customer_id": 2, "street": "2 Elm Rd", "city": "Bath", "postal_code": None},
            {"id": 30, "customer_id": 3, "street": "3 Oak St", "city": "York", "postal_code": "YO1"},
            {"id": 40, "customer_id": 4, "street": "4 Ash Ave", "city": "Hull", "postal_code": "HU1"},
        ],
        orders: [
            _order(100, 1, (N - days(30)).date(), "Ann Archer", "Leave at the door"),
            _order(200, 2, (N - days(8 * 365)).date(), "Bob Baker", "Ring twice"),
            _order(400, 4, (N - days(3 * 365)).date(), "Dan Dale", None),
            _order(500, 5, (N - days(20)).date(), "Eve Young", "For my mum"),
        ],
        order_lines: [
            {"id": 1000, "order_id": 100, "sku": "BOOK-1", "gift_message": None},
            {"id": 2000, "order_id": 200, "sku": "PEN-1", "gift_message": "Happy birthday"},
            {"id": 4000, "order_id": 400, "sku": "INK-1", "gift_message": "Thanks"},
        ],
        referrals: [
            # sent: the friend's details go. Not yet sent: they stay.
            {
                "id": 1,
                "referrer_id": 1,
                "friend_name": "Fay Friend",
                "friend_email": "fay@example.net",
                "invited_at": N - days(1),
            },
            {
                "id": 2,
                "referrer_id": 1,
                "friend_name": "Gus Guest",
                "friend_email": "gus@example.net",
                "invited_at": None,
            },
        ],
        sessions: [
            {
                "id": "s-ended",
                "customer_id": 1,
                "started_at": N - days(2),
                "ended_at": N - days(2) + dt.timedelta(hours=1),
            },
            {"id": "s-open", "customer_id": 1, "started_at": N - dt.timedelta(hours=1), "ended_at": None},
        ],
        session_locations: [
            {"id": 1, "session_id": "s-ended", "city": "Leeds", "latitude": 53.8},
            {"id": 2, "session_id": "s-open", "city": "Leeds", "latitude": 53.8},
        ],
        tickets: [
            {
                "id": 1,
                "customer_id": 1,
                "contact_email": "ann@example.com",
                "body": "Where is my parcel?",
                "last_activity_at": N - days(800),
            },
            {
                "id": 2,
                "customer_id": 1,
                "contact_email": "ann@example.com",
                "body": "Thanks!",
                "last_activity_at": N - days(100),
            },
        ],
        suppressions: [
            # An opt-out is remembered indefinitely, however old.
            {
                "id": 1,
                "customer_id": 2,
                "email_hash": "h$0f1e2d3c4b5a69788796a5b4c3d2e1f0",
                "created_at": N - days(4000),
            },
        ],
        telemetry: [
            {
                "id": 1,
                "customer_id": 1,
                "ip": "203.0.113.9",
                "user_agent": "Mozilla/5.0 (X11)",
                "collected_at": N - days(500),
            },
            {
                "id": 2,
                "customer_id": None,
                "ip": "198.51.100.7",
                "user_agent": "curl/8.0",
                "collected_at": N - days(5),
            },
        ],
    }


def _customer(
    i: int, email: str, name: str, closed: dt.datetime | None, born: dt.date | None
) -> dict[str, Any]:
    return {
        "id": i,
        "email": email,
        "name": name,
        "phone": f"+44 20 7946 000{i}",
        "birth_date": born,
        "created_at": N - days(3000),
        "closed_at": closed,
    }


def _order(i: int, customer: int, placed: dt.date, name: str, note: str | None) -> dict[str, Any]:
    return {
        "id": i,
        "customer_id": customer,
        "placed_at": placed,
        "billing_name": name,
        "total": decimal.Decimal("10.00"),
        "note": note,
    }


DATAMAP = textwrap.dedent(
    """\
    dataset:
      - fides_key: shop
        name: Shop
        meta:
          pledge:
            retention_clocks:
              customers: {account_closed: closed_at}
              addresses: {account_closed: customers.closed_at}
              orders: {order_date: placed_at}
              order_lines: {order_date: orders.placed_at}
              referrals: {sent: invited_at}
              session_locations: {session_end: sessions.ended_at}
              tickets: {last_activity: last_activity_at}
              telemetry: {collected: collected_at}
        collections:
          - name: customers
            fields:
              - {name: id, data_categories: [user.unique_id], fides_meta: {primary_key: true}}
              - {name: email, data_categories: [user.contact.email], fides_meta: {identity: email}}
              - {name: name, data_categories: [user.name]}
              - {name: phone, data_categories: [user.contact.phone_number]}
              - {name: birth_date, data_categories: [user.demographic.date_of_birth]}
              - {name: created_at, data_categories: [system.operations]}
              - {name: closed_at, data_categories: [system.operations]}
          - name: addresses
            fields:
              - {name: id, data_categories: [system.operations], fides_meta: {primary_key: true}}
              - name: customer_id
                data_categories: [system.operations]
                fides_meta: {references: [{dataset: shop, field: customers.id, direction: from}]}
              - {name: street, data_categories: [user.contact.address.street]}
              - {name: city, data_categories: [user.contact.address.city]}
              - {name: postal_code, data_categories: [user.contact.address.postal_code]}
          - name: orders
            fields:
              - {name: id, data_categories: [system.operations], fides_meta: {primary_key: true}}
              - name: customer_id
                data_categories: [system.operations]
                fides_meta: {references: [{dataset: shop, field: customers.id, direction: from}]}
              - {name: placed_at, data_categories: [system.operations]}
              - {name: billing_name, data_categories: [user.name]}
              - {name: total, data_categories: [user.financial]}
              - {name: note, data_categories: [user.content.private]}
          - name: order_lines
            fields:
              - {name: id, data_categories: [system.operations], fides_meta: {primary_key: true}}
              - name: order_id
                data_categories: [system.operations]
                fides_meta: {references: [{dataset: shop, field: orders.id, direction: from}]}
              - {name: sku, data_categories: [system.operations]}
              - {name: gift_message, data_categories: [user.content.private]}
          - name: referrals
            fields:
              - {name: id, data_categories: [system.operations], fides_meta: {primary_key: true}}
              - name: referrer_id
                data_categories: [system.operations]
                fides_meta: {references: [{dataset: shop, field: customers.id, direction: from}]}
              - {name: friend_name, data_categories: [user.name]}
              - {name: friend_email, data_categories: [user.contact.email]}
              - {name: invited_at, data_categories: [system.operations]}
          - name: sessions
            fields:
              - {name: id, data_categories: [system.operations], fides_meta: {primary_key: true}}
              - name: customer_id
                data_categories: [system.operations]
                fides_meta: {references: [{dataset: shop, field: customers.id, direction: from}]}
              - {name: started_at, data_categories: [system.operations]}
              - {name: ended_at, data_categories: [system.operations]}
          - name: session_locations
            fields:
              - {name: id, data_categories: [system.operations], fides_meta: {primary_key: true}}
              - name: session_id
                data_categories: [system.operations]
                fides_meta: {references: [{dataset: shop, field: sessions.id, direction: from}]}
              - {name: city, data_categories: [user.location]}
              - {name: latitude, data_categories: [user.location]}
          - name: tickets
            fields:
              - {name: id, data_categories: [system.operations], fides_meta: {primary_key: true}}
              - name: customer_id
                data_categories: [system.operations]
                fides_meta: {references: [{dataset: shop, field: customers.id, direction: from}]}
              - {name: contact_email, data_categories: [user.contact.email], fides_meta: {identity: email}}
              - {name: body, data_categories: [user.content.private]}
              - {name: last_activity_at, data_categories: [system.operations]}
          - name: suppressions
            fields:
              - {name: id, data_categories: [system.operations], fides_meta: {primary_key: true}}
              - name: customer_id
                data_categories: [system.operations]
                fides_meta: {references: [{dataset: shop, field: customers.id, direction: from}]}
              - {name: email_hash, data_categories: [user.privacy_preferences]}
              - {name: created_at, data_categories: [system.operations]}
          - name: telemetry
            fields:
              - {name: id, data_categories: [system.operations], fides_meta: {primary_key: true}}
              - name: customer_id
                data_categories: [system.operations]
                fides_meta: {references: [{dataset: shop, field: customers.id, direction: from}]}
              - {name: ip, data_categories: [user.device.ip_address]}
              - {name: user_agent, data_categories: [user.device]}
              - {name: collected_at, data_categories: [system.operations]}
    """
)

DECLARATION = textwrap.dedent(
    """\
    policy_version: "1.0"
    effective: 2024-01-01
    organisation:
      name: Example Shop Ltd
      contacts:
        - kind: privacy
          email: privacy@shop.test
    subjects:
      - id: customers
        name: Customers
      - id: friends
        name: Friends our customers refer
    data_sources:
      - id: account
        name: Account sign-up
        kind: account
        categories: [user.name, user.contact, user.demographic.date_of_birth]
      - id: checkout
        name: Checkout
        kind: order
        categories: [user.name, user.contact.address, user.financial, user.content.private]
      - id: referral
        name: Tell a friend
        kind: referral
        categories: [user.name, user.contact.email]
      - id: unsubscribe
        name: Unsubscribe links
        kind: form
        categories: [user.privacy_preferences]
      - id: site
        name: The website
        kind: device
        categories: [user.device, user.location]
    purposes:
      - id: account
        name: Run the customer's account
        lawful_basis: contract
        categories: [user.name, user.contact, user.demographic.date_of_birth]
      - id: orders
        name: Fulfil and account for orders
        lawful_basis: contract
        categories: [user.name, user.contact.address, user.financial, user.content.private]
      - id: referral
        name: Send a friend one invitation
        lawful_basis: legitimate_interest
        legitimate_interest: Our customers ask us to invite their friends.
        categories: [user.name, user.contact.email]
      - id: support
        name: Answer support tickets
        lawful_basis: contract
        categories: [user.contact.email, user.content.private]
      - id: location
        name: Pick the nearest server
        lawful_basis: legitimate_interest
        legitimate_interest: A fast connection.
        categories: [user.location]
      - id: suppression
        name: Honour opt-outs
        lawful_basis: legal_obligation
        categories: [user.privacy_preferences]
      - id: telemetry
        name: Improve the site
        lawful_basis: legitimate_interest
        legitimate_interest: A site that works.
        categories: [user.device]
    retention:
      - id: account
        purposes: [account]
        period: while_account_active
        grace: P30D
        reason: Kept while the account is open, and 30 days after.
      - id: orders
        purposes: [orders]
        period: P7Y
        from: order_date
        reason: Tax law keeps order records seven years.
      - id: referral_friend
        categories: [user.name, user.contact.email]
        subjects: [friends]
        period: until_sent
        action: delete
        reason: The friend's details are needed only to send the one invitation.
      - id: location
        purposes: [location]
        period: session
      - id: support
        purposes: [support]
        period: P2Y
        from: last_activity
      - id: telemetry
        purposes: [telemetry]
        period: P13M
        from: collected
        action: anonymise
      - id: suppression_list
        categories: [user.privacy_preferences]
        period: indefinite
        reason: An opt-out is remembered so that it is honoured.
    legal_holds:
      - id: tax_records
        categories: [user.name, user.contact.address, user.financial]
        law: Tax code, seven-year bookkeeping
        period: P7Y
        from: order_date
    minimum_age:
      age: 16
      reason: The age of digital consent here.
      on_detection: purge
    erasure:
      - categories: [user.device.ip_address]
        strategy: mask
    """
)


def declaration(text: str = DECLARATION) -> LoadedDeclaration:
    return parse_declaration(text, "privacy.yaml")


def datamap(text: str = DATAMAP, decl: LoadedDeclaration | None = None) -> Datamap:
    return parse_datamap([("datamap.yaml", text)], declaration=decl)


def create(url: str, rows: dict[sa.Table, list[dict[str, Any]]]) -> None:
    engine = sa.create_engine(url)
    try:
        meta.create_all(engine)
        with engine.begin() as conn:
            for table in meta.sorted_tables:
                if rows.get(table):
                    conn.execute(table.insert(), rows[table])
    finally:
        engine.dispose()


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted: compare the whole database before and after."""
    engine = sa.create_engine(url)
    out: dict[str, list[tuple[Any, ...]]] = {}
    try:
        with engine.connect() as conn:
            for table in meta.sorted_tables:
                rows = conn.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
                out[table.name] = [
                    tuple(json.dumps(v) if isinstance(v, dict | list) else v for v in r) for r in rows
                ]
    finally:
        engine.dispose()
    return out


@dataclass
class Shop:
    """A seeded shop database with what a sweep needs around it."""

    dialect: str
    url: str
    pledge_url: str
    opened: list[Connector] = field(default_factory=list)
    audit: MemoryAudit = field(default_factory=MemoryAudit)
    _db: Database | None = None

    def connectors(self) -> dict[str, Connector]:
        connector = open_connector("shop", self.url)
        self.opened.append(connector)
        return {"shop": connector}

    @property
    def db(self) -> Database:
        if self._db is None:
            self._db = Database(self.pledge_url)
            self._db.migrate()
        return self._db

    def store(self, **kw: Any) -> SweepStore:
        return SweepStore(self.db, **kw)

    def plan(
        self,
        decl: LoadedDeclaration | None = None,
        datamap_text: str = DATAMAP,
        rules: list[str] | None = None,
        connectors: dict[str, Connector] | None = None,
    ) -> SweepPlan:
        loaded = decl or declaration()
        specs, problems = parse_bindings([("datamap.yaml", datamap_text)])
        assert not [p for p in problems if p.severity == "error"], problems
        schemas = {k: c.describe() for k, c in (connectors or self.connectors()).items()}
        return compile_plan(loaded, datamap(datamap_text, loaded), specs, schemas, rules=rules, hash_key=True)

    def sweep(
        self, plan: SweepPlan | None = None, *, dry_run: bool = False, now: dt.datetime = NOW, **kw: Any
    ) -> SweepReport:
        connectors = kw.pop("connectors", None) or self.connectors()
        store = kw.pop("store", None) or (None if dry_run else self.store())
        audit = kw.pop("audit", self.audit)
        return run_sweep(
            plan or self.plan(connectors=connectors),
            connectors,
            now=now,
            dry_run=dry_run,
            store=store,
            audit=audit,
            hash_key=HASH_KEY,
            **kw,
        )

    def rows(self, table: sa.Table) -> list[dict[str, Any]]:
        engine = sa.create_engine(self.url)
        try:
            with engine.connect() as conn:
                query = sa.select(table).order_by(*table.primary_key.columns)
                return [dict(r._mapping) for r in conn.execute(query)]
        finally:
            engine.dispose()

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        return snapshot(self.url)

    def close(self) -> None:
        for connector in self.opened:
            connector.close()
        if self._db is not None:
            self._db.dispose()


def urls(dialect: str, request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(shop URL, Pledge's URL): the shop on the given server; Pledge's own database on SQLite
    (the store has tests of its own on PostgreSQL)."""
    if dialect == "sqlite":
        return f"sqlite:///{tmp_path / 'shop.db'}", f"sqlite:///{tmp_path / 'pledge.db'}"
    factory: Callable[[], str] = request.getfixturevalue(
        "make_pg_url" if dialect == "postgresql" else "make_mariadb_url"
    )
    return factory(), f"sqlite:///{tmp_path / 'pledge.db'}"


def make_shop(dialect: str, request: pytest.FixtureRequest, tmp_path: Path, rows: Any = None) -> Shop:
    url, pledge = urls(dialect, request, tmp_path)
    create(url, base_rows() if rows is None else rows)
    return Shop(dialect, url, pledge)


@pytest.fixture(name="shop", params=["sqlite", "postgresql", "mariadb"])
def shop_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Shop]:
    made = make_shop(request.param, request, tmp_path)
    yield made
    made.close()


@pytest.fixture(name="sqlite_shop")
def sqlite_shop_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Shop]:
    made = make_shop("sqlite", request, tmp_path)
    yield made
    made.close()
