"""A realistic two-database shop for the execution tests, created on SQLite, PostgreSQL or MariaDB.

``shop``: customers ← addresses, orders (→ shipping address) ← order_lines, payments; NOT NULL
columns, foreign keys three levels deep, a JSON profile column with mapped keys inside.
``marketing`` (a second database): newsletter_subscriptions (found by e-mail, and by the shop's
customer id across databases) ← referrals, events.

Import the fixtures into a test module: ``from tests.requests.fixtures_shop import shop_fixture``.
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

from pledge.connectors import open_connector
from pledge.datamap import Datamap, parse_datamap
from pledge.declaration import LoadedDeclaration, parse_declaration
from pledge.requests.execute import RequestExecutor

HASH_KEY = b"k" * 32

shop_meta = sa.MetaData()
customers = sa.Table(
    "customers",
    shop_meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("email", sa.String(254), nullable=False, unique=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("phone", sa.String(30), nullable=True),
    sa.Column("birth_date", sa.Date, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("loyalty_points", sa.Integer, nullable=False),
    sa.Column("profile", sa.JSON, nullable=True),
)
addresses = sa.Table(
    "addresses",
    shop_meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False, index=True),
    sa.Column("street", sa.String(200), nullable=False),
    sa.Column("city", sa.String(100), nullable=False),
    sa.Column("postal_code", sa.String(20), nullable=True),
    sa.Column("country", sa.String(2), nullable=False),
)
orders = sa.Table(
    "orders",
    shop_meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False, index=True),
    sa.Column("shipping_address_id", sa.Integer, sa.ForeignKey("addresses.id"), nullable=True),
    sa.Column("placed_at", sa.Date, nullable=False),
    sa.Column("total", sa.Numeric(10, 2), nullable=False),
    sa.Column("note", sa.Text, nullable=True),
)
order_lines = sa.Table(
    "order_lines",
    shop_meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("order_id", sa.Integer, sa.ForeignKey("orders.id"), nullable=False, index=True),
    sa.Column("sku", sa.String(40), nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("gift_message", sa.String(200), nullable=True),
)
payments = sa.Table(
    "payments",
    shop_meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("order_id", sa.Integer, sa.ForeignKey("orders.id"), nullable=False, index=True),
    sa.Column("amount", sa.Numeric(10, 2), nullable=False),
    sa.Column("card_last4", sa.String(4), nullable=True),
    sa.Column("cardholder", sa.String(100), nullable=False),
)

mkt_meta = sa.MetaData()
subscriptions = sa.Table(
    "newsletter_subscriptions",
    mkt_meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("email", sa.String(254), nullable=False, index=True),
    sa.Column("customer_id", sa.Integer, nullable=True, index=True),
    sa.Column("topics", sa.String(200), nullable=True),
    sa.Column("subscribed_at", sa.DateTime, nullable=False),
)
referrals = sa.Table(
    "referrals",
    mkt_meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column(
        "subscription_id",
        sa.Integer,
        sa.ForeignKey("newsletter_subscriptions.id"),
        nullable=False,
        index=True,
    ),
    sa.Column("friend_email", sa.String(254), nullable=False),
)
events = sa.Table(
    "events",
    mkt_meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column(
        "subscription_id",
        sa.Integer,
        sa.ForeignKey("newsletter_subscriptions.id"),
        nullable=False,
        index=True,
    ),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("ip_address", sa.String(45), nullable=True),
)

T0 = dt.datetime(2024, 3, 1, 9, 30)

SHOP_ROWS: dict[sa.Table, list[dict[str, Any]]] = {
    customers: [
        {
            "id": 1,
            "email": "alice@example.com",
            "name": "Alice Archer",
            "phone": "+44 20 7946 0001",
            "birth_date": dt.date(1980, 5, 17),
            "created_at": T0,
            "loyalty_points": 120,
            "profile": {"nickname": "Ally", "home": {"city": "Leeds", "pets": 2}, "tags": ["vip"]},
        },
        {
            "id": 2,
            "email": "bob@example.com",
            "name": "Bob Baker",
            "phone": None,
            "birth_date": None,
            "created_at": T0,
            "loyalty_points": 0,
            "profile": None,
        },
        {
            "id": 3,
            "email": "dave@example.com",
            "name": "Dave Dane",
            "phone": "+1 555 0100",
            "birth_date": None,
            "created_at": T0,
            "loyalty_points": 5,
            "profile": {"nickname": "D"},
        },
    ],
    addresses: [
        {
            "id": 10,
            "customer_id": 1,
            "street": "1 Long Lane",
            "city": "Leeds",
            "postal_code": "LS1 1AA",
            "country": "GB",
        },
        {
            "id": 11,
            "customer_id": 1,
            "street": "2 Short St",
            "city": "York",
            "postal_code": None,
            "country": "GB",
        },
        {
            "id": 12,
            "customer_id": 2,
            "street": "9 Elm Rd",
            "city": "Bath",
            "postal_code": "BA1 1AA",
            "country": "GB",
        },
    ],
    orders: [
        {
            "id": 100,
            "customer_id": 1,
            "shipping_address_id": 11,
            "placed_at": dt.date(2023, 6, 1),
            "total": decimal.Decimal("59.90"),
            "note": "Leave at the door",
        },
        {
            "id": 101,
            "customer_id": 1,
            "shipping_address_id": 10,
            "placed_at": dt.date(2024, 2, 29),
            "total": decimal.Decimal("12.00"),
            "note": None,
        },
        {
            "id": 102,
            "customer_id": 2,
            "shipping_address_id": 12,
            "placed_at": dt.date(2024, 1, 5),
            "total": decimal.Decimal("5.00"),
            "note": "Bob's note",
        },
    ],
    order_lines: [
        {"id": 1000, "order_id": 100, "sku": "BOOK-1", "quantity": 1, "gift_message": "Happy birthday Alice"},
        {"id": 1001, "order_id": 100, "sku": "BOOK-2", "quantity": 2, "gift_message": None},
        {"id": 1002, "order_id": 101, "sku": "PEN-1", "quantity": 1, "gift_message": None},
        {"id": 1003, "order_id": 102, "sku": "BOOK-1", "quantity": 1, "gift_message": "For Bob"},
    ],
    payments: [
        {
            "id": 500,
            "order_id": 100,
            "amount": decimal.Decimal("59.90"),
            "card_last4": "4242",
            "cardholder": "ALICE ARCHER",
        },
        {
            "id": 501,
            "order_id": 101,
            "amount": decimal.Decimal("12.00"),
            "card_last4": "4242",
            "cardholder": "ALICE ARCHER",
        },
        {
            "id": 502,
            "order_id": 102,
            "amount": decimal.Decimal("5.00"),
            "card_last4": None,
            "cardholder": "B BAKER",
        },
    ],
}

MKT_ROWS: dict[sa.Table, list[dict[str, Any]]] = {
    subscriptions: [
        {
            "id": 1,
            "email": "alice@example.com",
            "customer_id": 1,
            "topics": "books,pens",
            "subscribed_at": T0,
        },
        {"id": 2, "email": "alice.work@example.org", "customer_id": 1, "topics": None, "subscribed_at": T0},
        {"id": 3, "email": "carol@example.com", "customer_id": None, "topics": "books", "subscribed_at": T0},
    ],
    referrals: [
        {"id": 1, "subscription_id": 1, "friend_email": "friend@example.net"},
        {"id": 2, "subscription_id": 3, "friend_email": "other@example.net"},
    ],
    events: [
        {"id": 1, "subscription_id": 1, "kind": "open", "ip_address": "203.0.113.7"},
        {"id": 2, "subscription_id": 2, "kind": "click", "ip_address": None},
        {"id": 3, "subscription_id": 3, "kind": "open", "ip_address": "198.51.100.2"},
    ],
}

DATAMAP = textwrap.dedent(
    """\
    dataset:
      - fides_key: shop
        name: Shop database
        collections:
          - name: customers
            fields:
              - name: id
                data_categories: [user.unique_id]
                fides_meta: {primary_key: true}
              - name: email
                data_categories: [user.contact.email]
                fides_meta: {identity: email, data_type: string}
              - name: name
                data_categories: [user.name]
              - name: phone
                data_categories: [user.contact.phone_number]
                fides_meta: {identity: phone_number}
              - name: birth_date
                data_categories: [user.demographic.date_of_birth]
              - name: created_at
                data_categories: [system.operations]
              - name: loyalty_points
                data_categories: [user.behavior.purchase_history]
              - name: profile
                fides_meta: {data_type: object}
                fields:
                  - name: nickname
                    data_categories: [user.name]
                  - name: home
                    fields:
                      - name: city
                        data_categories: [user.contact.address.city]
          - name: addresses
            fields:
              - name: id
                data_categories: [system.operations]
                fides_meta: {primary_key: true}
              - name: customer_id
                data_categories: [user.unique_id]
                fides_meta:
                  references: [{dataset: shop, field: customers.id, direction: from}]
              - name: street
                data_categories: [user.contact.address.street]
              - name: city
                data_categories: [user.contact.address.city]
              - name: postal_code
                data_categories: [user.contact.address.postal_code]
              - name: country
                data_categories: [user.contact.address.country]
          - name: orders
            fields:
              - name: id
                data_categories: [system.operations]
                fides_meta: {primary_key: true}
              - name: customer_id
                data_categories: [user.unique_id]
                fides_meta:
                  references: [{dataset: shop, field: customers.id, direction: from}]
              - name: shipping_address_id
                data_categories: [system.operations]
                fides_meta:
                  references: [{dataset: shop, field: addresses.id, direction: to}]
              - name: placed_at
                data_categories: [system.operations]
              - name: total
                data_categories: [user.financial]
              - name: note
                data_categories: [user.content.private]
          - name: order_lines
            fields:
              - name: id
                data_categories: [system.operations]
                fides_meta: {primary_key: true}
              - name: order_id
                data_categories: [system.operations]
                fides_meta:
                  references: [{dataset: shop, field: orders.id, direction: from}]
              - name: sku
                data_categories: [system.operations]
              - name: quantity
                data_categories: [system.operations]
              - name: gift_message
                data_categories: [user.content.private]
          - name: payments
            fields:
              - name: id
                data_categories: [system.operations]
                fides_meta: {primary_key: true}
              - name: order_id
                data_categories: [system.operations]
                fides_meta:
                  references: [{dataset: shop, field: orders.id, direction: from}]
              - name: amount
                data_categories: [user.financial]
              - name: card_last4
                data_categories: [user.financial]
              - name: cardholder
                data_categories: [user.name]
      - fides_key: marketing
        name: Marketing database
        collections:
          - name: newsletter_subscriptions
            fields:
              - name: id
                data_categories: [system.operations]
                fides_meta: {primary_key: true}
              - name: email
                data_categories: [user.contact.email]
                fides_meta: {identity: email}
              - name: customer_id
                data_categories: [user.unique_id]
                fides_meta:
                  references: [{dataset: shop, field: customers.id, direction: from}]
              - name: topics
                data_categories: [user.behavior]
              - name: subscribed_at
                data_categories: [system.operations]
          - name: referrals
            fides_meta:
              masking_strategy_override: {strategy: delete}
            fields:
              - name: id
                data_categories: [system.operations]
                fides_meta: {primary_key: true}
              - name: subscription_id
                data_categories: [system.operations]
                fides_meta:
                  references: [{dataset: marketing, field: newsletter_subscriptions.id, direction: from}]
              - name: friend_email
                data_categories: [user.contact.email]
          - name: events
            fields:
              - name: id
                data_categories: [system.operations]
                fides_meta: {primary_key: true}
              - name: subscription_id
                data_categories: [system.operations]
                fides_meta:
                  references: [{dataset: marketing, field: newsletter_subscriptions.id, direction: from}]
              - name: kind
                data_categories: [user.behavior.browsing_history]
              - name: ip_address
                data_categories: [user.device.ip_address]
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
    data_sources:
      - id: checkout
        name: Checkout
        kind: order
        categories: [user.name, user.contact, user.financial, user.content.private]
        forward_only: [user.financial.credit_card]
        forward_to: [cards]
    purposes:
      - id: orders
        name: Fulfil orders
        lawful_basis: contract
        categories: [user.name, user.contact, user.financial, user.content.private]
    recipients:
      - id: cards
        name: Card processor
        kind: processor
        purposes: [orders]
        categories: [user.financial.credit_card]
    rights:
      - right: erasure
        deadline: P1M
      - right: access
        deadline: P1M
    legal_holds:
      - id: tax_records
        categories: [user.financial]
        law: Tax code, 10-year bookkeeping
        period: P10Y
        from: placed_at
    erasure:
      - categories: [user.contact.email]
        strategy: hash
      - categories: [user.behavior.browsing_history]
        strategy: delete_row
    """
)


def declaration(text: str = DECLARATION) -> LoadedDeclaration:
    return parse_declaration(text, "privacy.yaml")


def datamap(text: str = DATAMAP, decl: LoadedDeclaration | None = None) -> Datamap:
    return parse_datamap([("datamap.yaml", text)], declaration=decl)


def create(url: str, meta: sa.MetaData, rows: dict[sa.Table, list[dict[str, Any]]]) -> None:
    engine = sa.create_engine(url)
    try:
        meta.create_all(engine)
        with engine.begin() as conn:
            for table in meta.sorted_tables:
                if rows.get(table):
                    conn.execute(table.insert(), rows[table])
    finally:
        engine.dispose()


def snapshot(engine: sa.Engine, meta: sa.MetaData) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted, JSON columns normalised: compare before/after."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            rows = conn.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
            out[table.name] = [
                tuple(json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v for v in row)
                for row in rows
            ]
    return out


@dataclass
class Shop:
    dialect: str
    shop_url: str
    marketing_url: str
    opened: list[Any] = field(default_factory=list)
    engines: dict[str, sa.Engine] = field(default_factory=dict)

    def close(self) -> None:
        for connector in self.opened:
            connector.close()
        for engine in self.engines.values():
            engine.dispose()

    def engine(self, url: str) -> sa.Engine:
        if url not in self.engines:
            self.engines[url] = sa.create_engine(url)
        return self.engines[url]

    def executor(
        self, decl: LoadedDeclaration | None = None, datamap_text: str = DATAMAP, **kw: Any
    ) -> RequestExecutor:
        loaded = decl if decl is not None else declaration()
        connectors = {
            "shop": open_connector("shop", self.shop_url),
            "marketing": open_connector("marketing", self.marketing_url),
        }
        self.opened.extend(connectors.values())
        return RequestExecutor(
            datamap(datamap_text, loaded), connectors, declaration=loaded, hash_key=HASH_KEY, **kw
        )

    def snapshot(self) -> dict[str, Any]:
        return {
            "shop": snapshot(self.engine(self.shop_url), shop_meta),
            "marketing": snapshot(self.engine(self.marketing_url), mkt_meta),
        }

    def rows(self, table: sa.Table) -> list[dict[str, Any]]:
        url = self.shop_url if table.metadata is shop_meta else self.marketing_url
        with self.engine(url).connect() as conn:
            return [
                dict(r._mapping) for r in conn.execute(sa.select(table).order_by(*table.primary_key.columns))
            ]


def _urls(dialect: str, request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    if dialect == "sqlite":
        return f"sqlite:///{tmp_path / 'shop.db'}", f"sqlite:///{tmp_path / 'marketing.db'}"
    factory: Callable[[], str] = request.getfixturevalue(
        "make_pg_url" if dialect == "postgresql" else "make_mariadb_url"
    )
    return factory(), factory()


@pytest.fixture(name="shop", params=["sqlite", "postgresql", "mariadb"])
def shop_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Shop]:
    """The seeded shop and marketing databases, on each of the three database servers."""
    shop_url, mkt_url = _urls(request.param, request, tmp_path)
    create(shop_url, shop_meta, SHOP_ROWS)
    create(mkt_url, mkt_meta, MKT_ROWS)
    made = Shop(request.param, shop_url, mkt_url)
    yield made
    made.close()


@pytest.fixture(name="sqlite_shop")
def sqlite_shop_fixture(tmp_path: Path) -> Iterator[Shop]:
    """The same, on SQLite only: for tests of logic rather than of a database server."""
    shop_url, mkt_url = f"sqlite:///{tmp_path / 'shop.db'}", f"sqlite:///{tmp_path / 'marketing.db'}"
    create(shop_url, shop_meta, SHOP_ROWS)
    create(mkt_url, mkt_meta, MKT_ROWS)
    made = Shop("sqlite", shop_url, mkt_url)
    yield made
    made.close()
