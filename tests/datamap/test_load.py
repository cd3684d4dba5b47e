"""Reading Fides dataset files: real-format files load, every mistake is reported where it is."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pledge.datamap import Datamap, load_datamap, parse_datamap, reachable
from pledge.declaration import parse_declaration
from pledge.errors import DatamapError, Problem

HERE = Path(__file__).parent
FIDES_STYLE = HERE / "fides_style.yml"


def problems_of(text: str, *, declaration: str | None = None, name: str = "map.yml") -> list[Problem]:
    loaded = parse_declaration(declaration, "privacy.yaml") if declaration else None
    with pytest.raises(DatamapError) as caught:
        parse_datamap([(name, textwrap.dedent(text))], declaration=loaded)
    return list(caught.value.problems)


def errors_of(text: str, **kw: str) -> list[Problem]:
    return [p for p in problems_of(text, **kw) if p.severity == "error"]


def load(text: str) -> Datamap:
    return parse_datamap([("map.yml", textwrap.dedent(text))])


SMALL = """\
dataset:
  - fides_key: shop
    collections:
      - name: customers
        fields:
          - name: id
            data_categories: [user.unique_id]
            fides_meta: {primary_key: true}
          - name: email
            data_categories: [user.contact.email]
            fides_meta: {identity: email}
      - name: orders
        fields:
          - name: id
            fides_meta: {primary_key: true}
          - name: customer_id
            data_categories: [user.unique_id]
            fides_meta:
              references: [{dataset: shop, field: customers.id, direction: from}]
"""


def test_a_file_in_fides_format_loads_with_every_feature() -> None:
    datamap = load_datamap([FIDES_STYLE])
    clinic = datamap.dataset("clinic_db")
    assert clinic is not None
    assert [c.name for c in clinic.collections] == [
        "patient",
        "address",
        "visit",
        "invoice",
        "loyalty",
        "staff_roster",
    ]
    assert datamap.identity_kinds == ("email", "loyalty_id")
    patient = clinic.collection("patient")
    assert patient is not None
    assert [f.column for f in patient.primary_key] == ["id"]  # from the legacy fidesops_meta
    name = patient.field(["full_name"])
    assert name is not None and name.length == 40
    assert name.masking is not None and (name.masking.strategy, name.masking.fides_name) == (
        "mask",
        "random_string_rewrite",
    )
    phone = patient.field(["details", "emergency_contacts", "phone"])
    assert phone is not None and phone.nested and phone.column == "details"
    assert phone.masking is not None and phone.masking.strategy == "null"
    reference = patient.field(["home_address_id"]).references[0]  # type: ignore[union-attr]
    assert (str(reference.target), reference.direction) == ("clinic_db:address.id", "to")
    address = clinic.collection("address")
    assert address is not None and address.masking is not None and address.masking.strategy == "delete_row"
    visit = clinic.collection("visit")
    assert visit is not None and visit.erase_after == (("clinic_db", "invoice"),)
    assert visit.field(["audit_ref"]).read_only  # type: ignore[union-attr]
    invoice = clinic.collection("invoice")
    assert invoice is not None
    assert invoice.field(["visit_id"]).references[0].direction == "both"  # type: ignore[union-attr]
    assert invoice.field(["payer_email"]).masking.strategy == "hash"  # type: ignore[union-attr]
    roster = clinic.collection("staff_roster")
    assert roster is not None and roster.skip_processing
    assert not [w for w in datamap.warnings if w.severity == "error"]


def test_reachability_follows_directions_and_identity_kinds() -> None:
    datamap = load_datamap([FIDES_STYLE])
    by_email = {c for _, c in reachable(datamap.datasets, ["email"])}
    assert by_email == {"patient", "address", "visit", "invoice"}
    assert {c for _, c in reachable(datamap.datasets, ["loyalty_id"])} == {"loyalty"}


def test_unknown_category_is_located_at_the_category_with_a_suggestion() -> None:
    (problem,) = errors_of(SMALL.replace("[user.contact.email]", "[user.contact.emial]"))
    assert (problem.file, problem.line, problem.column) == ("map.yml", 10, 31)
    assert "user.contact.emial" in problem.message
    assert problem.hint == "did you mean 'user.contact.email'?"


def test_categories_come_from_the_declaration_taxonomy() -> None:
    text = SMALL.replace("[user.contact.email]", "[user.contact.email.work]")
    decl = textwrap.dedent(
        """\
        policy_version: "1"
        effective: 2024-01-01
        organisation: {name: Shop, contacts: [{kind: privacy, email: p@shop.test}]}
        categories:
          - {id: user.contact.email.work, name: Work e-mail}
        data_sources:
          - {id: signup, name: Sign-up, kind: form, categories: [user.contact.email.work]}
        purposes:
          - {id: account, name: Account, lawful_basis: contract, categories: [user.contact.email.work]}
        rights: [{right: access, deadline: P1M}]
        """
    )
    assert errors_of(text)  # unknown to the built-in taxonomy
    datamap = parse_datamap([("map.yml", text)], declaration=parse_declaration(decl, "privacy.yaml"))
    assert datamap.collection(("shop", "customers")) is not None


def test_a_forwarded_category_mapped_to_a_stored_column_is_refused() -> None:
    decl = textwrap.dedent(
        """\
        policy_version: "1"
        effective: 2024-01-01
        organisation: {name: Shop, contacts: [{kind: privacy, email: p@shop.test}]}
        data_sources:
          - id: checkout
            name: Checkout
            kind: order
            categories: [user.contact.email, user.financial.credit_card]
            forward_only: [user.financial.credit_card]
            forward_to: [cards]
        purposes:
          - id: orders
            name: Orders
            lawful_basis: contract
            categories: [user.contact.email, user.financial]
        recipients:
          - id: cards
            name: Cards
            kind: processor
            purposes: [orders]
            categories: [user.financial.credit_card]
        rights: [{right: access, deadline: P1M}]
        """
    )
    text = SMALL + textwrap.indent(
        textwrap.dedent(
            """\
            - name: card_number
              data_categories: [user.financial.credit_card]
            """
        ),
        " " * 10,
    )
    (problem,) = errors_of(text, declaration=decl)
    assert problem.code == "forwarded_category_stored"
    assert problem.line == 21 and "only forwarded" in problem.message


@pytest.mark.parametrize(
    ("target", "code", "hint"),
    [
        ("{dataset: shp, field: customers.id}", "unknown_dataset", "did you mean 'shop'?"),
        ("{dataset: shop, field: customer.id}", "unknown_collection", "did you mean 'customers'?"),
        ("{dataset: shop, field: customers.idd}", "unknown_field", "did you mean 'id'?"),
        ("{dataset: shop, field: customers}", "bad_reference", None),
        ("{dataset: shop, field: customers.id, direction: sideways}", "bad_direction", None),
    ],
)
def test_bad_references_are_located(target: str, code: str, hint: str | None) -> None:
    text = SMALL.replace("{dataset: shop, field: customers.id, direction: from}", target)
    problems = errors_of(text)
    assert [p.code for p in problems] == [code]
    assert problems[0].line == 19
    assert problems[0].hint == hint


def test_a_collection_no_identity_reaches_is_an_error_when_it_holds_personal_data() -> None:
    text = SMALL.replace(
        "fides_meta:\n              references: [{dataset: shop, field: customers.id, direction: from}]", ""
    )
    (problem,) = errors_of(text)
    assert problem.code == "unreachable_collection" and problem.line == 12
    assert "shop:orders" in problem.message and "skip_processing" in (problem.hint or "")


def test_unreachable_system_only_collections_and_skipped_ones_are_fine() -> None:
    text = SMALL + textwrap.indent(
        textwrap.dedent(
            """\
            - name: products
              fields: [{name: sku, data_categories: [system.operations]}]
            - name: audit
              fides_meta: {skip_processing: true}
              fields: [{name: who, data_categories: [user.name]}]
            """
        ),
        " " * 6,
    )
    datamap = load(text)
    assert [w.code for w in datamap.warnings] == ["unreachable_collection"]


def test_duplicates_are_reported_with_the_first_place() -> None:
    twice = SMALL.replace("      - name: orders\n", "      - name: customers\n")
    problems = errors_of(twice)
    assert problems[0].code == "duplicate_collection" and "first at map.yml:4:" in problems[0].message
    with pytest.raises(DatamapError) as caught:
        parse_datamap([("a.yml", SMALL), ("b.yml", SMALL)])
    assert [p.code for p in caught.value.problems] == ["duplicate_dataset"]
    assert caught.value.problems[0].file == "b.yml"
    field_twice = SMALL.replace("          - name: email\n", "          - name: id\n")
    assert [p.code for p in errors_of(field_twice)] == ["duplicate_field"]


def test_a_typo_in_a_meta_key_warns_and_its_effect_is_reported() -> None:
    problems = problems_of(SMALL.replace("identity: email", "identiy: email"))
    warning = next(p for p in problems if p.severity == "warning")
    assert warning.code == "unknown_key" and warning.hint == "did you mean 'identity'?"
    assert any(p.code == "unreachable_collection" for p in problems if p.severity == "error")


@pytest.mark.parametrize(
    ("override", "code"),
    [
        ("{strategy: shred}", "bad_strategy"),
        ("{strategy: aes_encrypt}", "bad_strategy"),
        ("7", "bad_strategy"),
    ],
)
def test_unsupported_masking_strategies_are_refused(override: str, code: str) -> None:
    text = SMALL.replace(
        "fides_meta: {identity: email}",
        f"fides_meta: {{identity: email, masking_strategy_override: {override}}}",
    )
    (problem,) = errors_of(text)
    assert problem.code == code and "delete_row, null, mask, hash" in (problem.hint or "")


def test_an_empty_override_warns_because_yaml_null_means_nothing() -> None:
    text = SMALL.replace(
        "fides_meta: {identity: email}", "fides_meta: {identity: email, masking_strategy_override: null}"
    )
    datamap = load(text)
    assert [w.code for w in datamap.warnings] == ["empty_override"]


def test_a_collection_override_other_than_delete_is_refused() -> None:
    text = SMALL.replace(
        "      - name: orders\n",
        "      - name: orders\n        fides_meta: {masking_strategy_override: {strategy: hmac}}\n",
    )
    (problem,) = errors_of(text)
    assert problem.code == "bad_strategy" and "only delete rows" in problem.message


def test_hostile_names_are_kept_as_names_and_nul_is_refused() -> None:
    hostile = 'x"; DROP TABLE customers; --'
    datamap = load(SMALL.replace("name: orders", f"name: '{hostile}'"))
    assert datamap.collection(("shop", hostile)) is not None
    (problem,) = errors_of(SMALL.replace("name: orders", 'name: "or\\0ders"'))
    assert problem.code == "bad_name"


@pytest.mark.parametrize(
    ("text", "code", "line"),
    [
        ("dataset:\n  - fides_key: shop\n\tcollections: []\n", "yaml", 3),
        ("dataset: [\n", "yaml", 2),
        ("collections: []\n", "not_a_datamap", 1),
        ("dataset:\n  - fides_key: 'shop db'\n    collections: []\n", "bad_fides_key", 2),
        ("dataset:\n  - fides_key: shop\n    collections: {a: 1}\n", "not_a_list", 3),
        ("dataset:\n  - fides_key: shop\n    collections:\n      - fields: []\n", "missing", 4),
        ("dataset:\n  - fides_key: shop\n    collections:\n      - name: a\n        fields:\n"
         "          - {name: b, fides_meta: {primary_key: 'yes'}}\n", "not_a_bool", 6),
        ("dataset:\n  - fides_key: shop\n    collections:\n      - name: a\n        fields:\n"
         "          - {name: b, fides_meta: {length: -3}}\n", "bad_length", 6),
    ],
)  # fmt: skip
def test_malformed_files_are_located(text: str, code: str, line: int) -> None:
    problems = errors_of(text)
    assert problems[0].code == code, problems
    assert problems[0].line == line


def test_files_that_are_not_text_or_are_empty() -> None:
    with pytest.raises(DatamapError) as caught:
        parse_datamap([("bin.yml", b"dataset:\n  - \xff\xfe")])
    assert caught.value.problems[0].code == "encoding" and caught.value.problems[0].line == 2
    with pytest.raises(DatamapError) as caught:
        parse_datamap([("empty.yml", "")])
    assert "empty" in caught.value.problems[0].message
    with pytest.raises(DatamapError, match="defines no dataset"):
        parse_datamap([("none.yml", "dataset: []\n")])


def test_load_from_files_and_folders(tmp_path: Path) -> None:
    (tmp_path / "shop.yaml").write_text(SMALL, encoding="utf-8")
    (tmp_path / "clinic.yml").write_bytes(FIDES_STYLE.read_bytes())
    datamap = load_datamap([tmp_path])
    assert sorted(d.fides_key for d in datamap.datasets) == ["clinic_db", "shop"]
    with pytest.raises(DatamapError, match="no such file"):
        load_datamap([tmp_path / "missing.yml"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatamapError, match=r"no \.yml"):
        load_datamap([empty])


def test_every_problem_of_a_file_is_reported_in_one_run() -> None:
    text = SMALL.replace("[user.contact.email]", "[user.contact.emial]").replace(
        "customers.id, direction", "customer.id, direction"
    )
    codes = sorted(p.code for p in errors_of(text))
    assert codes == ["unknown_category", "unknown_collection"]
