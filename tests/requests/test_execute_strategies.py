"""Erasure strategies and their resolution, without a database."""

from __future__ import annotations

import hashlib
import hmac
import textwrap

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pledge.connectors.base import Column, ForeignKey, Table
from pledge.datamap import Collection, parse_datamap
from pledge.declaration import parse_declaration
from pledge.declaration.model import Declaration
from pledge.errors import DeclarationError
from pledge.requests.access import csv_cell
from pledge.requests.rectify import check_value
from pledge.requests.strategies import hash_text, is_hashed, mask_many, mask_text, resolve_collection
from tests.requests.fixtures_shop import DECLARATION

KEY = b"s" * 32


@given(st.text(max_size=200), st.text(max_size=30))
def test_mask_keeps_shape_and_is_a_fixed_point(value: str, seed: str) -> None:
    masked = mask_text(value, seed, KEY)
    assert len(masked) == len(value)
    assert mask_text(masked, seed, KEY) == masked
    for before, after in zip(value, masked, strict=True):
        assert before.isdigit() == after.isdigit()
        assert before.isalpha() == after.isalpha()
        assert before.isupper() == after.isupper()
        if not before.isalnum():
            assert before == after


def test_mask_depends_on_the_row_not_the_value() -> None:
    assert mask_text("alice@example.com", "row 1", KEY) != mask_text("alice@example.com", "row 2", KEY)
    masked = mask_text("alice@example.com", "row 1", KEY)
    assert masked.count("@") == 1 and masked.index("@") == 5 and masked != "alice@example.com"


def _reference_mask(value: str, seed: str, key: bytes) -> str:
    """The masking rule written plainly, one character at a time (the product's is vectorised)."""
    material = seed.encode("utf-8", "surrogatepass") + b"\x1f"
    stream = hmac.digest(key, material + b"0", "sha256")
    counter = 1
    while len(stream) < len(value):
        stream += hmac.digest(key, material + str(counter).encode(), "sha256")
        counter += 1
    out = []
    for char, byte in zip(value, stream, strict=False):
        if char.isdigit():
            out.append("0123456789"[byte % 10])
        elif char.isalpha():
            letter = "abcdefghijklmnopqrstuvwxyz"[byte % 26]
            out.append(letter.upper() if char.isupper() else letter)
        else:
            out.append(char)
    return "".join(out)


@given(st.text(max_size=150), st.text(max_size=20), st.binary(max_size=100))
def test_mask_is_exactly_the_plain_rule(value: str, seed: str, key: bytes) -> None:
    # Masks already stored must stay fixed points: a faster implementation may never change one.
    assert mask_text(value, seed, key or None) == _reference_mask(value, seed, key or b"pledge-mask")


@given(st.lists(st.tuples(st.text(max_size=40), st.text(max_size=12)), max_size=25), st.binary(max_size=40))
def test_masking_many_values_at_once_is_masking_each(pairs: list[tuple[str, str]], key: bytes) -> None:
    values = [v for v, _ in pairs]
    seeds = [s for _, s in pairs]
    assert mask_many(values, seeds, key or None) == [mask_text(v, s, key or None) for v, s in pairs]


def test_mask_many_refuses_values_and_seeds_that_do_not_pair() -> None:
    with pytest.raises(ValueError, match="zip"):
        mask_many(["a", "b"], ["s"], KEY)
    assert mask_many([], [], KEY) == []


def test_masks_and_hashes_stored_by_earlier_versions_are_still_recognised() -> None:
    assert mask_text("alice@example.com", "row 1", b"k" * 32) == "hhmgi@zrojhxl.anv"
    assert mask_text("Alice Archer", "shop\x1fcustomers\x1fname\x1f1") == "Wudph Vtikji"
    assert mask_text("+44 20 7946 0001", "x", b"y" * 100) == "+34 34 3333 5116"  # key > one block
    assert mask_text("Ålice Bäcker 42", "s", b"k") == "Zfexf Exrvkk 23"
    expected = hmac.new(KEY, b"alice@example.com", hashlib.sha256).hexdigest()
    assert hash_text("alice@example.com", KEY) == "h$" + expected
    assert (
        hash_text("x", b"z" * 65, length=18)
        == "h$" + hmac.new(b"z" * 65, b"x", hashlib.sha256).hexdigest()[:16]
    )


def test_hash_is_keyed_marked_and_never_applied_twice() -> None:
    hashed = hash_text("alice@example.com", KEY)
    assert is_hashed(hashed) and len(hashed) == 66
    assert hash_text(hashed, KEY) == hashed
    assert hash_text("alice@example.com", b"other key") != hashed
    assert hash_text("alice@example.com", KEY, length=20) == hashed[:20]
    assert not is_hashed("h$zz") and not is_hashed("alice")


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
        ("+1 555", "'+1 555"),
        ("-", "'-"),
        ("@x", "'@x"),
        ("ok", "ok"),
        (None, ""),
    ],
)
def test_csv_cells_never_run_as_formulas(value: str | None, cell: str) -> None:
    assert csv_cell(value) == cell


@pytest.mark.parametrize(
    ("category", "value", "ok"),
    [
        ("user.contact.email", "ann@example.org", True),
        ("user.contact.email", "ann@", False),
        ("user.contact.phone_number", "+44 (20) 7946-0000", True),
        ("user.contact.phone_number", "call me", False),
        ("user.demographic.date_of_birth", "1980-02-29", True),
        ("user.demographic.date_of_birth", "1800-01-01", False),
        ("user.name", " Ann", False),
        ("user.name", "Ann\x00", False),
        ("user.name", "Ann\u202eevil", True),
        ("user.name", "x" * 5000, False),
    ],
)
def test_rectify_values_are_checked_by_category(category: str, value: str, ok: bool) -> None:
    assert (check_value(category, value) is None) is ok


# --- resolution -----------------------------------------------------------------------------------

MAP = textwrap.dedent(
    """\
    dataset:
      - fides_key: db
        collections:
          - name: people
            fields:
              - {name: id, data_categories: [user.unique_id], fides_meta: {primary_key: true}}
              - {name: email, data_categories: [user.contact.email], fides_meta: {identity: email}}
              - {name: nick, data_categories: [user.name]}
              - {name: code, data_categories: [user.name]}
              - {name: age, data_categories: [user.demographic.age_range]}
              - {name: score, data_categories: [user.demographic]}
              - {name: team_id, data_categories: [user.unique_id]}
              - {name: iban, data_categories: [user.financial.bank_account]}
              - {name: frozen, data_categories: [user.name], fides_meta: {read_only: true}}
              - {name: ip, data_categories: [user.device.ip_address],
                 fides_meta: {masking_strategy_override: {strategy: hmac}}}
              - {name: sys, data_categories: [system.operations]}
    """
)


def col(name: str, kind: str = "string", nullable: bool = True, length: int | None = 100) -> Column:
    return Column(name, "VARCHAR" if kind == "string" else kind.upper(), kind, nullable, length)  # type: ignore[arg-type]


TABLE = Table(
    "people",
    {
        c.name: c
        for c in [
            col("id", "integer", False, None),
            col("email", nullable=False),
            col("nick"),
            col("code", nullable=False, length=8),
            col("age", "integer", True, None),
            col("score", "integer", False, None),
            col("team_id", "string", False, 36),
            col("iban"),
            col("frozen"),
            col("ip", length=10),
            col("sys"),
        ]
    },
    ("id",),
    foreign_keys=(ForeignKey("people", ("team_id",), "teams", ("id",)),),
)


def collection() -> Collection:
    found = parse_datamap([("map.yml", MAP)]).collection(("db", "people"))
    assert found is not None
    return found


def decl(extra: str = "") -> Declaration:
    base = DECLARATION.split("legal_holds:")[0]
    return parse_declaration(base + textwrap.dedent(extra), "privacy.yaml").declaration


def strategies(declaration: Declaration | None, **kw: object) -> dict[str, tuple[str, str]]:
    erasure = resolve_collection(collection(), TABLE, ("id",), declaration, hash_key=True, **kw)  # type: ignore[arg-type]
    return {a.label: (a.strategy, a.reason) for a in erasure.actions}


def test_defaults_follow_the_column_and_say_why() -> None:
    got = strategies(None)
    assert "sys" not in got  # system data is not personal
    assert got["id"][0] == "keep" and "primary key" in got["id"][1]
    assert got["email"][0] == "mask" and got["nick"][0] == "null" and got["age"][0] == "null"
    assert got["score"][0] == "keep" and "NOT NULL INTEGER" in got["score"][1]
    assert got["team_id"][0] == "keep" and "foreign key" in got["team_id"][1]  # masking would break the link
    assert got["frozen"][0] == "keep" and "read_only" in got["frozen"][1]
    assert got["ip"][0] == "null" and "hmac" in got["ip"][1] and "10 characters" in got["ip"][1]


def test_declaration_rules_apply_by_most_specific_category() -> None:
    rules = """\
        erasure:
          - {categories: [user], strategy: mask}
          - {categories: [user.name], strategy: hash}
          - {categories: [user.demographic], strategy: null}
        """
    got = strategies(decl(rules))
    assert got["nick"][0] == "hash" and "user.name" in got["nick"][1]
    assert got["code"][0] == "mask" and "8 characters" in got["code"][1]  # too short to hold a hash
    assert got["iban"][0] == "mask" and "rule for user" in got["iban"][1]
    assert got["score"][0] == "keep" and "NOT NULL" in got["score"][1]  # asked for null, cannot
    assert got["email"][0] == "mask"


def test_legal_holds_win_over_everything_and_stop_row_deletion() -> None:
    extra = """\
        legal_holds:
          - {id: bank, categories: [user.financial], law: Banking Act, period: P5Y}
        erasure:
          - {categories: [user.name], strategy: delete_row}
        """
    erasure = resolve_collection(collection(), TABLE, ("id",), decl(extra), hash_key=True)
    assert not erasure.delete_row and "iban must be kept" in erasure.why
    actions = {a.label: a for a in erasure.actions}
    assert actions["iban"].strategy == "keep" and actions["iban"].hold is not None
    assert "Banking Act" in actions["iban"].reason and "5 years" in actions["iban"].reason
    assert actions["nick"].strategy == "null" and "iban must be kept" in actions["nick"].reason


def test_row_deletion_is_stopped_by_read_only_fields_and_by_fields_left_out() -> None:
    rules = "erasure:\n  - {categories: [user.demographic], strategy: delete_row}\n"
    whole = resolve_collection(collection(), TABLE, ("id",), decl(rules), hash_key=True)
    assert not whole.delete_row and "frozen must be kept (read_only" in whole.why
    assert {a.label: a.strategy for a in whole.actions}["age"] == "null"  # its column's default instead
    # Erasing only demographics must not delete the row: it would take the e-mail, the names
    # and the read_only field with it (the bug this replaced: filtered-out fields were ignored).
    some = resolve_collection(
        collection(), TABLE, ("id",), decl(rules), hash_key=True, categories=["user.demographic"]
    )
    assert not some.delete_row and "email (user.contact.email) is not among the categories" in some.why
    assert {a.label: a.strategy for a in some.actions} == {"age": "null", "score": "keep"}
    # The key column is never a reason to keep the row, even when its category is left out.
    no_key = resolve_collection(
        collection(), TABLE, (), decl(rules), hash_key=True, categories=["user.demographic"]
    )
    assert not no_key.delete_row and "no primary key" in no_key.why


def test_row_deletion_with_categories_covering_every_personal_field() -> None:
    extra = "erasure:\n  - {categories: [user], strategy: delete_row}\n"
    thin = Table("people", {c: TABLE.columns[c] for c in ("id", "email", "nick", "sys")}, ("id",))
    thin_map = textwrap.dedent(
        """\
        dataset:
          - fides_key: db
            collections:
              - name: people
                fields:
                  - {name: id, data_categories: [user.unique_id], fides_meta: {primary_key: true}}
                  - {name: email, data_categories: [user.contact.email], fides_meta: {identity: email}}
                  - {name: nick, data_categories: [user.name]}
                  - {name: sys, data_categories: [system.operations]}
        """
    )
    people = parse_datamap([("map.yml", thin_map)]).collection(("db", "people"))
    assert people is not None
    # id (user.unique_id) is left out but it is the key: it goes with the row, as in a full erasure.
    chosen = resolve_collection(
        people, thin, ("id",), decl(extra), hash_key=True, categories=["user.contact", "user.name"]
    )
    assert chosen.delete_row
    partial = resolve_collection(people, thin, ("id",), decl(extra), hash_key=True, categories=["user.name"])
    assert not partial.delete_row and partial.action(("nick",)).strategy == "null"  # type: ignore[union-attr]


def test_hash_without_a_key_falls_back() -> None:
    erasure = resolve_collection(collection(), TABLE, ("id",), None, hash_key=False)
    ip = next(a for a in erasure.actions if a.label == "ip")
    assert ip.strategy == "null" and "no hash key" in ip.reason


def test_the_declaration_erasure_section_is_checked() -> None:
    with pytest.raises(DeclarationError) as caught:
        decl("erasure:\n  - {categories: [user.contact.emial], strategy: hash}\n")
    (problem,) = [p for p in caught.value.problems if p.severity == "error"]
    assert problem.code == "unknown_category" and problem.hint == "did you mean 'user.contact.email'?"
    with pytest.raises(DeclarationError) as caught:
        decl("erasure:\n  - {categories: [user.name], strategy: shred}\n")
    assert "delete_row" in caught.value.problems[0].message
