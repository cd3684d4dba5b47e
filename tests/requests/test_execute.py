"""Requests executed over real databases: SQLite, PostgreSQL and MariaDB, two databases each."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from pledge.errors import InputError
from pledge.requests.execute import RequestExecutor, run_now
from pledge.requests.steps import Identity, StepContext
from tests.requests.fixtures_shop import (
    DECLARATION,
    Shop,
    addresses,
    customers,
    declaration,
    events,
    order_lines,
    orders,
    payments,
    referrals,
    shop_fixture,  # noqa: F401  (the fixture named shop: SQLite, PostgreSQL and MariaDB)
    sqlite_shop_fixture,  # noqa: F401  (the fixture named sqlite_shop: logic, one database)
    subscriptions,
)

ALICE = [Identity("email", "alice@example.com")]
ALICE_ROWS = {
    "shop:customers": 1,
    "shop:orders": 2,
    "shop:payments": 2,
    "shop:order_lines": 3,
    "shop:addresses": 2,
    "marketing:newsletter_subscriptions": 2,
    "marketing:referrals": 1,
    "marketing:events": 2,
}


def run_each_step_twice(
    shop: Shop,
    executor: RequestExecutor,
    kind: Any,
    ids: list[Identity],
    workdir: Path,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run a request's steps in order, each twice in a row: the second run must change nothing."""
    params = params or {}
    results: dict[str, Any] = {}
    for step in executor.plan(kind, ids, params):
        ctx = StepContext("r1", kind, tuple(ids), params, dict(results), workdir)
        first = step.run(ctx)
        after_first = shop.snapshot()
        second = step.run(StepContext("r1", kind, tuple(ids), params, dict(results), workdir, attempt=2))
        assert shop.snapshot() == after_first, f"{step.name} changed the databases when run again"
        if step.name.startswith(f"{kind}:") and "verify" not in step.name and "collect" not in step.name:
            assert second.get("updated", 0) == 0 and second.get("deleted", 0) == 0, step.name
        results[step.name] = first
    return results


def others(shop: Shop) -> dict[str, Any]:
    """Every row that is not Alice's: erasing Alice must leave these exactly as they were."""
    return {
        "customers": [r for r in shop.rows(customers) if r["id"] != 1],
        "addresses": [r for r in shop.rows(addresses) if r["customer_id"] != 1],
        "orders": [r for r in shop.rows(orders) if r["customer_id"] != 1],
        "order_lines": [r for r in shop.rows(order_lines) if r["order_id"] == 102],
        "payments": [r for r in shop.rows(payments) if r["order_id"] == 102],
        "subscriptions": [r for r in shop.rows(subscriptions) if r["id"] == 3],
        "referrals": [r for r in shop.rows(referrals) if r["subscription_id"] == 3],
        "events": [r for r in shop.rows(events) if r["subscription_id"] == 3],
    }


def integrity(shop: Shop) -> None:
    """Every foreign key (and the cross-database reference) still points at a row."""
    customer_ids = {r["id"] for r in shop.rows(customers)}
    address_ids = {r["id"] for r in shop.rows(addresses)}
    order_ids = {r["id"] for r in shop.rows(orders)}
    sub_ids = {r["id"] for r in shop.rows(subscriptions)}
    assert {r["customer_id"] for r in shop.rows(addresses)} <= customer_ids
    assert {r["customer_id"] for r in shop.rows(orders)} <= customer_ids
    assert {r["shipping_address_id"] for r in shop.rows(orders)} - {None} <= address_ids
    assert {r["order_id"] for r in shop.rows(order_lines)} | {
        r["order_id"] for r in shop.rows(payments)
    } <= order_ids
    assert {r["subscription_id"] for r in shop.rows(referrals)} | {
        r["subscription_id"] for r in shop.rows(events)
    } <= sub_ids


def test_access_builds_the_archive_of_one_person(shop: Shop, tmp_path: Path) -> None:
    outcome = run_now(shop.executor(), "access", ALICE, workdir=tmp_path, request_id="req-1")
    assert outcome["summary"]["rows"] == ALICE_ROWS
    with zipfile.ZipFile(outcome["summary"]["archive"]) as archive:
        names = sorted(archive.namelist())
        data = json.loads(archive.read("access/data.json"))
        manifest = json.loads(archive.read("access/manifest.json"))
        orders_csv = archive.read("access/shop__orders.csv").decode("utf-8-sig")
        everything = b"".join(archive.read(n) for n in names)
    assert len(names) == 2 + len(ALICE_ROWS)
    assert sorted(data) == sorted(ALICE_ROWS)
    assert {k: len(v) for k, v in data.items()} == ALICE_ROWS
    (alice,) = data["shop:customers"]
    assert alice["email"] == "alice@example.com" and alice["birth_date"] == "1980-05-17"
    assert alice["profile"]["nickname"] == "Ally"
    assert sorted(s["email"] for s in data["marketing:newsletter_subscriptions"]) == [
        "alice.work@example.org",  # found only through the shop's customer id, across databases
        "alice@example.com",
    ]
    assert {float(row["total"]) for row in data["shop:orders"]} == {59.90, 12.00}
    rows = list(csv.DictReader(io.StringIO(orders_csv)))
    assert sorted(r["id"] for r in rows) == ["100", "101"] and rows[0]["note"] in ("Leave at the door", "")
    assert manifest["request"] == "req-1" and manifest["collections"]["shop:orders"]["rows"] == 2
    assert manifest["searched"]["stages"][0]["collections"][0]["found_by"] == ["email = identity email"]
    for other in (b"bob@example.com", b"Bob Baker", b"carol@", b"dave@", b"other@example.net", b"For Bob"):
        assert other not in everything


def test_erase_keeps_integrity_and_what_the_law_holds_and_proves_the_rest_gone(
    shop: Shop, tmp_path: Path
) -> None:
    executor = shop.executor()
    untouched = others(shop)
    results = run_each_step_twice(shop, executor, "erase", ALICE, tmp_path)
    verification = results["erase:verify"]
    assert verification["verified"] is True and verification["residual"] == []
    assert others(shop) == untouched
    integrity(shop)
    (alice,) = [r for r in shop.rows(customers) if r["id"] == 1]
    assert alice["email"].startswith("h$") and alice["name"] != "Alice Archer" and len(alice["name"]) == 12
    assert alice["phone"] is None and alice["birth_date"] is None
    profile = alice["profile"] if isinstance(alice["profile"], dict) else json.loads(alice["profile"])
    assert profile == {"nickname": None, "home": {"city": None, "pets": 2}, "tags": ["vip"]}
    assert {r["city"] for r in shop.rows(addresses) if r["customer_id"] == 1}.isdisjoint({"Leeds", "York"})
    assert [float(r["total"]) for r in shop.rows(orders) if r["customer_id"] == 1] == [59.90, 12.00]  # held
    assert all(r["note"] is None for r in shop.rows(orders) if r["customer_id"] == 1)
    assert [r["id"] for r in shop.rows(events)] == [3] and [r["id"] for r in shop.rows(referrals)] == [2]
    held = {(k["collection"], k["field"]): k for k in verification["kept"]}
    total = held[("shop:orders", "total")]
    assert total["law"] == "Tax code, 10-year bookkeeping" and total["until"] == "2034-02-28"
    assert "legal hold 'tax_records'" in held[("shop:payments", "amount")]["reason"]
    assert "NOT NULL INTEGER" in held[("shop:orders", "customer_id")]["reason"].upper()
    after = run_now(executor, "exists", ALICE, workdir=tmp_path)
    assert after["summary"] == {"found": False, "collections": []}


def test_deleting_rows_goes_children_first_and_spares_what_is_still_referenced(
    shop: Shop, tmp_path: Path
) -> None:
    delete_everything = DECLARATION.replace(
        "  - categories: [user.contact.email]\n    strategy: hash",
        "  - categories: [user]\n    strategy: delete_row",
    )
    no_holds = (
        delete_everything.split("legal_holds:")[0] + "erasure:" + delete_everything.split("erasure:")[1]
    )
    untouched = others(shop)
    results = run_each_step_twice(shop, shop.executor(declaration(no_holds)), "erase", ALICE, tmp_path)
    assert results["erase:verify"]["verified"] is True
    order = [name for name in results if name.startswith("erase:shop:")]
    assert (
        order.index("erase:shop:order_lines")
        < order.index("erase:shop:orders")
        < order.index("erase:shop:customers")
    )
    assert order.index("erase:shop:orders") < order.index("erase:shop:addresses")
    assert [r["id"] for r in shop.rows(customers)] == [2, 3]
    assert [r["id"] for r in shop.rows(orders)] == [102] and [r["id"] for r in shop.rows(subscriptions)] == [
        3
    ]
    assert others(shop) == untouched
    integrity(shop)


def test_a_parent_asked_to_be_deleted_but_still_referenced_is_erased_in_place(
    shop: Shop, tmp_path: Path
) -> None:
    # Orders are held by law, so the customer rows they reference cannot go: fields are erased.
    text = DECLARATION.replace(
        "  - categories: [user.contact.email]\n    strategy: hash",
        "  - categories: [user.name]\n    strategy: delete_row",
    )
    results = run_each_step_twice(shop, shop.executor(declaration(text)), "erase", ALICE, tmp_path)
    customers_step = results["erase:shop:customers"]
    assert customers_step["deleted"] == 0 and customers_step["kept_row_count"] == 1
    assert (
        "still referenced by rows of 'addresses'" in customers_step["kept_rows"][0]["reason"]
        or "'orders'" in customers_step["kept_rows"][0]["reason"]
    )
    assert results["erase:shop:payments"]["deleted"] == 0  # a held amount keeps the row
    (alice,) = [r for r in shop.rows(customers) if r["id"] == 1]
    assert alice["name"] != "Alice Archer" and results["erase:verify"]["verified"] is True
    integrity(shop)


HOSTILE = [
    "alice@example.com' OR '1'='1",
    "%",
    "%@example.com",
    "_lice@example.com",
    "ALICE@EXAMPLE.COM",
    "alice@example.com ",
    "ålice@ëxample.com",
    "alice@example.com\x00",
    "a" * 10_240,
    "'; DROP TABLE customers; --",
    "1",
]


def test_hostile_identities_find_nothing_and_change_nothing(shop: Shop, tmp_path: Path) -> None:
    executor = shop.executor()
    before = shop.snapshot()
    for value in HOSTILE:
        hostile = [Identity("email", value), Identity("phone_number", value)]
        assert run_now(executor, "exists", hostile, workdir=tmp_path)["summary"]["found"] is False, value
    everything = [Identity(kind, value) for value in HOSTILE for kind in ("email", "phone_number")]
    erased = run_now(executor, "erase", everything, workdir=tmp_path)
    assert erased["summary"]["updated"] == 0 and erased["summary"]["deleted"] == 0
    assert erased["summary"]["verification"]["verified"] is True
    assert shop.snapshot() == before


def test_rectify_sets_a_category_everywhere_and_checks_the_value_first(shop: Shop, tmp_path: Path) -> None:
    executor = shop.executor()
    before = shop.snapshot()
    for bad in (
        {"user.contact.email": "not an address"},
        {"user.name": "x" * 101},
        {"user.contact.fax_number": "1"},
    ):
        with pytest.raises(InputError):
            executor.plan("rectify", ALICE, {"set": bad})
    assert shop.snapshot() == before
    results = run_each_step_twice(
        shop, executor, "rectify", ALICE, tmp_path, {"set": {"user.name": "Alice Smith"}}
    )
    assert results["rectify:verify"]["verified"] is True
    (alice,) = [r for r in shop.rows(customers) if r["id"] == 1]
    profile = alice["profile"] if isinstance(alice["profile"], dict) else json.loads(alice["profile"])
    assert alice["name"] == "Alice Smith" and profile["nickname"] == "Alice Smith"
    assert {r["cardholder"] for r in shop.rows(payments) if r["order_id"] in (100, 101)} == {"Alice Smith"}
    assert [r["cardholder"] for r in shop.rows(payments) if r["order_id"] == 102] == ["B BAKER"]


def test_plan_problems_are_reported_before_anything_is_read(sqlite_shop: Shop, tmp_path: Path) -> None:
    from tests.requests.fixtures_shop import DATAMAP

    missing_column = DATAMAP.replace("- name: birth_date\n", "- name: birthday\n")
    with pytest.raises(InputError) as caught:
        sqlite_shop.executor(datamap_text=missing_column).plan("erase", ALICE, {})
    assert [(p.code, p.line) for p in caught.value.problems] == [("missing_column", 18)]
    missing_table = DATAMAP.replace("name: order_lines", "name: order_items")
    with pytest.raises(InputError) as caught:
        sqlite_shop.executor(datamap_text=missing_table).plan("access", ALICE, {})
    assert caught.value.problems[0].code == "missing_table"
    with pytest.raises(InputError) as caught:
        sqlite_shop.executor().plan("erase", [Identity("phone", "+44 20 7946 0001")], {})
    assert "did you mean 'phone_number'?" in (caught.value.problems[0].hint or "")


def test_a_collection_only_another_identity_reaches_is_refused_unless_skipped(
    sqlite_shop: Shop, tmp_path: Path
) -> None:
    from tests.requests.fixtures_shop import DATAMAP

    # Events are now found only by a device id the request does not give.
    text = DATAMAP.replace(
        "      - name: ip_address\n",
        "      - name: ip_address\n            fides_meta: {identity: device_id}\n",
    )
    cut = text.rindex("references: [{dataset: marketing, field: newsletter_subscriptions.id")
    text = text[:cut] + "data_type: integer\n" + text[text.index("\n", cut) + 1 :]
    executor = sqlite_shop.executor(datamap_text=text)
    with pytest.raises(InputError) as caught:
        executor.plan("access", ALICE, {})
    (problem,) = caught.value.problems
    assert problem.code == "unreachable_collection" and "--identity device_id=" in (problem.hint or "")
    outcome = run_now(executor, "access", ALICE, {"skip_unreachable": True}, workdir=tmp_path)
    assert "marketing:events" not in outcome["summary"]["rows"]
    manifest = json.loads((tmp_path / "access" / "manifest.json").read_text())
    assert manifest["searched"]["skipped"] == [
        {"collection": "marketing:events", "why": "no given identity reaches it"}
    ]


def test_dry_run_and_preview_touch_nothing(sqlite_shop: Shop, tmp_path: Path) -> None:
    executor = sqlite_shop.executor()
    before = sqlite_shop.snapshot()
    preview = executor.preview("erase", ALICE, {})
    assert preview["erasure"]["marketing:events"]["delete_row"] is True
    assert preview["steps"][0]["name"] == "erase:collect"
    assert preview["traversal_lines"][0] == "1. shop:customers  by email = identity email"
    dry = run_now(executor, "erase", ALICE, {"dry_run": True}, workdir=tmp_path)
    assert dry["summary"]["deleted"] == 3 and dry["summary"]["updated"] > 0
    assert sqlite_shop.snapshot() == before


def test_bulk_erasure_and_starting_from_rows(shop: Shop, tmp_path: Path) -> None:
    from pledge.requests.execute import erase_subjects

    executor = shop.executor()
    note_only = erase_subjects(
        executor, [Identity("shop:orders.id", "102")], workdir=tmp_path, categories=["user.content.private"]
    )
    assert note_only["summary"]["updated"] == 2  # the order's note and its line's gift message
    assert [r["note"] for r in shop.rows(orders) if r["id"] == 102] == [None]
    assert [r["name"] for r in shop.rows(customers) if r["id"] == 2] == ["Bob Baker"]
    both = erase_subjects(executor, [*ALICE, Identity("email", "bob@example.com")], workdir=tmp_path)
    assert both["summary"]["verification"]["verified"] is True
    assert {r["id"] for r in shop.rows(customers) if not r["email"].startswith("h$")} == {3}
    integrity(shop)


def test_exists_names_where_without_values(sqlite_shop: Shop, tmp_path: Path) -> None:
    found = run_now(
        sqlite_shop.executor(), "exists", [Identity("email", "carol@example.com")], workdir=tmp_path
    )
    assert found["summary"] == {
        "found": True,
        "collections": ["marketing:newsletter_subscriptions", "marketing:referrals", "marketing:events"],
    }
    assert "carol" not in json.dumps(found["steps"])


def test_legal_hold_dates_follow_the_rows(sqlite_shop: Shop, tmp_path: Path) -> None:
    results = run_now(
        sqlite_shop.executor(), "erase", [Identity("email", "bob@example.com")], workdir=tmp_path
    )
    kept = {(k["collection"], k["field"]): k for k in results["summary"]["verification"]["kept"]}
    assert kept[("shop:orders", "total")]["until"] == dt.date(2034, 1, 5).isoformat()


def test_many_subjects_at_once_search_the_databases_side_by_side(
    shop: Shop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from pledge.requests import erasure_check
    from pledge.requests import traverse as traverse_module
    from pledge.requests.execute import erase_subjects

    calls: list[bool] = []
    real = traverse_module._concurrently

    def spy(*args: Any, **kwargs: Any) -> None:
        calls.append(kwargs["independent"])
        real(*args, **kwargs)

    checked: list[tuple[str, str]] = []

    class Pool:
        def submit(self, fn: Any, piece: Any) -> Any:
            checked.append((piece[0].node.name, piece[1]))
            return traverse_module.shared_pool().submit(fn, piece)

    monkeypatch.setattr(traverse_module, "_concurrently", spy)
    monkeypatch.setattr(erasure_check, "shared_pool", lambda: Pool())
    crowd = [Identity("email", f"nobody{i}@example.net") for i in range(150)]
    outcome = erase_subjects(
        shop.executor(), [*ALICE, Identity("email", "bob@example.com"), *crowd], workdir=tmp_path
    )
    assert calls == [False]  # the first walk follows references, databases side by side
    # The verification checks every collection at once, in pieces: the kept rows (and the key
    # column), and each other column searched, such as the subscriptions' two ways in.
    assert {name for name, _ in checked} == set(ALICE_ROWS)
    subscriptions_pieces = sorted(c for n, c in checked if n == "marketing:newsletter_subscriptions")
    assert subscriptions_pieces == ["\x00kept", "customer_id", "email"]
    assert isinstance(traverse_module.shared_pool(), ThreadPoolExecutor)
    assert outcome["summary"]["verification"]["verified"] is True
    assert {r["id"] for r in shop.rows(customers) if r["email"].startswith("h$")} == {1, 2}
    quick = erase_subjects(
        shop.executor(), [Identity("email", "dave@example.com")], workdir=tmp_path, verify=False
    )
    assert quick["summary"]["verification"]["verified"] is None
    integrity(shop)


def test_a_cascading_foreign_key_never_deletes_through_the_back_door(shop: Shop, tmp_path: Path) -> None:
    import sqlalchemy as sa

    # A table missing from the datamap whose rows would vanish with the customer (CASCADE):
    # the customer row must stay (its fields erased) and the review with it.
    reviews = sa.Table(
        "reviews",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column(
            "customer_id", sa.Integer, sa.ForeignKey(customers.c.id, ondelete="CASCADE"), nullable=False
        ),
    )
    engine = shop.engine(shop.shop_url)
    reviews.create(engine)
    with engine.begin() as conn:
        conn.execute(reviews.insert(), [{"id": 1, "customer_id": 3}])
    text = (
        DECLARATION.split("legal_holds:")[0] + "erasure:\n  - categories: [user]\n    strategy: delete_row\n"
    )
    results = run_now(
        shop.executor(declaration(text)), "erase", [Identity("email", "dave@example.com")], workdir=tmp_path
    )
    step = results["steps"]["erase:shop:customers"]
    assert step["deleted"] == 0 and "still referenced by rows of 'reviews'" in step["kept_rows"][0]["reason"]
    assert results["summary"]["verification"]["verified"] is True
    with engine.connect() as conn:
        assert conn.execute(sa.select(reviews.c.id)).scalars().all() == [1]
    (dave,) = [r for r in shop.rows(customers) if r["id"] == 3]
    assert dave["email"] != "dave@example.com"
