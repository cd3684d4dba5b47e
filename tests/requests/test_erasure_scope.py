"""What an erasure may delete: whole rows only when nothing in them must stay.

Two reported risks. (1) ``erase_subjects(categories=...)`` under a collection's ``delete``
override: deleting the row erases every field of it, including fields of categories nobody asked
to erase and fields a legal hold keeps. (2) Tables whose primary key has several columns: rows
are named, locked, deleted and masked by the whole key, never by its first column alone.
"""

from __future__ import annotations

import copy
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from pledge.connectors import open_connector
from pledge.datamap import parse_datamap
from pledge.declaration import parse_declaration
from pledge.requests.execute import RequestExecutor, erase_subjects, run_now
from pledge.requests.steps import Identity
from pledge.requests.strategies import mask_seed, mask_text

HASH_KEY = b"s" * 32

meta = sa.MetaData()
members = sa.Table(
    "members",
    meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("email", sa.String(200), nullable=False),
    sa.Column("name", sa.String(100), nullable=True),
    sa.Column("phone", sa.String(30), nullable=True),
    sa.Column("iban", sa.String(34), nullable=True),
    sa.Column("joined_on", sa.Date, nullable=True),
)
# Composite keys: a membership is (club, member); a visit is (club, member, day).
memberships = sa.Table(
    "memberships",
    meta,
    sa.Column("club_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("member_id", sa.Integer, sa.ForeignKey("members.id"), primary_key=True, autoincrement=False),
    sa.Column("nickname", sa.String(40), nullable=False),
    sa.Column("badge", sa.String(40), nullable=True),
)
visits = sa.Table(
    "visits",
    meta,
    sa.Column("club_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("member_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("day", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("comment", sa.String(100), nullable=True),
    sa.ForeignKeyConstraint(["club_id", "member_id"], ["memberships.club_id", "memberships.member_id"]),
)

ROWS: dict[sa.Table, list[dict[str, Any]]] = {
    members: [
        {
            "id": 1,
            "email": "ann@example.com",
            "name": "Ann",
            "phone": "+44 1",
            "iban": "GB11",
            "joined_on": None,
        },
        {
            "id": 2,
            "email": "bob@example.com",
            "name": "Bob",
            "phone": "+44 2",
            "iban": "GB22",
            "joined_on": None,
        },
    ],
    memberships: [
        {"club_id": 7, "member_id": 1, "nickname": "Annie", "badge": "gold"},
        {"club_id": 8, "member_id": 1, "nickname": "A.", "badge": "plain"},
        {"club_id": 7, "member_id": 2, "nickname": "Bobby", "badge": "silver"},  # same club, not Ann
        {"club_id": 8, "member_id": 2, "nickname": "B.", "badge": "bronze"},
    ],
    visits: [
        {"club_id": 7, "member_id": 1, "day": 1, "comment": "Ann came early"},
        {"club_id": 7, "member_id": 1, "day": 2, "comment": None},
        {"club_id": 7, "member_id": 2, "day": 1, "comment": "Bob came late"},
    ],
}


DATAMAP = textwrap.dedent(
    """\
    dataset:
      - fides_key: club
        collections:
          - name: members
            fides_meta: {masking_strategy_override: {strategy: delete}}
            fields:
              - {name: id, data_categories: [user.unique_id], fides_meta: {primary_key: true}}
              - {name: email, data_categories: [user.contact.email], fides_meta: {identity: email}}
              - {name: name, data_categories: [user.name]}
              - {name: phone, data_categories: [user.contact.phone_number]}
              - {name: iban, data_categories: [user.financial.bank_account]}
              - {name: joined_on, data_categories: [system.operations]}
          - name: memberships
            fides_meta: {masking_strategy_override: {strategy: delete}}
            fields:
              - {name: club_id, data_categories: [system.operations]}
              - name: member_id
                data_categories: [user.unique_id]
                fides_meta: {references: [{dataset: club, field: members.id, direction: from}]}
              - {name: nickname, data_categories: [user.name]}
              - {name: badge, data_categories: [user.behavior]}
          - name: visits
            fides_meta: {masking_strategy_override: {strategy: delete}}
            fields:
              - {name: club_id, data_categories: [system.operations]}
              - name: member_id
                data_categories: [user.unique_id]
                fides_meta: {references: [{dataset: club, field: memberships.member_id, direction: from}]}
              - {name: day, data_categories: [system.operations]}
              - {name: comment, data_categories: [user.content.private]}
    """
)


def datamap_text(*, members_override: bool = True, visits_mapped: bool = True) -> str:
    text = DATAMAP
    if not members_override:  # members' fields erased in place (the row stays)
        text = text.replace(
            "  - name: members\n        fides_meta: {masking_strategy_override: {strategy: delete}}\n",
            "  - name: members\n",
        )
    if not visits_mapped:  # a table the datamap does not know still points at memberships
        text = text[: text.index("      - name: visits")]
    return text


DECLARATION = textwrap.dedent(
    """\
    policy_version: "1"
    effective: 2024-01-01
    organisation: {name: Club, contacts: [{kind: privacy, email: privacy@club.test}]}
    purposes:
      - id: membership
        name: Membership
        lawful_basis: contract
        categories: [user]
    rights: [{right: erasure, deadline: P1M}]
    """
)
HOLD = "legal_holds:\n  - {id: bank, categories: [user.financial], law: Banking Act, period: P5Y}\n"


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def club_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'club.db'}"
    else:
        factory: Callable[[], str] = request.getfixturevalue(
            "make_pg_url" if request.param == "postgresql" else "make_mariadb_url"
        )
        url = factory()
    engine = sa.create_engine(url)
    meta.create_all(engine)
    with engine.begin() as conn:
        for table in meta.sorted_tables:
            conn.execute(table.insert(), ROWS[table])
    engine.dispose()
    yield url


@pytest.fixture
def sqlite_club(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'club.db'}"
    engine = sa.create_engine(url)
    meta.create_all(engine)
    with engine.begin() as conn:
        for table in meta.sorted_tables:
            conn.execute(table.insert(), ROWS[table])
    engine.dispose()
    return url


def executor(url: str, *, extra: str = "", **map_options: bool) -> Iterator[RequestExecutor]:
    loaded = parse_declaration(DECLARATION + extra, "privacy.yaml")
    datamap = parse_datamap([("datamap.yaml", datamap_text(**map_options))], declaration=loaded)
    connector = open_connector("club", url)
    try:
        yield RequestExecutor(datamap, {"club": connector}, declaration=loaded, hash_key=HASH_KEY)
    finally:
        connector.close()


def rows(url: str, table: sa.Table) -> list[dict[str, Any]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            query = sa.select(table).order_by(*table.primary_key.columns)
            return [dict(r._mapping) for r in conn.execute(query)]
    finally:
        engine.dispose()


ANN = [Identity("email", "ann@example.com")]


# --- (1) erasing some categories never deletes the whole row ----------------------------------------


def test_erasing_one_category_keeps_the_rows_and_their_other_fields(sqlite_club: str, tmp_path: Path) -> None:
    before = {t.name: rows(sqlite_club, t) for t in meta.sorted_tables}
    for made in executor(sqlite_club):
        outcome = erase_subjects(made, ANN, workdir=tmp_path, categories=["user.name"])
    # Both collections ask for whole rows to go, but only names were asked to be erased: Ann's
    # membership in club 8 (which nothing references) keeps its badge, so it must stay.
    assert outcome["summary"]["deleted"] == 0
    after = {t.name: rows(sqlite_club, t) for t in meta.sorted_tables}
    assert after["members"] == [{**before["members"][0], "name": None}, before["members"][1]]
    ann = {r["club_id"]: r for r in after["memberships"] if r["member_id"] == 1}
    assert {c: r["badge"] for c, r in ann.items()} == {7: "gold", 8: "plain"}
    assert ann[8]["nickname"] != "A." and len(ann[8]["nickname"]) == 2  # NOT NULL: masked
    bobs = [r for r in before["memberships"] if r["member_id"] == 2]
    assert [r for r in after["memberships"] if r["member_id"] == 2] == bobs
    assert after["visits"] == before["visits"]
    verification = outcome["summary"]["verification"]
    assert verification["verified"] is True, verification


def test_the_preview_says_why_a_scoped_erasure_does_not_delete(sqlite_club: str) -> None:
    for made in executor(sqlite_club):
        preview = made.preview("erase", ANN, {"categories": ["user.contact.phone_number"]})
    members_plan = preview["erasure"]["club:members"]
    assert members_plan["delete_row"] is False
    assert "not among the categories erased" in members_plan["why"]
    assert {f["field"]: f["strategy"] for f in members_plan["fields"]} == {"phone": "null"}


def test_a_held_field_outside_the_categories_survives_a_scoped_erasure(
    sqlite_club: str, tmp_path: Path
) -> None:
    for made in executor(sqlite_club, extra=HOLD):
        outcome = erase_subjects(made, ANN, workdir=tmp_path, categories=["user.contact", "user.name"])
    (ann,) = [r for r in rows(sqlite_club, members) if r["id"] == 1]
    assert ann["iban"] == "GB11"  # the Banking Act keeps it: the row cannot go
    assert ann["phone"] is None and ann["name"] is None and ann["email"] != "ann@example.com"
    assert outcome["summary"]["verification"]["verified"] is True
    # memberships' badge (user.behavior) was not asked for: the rows stay, the nickname is masked.
    ann_clubs = {r["club_id"]: r for r in rows(sqlite_club, memberships) if r["member_id"] == 1}
    assert sorted(ann_clubs) == [7, 8] and ann_clubs[7]["badge"] == "gold"
    assert ann_clubs[7]["nickname"] != "Annie" and len(ann_clubs[7]["nickname"]) == len("Annie")
    assert len(rows(sqlite_club, visits)) == 3


def test_a_held_field_inside_the_categories_still_stops_deletion(sqlite_club: str, tmp_path: Path) -> None:
    for made in executor(sqlite_club, extra=HOLD):
        outcome = erase_subjects(made, ANN, workdir=tmp_path, categories=["user"])
    (ann,) = [r for r in rows(sqlite_club, members) if r["id"] == 1]
    assert ann["iban"] == "GB11" and ann["name"] is None
    kept = {(k["collection"], k["field"]): k for k in outcome["summary"]["verification"]["kept"]}
    assert kept[("club:members", "iban")]["law"] == "Banking Act"


def test_categories_covering_every_personal_field_still_delete_the_rows(
    sqlite_club: str, tmp_path: Path
) -> None:
    for made in executor(sqlite_club):
        outcome = erase_subjects(made, ANN, workdir=tmp_path, categories=["user"])
    assert [r["id"] for r in rows(sqlite_club, members)] == [2]
    assert outcome["summary"]["verification"]["verified"] is True
    assert outcome["summary"]["deleted"] == 1 + 2 + 2  # member, memberships, visits
    assert [r["comment"] for r in rows(sqlite_club, visits)] == ["Bob came late"]
    assert [r["member_id"] for r in rows(sqlite_club, memberships)] == [2, 2]


def test_unknown_and_empty_category_lists_erase_nothing_else(sqlite_club: str, tmp_path: Path) -> None:
    before = {t.name: rows(sqlite_club, t) for t in meta.sorted_tables}
    for made in executor(sqlite_club):
        outcome = erase_subjects(made, ANN, workdir=tmp_path, categories=["user.biometric"])
    assert outcome["summary"]["deleted"] == 0 and outcome["summary"]["updated"] == 0
    assert {t.name: rows(sqlite_club, t) for t in meta.sorted_tables} == before


# --- (2) composite primary keys ---------------------------------------------------------------------


def test_composite_keys_erase_exactly_the_persons_rows(club_url: str, tmp_path: Path) -> None:
    for made in executor(club_url, members_override=False):
        outcome = run_now(made, "erase", ANN, workdir=tmp_path)
    assert outcome["summary"]["verification"]["verified"] is True, outcome["summary"]["verification"]
    # Club 7 has Bob too: naming rows by club_id alone would have touched his.
    assert rows(club_url, memberships) == [m for m in ROWS[memberships] if m["member_id"] == 2]
    assert rows(club_url, visits) == [v for v in ROWS[visits] if v["member_id"] == 2]
    (bob,) = [r for r in rows(club_url, members) if r["id"] == 2]
    assert bob == ROWS[members][1]
    assert outcome["steps"]["erase:club:visits"]["deleted"] == 2
    assert outcome["steps"]["erase:club:memberships"]["deleted"] == 2


def test_composite_keys_still_referenced_are_masked_in_place_and_verified(
    club_url: str, tmp_path: Path
) -> None:
    # visits is not in the datamap: its rows keep pointing at Ann's membership in club 7, which
    # therefore stays with its fields erased (the mask seeded by the whole key).
    for made in executor(club_url, members_override=False, visits_mapped=False):
        outcome = run_now(made, "erase", ANN, workdir=tmp_path)
        collection = made.datamap.collection(("club", "memberships"))
    step = outcome["steps"]["erase:club:memberships"]
    assert step["deleted"] == 1 and step["kept_row_count"] == 1
    assert step["kept_rows"][0]["key"] == [7, 1]
    kept = {(m["club_id"], m["member_id"]): m for m in rows(club_url, memberships)}
    assert set(kept) == {(7, 1), (7, 2), (8, 2)}
    assert kept[(7, 1)]["nickname"] != "Annie" and len(kept[(7, 1)]["nickname"]) == len("Annie")
    assert kept[(7, 1)]["badge"] is None
    assert kept[(7, 2)] == ROWS[memberships][2] and kept[(8, 2)] == ROWS[memberships][3]
    assert collection is not None
    assert kept[(7, 1)]["nickname"] == mask_text(
        "Annie", mask_seed(collection, ["nickname"], [7, 1]), HASH_KEY
    )
    assert outcome["summary"]["verification"]["verified"] is True


@pytest.mark.parametrize("at_once", [False, True], ids=["one-by-one", "pieces-at-once"])
def test_a_composite_key_residue_is_reported(
    sqlite_club: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, at_once: bool
) -> None:
    # A broken connector that silently skips deletes: verification must name the rows by full key,
    # whether it checks collections one by one (one person) or every piece at once (many).
    from pledge.connectors.sql import SqlSession
    from pledge.requests import erasure_check

    if at_once:
        monkeypatch.setattr(erasure_check, "_SIDE_BY_SIDE_FROM", 0)
    monkeypatch.setattr(SqlSession, "delete", lambda self, table, key, keys: len(keys))
    monkeypatch.setattr(SqlSession, "try_delete", lambda self, table, key, keys: len(keys))
    monkeypatch.setattr(SqlSession, "update", lambda self, table, key, changes: len(changes))
    for made in executor(sqlite_club, members_override=False):
        outcome = run_now(made, "erase", ANN, workdir=tmp_path)
    verification = outcome["summary"]["verification"]
    assert verification["verified"] is False
    residual = {(r["collection"], tuple(r["key"]), r.get("field")) for r in verification["residual"]}
    assert ("club:memberships", (7, 1), None) in residual and ("club:memberships", (8, 1), None) in residual
    assert not any(key[1] == 2 for name, key, _ in residual if name == "club:memberships")
    # Ann's member row was kept (rewritten in place), but the write never happened.
    assert {f for name, key, f in residual if name == "club:members"} == {"email", "name", "phone", "iban"}
    assert verification["remaining_rows"]["club:members"] == 1


# --- many rows at once ----------------------------------------------------------------------------


def test_rewriting_many_rows_in_overlapped_parts_ends_the_same(
    club_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pledge.requests import erasure

    crowd = [
        {"id": 100 + i, "email": f"m{i}@example.com", "name": f"M {i}", "phone": None if i % 3 else f"+{i}"}
        for i in range(41)
    ]
    engine = sa.create_engine(club_url)
    with engine.begin() as conn:
        conn.execute(members.insert(), [{**m, "iban": None, "joined_on": None} for m in crowd])
    engine.dispose()
    who = [Identity("email", f"m{i}@example.com") for i in range(41)]
    plain_url = f"sqlite:///{tmp_path / 'plain.db'}"
    plain = sa.create_engine(plain_url)
    meta.create_all(plain)
    with plain.begin() as conn:
        conn.execute(members.insert(), [{**m, "iban": None, "joined_on": None} for m in crowd])
    plain.dispose()

    for made in executor(plain_url, members_override=False):
        expected = erase_subjects(made, who, workdir=tmp_path)
    monkeypatch.setattr(erasure, "_OVERLAP_FROM", 2)
    monkeypatch.setattr(erasure, "_OVERLAP_PARTS", 4)  # parts of 11, 11, 11 and 8 rows
    for made in executor(club_url, members_override=False):
        outcome = erase_subjects(made, who, workdir=tmp_path)
    step = outcome["steps"]["erase:club:members"]
    assert step["found"] == 41 and step["updated"] == 41 and step["deleted"] == 0
    assert outcome["summary"]["verification"]["verified"] is True
    assert step == {**expected["steps"]["erase:club:members"], "dry_run": False}
    crowd_ids = {m["id"] for m in crowd}
    assert [r for r in rows(club_url, members) if r["id"] in crowd_ids] == rows(plain_url, members)
    assert [r["email"] for r in rows(club_url, members) if r["id"] < 100] == [
        "ann@example.com",
        "bob@example.com",
    ]


def test_each_column_is_searched_once_when_checked_in_pieces(
    sqlite_club: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pledge.connectors.sql import SqlSession
    from pledge.requests import erasure_check

    monkeypatch.setattr(erasure_check, "_SIDE_BY_SIDE_FROM", 0)
    asked: list[tuple[str, str]] = []
    real = SqlSession.exists

    def spy(self: SqlSession, table: str, where: str, values: Any, **kw: Any) -> bool:
        asked.append((table, where))
        return real(self, table, where, values, **kw)

    monkeypatch.setattr(SqlSession, "exists", spy)
    for made in executor(sqlite_club, members_override=False):
        outcome = run_now(made, "erase", [*ANN, Identity("email", "bob@example.com")], workdir=tmp_path)
    assert outcome["summary"]["verification"]["verified"] is True
    assert sorted(asked) == [("members", "email"), ("memberships", "member_id"), ("visits", "member_id")]


def test_rewriting_rows_together_is_rewriting_each(tmp_path: Path) -> None:
    # The shop has every kind of field: masks, hashes, nulls, keys inside a JSON column.
    from pledge.connectors.base import RowChange
    from pledge.requests.erasure import RowRewriter
    from tests.requests.fixtures_shop import MKT_ROWS, SHOP_ROWS, Shop, create, mkt_meta, shop_meta

    shop_url, mkt_url = f"sqlite:///{tmp_path / 's.db'}", f"sqlite:///{tmp_path / 'm.db'}"
    create(shop_url, shop_meta, SHOP_ROWS)
    create(mkt_url, mkt_meta, MKT_ROWS)
    shop = Shop("sqlite", shop_url, mkt_url)
    try:
        made = shop.executor()
        plan = made.traversal(["email"])
        erasures = made.erasures(plan)
        tables = {t.name: t for t in [*SHOP_ROWS, *MKT_ROWS]}
        checked = 0
        for node in plan.nodes:
            rows = [*shop.rows(tables[node.table.name])]
            rows += [{**r, "id": r["id"] + 1000} for r in rows]  # the same values under other keys
            rewrite = RowRewriter(node, erasures[node.ref].actions, hash_key=b"k" * 32)
            # JSON documents are rewritten in place: each way gets its own copy of the rows.
            one_by_one = [
                RowChange(tuple(r[c] for c in node.key), ch)
                for r in copy.deepcopy(rows)
                if (ch := rewrite(r))
            ]
            assert rewrite.many(copy.deepcopy(rows)) == one_by_one, node.name
            checked += len(one_by_one)
        assert checked > 10
    finally:
        shop.close()


def test_a_datamap_key_that_is_only_part_of_the_tables_is_refused(sqlite_club: str, tmp_path: Path) -> None:
    # memberships' key is (club_id, member_id). Keyed by member_id alone, Ann's two memberships
    # were taken for one row: the access archive held one, and an erasure would name rows of
    # other clubs by a key they share.
    from pledge.errors import InputError

    text = DATAMAP.replace(
        "fides_meta: {references: [{dataset: club, field: members.id, direction: from}]}",
        "fides_meta: {primary_key: true, references: [{dataset: club, field: members.id, direction: from}]}",
    )
    loaded = parse_declaration(DECLARATION, "privacy.yaml")
    connector = open_connector("club", sqlite_club)
    try:
        made = RequestExecutor(
            parse_datamap([("datamap.yaml", text)], declaration=loaded),
            {"club": connector},
            declaration=loaded,
        )
        with pytest.raises(InputError) as caught:
            run_now(made, "access", ANN, workdir=tmp_path)
        (problem,) = caught.value.problems
        assert problem.code == "partial_primary_key" and problem.line is not None
        assert "(member_id)" in problem.message and "(club_id, member_id)" in problem.message
        # Marking the whole key (or none, as the other tests do) is accepted.
        club = "- {name: club_id, data_categories: [system.operations]}\n          - name: member_id\n"
        whole = text.replace(
            club,
            club.replace("[system.operations]}", "[system.operations], fides_meta: {primary_key: true}}"),
            1,
        )
        assert whole != text
        made = RequestExecutor(
            parse_datamap([("datamap.yaml", whole)], declaration=loaded),
            {"club": connector},
            declaration=loaded,
        )
        outcome = run_now(made, "access", ANN, workdir=tmp_path)
        assert outcome["summary"]["rows"]["club:memberships"] == 2
    finally:
        connector.close()


def test_composite_keys_lock_only_the_persons_rows(make_pg_url: Callable[[], str], tmp_path: Path) -> None:
    # Rows were read (and locked) by the first key column alone: erasing Ann's membership of
    # club 7 locked every membership of club 7, and waited for anyone holding Bob's.
    import psycopg

    url = make_pg_url()
    engine = sa.create_engine(url)
    meta.create_all(engine)
    with engine.begin() as conn:
        for table in meta.sorted_tables:
            conn.execute(table.insert(), ROWS[table])
    engine.dispose()
    plain = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain) as other:
        other.execute("SET lock_timeout = '5s'")
        other.execute("SELECT 1 FROM memberships WHERE club_id = 7 AND member_id = 2 FOR UPDATE")
        # Bob's row stays locked by another transaction while Ann is erased.
        done: dict[str, Any] = {}
        for made in executor(url, members_override=False, visits_mapped=False):

            def erase(made: RequestExecutor = made) -> None:
                done.update(run_now(made, "erase", ANN, workdir=tmp_path))

            worker = threading.Thread(target=erase)
            worker.start()
            worker.join(10)
            finished = not worker.is_alive()
            other.rollback()  # releases Bob's row either way
            worker.join(30)
        assert finished, "the erasure waited for a lock on another person's row"
    assert done["summary"]["verification"]["verified"] is True
    assert {(m["club_id"], m["member_id"]) for m in rows(url, memberships)} == {(7, 1), (7, 2), (8, 2)}
