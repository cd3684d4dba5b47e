"""Every period kind swept on SQLite, PostgreSQL and MariaDB, against a schema with NOT NULL
columns and foreign keys; legal holds kept and reported; a second run changes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.retention.fixtures import (
    DECLARATION,
    NOW,
    Shop,
    addresses,
    customers,
    declaration,
    order_lines,
    orders,
    referrals,
    session_locations,
    shop_fixture,  # noqa: F401 - fixture
    sqlite_shop_fixture,  # noqa: F401 - fixture
    suppressions,
    telemetry,
    tickets,
)


def unit(report: Any, rule: str, collection: str) -> dict[str, Any]:
    found = [
        u for u in report.as_dict()["units"] if u["rule"] == rule and u["collection"] == f"shop:{collection}"
    ]
    assert len(found) == 1, (rule, collection)
    return found[0]


def ids(shop: Shop, table: Any) -> list[Any]:
    return [r["id"] for r in shop.rows(table)]


def test_every_period_kind(shop: Shop) -> None:
    report = shop.sweep()
    assert report.ok

    # Durations from a timestamp: a ticket idle for 800 days goes (P2Y), one idle for 100 stays.
    assert ids(shop, tickets) == [2]
    # Durations from a date, and from a date in the parent (order lines by their order's date).
    assert ids(shop, orders) == [100, 400, 500]
    assert ids(shop, order_lines) == [1000, 4000]
    # until_sent: the friend invited yesterday is gone, the one not yet invited stays whole.
    remaining = shop.rows(referrals)
    assert [r["id"] for r in remaining] == [2]
    assert remaining[0]["friend_email"] == "gus@example.net"
    # session: the location of the ended session goes, the open session's stays.
    assert ids(shop, session_locations) == [2]
    # anonymise: the old telemetry row is rewritten in place (mask), the recent one untouched.
    rows = {r["id"]: r for r in shop.rows(telemetry)}
    assert rows[1]["ip"] != "203.0.113.9" and rows[1]["ip"].count(".") == 3
    assert rows[1]["user_agent"] != "Mozilla/5.0 (X11)"
    assert rows[2]["ip"] == "198.51.100.7"
    # while_account_active + P30D grace: closed 60 days ago → gone (its old order went first,
    # children before parents); closed 10 days ago → kept whole; open → kept.
    people = {r["id"]: r for r in shop.rows(customers)}
    assert 2 not in people
    assert people[3]["email"] == "cat@example.com" and people[3]["phone"] is not None
    assert people[1]["name"] == "Ann Archer"
    # The address ends with the account (its clock is the customer's closed_at).
    assert ids(shop, addresses) == [10, 30]
    # indefinite: never swept, and reported as such.
    assert ids(shop, suppressions) == [1]
    status = {r["rule"]: r for r in report.as_dict()["rules"]}["suppression_list"]
    assert status["status"] == "indefinite" and status["collections"] == ["shop:suppressions"]


def test_legal_hold_keeps_what_the_law_requires_and_says_so(shop: Shop) -> None:
    report = shop.sweep()
    dan = next(r for r in shop.rows(customers) if r["id"] == 4)
    # Dan closed his account two years ago; his three-year-old order keeps his name for tax law.
    assert dan["name"] == "Dan Dale"
    assert dan["email"] != "dan@example.com" and "@" in dan["email"]  # NOT NULL: masked
    assert dan["phone"] is None
    entry = unit(report, "account", "customers")
    assert entry["kept"] == [
        {"hold": "tax_records", "law": "Tax code, seven-year bookkeeping", "rows": 1, "until": "2029-06-16"}
    ]
    assert (entry["matched"], entry["deleted"], entry["updated"]) == (2, 1, 1)
    # The order itself is inside its seven years: untouched.
    assert next(r for r in shop.rows(orders) if r["id"] == 400)["billing_name"] == "Dan Dale"
    # The audit names the law, and holds no personal value.
    audits = [e for e in shop.audit.entries if e.kind == "retention.swept" and e.payload["rule"] == "account"]
    assert len(audits) == 1
    text = repr(audits[0].payload)
    assert "Tax code, seven-year bookkeeping" in text
    for value in ("dan@example.com", "Dan Dale", "bob@example.com", "+44 20"):
        assert value not in text


def test_second_run_changes_nothing(shop: Shop) -> None:
    shop.sweep()
    after_first = shop.snapshot()
    again = shop.sweep()
    assert shop.snapshot() == after_first
    for u in again.as_dict()["units"]:
        assert u["deleted"] == 0 and u["updated"] == 0, u
    # The anonymised telemetry row still matches (its period is over) but nothing changes.
    assert unit(again, "telemetry", "telemetry")["unchanged"] == 1


def test_dry_run_changes_nothing_and_agrees_with_the_run(shop: Shop) -> None:
    before = shop.snapshot()
    dry = shop.sweep(dry_run=True)
    assert shop.snapshot() == before
    assert dry.run_id is None and not shop.audit.entries
    run = shop.sweep()
    keys = ("matched", "deleted", "updated", "unchanged", "blocked", "kept", "needed")
    digests = ("rows_deleted_digest", "rows_erased_digest")
    assert [{k: u[k] for k in (*keys, *digests)} for u in dry.as_dict()["units"]] == [
        {k: u[k] for k in (*keys, *digests)} for u in run.as_dict()["units"]
    ]


def test_a_later_clock_sweeps_more(sqlite_shop: Shop) -> None:
    shop = sqlite_shop
    shop.sweep()
    # Thirty days on, Cat's grace period is over too; Ann's second ticket is still young.
    later = shop.sweep(now=NOW + dt.timedelta(days=30))
    assert unit(later, "account", "customers")["deleted"] == 1
    assert 3 not in ids(shop, customers)
    assert ids(shop, tickets) == [2]


def test_the_real_audit_log_takes_the_entries_even_with_an_address_in_a_reason(sqlite_shop: Shop) -> None:
    from pledge.audit.log import AuditLog

    text = DECLARATION.replace(
        "reason: Tax law keeps order records seven years.",
        "reason: Tax law keeps order records seven years (ask tax@shop.test or 192.0.2.7).",
    )
    audit = AuditLog(sqlite_shop.db, sign_every=None, flush_interval=None)
    try:
        report = sqlite_shop.sweep(sqlite_shop.plan(declaration(text)), audit=audit)
        assert len(report.audited) == 6
        entries = {e.payload["rule"]: e.payload for e in audit.entries() if e.kind == "retention.swept"}
        assert entries["orders"]["reason"].startswith("(declaration text sha256:")
        assert entries["account"]["collections"][1]["kept"][0]["law"] == "Tax code, seven-year bookkeeping"
        assert audit.verify().ok
    finally:
        audit.close()
