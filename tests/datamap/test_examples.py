"""The example datamaps load against their declarations and run: the PESI demo shop end to end."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from pledge.connectors import open_connector
from pledge.datamap import load_datamap
from pledge.datamap.schema import tables_for
from pledge.declaration import load_declaration
from pledge.requests.execute import RequestExecutor, run_now
from pledge.requests.steps import Identity

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DATAMAPS = sorted(EXAMPLES.glob("*/datamap.yaml"))


@pytest.mark.parametrize("path", DATAMAPS, ids=[p.parent.name for p in DATAMAPS])
def test_example_datamaps_load_cleanly(path: Path) -> None:
    datamap = load_datamap([path], declaration=load_declaration(path.parent / "privacy.yaml"))
    assert datamap.warnings == ()


def test_the_pesi_shop_erases_a_customer_and_keeps_the_tax_records(tmp_path: Path) -> None:
    folder = EXAMPLES / "pesi"
    declaration = load_declaration(folder / "privacy.yaml")
    datamap = load_datamap([folder / "datamap.yaml"], declaration=declaration)
    urls = {key: f"sqlite:///{tmp_path / key}.db" for key in ("pesi_shop", "pesi_mailing")}
    rows = {
        "pesi_shop": {
            "customers": [
                {
                    "id": 1,
                    "email": "ann@example.com",
                    "first_name": "Ann",
                    "last_name": "Lee",
                    "phone": "+1 555 0101",
                },
                {"id": 2, "email": "ben@example.com", "first_name": "Ben", "last_name": "Ray", "phone": None},
            ],
            "addresses": [
                {"id": 1, "customer_id": 1, "street": "1 Elm St", "city": "Eau Claire", "country": "US"}
            ],
            "orders": [
                {
                    "id": 10,
                    "customer_id": 1,
                    "shipping_address_id": 1,
                    "order_date": dt.date(2024, 5, 2),
                    "total": 199.0,
                    "billing_name": "Ann Lee",
                    "delivery_note": "ring twice",
                },
            ],
            "order_items": [{"id": 100, "order_id": 10, "product_code": "SEM-1", "quantity": 1}],
            "payments": [{"id": 5, "order_id": 10, "processor_token": "tok_1", "card_last4": "4242"}],
            "support_tickets": [
                {"id": 7, "customer_id": 1, "contact_email": "ann@example.com", "body": "help"}
            ],
            "call_recordings": [
                {"id": 70, "ticket_id": 7, "caller_phone": "+1 555 0101", "audio_url": "s3://x"}
            ],
        },
        "pesi_mailing": {
            "house_file": [{"id": 1, "email": "ann@example.com", "customer_id": 1, "full_name": "Ann Lee"}],
            "mail_preferences": [{"id": 1, "house_file_id": 1, "channel": "postal_mail", "opted_out": False}],
            "list_rentals": [
                {"id": 1, "house_file_id": 1, "broker": "acme", "rented_on": dt.date(2024, 6, 1)}
            ],
        },
    }
    engines = {key: sa.create_engine(url) for key, url in urls.items()}
    for key, engine in engines.items():
        meta = tables_for(datamap, key)
        meta.create_all(engine)
        with engine.begin() as conn:
            for table in meta.sorted_tables:
                if rows[key].get(table.name):
                    conn.execute(table.insert(), rows[key][table.name])
    connectors = {key: open_connector(key, url) for key, url in urls.items()}
    try:
        executor = RequestExecutor(datamap, connectors, declaration=declaration, hash_key=b"k" * 32)
        outcome = run_now(executor, "erase", [Identity("email", "ann@example.com")], workdir=tmp_path)
        verification = outcome["summary"]["verification"]
        assert verification["verified"] is True
        kept = {(k["collection"], k["field"]) for k in verification["kept"] if k.get("law")}
        # The tax-record hold keeps the order (dated by order_date) and what it points at...
        assert ("pesi_shop:orders", "billing_name") in kept and ("pesi_shop:customers", "last_name") in kept
        assert ("pesi_shop:addresses", "street") in kept
        # ...but not the name in the mailing list or the support ticket.
        assert not {k for k in kept if k[0] in ("pesi_mailing:house_file", "pesi_shop:support_tickets")}
        with engines["pesi_mailing"].connect() as conn:
            house = conn.execute(sa.text("SELECT email, full_name FROM house_file")).one()
            assert house.full_name is None and house.email != "ann@example.com"
            assert conn.execute(sa.text("SELECT count(*) FROM list_rentals")).scalar() == 0
        with engines["pesi_shop"].connect() as conn:
            ben = conn.execute(sa.text("SELECT email, first_name FROM customers WHERE id = 2")).one()
            assert tuple(ben) == ("ben@example.com", "Ben")
            assert (
                conn.execute(sa.text("SELECT processor_token FROM payments")).scalar() == "tok_1"
            )  # read_only
    finally:
        for connector in connectors.values():
            connector.close()
        for engine in engines.values():
            engine.dispose()
