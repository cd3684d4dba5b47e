"""Property: over generated shops and clock times, the dry run and the run agree exactly (the same
rows, the same counts), and a second run changes nothing."""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pledge.storage import Database
from tests.retention.fixtures import (
    NOW,
    N,
    Shop,
    addresses,
    create,
    customers,
    order_lines,
    orders,
    referrals,
    session_locations,
    sessions,
    telemetry,
    tickets,
)

_COUNTS = ("matched", "deleted", "updated", "unchanged", "nothing_to_erase", "blocked", "kept", "needed")
_DIGESTS = ("rows_deleted_digest", "rows_erased_digest")

ages = st.integers(min_value=-400, max_value=4000)  # days before N (negative: in the future)
maybe_age = st.none() | ages


@st.composite
def shops(draw: st.DrawFn) -> dict[Any, list[dict[str, Any]]]:
    ids = itertools.count(1)
    people = draw(st.lists(st.tuples(maybe_age, st.booleans()), min_size=1, max_size=6))
    rows: dict[Any, list[dict[str, Any]]] = {
        t: []
        for t in (
            customers,
            addresses,
            orders,
            order_lines,
            referrals,
            sessions,
            session_locations,
            tickets,
            telemetry,
        )
    }
    for n, (closed, phone) in enumerate(people, 1):
        rows[customers].append(
            {
                "id": n,
                "email": f"p{n}@example.com",
                "name": f"Person {n}",
                "phone": "+44 1" if phone else None,
                "birth_date": None,
                "created_at": N - dt.timedelta(days=5000),
                "closed_at": None if closed is None else N - dt.timedelta(days=closed),
            }
        )
        for _ in range(draw(st.integers(0, 2))):
            rows[addresses].append(
                {"id": next(ids), "customer_id": n, "street": "1 St", "city": "C", "postal_code": None}
            )
        for placed in draw(st.lists(ages, max_size=3)):
            order = next(ids)
            rows[orders].append(
                {
                    "id": order,
                    "customer_id": n,
                    "placed_at": (N - dt.timedelta(days=placed)).date(),
                    "billing_name": f"Person {n}",
                    "total": decimal.Decimal("1.00"),
                    "note": draw(st.none() | st.just("a note")),
                }
            )
            for _ in range(draw(st.integers(0, 2))):
                rows[order_lines].append(
                    {"id": next(ids), "order_id": order, "sku": "X", "gift_message": "hi"}
                )
        for sent in draw(st.lists(maybe_age, max_size=2)):
            rows[referrals].append(
                {
                    "id": next(ids),
                    "referrer_id": n,
                    "friend_name": "F",
                    "friend_email": "f@example.net",
                    "invited_at": None if sent is None else N - dt.timedelta(days=sent),
                }
            )
        for ended in draw(st.lists(maybe_age, max_size=2)):
            session = uuid.uuid4().hex
            rows[sessions].append(
                {
                    "id": session,
                    "customer_id": n,
                    "started_at": N - dt.timedelta(days=4000),
                    "ended_at": None if ended is None else N - dt.timedelta(days=ended),
                }
            )
            rows[session_locations].append(
                {"id": next(ids), "session_id": session, "city": "Leeds", "latitude": None}
            )
        for idle in draw(st.lists(ages, max_size=2)):
            rows[tickets].append(
                {
                    "id": next(ids),
                    "customer_id": n,
                    "contact_email": f"p{n}@example.com",
                    "body": "help",
                    "last_activity_at": N - dt.timedelta(days=idle),
                }
            )
    for collected in draw(st.lists(ages, max_size=4)):
        rows[telemetry].append(
            {
                "id": next(ids),
                "customer_id": None,
                "ip": "192.0.2.1",
                "user_agent": "UA",
                "collected_at": N - dt.timedelta(days=collected),
            }
        )
    return rows


def _view(report: Any) -> list[dict[str, Any]]:
    return [{k: u[k] for k in (*_COUNTS, *_DIGESTS, "rule", "collection")} for u in report.as_dict()["units"]]


@pytest.fixture(scope="module")
def pledge_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """One migrated Pledge database for every example (runs of different shops never resume
    each other: each finishes)."""
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('pledge') / 'pledge.db'}")
    db.migrate()
    yield db
    db.dispose()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=shops(),
    offset=st.integers(min_value=-800, max_value=3000),
    batch=st.integers(min_value=1, max_value=4),
)
def test_dry_run_and_run_agree_and_a_second_run_changes_nothing(
    tmp_path: Path, pledge_db: Database, rows: dict[Any, list[dict[str, Any]]], offset: int, batch: int
) -> None:
    here = tmp_path / uuid.uuid4().hex
    here.mkdir()
    url = f"sqlite:///{here / 'shop.db'}"
    create(url, rows)
    shop = Shop("sqlite", url, "sqlite://", _db=pledge_db)
    now = NOW + dt.timedelta(days=offset)
    connectors = shop.connectors()
    plan = shop.plan(connectors=connectors)
    try:
        before = shop.snapshot()
        dry = shop.sweep(plan, dry_run=True, now=now, batch_size=batch, connectors=connectors)
        assert shop.snapshot() == before
        run = shop.sweep(plan, now=now, batch_size=batch, connectors=connectors)
        assert _view(dry) == _view(run)
        assert run.ok
        after = shop.snapshot()
        removed = sum(len(before[t]) - len(after[t]) for t in before)
        assert removed == sum(u.counts["deleted"] for u in run.units)
        again = shop.sweep(plan, now=now, batch_size=batch, connectors=connectors)
        assert shop.snapshot() == after
        assert all(u.counts["deleted"] == 0 and u.counts["updated"] == 0 for u in again.units)
    finally:
        shop._db = None  # the module's database stays open for the next example
        shop.close()
