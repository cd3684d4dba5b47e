from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from pledge.consent import ConsentLedger, Identity, normalise_identity
from pledge.consent.directory import SubjectDirectory
from pledge.errors import ConfigError, Conflict, InputError, NotFound
from pledge.storage import Database

from .conftest import HASH_KEY


def test_the_same_identity_finds_the_same_subject(ledger: ConsentLedger) -> None:
    directory = ledger.directory
    ann = directory.resolve("email", "Ann@Example.com ")
    assert directory.resolve("email", "ann@example.com") == ann
    assert directory.find("email", "ANN@EXAMPLE.COM") == ann
    assert directory.resolve("phone", "+44 20 7946 0958") != ann
    assert directory.find("phone", "0044-20-7946-0958") == directory.find("phone", "+442079460958")
    assert directory.find("email", "nobody@example.com") is None
    assert ann.startswith("s_")


def test_no_plaintext_identity_is_stored(ledger: ConsentLedger) -> None:
    ledger.directory.resolve("email", "secret.person@example.com")
    ledger.directory.resolve("phone", "+44 20 7946 0958")
    with ledger.db.connect() as conn:
        for table in ("consent_identities", "consent_subjects"):
            for row in conn.execute(sa.text(f"SELECT * FROM {table}")):
                text = " ".join(str(v) for v in row)
                assert "secret" not in text and "example.com" not in text
                assert "2079460958" not in text


def test_digests_depend_on_the_key(db: Database) -> None:
    a = SubjectDirectory(db, b"a" * 32, policy_version="1")
    b = SubjectDirectory(db, b"b" * 32, policy_version="1")
    assert a.digest("email", "x@y.z") != b.digest("email", "x@y.z")
    assert a.digest("email", "x@y.z") != a.digest("account_id", "x@y.z")
    with pytest.raises(ConfigError):
        SubjectDirectory(db, b"short", policy_version="1")


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("email", "not-an-address"),
        ("email", "two@@example.com"),
        ("email", "a b@example.com"),
        ("email", ""),
        ("phone", "call me"),
        ("account_id", "   "),
        ("Email", "x@y.z"),
        ("e-mail", "x@y.z"),
        ("email", "x" * 2000),
        ("", "x"),
    ],
)
def test_bad_identities_are_refused(kind: str, value: str) -> None:
    with pytest.raises(InputError):
        normalise_identity(kind, value)


def test_identity_parsing_and_redaction() -> None:
    identity = Identity.parse("email=ann@example.com")
    assert identity == Identity("email", "ann@example.com")
    assert "ann" not in repr(identity)
    with pytest.raises(InputError):
        Identity.parse("ann@example.com")


def test_concurrent_first_sightings_make_one_subject(db: Database) -> None:
    directory = SubjectDirectory(db, HASH_KEY, policy_version="2.0")
    results: list[str] = []
    barrier = threading.Barrier(12)

    def sight() -> None:
        barrier.wait()
        results.append(directory.resolve("email", "race@example.com"))

    threads = [threading.Thread(target=sight) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1
    with db.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM consent_subjects")).scalar_one() == 1


def test_a_banner_visitor_is_linked_to_their_account(ledger: ConsentLedger) -> None:
    visitor = ledger.directory.resolve("cookie_id", "c-123")
    ledger.grant(visitor, "ads", source="banner", proof="Accept advertising cookies")
    ann = ledger.directory.resolve("email", "ann@example.com")
    ledger.grant(ann, "newsletter", "email", source="privacy_center")
    assert ledger.link(ann, "cookie_id", "c-123", source="api") == ann
    # Both histories now belong to Ann, whichever id is asked about.
    for asked in (ann, visitor):
        state = ledger.load_state(asked)
        assert state.consent_mark("ads", None)[0] is not None
        assert state.consent_mark("newsletter", "email")[0] is not None
    assert ledger.directory.find("cookie_id", "c-123") == ann
    assert [e.kind for e in ledger.events(visitor)] == ["grant", "grant", "linked"]
    # Later events by the cookie id land on Ann.
    ledger.withdraw(visitor, "ads", source="banner")
    assert ledger.events(ann)[-1].subject_id == ann
    # Linking again is a no-op; a new cookie on the same person is simply added.
    assert ledger.link(ann, "cookie_id", "c-123") == ann
    assert ledger.link(ann, "cookie_id", "c-456") == ann
    assert ledger.directory.find("cookie_id", "c-456") == ann


def test_merges_stay_one_hop(ledger: ConsentLedger) -> None:
    first = ledger.directory.resolve("cookie_id", "one")
    second = ledger.directory.resolve("cookie_id", "two")
    ledger.grant(first, "ads", source="banner")
    ledger.link(second, "cookie_id", "one")
    person = ledger.directory.resolve("email", "p@example.com")
    ledger.link(person, "cookie_id", "two")
    assert ledger.directory.root(first) == person
    assert ledger.directory.root(second) == person
    assert sorted(ledger.directory.aliases(person)) == sorted([person, first, second])
    assert ledger.load_state(first).consent_mark("ads", None)[0] is not None


def test_two_known_people_are_not_merged_by_accident(ledger: ConsentLedger) -> None:
    ann = ledger.directory.resolve("email", "ann@example.com")
    bob = ledger.directory.resolve("email", "bob@example.com")
    with pytest.raises(Conflict):
        ledger.link(ann, "email", "bob@example.com")
    assert ledger.directory.root(bob) == bob
    assert ledger.link(ann, "email", "bob@example.com", merge_known=True) == ann
    assert ledger.directory.root(bob) == ann


def test_linking_checks_its_input(ledger: ConsentLedger) -> None:
    ann = ledger.directory.resolve("email", "ann@example.com")
    with pytest.raises(InputError):
        ledger.link(ann, "cookie_id", "x", source="carrier pigeon")
    with pytest.raises(InputError):
        ledger.link(ann, "email", "nonsense")
    with pytest.raises(NotFound):
        ledger.link("s_nobody", "cookie_id", "x")
    assert ledger.directory.identity_kinds(ann) == ["email"]
