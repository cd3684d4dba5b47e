"""Published versions in Pledge's database, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
import yaml

from pledge.declaration import LoadedDeclaration, parse_declaration
from pledge.errors import Conflict, InputError, NotFound
from pledge.pages import render_policy
from pledge.publish.tables import policy_versions
from pledge.publish.versions import get_version, latest_version, list_versions, publish_version
from pledge.storage import Database
from tests.declaration.conftest import MINIMAL

NOW = dt.datetime(2025, 3, 1, 12, 30, tzinfo=dt.UTC)


def declaration(version: str = "1.0", **changes: object) -> LoadedDeclaration:
    data = yaml.safe_load(MINIMAL)
    data["policy_version"] = version
    data.update(changes)
    return parse_declaration(yaml.safe_dump(data), "privacy.yaml")


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    database.migrate()
    yield database
    database.dispose()


def test_first_publication_records_everything(db: Database) -> None:
    loaded = declaration()
    published = publish_version(db, loaded, now=NOW)
    assert published.created and published.previous_version is None
    assert (published.version, published.effective, published.digest) == (
        "1.0",
        dt.date(2024, 1, 1),
        loaded.digest,
    )
    assert published.published_at == NOW and published.published_at.tzinfo is not None
    assert published.markdown == render_policy(loaded, "md")
    assert published.declaration == json.loads(
        json.dumps(loaded.declaration.model_dump(mode="json", by_alias=True))
    )
    assert published.changes == () and not published.material


def test_publishing_the_same_file_again_changes_nothing(db: Database) -> None:
    first = publish_version(db, declaration(), now=NOW)
    again = publish_version(db, declaration(), now=NOW + dt.timedelta(days=1))
    assert not again.created and again.published_at == first.published_at
    assert [v.version for v in list_versions(db)] == ["1.0"]


def test_another_file_reusing_a_version_string_is_refused(db: Database) -> None:
    publish_version(db, declaration(), now=NOW)
    with pytest.raises(Conflict, match="already published with different content") as caught:
        publish_version(db, declaration(title="Something else"))
    assert caught.value.hint and "policy_version" in caught.value.hint
    assert get_version(db, "1.0").digest == declaration().digest


def test_next_version_records_its_changes_and_whether_they_are_material(db: Database) -> None:
    publish_version(db, declaration("1.0"), now=NOW)
    data = yaml.safe_load(MINIMAL)
    data["policy_version"] = "1.1"
    data["cookies"].append(
        {"name": "_ads", "category": "advertising", "lifetime": "P1Y", "purpose": "newsletter"}
    )
    data["purposes"][1]["cookie_category"] = None
    data["purposes"].append(
        {
            "id": "ads",
            "name": "Ads",
            "lawful_basis": "consent",
            "categories": ["user.contact.email"],
            "consent": {"default": "opt_in"},
            "withdraw": ["banner"],
            "cookie_category": "advertising",
        }
    )
    data["cookies"][-1]["purpose"] = "ads"
    data["cookies"][1]["purpose"] = "newsletter"
    second = publish_version(db, parse_declaration(yaml.safe_dump(data), "p.yaml"), now=NOW)
    assert second.previous_version == "1.0" and second.material
    assert {c.path for c in second.material_changes} >= {"purposes[ads]", "cookies[first_party/_ads]"}
    third = publish_version(db, declaration("1.2", title="Clearer title"), now=NOW)
    assert third.previous_version == "1.1"
    stored = get_version(db, "1.1")
    assert stored.changes == second.changes and stored.material


def test_history_is_newest_first_and_lookups_work(db: Database) -> None:
    assert list_versions(db) == [] and latest_version(db) is None
    for version in ("1.0", "1.1", "0.9"):  # publication order, not string order
        publish_version(db, declaration(version), now=NOW)
    assert [v.version for v in list_versions(db)] == ["0.9", "1.1", "1.0"]
    latest = latest_version(db)
    assert latest is not None and latest.version == "0.9"
    with pytest.raises(NotFound):
        get_version(db, "7.0")


def test_version_strings_are_stored_whole_or_refused(db: Database) -> None:
    odd = "2024-06 “summer” édition <b>&</b> 🙂"
    assert publish_version(db, declaration(odd)).version == odd
    assert get_version(db, odd).version == odd
    with pytest.raises(InputError, match="policy_version"):
        publish_version(db, declaration("v" * 201))


def test_concurrent_publishers_of_one_version_agree(db_url: str) -> None:
    loaded = declaration()
    setup = Database(db_url)
    setup.migrate()
    results: list[object] = []

    def worker() -> None:
        database = Database(db_url)
        try:
            results.append(publish_version(database, loaded, markdown="# same"))
        except Exception as exc:  # collected and asserted below
            results.append(exc)
        finally:
            database.dispose()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(not isinstance(r, Exception) for r in results), results
    assert sum(r.created for r in results) == 1  # type: ignore[attr-defined]
    assert len(list_versions(setup)) == 1
    setup.dispose()


def test_an_unreadable_previous_version_is_treated_as_material(db: Database) -> None:
    publish_version(db, declaration("1.0"), now=NOW)
    with db.begin() as conn:  # as if published by a Pledge whose schema had another field
        conn.execute(
            sa.update(policy_versions).values(declaration=json.dumps({"pledge": 1, "retired_field": 1}))
        )
    second = publish_version(db, declaration("2.0"), now=NOW)
    (change,) = second.changes
    assert change.material and change.path == "*"


def test_migrations_can_run_twice(db: Database) -> None:
    db.migrate()
    publish_version(db, declaration())
    db.migrate()
    assert len(list_versions(db)) == 1
