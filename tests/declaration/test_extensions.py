"""The schema extensions the seed policies needed, each proved by breaking exactly one promise.

Every extension is optional with a default, so the minimal declaration stays valid untouched;
each test adds the new field, shows a consistent use passes, then contradicts it.
"""

from __future__ import annotations

import pytest

from pledge.declaration import parse_declaration
from pledge.errors import DeclarationError


def problems(text: str) -> dict[str, tuple[int | None, str]]:
    try:
        loaded = parse_declaration(text, "p.yaml")
    except DeclarationError as exc:
        return {p.code: (p.line, p.severity) for p in exc.problems}
    return {p.code: (p.line, p.severity) for p in loaded.warnings}


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


# A sale of names and postal addresses to a list broker, on top of the minimal declaration.
SALE = """\
  - id: list_broker
    name: List agency
    kind: third_party
    sale: true
    purposes: [list_rental]
    categories: [user.name, user.contact.address]
"""
LIST_RENTAL = """\
  - id: list_rental
    name: Rent names and postal addresses to list agencies
    lawful_basis: legitimate_interest
    legitimate_interest: revenue from list rental
    categories: [user.name, user.contact.address]
    consent: {default: opt_out}
    withdraw: [privacy_center]
"""


def with_sale(minimal: str, recipient: str = SALE) -> str:
    text = minimal.replace("recipients:\n", "recipients:\n" + recipient)
    return text.replace("recipients:\n", LIST_RENTAL + "recipients:\n", 1)


# --- never_sold_categories ----------------------------------------------------------------------


def test_selling_names_but_not_emails_is_consistent(minimal_yaml: str) -> None:
    text = with_sale(minimal_yaml) + (
        "commitments:\n  never_sold_categories: [user.contact.email, user.contact.phone_number]\n"
    )
    assert problems(text) == {}


def test_selling_a_never_sold_category_is_an_error(minimal_yaml: str) -> None:
    text = with_sale(minimal_yaml).replace(
        "categories: [user.name, user.contact.address]\n",
        "categories: [user.name, user.contact.address, user.contact.email]\n",
    )
    text += "commitments:\n  never_sold_categories: [user.contact.email]\n"
    recipient_line = line_of(text, "sale: true") + 2
    assert problems(text)["never_sold_category"] == (recipient_line, "error")


def test_a_broad_sold_category_includes_the_never_sold_one(minimal_yaml: str) -> None:
    # Selling "user.contact" sells the e-mail address inside it.
    text = with_sale(minimal_yaml).replace(
        "categories: [user.name, user.contact.address]\n", "categories: [user.name, user.contact]\n"
    )
    text = text.replace(
        "categories: [user.name, user.contact.email, user.contact.address, user.financial.credit_card]\n"
        "    forward_only",
        "categories: [user.name, user.contact, user.financial.credit_card]\n    forward_only",
    )
    text += "commitments:\n  never_sold_categories: [user.contact.email]\n"
    assert "never_sold_category" in problems(text)


def test_a_sale_without_its_own_list_is_checked_through_its_purposes(minimal_yaml: str) -> None:
    recipient = SALE.replace("    categories: [user.name, user.contact.address]\n", "")
    text = with_sale(minimal_yaml, recipient) + "commitments:\n  never_sold_categories: [user.contact]\n"
    assert problems(text)["never_sold_category"][0] == line_of(text, "purposes: [list_rental]")


def test_never_sold_category_must_exist(minimal_yaml: str) -> None:
    text = minimal_yaml + "commitments:\n  never_sold_categories: [user.contact.emial]\n"
    assert problems(text)["unknown_category"][0] == line_of(text, "emial")


# --- sharing_limits -----------------------------------------------------------------------------

LIMIT = """\
commitments:
  sharing_limits:
    - id: cards_to_processor_only
      categories: [user.financial.credit_card]
      recipients: [payments]
      purposes: [orders]
"""


def test_sharing_limit_kept(minimal_yaml: str) -> None:
    assert problems(minimal_yaml + LIMIT) == {}


def test_sharing_limit_broken_by_another_recipient(minimal_yaml: str) -> None:
    text = minimal_yaml.replace(
        "recipients:\n",
        "recipients:\n  - id: courier\n    name: Courier\n    kind: processor\n"
        "    purposes: [orders]\n    categories: [user.name, user.financial]\n",
    )
    text += LIMIT
    assert problems(text)["sharing_limit_exceeded"] == (line_of(text, "user.financial]"), "error")


def test_sharing_limit_to_nobody(minimal_yaml: str) -> None:
    text = minimal_yaml + LIMIT.replace("      recipients: [payments]\n", "")
    assert problems(text)["sharing_limit_exceeded"][0] == line_of(
        text, "categories: [user.financial.credit_card]\n".rstrip()
    )


def test_sharing_limit_broken_by_another_purpose_of_the_allowed_recipient(minimal_yaml: str) -> None:
    text = minimal_yaml.replace("    purposes: [orders]\n", "    purposes: [orders, newsletter]\n")
    text = text.replace(
        "categories: [user.contact.email]\n    consent",
        "categories: [user.contact.email, user.financial.credit_card]\n    consent",
    )
    text += LIMIT
    assert problems(text)["sharing_limit_exceeded"][0] == line_of(text, "purposes: [orders, newsletter]")


def test_sharing_limit_references_must_exist(minimal_yaml: str) -> None:
    text = minimal_yaml + LIMIT.replace("[payments]", "[payment]").replace("[orders]", "[order]")
    found = problems(text)
    assert found["unknown_recipient"][0] == line_of(text, "recipients: [payment]")
    assert found["unknown_purpose"][0] == line_of(text, "purposes: [order]")


def test_sharing_limit_needs_categories(minimal_yaml: str) -> None:
    text = minimal_yaml + LIMIT.replace("[user.financial.credit_card]", "[]")
    assert "too_short" in problems(text)


# --- purposes done as a processor ---------------------------------------------------------------


def test_processor_purpose_needs_processor_role(minimal_yaml: str) -> None:
    text = minimal_yaml.replace(
        "    lawful_basis: contract\n", "    lawful_basis: contract\n    role: processor\n"
    )
    assert problems(text)["processor_role_missing"] == (line_of(text, "role: processor"), "error")
    fixed = text.replace(
        "  name: Acme Books Ltd\n",
        "  name: Acme Books Ltd\n  roles: [controller, processor]\n"
        "  processor_scope: client files uploaded by business customers\n",
    )
    assert problems(fixed) == {}


def test_purpose_role_is_a_closed_word(minimal_yaml: str) -> None:
    text = minimal_yaml.replace(
        "    lawful_basis: contract\n", "    lawful_basis: contract\n    role: owner\n"
    )
    assert "not_allowed" in problems(text)


# --- where a choice is offered ------------------------------------------------------------------


def test_choice_offered_at_registration(minimal_yaml: str) -> None:
    text = minimal_yaml.replace(
        "consent: {default: opt_in}", "consent: {default: opt_out, offered_at: [registration]}"
    )
    assert problems(text) == {}


def test_choice_offered_where_there_is_none(minimal_yaml: str) -> None:
    text = minimal_yaml.replace(
        "    lawful_basis: contract\n",
        "    lawful_basis: contract\n    consent: {default: notice_only, offered_at: [checkout]}\n",
    )
    assert problems(text)["choice_without_option"][0] == line_of(text, "offered_at: [checkout]")


def test_unknown_choice_point_suggests(minimal_yaml: str) -> None:
    text = minimal_yaml.replace(
        "consent: {default: opt_in}", "consent: {default: opt_in, offered_at: [signin]}"
    )
    assert "not_allowed" in problems(text)


# --- first-party pixels only --------------------------------------------------------------------

PIXEL = (
    "  - name: clear.gif\n    provider: {provider}\n    category: analytics\n"
    "    kind: pixel\n    lifetime: session\n"
)


def test_own_pixels_are_allowed(minimal_yaml: str) -> None:
    text = minimal_yaml + "commitments:\n  first_party_pixels_only: true\n"
    text = text.replace("cookies:\n", "cookies:\n" + PIXEL.format(provider="first_party"))
    assert problems(text) == {}


@pytest.mark.parametrize("promise", [True, False])
def test_someone_elses_pixel(minimal_yaml: str, promise: bool) -> None:
    text = minimal_yaml.replace("cookies:\n", "cookies:\n" + PIXEL.format(provider="payments"))
    if promise:
        text += "commitments:\n  first_party_pixels_only: true\n"
    found = problems(text)
    if promise:
        assert found["third_party_pixel"] == (line_of(text, "provider: payments"), "error")
    else:
        assert "third_party_pixel" not in found


# --- staff least privilege ----------------------------------------------------------------------

ROLES = """\
staff_roles:
  - id: support
    name: Support agent
    purposes: [orders]
    categories: [user.name, user.contact.email]
"""


def test_narrow_staff_roles_keep_the_promise(minimal_yaml: str) -> None:
    text = minimal_yaml + ROLES + "commitments:\n  staff_least_privilege: true\n"
    assert problems(text) == {}


def test_staff_role_without_categories(minimal_yaml: str) -> None:
    text = minimal_yaml + ROLES.replace("    categories: [user.name, user.contact.email]\n", "")
    assert problems(text) == {}  # without the promise a role may see all its purposes use
    text += "commitments:\n  staff_least_privilege: true\n"
    assert problems(text)["role_without_limit"][0] == line_of(text, "- id: support")


def test_staff_role_with_full_access(minimal_yaml: str) -> None:
    text = minimal_yaml + ROLES.replace("[user.name, user.contact.email]", "[user]").replace(
        "[orders]", "[orders, newsletter]"
    )
    text += "commitments:\n  staff_least_privilege: true\n"
    assert problems(text)["role_full_access"][0] == line_of(text, "categories: [user]")


def test_promise_without_roles_warns(minimal_yaml: str) -> None:
    text = minimal_yaml + "commitments:\n  staff_least_privilege: true\n"
    assert problems(text)["no_staff_roles"][1] == "warning"
