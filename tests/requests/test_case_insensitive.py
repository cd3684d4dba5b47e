"""E-mail addresses stored with capitals: found, erased and verified gone when the datamap marks the
column ``case_insensitive``, on SQLite, PostgreSQL and MariaDB; never found by accident otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from pledge.datamap import parse_datamap
from pledge.errors import DatamapError
from pledge.requests.steps import Identity
from pledge.requests.traverse import traverse
from tests.requests.fixtures_shop import (
    DATAMAP,
    Shop,
    customers,
    declaration,
    shop_fixture,  # noqa: F401  (the fixture named shop)
    subscriptions,
)
from tests.requests.support import build, real_clock

FOLDED = DATAMAP.replace(
    "fides_meta: {identity: email, data_type: string}",
    "fides_meta: {identity: email, data_type: string, case_insensitive: true}",
    1,
).replace("fides_meta: {identity: email}\n", "fides_meta: {identity: email, case_insensitive: true}\n", 1)
SUBSCRIPTIONS = ("marketing", "newsletter_subscriptions")
CUSTOMERS = ("shop", "customers")


def _capitalise(shop: Shop) -> None:
    """Alice as the shop stored her, and a stranger whose address differs by an accent only."""
    with shop.engine(shop.shop_url).begin() as conn:
        conn.execute(sa.update(customers).where(customers.c.id == 1).values(email="Alice@Example.COM"))
    with shop.engine(shop.marketing_url).begin() as conn:
        if shop.dialect == "mariadb":  # a binary collation: the lower() path, not the collation's
            conn.execute(sa.text("ALTER TABLE newsletter_subscriptions MODIFY email VARCHAR(254) "
                                 "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL"))  # fmt: skip
        conn.execute(
            sa.update(subscriptions).where(subscriptions.c.id == 1).values(email="ALICE@example.com")
        )
        conn.execute(
            sa.update(subscriptions).where(subscriptions.c.id == 3).values(email="Alicé@example.com")
        )


def _ids(shop: Shop, datamap_text: str, value: str) -> dict[tuple[str, str], list[int]]:
    executor = shop.executor(datamap_text=datamap_text)
    found = traverse(executor.traversal(["email"]), executor.connectors, [Identity("email", value)])
    return {ref: sorted(row["id"] for row in found.rows_of(ref)) for ref in (CUSTOMERS, SUBSCRIPTIONS)}


def test_mixed_case_addresses_are_found_only_where_the_datamap_says_so(shop: Shop) -> None:
    _capitalise(shop)
    # Exact matching (the default), even where the collation ignores case: nothing of Alice's.
    assert _ids(shop, DATAMAP, "alice@example.com") == {CUSTOMERS: [], SUBSCRIPTIONS: []}
    assert _ids(shop, DATAMAP, "Alice@Example.COM")[CUSTOMERS] == [1]
    # Folded: any case finds her, and only her (not the accented stranger, not LIKE patterns).
    for value in ("alice@example.com", "ALICE@EXAMPLE.COM", "aLiCe@eXaMpLe.CoM"):
        assert _ids(shop, FOLDED, value) == {CUSTOMERS: [1], SUBSCRIPTIONS: [1, 2]}, value
    for value in ("alice@example.co_", "%@example.com", "alice@example.com ", "alicé@example.com'--"):
        assert _ids(shop, FOLDED, value)[CUSTOMERS] == [], value
    plan = shop.executor(datamap_text=FOLDED).preview("exists", [Identity("email", "a@b.example")], {})
    assert "1. shop:customers  by email = identity email (any case)" in plan["traversal_lines"]


def test_a_workflow_erasure_of_a_mixed_case_address_is_verified(shop: Shop, tmp_path: Path) -> None:
    """The workflow keeps e-mail identities in lower case; the executor still finds, erases and
    then verifies that nothing of ``Alice@Example.COM`` is left."""
    _capitalise(shop)
    executor = shop.executor(datamap_text=FOLDED)
    env = build(
        f"sqlite:///{tmp_path / 'pledge.db'}", tmp_path, planner=executor, decl=declaration().declaration,
        clock=real_clock,
    )  # fmt: skip
    try:
        record = env.workflow.create_request(
            "erase", [Identity("email", "ALICE@Example.com")], source="cli", operator="ops"
        )
        done = env.runner.run_until_done(record.id)
        assert done.state == "completed", done.error
        steps = {s["name"]: s["result"] for s in env.workflow.request_report(record.id)["steps"]}
        assert steps["erase:collect"]["counts"]["shop:customers"] == 1
        assert steps["erase:verify"]["verified"] is True
    finally:
        env.db.dispose()
    emails = {row["id"]: row["email"] for row in shop.rows(customers)}
    assert emails[1].lower() != "alice@example.com" and emails[2] == "bob@example.com"
    left = {row["id"]: row["email"] for row in shop.rows(subscriptions)}
    assert left[1].startswith("h$") and left[2].startswith("h$")  # the declared strategy: hash
    assert left[3] == "Alicé@example.com"


def test_case_insensitive_is_only_for_plain_text_columns() -> None:
    nested = DATAMAP.replace(
        "fides_meta: {identity: email, data_type: string}",
        "fides_meta: {identity: email, data_type: integer, case_insensitive: true}",
        1,
    )
    with pytest.raises(DatamapError) as caught:
        parse_datamap([("datamap.yaml", nested)], declaration=declaration())
    assert any("case_insensitive applies to text" in p.message for p in caught.value.problems)
    bad = DATAMAP.replace(
        "fides_meta: {identity: email}\n", "fides_meta: {identity: email, case_insensitive: 1}\n"
    )
    with pytest.raises(DatamapError) as caught:
        parse_datamap([("datamap.yaml", bad)], declaration=declaration())
    assert any("must be true or false" in p.message for p in caught.value.problems)
