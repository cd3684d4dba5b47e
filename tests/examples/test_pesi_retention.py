"""The PESI example's retention rules run against the demo shop: every rule that keeps data in the
shop's databases is bound to a clock in ``examples/pesi/datamap.yaml``, the plan finds rows that
have outlived their rule, and a real run then leaves nothing expired behind."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from pledge.cli.main import app
from pledge.demo.build import Demo, build_demo

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pesi"
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)

runner = CliRunner()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    built = build_demo(tmp_path_factory.mktemp("pesi") / "demo", customers=80, clock=lambda: NOW)
    try:
        yield built
    finally:
        built.system.close()


def _shop(demo: Demo) -> list[str]:
    args = ["--config", str(EXAMPLE / "privacy.yaml"), "--datamap", str(EXAMPLE / "datamap.yaml")]
    for key in ("pesi_shop", "pesi_mailing"):
        args += ["--connect", f"{key}=sqlite:///{demo.folder / 'shop' / key}.db"]
    return [*args, "--now", NOW.isoformat()]


def _counts(demo: Demo) -> dict[str, int]:
    found: dict[str, int] = {}
    for key in ("pesi_shop", "pesi_mailing"):
        engine = sa.create_engine(f"sqlite:///{demo.folder / 'shop' / key}.db")
        try:
            with engine.connect() as conn:
                for table in sa.inspect(conn).get_table_names():
                    found[f"{key}:{table}"] = conn.execute(
                        sa.text(f'SELECT count(*) FROM "{table}"')
                    ).scalar_one()
        finally:
            engine.dispose()
    return found


def _plan(demo: Demo) -> dict[str, dict[str, int]]:
    result = runner.invoke(app, ["retention", "plan", "--json", *_shop(demo)])
    assert result.exit_code == 0, result.output
    units = json.loads(result.stdout)["sweep"]["units"]
    per_unit: dict[str, dict[str, int]] = {}
    for unit in units:
        per_unit[f"{unit['rule']} @ {unit['collection']}"] = {
            k: unit[k] for k in ("matched", "deleted", "updated")
        }
    return per_unit


def test_every_stored_rule_is_bound_and_the_plan_finds_expired_rows(demo: Demo) -> None:
    before = _counts(demo)
    plan = _plan(demo)
    rules = {name.split(" @ ")[0] for name in plan}
    # device_location keeps nothing in these databases; suppression_list is indefinite.
    assert rules == {"house_file", "orders", "accounts", "call_recordings", "helpdesk", "fraud_records"}
    expired = {name: unit["matched"] for name, unit in plan.items()}
    for unit in (
        "call_recordings @ pesi_shop:call_recordings",
        "fraud_records @ pesi_shop:fraud_checks",
        "accounts @ pesi_shop:customers",
        "house_file @ pesi_mailing:house_file",
        "helpdesk @ pesi_shop:support_tickets",
    ):
        assert expired[unit] > 0, unit
    # The demo's orders are at most five years old: the seven-year rule has nothing to do yet.
    assert all(v == 0 for k, v in expired.items() if k.startswith("orders @"))
    assert _counts(demo) == before  # a plan changes nothing


def _closed_accounts(demo: Demo) -> list[sa.Row[tuple[object, ...]]]:
    engine = sa.create_engine(f"sqlite:///{demo.folder / 'shop' / 'pesi_shop.db'}")
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    sa.text("SELECT id, username, password_hash FROM customers WHERE closed_at < :t"),
                    {"t": NOW.replace(tzinfo=None) - dt.timedelta(days=30)},
                ).all()
            )
    finally:
        engine.dispose()


def test_a_run_sweeps_what_the_plan_found_and_keeps_the_tax_records(demo: Demo, tmp_path: Path) -> None:
    before = _counts(demo)
    closed_before = _closed_accounts(demo)
    assert closed_before and all(row.username for row in closed_before)
    db = f"sqlite:///{tmp_path / 'pledge.db'}"
    result = runner.invoke(app, ["retention", "run", "--json", "--db", db, *_shop(demo)])
    assert result.exit_code == 0, result.output
    after = _counts(demo)
    assert after["pesi_shop:fraud_checks"] < before["pesi_shop:fraud_checks"]
    assert after["pesi_shop:call_recordings"] < before["pesi_shop:call_recordings"]
    assert after["pesi_shop:orders"] == before["pesi_shop:orders"]  # within seven years
    engine = sa.create_engine(f"sqlite:///{demo.folder / 'shop' / 'pesi_shop.db'}")
    try:
        with engine.connect() as conn:
            cutoff = NOW.replace(tzinfo=None) - dt.timedelta(days=90)
            old_audio = conn.execute(
                sa.text(
                    "SELECT count(*) FROM call_recordings WHERE recorded_at < :t AND audio_url IS NOT NULL"
                ),
                {"t": cutoff},
            ).scalar_one()
            assert old_audio == 0
            # The demo's own person keeps an open account.
            assert conn.execute(sa.text("SELECT closed_at FROM customers WHERE id = 1")).scalar_one() is None
    finally:
        engine.dispose()
    # Closed accounts lose their credentials: the row goes, or stays emptied for the tax hold.
    closed_after = _closed_accounts(demo)
    assert len(closed_after) <= len(closed_before)
    assert all(row.username is None and row.password_hash is None for row in closed_after)
    # Run again: nothing is left to sweep.
    again = _plan(demo)
    assert all(unit["deleted"] == 0 and unit["updated"] == 0 for unit in again.values()), again
