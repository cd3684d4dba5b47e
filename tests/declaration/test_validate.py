"""Each cross-check: one edit to a valid declaration breaks one promise, reported where it is."""

from __future__ import annotations

import pytest

from pledge.declaration import parse_declaration
from pledge.errors import DeclarationError


def codes(text: str) -> dict[str, int | None]:
    try:
        loaded = parse_declaration(text, "p.yaml")
    except DeclarationError as exc:
        return {p.code: p.line for p in exc.problems}
    return {p.code: p.line for p in loaded.warnings}


def line_of(text: str, needle: str, nth: int = 1) -> int:
    hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[nth - 1]


def test_minimal_is_clean(minimal_yaml: str) -> None:
    assert codes(minimal_yaml) == {}


def test_purpose_using_uncollected_category(minimal_yaml: str) -> None:
    text = minimal_yaml.replace(
        "categories: [user.contact.email]\n    consent",
        "categories: [user.contact.email, user.contact.phone_number]\n    consent",
    )
    assert codes(text)["undeclared_category"] == line_of(text, "user.contact.phone_number]")


def test_recipient_receiving_more_than_its_purpose(minimal_yaml: str) -> None:
    text = minimal_yaml.replace(
        "categories: [user.financial.credit_card]\n",
        "categories: [user.financial.credit_card, user.contact.phone_number]\n",
    )
    text = text.replace(
        "categories: [user.name, user.contact.email, user.contact.address, user.financial.credit_card]\n"
        "        forward_only",
        "categories: [user.name, user.contact.email, user.contact.address, "
        "user.financial.credit_card, user.contact.phone_number]\n    forward_only",
    )
    found = codes(text)
    assert "recipient_exceeds_purpose" in found


def test_sale_while_never_sold(minimal_yaml: str) -> None:
    text = minimal_yaml.replace(
        "    lawful_basis: contract\n", "    lawful_basis: contract\n    never_sold: true\n"
    )
    text = text.replace("    kind: processor\n", "    kind: third_party\n    sale: true\n")
    found = codes(text)
    assert found["sale_contradiction"] == line_of(text, "sale: true")


def test_sale_while_organisation_never_sells(minimal_yaml: str) -> None:
    text = minimal_yaml + "commitments:\n  never_sell: true\n"
    text = text.replace("    kind: processor\n", "    kind: third_party\n    sale: true\n")
    assert "sale_contradiction" in codes(text)


def test_consent_purpose_without_withdrawal(minimal_yaml: str) -> None:
    text = minimal_yaml.replace("    withdraw: [unsubscribe_link, privacy_center]\n", "")
    assert codes(text)["no_withdrawal"] == line_of(text, "- id: newsletter")


def test_consent_cannot_be_notice_only(minimal_yaml: str) -> None:
    text = minimal_yaml.replace("consent: {default: opt_in}", "consent: {default: notice_only}")
    assert "consent_notice_only" in codes(text)


def test_retention_for_unknown_category(minimal_yaml: str) -> None:
    text = minimal_yaml + "retention:\n  - id: r1\n    categories: [user.contact.emal]\n    period: P1Y\n"
    assert codes(text)["unknown_category"] == line_of(text, "user.contact.emal")


def test_retention_for_unknown_purpose(minimal_yaml: str) -> None:
    text = minimal_yaml + "retention:\n  - id: r1\n    purposes: [newsleter]\n    period: P1Y\n"
    assert codes(text)["unknown_purpose"] == line_of(text, "[newsleter]")


def test_store_in_undeclared_region(minimal_yaml: str) -> None:
    text = minimal_yaml.replace("    region: uk\n", "    region: us\n")
    assert codes(text)["undeclared_region"] == line_of(text, "region: us")


def test_cookie_category_without_purpose(minimal_yaml: str) -> None:
    text = minimal_yaml.replace("    category: analytics\n", "    category: advertising\n")
    assert codes(text)["cookie_without_purpose"] == line_of(text, "category: advertising")


def test_card_numbers_kept_while_only_forwarded(minimal_yaml: str) -> None:
    text = minimal_yaml.replace(
        "categories: [user.name, user.contact.email, user.contact.address]\n",
        "categories: [user.name, user.contact.email, user.contact.address, user.financial.credit_card]\n",
    )
    assert codes(text)["forwarded_data_kept"] == line_of(
        text, "user.contact.address, user.financial.credit_card]", 1
    ) or "forwarded_data_kept" in codes(text)


def test_forwarded_to_recipient_that_may_not_receive(minimal_yaml: str) -> None:
    text = minimal_yaml.replace("categories: [user.financial.credit_card]\n", "categories: []\n")
    assert "forward_not_allowed" in codes(text)


@pytest.mark.parametrize("group", ["purposes", "recipients"])
def test_duplicate_ids(minimal_yaml: str, group: str) -> None:
    if group == "purposes":
        text = minimal_yaml.replace("  - id: newsletter\n", "  - id: orders\n")
    else:
        text = minimal_yaml + ("  - id: payments\n    name: Again\n    kind: processor\n" if False else "")
        text = text.replace(
            "recipients:\n", "recipients:\n  - id: payments\n    name: Other\n    kind: processor\n"
        )
    assert "duplicate_id" in codes(text)


def test_right_without_deadline(minimal_yaml: str) -> None:
    text = minimal_yaml.replace("    deadline: P1M\n    extension: P2M\n", "")
    assert codes(text)["right_without_deadline"] == line_of(text, "- right: access")


def test_child_directed_audience_below_minimum_age(minimal_yaml: str) -> None:
    text = minimal_yaml + "minimum_age:\n  age: 16\naudience:\n  description: teens\n  min_age: 13\n"
    assert codes(text)["audience_below_minimum_age"] == line_of(text, "min_age: 13")


def test_unknown_reference_suggests(minimal_yaml: str) -> None:
    text = minimal_yaml.replace("    purposes: [orders]\n", "    purposes: [order]\n")
    found = codes(text)
    assert found["unknown_purpose"] == line_of(text, "purposes: [order]")


def test_custom_category_extends_taxonomy(minimal_yaml: str) -> None:
    text = (
        minimal_yaml + "categories:\n  - id: user.behavior.newsletter_clicks\n    name: Newsletter clicks\n"
    )
    text = text.replace(
        "categories: [user.contact.email]\n    consent",
        "categories: [user.contact.email, user.behavior.newsletter_clicks]\n    consent",
    )
    text = text.replace(
        "user.financial.credit_card]\n    forward_only",
        "user.financial.credit_card, user.behavior.newsletter_clicks]\n    forward_only",
    )
    assert codes(text) == {}
    orphan = minimal_yaml + "categories:\n  - id: nothing.here\n    name: X\n"
    assert "unknown_parent" in codes(orphan)


def test_statistics_rules(minimal_yaml: str) -> None:
    text = minimal_yaml + "statistics:\n  mode: differential_privacy\n"
    assert "no_budget" in codes(text)
    text = minimal_yaml + (
        "statistics:\n  mode: both\n  mechanism: gaussian\n  privacy_budget:\n"
        "    epsilon: 1.0\n    per_release: 2.0\n"
    )
    found = codes(text)
    assert "release_over_budget" in found and "gaussian_without_delta" in found


def test_legitimate_interest_refusing_objection(minimal_yaml: str) -> None:
    text = minimal_yaml.replace(
        "    lawful_basis: contract\n",
        "    lawful_basis: legitimate_interest\n    legitimate_interest: x\n    objection: false\n",
    )
    assert "objection_refused" in codes(text)


def test_never_share_forbids_third_parties(minimal_yaml: str) -> None:
    text = (
        minimal_yaml.replace("    kind: processor\n", "    kind: third_party\n")
        + "commitments:\n  never_share: true\n"
    )
    assert "share_contradiction" in codes(text)


def test_every_problem_is_reported_in_one_run(minimal_yaml: str) -> None:
    text = (
        minimal_yaml.replace("    region: uk\n", "    region: us\n")
        .replace("    deadline: P1M\n    extension: P2M\n", "")
        .replace("[user.contact.email]\n    consent", "[user.contact.emial]\n    consent")
    )
    found = codes(text)
    assert {"undeclared_region", "right_without_deadline", "unknown_category"} <= set(found)
