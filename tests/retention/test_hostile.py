"""Hostile names and values: quotes, percent signs and unicode in table and column names, 10 kB
values, text clocks in odd spellings — swept correctly on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from pledge.connectors import open_connector
from pledge.datamap import parse_datamap
from pledge.retention import compile_plan, parse_bindings, run_sweep
from tests.retention.fixtures import HASH_KEY, NOW, declaration, urls

TABLE = 'tickets "%s" ünï'
CLOCK = "last 'touched'%"
meta = sa.MetaData()
weird = sa.Table(
    TABLE,
    meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("e-mail", sa.String(254), nullable=False),
    sa.Column('body "x"', sa.Text, nullable=True),
    sa.Column(CLOCK, sa.DateTime, nullable=False),
    sa.Column("stamp", sa.String(40), nullable=True),
)

DATAMAP = textwrap.dedent(
    f"""\
    dataset:
      - fides_key: shop
        meta:
          pledge:
            retention_clocks:
              {json.dumps(TABLE)}: {{last_activity: {json.dumps(CLOCK)}}}
        collections:
          - name: {json.dumps(TABLE)}
            fields:
              - {{name: id, data_categories: [system.operations], fides_meta: {{primary_key: true}}}}
              - {{name: e-mail, data_categories: [user.contact.email], fides_meta: {{identity: email}}}}
              - {{name: 'body "x"', data_categories: [user.content.private]}}
              - {{name: {json.dumps(CLOCK)}, data_categories: [system.operations]}}
              - {{name: stamp, data_categories: [system.operations]}}
    """
)
BIG = "ü" * 10_000


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def weird_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url, _ = urls(request.param, request, tmp_path)
    engine = sa.create_engine(url)
    meta.create_all(engine)
    base = NOW.replace(tzinfo=None)
    with engine.begin() as conn:
        conn.execute(
            weird.insert(),
            [
                {
                    "id": 1,
                    "e-mail": "o'brien@example.com",
                    'body "x"': BIG,
                    CLOCK: base - dt.timedelta(days=900),
                },
                {
                    "id": 2,
                    "e-mail": "100%@example.com",
                    'body "x"': "%s %(x)s",
                    CLOCK: base - dt.timedelta(days=10),
                },
                {"id": 3, "e-mail": "x@example.com", 'body "x"': None, CLOCK: base - dt.timedelta(days=731)},
            ],
        )
    engine.dispose()
    yield url


def test_hostile_names_and_values(weird_url: str) -> None:
    loaded = declaration()
    connector = open_connector("shop", weird_url)
    try:
        specs, problems = parse_bindings([("datamap.yaml", DATAMAP)])
        assert not problems
        datamap = parse_datamap([("datamap.yaml", DATAMAP)], declaration=loaded)
        plan = compile_plan(
            loaded, datamap, specs, {"shop": connector.describe()}, rules=["support"], hash_key=True
        )
        dry = run_sweep(plan, {"shop": connector}, now=NOW, dry_run=True, hash_key=HASH_KEY, batch_size=1)
        report = run_sweep(plan, {"shop": connector}, now=NOW, hash_key=HASH_KEY, batch_size=1)
        assert dry.units[0].counts["deleted"] == report.units[0].counts["deleted"] == 2
    finally:
        connector.close()
    engine = sa.create_engine(weird_url)
    with engine.connect() as conn:
        left: list[Any] = conn.execute(sa.select(weird.c.id, weird.c["e-mail"])).all()
    engine.dispose()
    assert [tuple(r) for r in left] == [(2, "100%@example.com")]


def test_text_clocks_in_odd_spellings(tmp_path: Path) -> None:
    """A clock stored as text is read whatever its ISO spelling (and garbage never deletes)."""
    url = f"sqlite:///{tmp_path / 'text.db'}"
    engine = sa.create_engine(url)
    text_meta = sa.MetaData()
    table = sa.Table(
        "tickets",
        text_meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("contact_email", sa.String(254), nullable=False),
        sa.Column("seen", sa.String(40), nullable=True),
    )
    text_meta.create_all(engine)
    stamps = [
        "2020-01-01",
        "2020-01-01T10:00:00Z",
        "2020-01-01 10:00:00+02:00",
        "not a date",
        "2025-06-01",
        None,
    ]
    with engine.begin() as conn:
        conn.execute(
            table.insert(), [{"id": i, "contact_email": "a@b.c", "seen": s} for i, s in enumerate(stamps)]
        )
    engine.dispose()
    text = textwrap.dedent(
        """\
        dataset:
          - fides_key: shop
            meta: {pledge: {retention_clocks: {tickets: {last_activity: seen}}}}
            collections:
              - name: tickets
                fields:
                  - {name: id, data_categories: [system.operations], fides_meta: {primary_key: true}}
                  - name: contact_email
                    data_categories: [user.contact.email]
                    fides_meta: {identity: email}
                  - {name: seen, data_categories: [system.operations]}
        """
    )
    loaded = declaration()
    connector = open_connector("shop", url)
    try:
        specs, _ = parse_bindings([("d.yaml", text)])
        datamap = parse_datamap([("d.yaml", text)], declaration=loaded)
        plan = compile_plan(loaded, datamap, specs, {"shop": connector.describe()}, rules=["support"])
        report = run_sweep(plan, {"shop": connector}, now=NOW, hash_key=HASH_KEY)
    finally:
        connector.close()
    counts = report.units[0].counts
    assert (counts["deleted"], counts["unreadable"]) == (3, 1)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert sorted(conn.execute(sa.select(table.c.id)).scalars()) == [3, 4, 5]
    engine.dispose()
