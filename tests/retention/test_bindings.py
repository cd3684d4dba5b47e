"""Retention clocks in the datamap: written forms, located errors, and how rules bind to them."""

from __future__ import annotations

import pytest

from pledge.datamap import parse_datamap
from pledge.errors import InputError
from pledge.retention import parse_bindings
from tests.retention.fixtures import (
    DATAMAP,
    DECLARATION,
    Shop,
    declaration,
    sqlite_shop_fixture,  # noqa: F401 - fixture
)


def clocks(text: str) -> str:
    """The fixture datamap with its clock section replaced by ``text`` (indented like it)."""
    start = DATAMAP.index("        retention_clocks:")
    end = DATAMAP.index("    collections:")
    body = "".join(f"          {line}\n" for line in text.strip("\n").splitlines())
    return DATAMAP[:start] + "        retention_clocks:\n" + body + DATAMAP[end:]


def problems(shop: Shop, datamap: str, decl: str = DECLARATION, rules: list[str] | None = None) -> list[str]:
    with pytest.raises(InputError) as caught:
        shop.plan(declaration(decl), datamap, rules=rules)
    return [str(p) for p in caught.value.problems]


def test_a_datamap_without_clocks_loads_unchanged() -> None:
    start, end = DATAMAP.index("    meta:"), DATAMAP.index("    collections:")
    plain = DATAMAP[:start] + DATAMAP[end:]
    specs, found = parse_bindings([("datamap.yaml", plain)])
    assert specs == [] and found == []
    with_clocks = parse_datamap([("datamap.yaml", DATAMAP)], declaration=declaration())
    without = parse_datamap([("datamap.yaml", plain)], declaration=declaration())
    assert [c.key for c in with_clocks.collections()] == [c.key for c in without.collections()]
    assert not with_clocks.warnings  # the datamap loader ignores the dataset's meta


def test_written_forms(sqlite_shop: Shop) -> None:
    text = clocks(
        """
        "*": {collected: created_at}
        customers: {account_closed: closed_at}
        addresses: {account_closed: {column: customers.closed_at, via: customer_id}}
        orders: {order_date: placed_at}
        order_lines: {order_date: orders.placed_at}
        referrals: {sent: invited_at}
        session_locations: {session_end: sessions.ended_at}
        tickets: {last_activity: last_activity_at}
        telemetry: {collected: collected_at}
        """
    )
    plan = sqlite_shop.plan(datamap_text=text)
    by_name = {u.name: u.clock for u in plan.units}
    assert (
        by_name["account @ shop:addresses"].describe()
        == "account_closed = customers.closed_at via customer_id"
    )
    assert by_name["telemetry @ shop:telemetry"].column == "collected_at"  # explicit beats "*"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("orderz: {order_date: placed_at}", "has no collection 'orderz'"),
        ("orders: {order_date: placed_on}", "no column 'placed_on'"),
        ("orders: {order_date: 42}", "needs a column"),
        ("orders: placed_at", "must map events to columns"),
        ("orders: {order_date: {column: placed_at, vai: id}}", "unknown key 'vai'"),
        ("orders: {order_date: customerz.closed_at}", "has no collection 'customerz'"),
        ("orders: {order_date: customers.closed_on}", "no column 'closed_on'"),
        ('"*": {order_date: customers.closed_at}', "not of another one"),
        ("orders: {order_date: photo}", "kind binary"),
    ],
)
def test_bad_clocks_are_located(sqlite_shop: Shop, text: str, message: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(sqlite_shop.url)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE orders ADD COLUMN photo BLOB"))
    engine.dispose()
    datamap = clocks(text)
    _, syntax = parse_bindings([("datamap.yaml", datamap)])
    found = [str(p) for p in syntax] or problems(sqlite_shop, datamap)
    hit = [p for p in found if message in p]
    assert hit, found
    assert hit[0].startswith("datamap.yaml:") and hit[0].split(":")[1].isdigit()


def test_a_second_link_needs_via(sqlite_shop: Shop) -> None:
    # referrals point at customers once; add a second reference to make the link ambiguous.
    text = DATAMAP.replace(
        "          - {name: friend_name, data_categories: [user.name]}",
        "          - name: friend_name\n"
        "            data_categories: [user.name]\n"
        "            fides_meta: {references: [{dataset: shop, field: customers.name}]}",
    ).replace("referrals: {sent: invited_at}", "referrals: {sent: customers.closed_at}")
    found = problems(sqlite_shop, text)
    assert any("linked in 2 ways" in p and "via" in p for p in found), found


def test_a_marker_suits_only_until_sent_and_no_grace(sqlite_shop: Shop) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(sqlite_shop.url)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE referrals ADD COLUMN sent BOOLEAN"))
        conn.execute(sa.text("UPDATE referrals SET sent = invited_at IS NOT NULL"))
    engine.dispose()
    text = DATAMAP.replace("referrals: {sent: invited_at}", "referrals: {sent: sent}")
    plan = sqlite_shop.plan(datamap_text=text, rules=["referral_friend"])
    assert plan.units[0].clock.marker
    report = sqlite_shop.sweep(plan)
    assert report.units[0].counts["deleted"] == 1
    graced = DECLARATION.replace("    period: until_sent\n", "    period: until_sent\n    grace: P1D\n")
    found = problems(sqlite_shop, text, graced, rules=["referral_friend"])
    assert any("true/false" in p and "grace" in p for p in found), found
    other = DATAMAP.replace(
        "tickets: {last_activity: last_activity_at}", "tickets: {last_activity: customers.closed_at}"
    )
    assert sqlite_shop.plan(datamap_text=other, rules=["support"]).units  # a time via a link is fine


def test_an_event_named_like_a_column_binds_itself(sqlite_shop: Shop) -> None:
    text = clocks("orders: {order_date: placed_at}")
    decl = DECLARATION.replace("    from: last_activity\n", "    from: last_activity_at\n")
    plan = sqlite_shop.plan(declaration(decl), text, rules=["support"])
    assert plan.units[0].clock.written_at == "a column named like the event"


def test_unknown_rules_and_rules_with_nothing_stored(sqlite_shop: Shop) -> None:
    found = problems(sqlite_shop, DATAMAP, rules=["nope"])
    assert any("no retention rule 'nope'" in p for p in found)
    # A rule whose data lives in no datamapped collection (the telemetry store is elsewhere).
    elsewhere = DATAMAP[: DATAMAP.index("      - name: telemetry")]
    elsewhere = elsewhere.replace("          telemetry: {collected: collected_at}\n", "")
    plan = sqlite_shop.plan(datamap_text=elsewhere)
    assert {s.rule.id: s.status for s in plan.rules}["telemetry"] == "not_stored"
    found = problems(sqlite_shop, elsewhere, rules=["telemetry"])
    assert any("nothing to sweep" in p for p in found)


def test_an_unbound_hold_keeps_everywhere_and_warns(sqlite_shop: Shop) -> None:
    decl = DECLARATION.replace("    from: order_date\n  legal_holds", "    from: order_date\n  legal_holds")
    decl = decl.replace(
        "    period: P7Y\n    from: order_date\nminimum_age",
        "    period: P7Y\n    from: dispute_raised\nminimum_age",
    )
    assert "dispute_raised" in decl
    plan = sqlite_shop.plan(declaration(decl))
    assert any("'tax_records'" in str(w) and "bound to no column" in str(w) for w in plan.warnings)
    report = sqlite_shop.sweep(plan)
    customers = next(u for u in report.as_dict()["units"] if u["collection"] == "shop:customers")
    assert customers["kept"] and customers["kept"][0]["until"] == "unknown"
