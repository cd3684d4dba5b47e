from __future__ import annotations

import pytest

from pledge.errors import InputError
from pledge.policy import CompiledPolicy
from pledge.sharing import mask, view

RECORD = {
    "id": 17,
    "name": "Jane Doe",
    "email": "jane.doe@example.com",
    "address": "1 High St",
    "phone": "+44 20 7946 0958",
    "orders": ["b1", "b2"],
    "birthday": None,
    "untagged": "secret",
}
FIELDS: dict[str, str | None] = {
    "id": None,
    "name": "user.name",
    "email": "user.contact.email",
    "address": "user.contact.address",
    "phone": "user.contact.phone_number",
    "orders": "user.behavior.purchase_history",
    "birthday": "user.demographic.date_of_birth",
}


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("jane.doe@example.com", "j***@e***.com"),
        ("x@localhost", "x***@l***"),
        ("Jane Doe", "J***"),
        ("Ünal", "Ü***"),
        ("", ""),
        ("   ", ""),
        (None, None),
        (42, None),
        (["a"], None),
        ({"a": 1}, None),
    ],
)
def test_masks_keep_the_shape(value: object, masked: object) -> None:
    assert mask(value) == masked


def test_support_sees_names_and_email_only(policy: CompiledPolicy) -> None:
    shown = view(policy, "support", RECORD, FIELDS)
    assert shown == {
        "id": 17,
        "name": "Jane Doe",
        "email": "jane.doe@example.com",
        "address": "1***",
        "phone": "+***",
        "orders": None,
        "birthday": None,
        "untagged": "s***",
    }
    assert list(shown) == list(RECORD)


def test_a_role_without_a_narrow_list_sees_its_purposes_categories(policy: CompiledPolicy) -> None:
    shown = view(policy, "fulfilment", RECORD, FIELDS)
    assert shown["address"] == "1 High St" and shown["orders"] == ["b1", "b2"]
    assert shown["birthday"] is None and shown["untagged"] == "s***"


def test_unknown_roles_are_refused(policy: CompiledPolicy) -> None:
    with pytest.raises(InputError, match="unknown staff role"):
        view(policy, "admin", RECORD, FIELDS)
