"""Minors are purged through the erasure path except what the law keeps, audited with the
declared minimum age and its reason, recorded, and never purged twice."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from pledge.audit.sink import MemoryAudit
from pledge.consent import ConsentLedger
from pledge.errors import InputError
from pledge.policy import compile_policy
from pledge.requests.execute import RequestExecutor
from pledge.requests.steps import Identity
from pledge.retention.minors import (
    find_by_birth_date,
    find_flagged,
    purge_minors,
    purged_subjects,
    reported_minor,
)
from tests.retention.fixtures import (
    DECLARATION,
    HASH_KEY,
    NOW,
    Shop,
    customers,
    datamap,
    declaration,
    orders,
    shop_fixture,  # noqa: F401 - fixture
    sqlite_shop_fixture,  # noqa: F401 - fixture
    tickets,
)


def executor(shop: Shop, text: str = DECLARATION) -> RequestExecutor:
    loaded = declaration(text)
    return RequestExecutor(datamap(decl=loaded), shop.connectors(), declaration=loaded, hash_key=HASH_KEY)


def purge(shop: Shop, found: list[Any], **kw: Any) -> Any:
    ex = executor(shop)
    return purge_minors(found, ex, declaration().declaration, db=shop.db, audit=shop.audit, now=NOW, **kw)


def test_a_declared_birth_date_gets_the_minor_purged_except_what_the_law_keeps(shop: Shop) -> None:
    ex = executor(shop)
    found = find_by_birth_date(ex.datamap, ex.connectors, minimum_age=16, now=NOW, hash_key=HASH_KEY)
    assert [m.where for m in found] == [("shop:customers",)]
    report = purge(shop, found)
    (entry,) = report.subjects
    assert entry["status"] == "purged" and entry["verified"] is True
    eve = next(r for r in shop.rows(customers) if r["id"] == 5)
    # Tax law keeps her name (her order is 20 days old); the rest is erased.
    assert eve["name"] == "Eve Young"
    assert eve["email"] != "eve@example.com" and eve["phone"] is None and eve["birth_date"] is None
    order = next(r for r in shop.rows(orders) if r["id"] == 500)
    assert order["billing_name"] == "Eve Young" and order["note"] is None
    assert {k["law"] for k in entry["kept"]} == {"Tax code, seven-year bookkeeping"}
    # The audit says why, and holds no personal value.
    (audit,) = [e for e in shop.audit.entries if e.kind == "minors.purged"]
    assert audit.payload["minimum_age"] == 16
    assert audit.payload["reason"] == "The age of digital consent here."
    assert audit.payload["detected_by"] == "birth_date"
    assert audit.subject == entry["subject"] and audit.subject.startswith("m_")
    assert "eve@example.com" not in repr(audit.payload) and "Eve Young" not in repr(audit.payload)
    assert entry["subject"] in purged_subjects(shop.db)
    # Others are untouched.
    assert next(r for r in shop.rows(customers) if r["id"] == 1)["email"] == "ann@example.com"


def test_not_purged_twice(sqlite_shop: Shop) -> None:
    ex = executor(sqlite_shop)
    minor = reported_minor(
        [Identity("email", "cat@example.com")], hash_key=HASH_KEY, reason="her father wrote"
    )
    first = purge(sqlite_shop, [minor])
    assert first.subjects[0]["status"] == "purged"
    assert [e.payload["report_reason"] for e in sqlite_shop.audit.entries] == ["her father wrote"]
    again = purge_minors(
        [minor], ex, declaration().declaration, db=sqlite_shop.db, audit=sqlite_shop.audit, now=NOW
    )
    assert again.subjects[0]["status"] == "already_purged"
    assert len(sqlite_shop.audit.entries) == 1


def test_flagged_by_the_consent_ledger(sqlite_shop: Shop) -> None:
    loaded = declaration()
    audit = MemoryAudit()
    ledger = ConsentLedger(sqlite_shop.db, compile_policy(loaded), audit, hash_key=HASH_KEY)
    subject = ledger.directory.resolve("email", "Ann@Example.com ")  # normalised like the ledger does
    ledger.declare_age(subject, 12, source="privacy_center")
    nobody = ledger.directory.resolve("email", "ghost@example.org")
    ledger.declare_age(nobody, 10, source="privacy_center")
    ex = executor(sqlite_shop)
    found, missing = find_flagged(ledger, ex.datamap, ex.connectors)
    assert [(m.subject, m.where) for m in found] == [(subject, ("shop:customers", "shop:tickets"))]
    assert missing == [nobody]
    report = purge(sqlite_shop, found)
    assert report.subjects[0]["status"] == "purged"
    assert all(r["contact_email"] != "ann@example.com" for r in sqlite_shop.rows(tickets))
    # Readers of the ledger's flags can tell who is done.
    flagged = {f.subject_id for f in ledger.flagged_minors()}
    assert subject in flagged and subject in purged_subjects(sqlite_shop.db)
    found, _ = find_flagged(ledger, ex.datamap, ex.connectors, skip=set(purged_subjects(sqlite_shop.db)))
    assert found == []


def test_adults_and_people_turning_sixteen_today_are_left_alone(sqlite_shop: Shop) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(sqlite_shop.url)
    today = NOW.date()
    with engine.begin() as conn:
        conn.execute(
            sa.update(customers)
            .where(customers.c.id == 1)
            .values(birth_date=today.replace(year=today.year - 16))
        )
        conn.execute(
            sa.update(customers)
            .where(customers.c.id == 3)
            .values(birth_date=today.replace(year=today.year - 16) + dt.timedelta(days=1))
        )
    engine.dispose()
    ex = executor(sqlite_shop)
    found = find_by_birth_date(ex.datamap, ex.connectors, minimum_age=16, now=NOW, hash_key=HASH_KEY)
    emails = {i.value for m in found for i in m.identities if i.kind == "email"}
    assert emails == {"eve@example.com", "cat@example.com"}  # Cat turns sixteen tomorrow


def test_purge_needs_a_declaration_that_says_purge(sqlite_shop: Shop) -> None:
    minor = reported_minor([Identity("email", "cat@example.com")], hash_key=HASH_KEY, reason=None)
    blocked = declaration(DECLARATION.replace("on_detection: purge", "on_detection: block")).declaration
    with pytest.raises(InputError, match="'block'"):
        purge_minors([minor], executor(sqlite_shop), blocked, db=sqlite_shop.db, audit=None, now=NOW)
    with pytest.raises(InputError, match="give at least one"):
        reported_minor([], hash_key=HASH_KEY, reason=None)


def test_dry_run_purges_nothing(sqlite_shop: Shop) -> None:
    before = sqlite_shop.snapshot()
    ex = executor(sqlite_shop)
    found = find_by_birth_date(ex.datamap, ex.connectors, minimum_age=16, now=NOW, hash_key=HASH_KEY)
    report = purge(sqlite_shop, found, dry_run=True)
    assert report.subjects[0]["status"] == "dry_run" and report.subjects[0]["updated"] == 2
    assert sqlite_shop.snapshot() == before
    assert not sqlite_shop.audit.entries and not purged_subjects(sqlite_shop.db)
