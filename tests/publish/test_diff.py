"""Material-change rules: each kind that must be told to people, and what need not be."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import pytest

from pledge.declaration import load_declaration
from pledge.declaration.model import Declaration
from pledge.publish import Change, diff_declarations, has_material
from pledge.publish.material import compare_periods
from tests.conftest import EXAMPLES
from tests.publish.conftest import Edit, base, build

Pair = Callable[[Edit], tuple[Declaration, Declaration]]


def changes(pair: Pair, edit: Edit) -> list[Change]:
    return diff_declarations(*pair(edit))


def material(pair: Pair, edit: Edit) -> list[Change]:
    return [c for c in changes(pair, edit) if c.material]


def purpose(data: dict[str, Any], pid: str) -> dict[str, Any]:
    return next(p for p in data["purposes"] if p["id"] == pid)


def test_same_declaration_has_no_changes() -> None:
    assert diff_declarations(build(base()), build(base())) == []


def test_reordering_every_list_is_no_change(pair: Pair) -> None:
    def shuffle(data: dict[str, Any]) -> None:
        rng = random.Random(7)

        def walk(value: Any) -> None:
            if isinstance(value, dict):
                for item in value.values():
                    walk(item)
            elif isinstance(value, list):
                value.reverse()
                rng.shuffle(value)
                for item in value:
                    walk(item)

        walk(data)

    assert changes(pair, shuffle) == []


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*/privacy.yaml")), ids=lambda p: p.parent.name)
def test_examples_shuffled_are_unchanged(example: Any) -> None:
    decl = load_declaration(example).declaration
    data = decl.model_dump(mode="json", by_alias=True)
    for key in ("purposes", "recipients", "cookies", "rights", "retention", "data_sources"):
        data[key] = list(reversed(data[key]))
    for p in data["purposes"]:
        p["categories"] = list(reversed(p["categories"]))
    assert diff_declarations(decl, Declaration.model_validate(data)) == []


# --- each material kind --------------------------------------------------------------------------


def test_new_purpose_is_material(pair: Pair) -> None:
    def add(data: dict[str, Any]) -> None:
        data["purposes"].append(
            {"id": "ads", "name": "Ads", "lawful_basis": "consent", "categories": ["user.contact.email"]}
        )

    (found,) = material(pair, add)
    assert (found.path, found.kind) == ("purposes[ads]", "added")
    assert "new purpose" in found.reason


def test_new_recipient_is_material(pair: Pair) -> None:
    def add(data: dict[str, Any]) -> None:
        data["recipients"].append({"id": "mailer", "name": "Mailer", "kind": "processor"})

    (found,) = material(pair, add)
    assert found.path == "recipients[mailer]"


def test_new_category_for_a_purpose_is_material_but_a_narrower_one_is_not(pair: Pair) -> None:
    (found,) = material(pair, lambda d: purpose(d, "newsletter")["categories"].append("user.name"))
    assert (found.path, found.after) == ("purposes[newsletter].categories", "user.name")

    def narrow(data: dict[str, Any]) -> None:
        data["purposes"][0]["categories"] = ["user.name.first", "user.contact"]

    def widen_then_narrow(data: dict[str, Any]) -> None:
        data["purposes"][0]["categories"].append("user.contact.address.city")

    assert not material(pair, widen_then_narrow)
    # Replacing e-mail and address by their parent is wider: material.
    assert [c.after for c in material(pair, narrow)] == ["user.contact"]


def test_new_category_for_a_recipient_is_material(pair: Pair) -> None:
    (found,) = material(pair, lambda d: d["recipients"][0]["categories"].append("user.name"))
    assert found.path == "recipients[payments].categories" and found.after == "user.name"


def test_recipient_serving_a_new_purpose_is_material(pair: Pair) -> None:
    (found,) = material(pair, lambda d: d["recipients"][0]["purposes"].append("newsletter"))
    assert found.path == "recipients[payments].purposes"


@pytest.mark.parametrize(
    ("before", "after", "is_material"),
    [
        ("P1Y", "P2Y", True),
        ("P1Y", "P13M", True),
        ("P1Y", "P11M", False),
        ("P1Y", "P365D", False),
        ("P1Y", "session", False),
        ("P1Y", "indefinite", True),
        ("session", "while_account_active", True),
        ("while_account_active", "session", False),
        ("until_sent", "while_account_active", True),
        ("P1Y", "while_account_active", True),  # cannot be compared: told, to be safe
        ("while_account_active", "P1Y", True),
    ],
)
def test_longer_retention_is_material(pair: Pair, before: str, after: str, is_material: bool) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["retention"][0]["period"] = after

    def start(data: dict[str, Any]) -> None:
        data["retention"][0]["period"] = before

    old, new = build(base()), build(base())
    old_data, new_data = base(), base()
    start(old_data)
    edit(new_data)
    old, new = build(old_data), build(new_data)
    found = diff_declarations(old, new)
    assert [c.path for c in found] == ["retention[orders].period"]
    assert found[0].material is is_material


def test_weaker_consent_default_is_material_per_jurisdiction(pair: Pair) -> None:
    def opt_out_in_california(data: dict[str, Any]) -> None:
        purpose(data, "newsletter")["consent"]["jurisdictions"] = {"ccpa": "opt_out"}

    (found,) = changes(pair, opt_out_in_california)
    assert found.path == "purposes[newsletter].consent.jurisdictions[ccpa]"
    assert (found.before, found.after, found.material) == ("opt_in", "opt_out", True)

    def opt_out_everywhere(data: dict[str, Any]) -> None:
        purpose(data, "newsletter")["consent"]["default"] = "opt_out"

    (found,) = changes(pair, opt_out_everywhere)  # one change, not one per jurisdiction
    assert found.path == "purposes[newsletter].consent.default" and found.material


def test_stronger_consent_default_is_not_material(pair: Pair) -> None:
    def make_orders_opt_in(data: dict[str, Any]) -> None:
        data["purposes"][0]["consent"] = {"default": "opt_in"}

    found = changes(pair, make_orders_opt_in)
    assert [c.path for c in found] == ["purposes[orders].consent.default"]
    assert not has_material(found)


def test_weaker_lawful_basis_is_material(pair: Pair) -> None:
    def to_interest(data: dict[str, Any]) -> None:
        purpose(data, "newsletter")["lawful_basis"] = "legitimate_interest"
        purpose(data, "newsletter")["consent"] = None

    found = {c.path: c for c in material(pair, to_interest)}
    assert found["purposes[newsletter].lawful_basis"].after == "legitimate_interest"
    # ... and the person is no longer asked first:
    assert found["purposes[newsletter].consent.default"].after == "notice_only"

    def to_consent(data: dict[str, Any]) -> None:
        data["purposes"][0]["lawful_basis"] = "consent"

    found = {c.path: c for c in changes(pair, to_consent)}
    assert not found["purposes[orders].lawful_basis"].material


def test_new_sale_is_material(pair: Pair) -> None:
    (found,) = material(pair, lambda d: d["recipients"][0].update(sale=True))
    assert found.path == "recipients[payments].sale" and "sale" in found.reason


def test_removed_right_is_material_unless_still_offered(pair: Pair) -> None:
    (found,) = material(pair, lambda d: d["rights"].pop())
    assert found.path == "rights[erasure@gdpr]" and found.kind == "removed"

    def offer_to_everyone(data: dict[str, Any]) -> None:
        data["rights"][-1]["jurisdictions"] = []

    found = changes(pair, offer_to_everyone)
    assert {c.path for c in found} == {"rights[erasure@gdpr]", "rights[erasure@*]"}
    assert not has_material(found)


def test_longer_deadline_is_material_shorter_is_not(pair: Pair) -> None:
    (found,) = material(pair, lambda d: d["rights"][0].update(deadline="P45D"))
    assert found.path == "rights[access@*].deadline"
    assert not material(pair, lambda d: d["rights"][0].update(deadline="P15D"))
    (found,) = material(pair, lambda d: d["rights"][0].update(extension="P3M"))
    assert found.path == "rights[access@*].extension"


def test_new_right_is_not_material(pair: Pair) -> None:
    found = changes(pair, lambda d: d["rights"].append({"right": "portability", "deadline": "P1M"}))
    assert [c.path for c in found] == ["rights[portability@*]"] and not has_material(found)


def test_lower_minimum_age_is_material(pair: Pair) -> None:
    (found,) = material(pair, lambda d: d["minimum_age"].update(age=13))
    assert (found.path, found.before, found.after) == ("minimum_age.age", 16, 13)
    assert not material(pair, lambda d: d["minimum_age"].update(age=18))
    (found,) = material(pair, lambda d: d.pop("minimum_age"))
    assert found.path == "minimum_age" and found.kind == "removed"


def test_dropped_commitment_is_material(pair: Pair) -> None:
    (found,) = material(pair, lambda d: d["commitments"].update(never_sell=False))
    assert found.path == "commitments.never_sell"
    (found,) = material(pair, lambda d: d["commitments"].update(statements=[]))
    assert found.path == "commitments.statements" and found.before == "We never read your e-mail."
    added = changes(pair, lambda d: d["commitments"].update(never_share=True))
    assert [c.path for c in added] == ["commitments.never_share"] and not has_material(added)


def test_new_storage_region_or_country_is_material(pair: Pair) -> None:
    (found,) = material(
        pair, lambda d: d["storage_regions"].append({"id": "us", "name": "US", "countries": ["US"]})
    )
    assert found.path == "storage_regions[us]"
    (found,) = material(pair, lambda d: d["storage_regions"][0]["countries"].append("IE"))
    assert (found.path, found.after) == ("storage_regions[uk].countries", "IE")


@pytest.mark.parametrize(
    ("category", "is_material"),
    [("advertising", True), ("analytics", True), ("preferences", False), ("strictly_necessary", False)],
)
def test_new_tracking_cookie_is_material(pair: Pair, category: str, is_material: bool) -> None:
    found = changes(
        pair, lambda d: d["cookies"].append({"name": "_new", "category": category, "lifetime": "P1D"})
    )
    assert [c.path for c in found] == ["cookies[first_party/_new]"]
    assert found[0].material is is_material


def test_cookie_turned_into_advertising_or_kept_longer_is_material(pair: Pair) -> None:
    (found,) = material(pair, lambda d: d["cookies"][0].update(category="advertising"))
    assert found.path == "cookies[first_party/session].category"
    (found,) = material(pair, lambda d: d["cookies"][1].update(lifetime="P2Y"))
    assert found.path == "cookies[first_party/_stats].lifetime"


def test_data_only_forwarded_now_kept_is_material(pair: Pair) -> None:
    def keep_cards(data: dict[str, Any]) -> None:
        data["data_sources"][0]["forward_only"] = []

    (found,) = material(pair, keep_cards)
    assert found.path == "data_sources[checkout].forward_only"


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["organisation"].update(name="Acme Books plc"),
        lambda d: d["organisation"]["contacts"].append({"kind": "support", "email": "help@acme.test"}),
        lambda d: d["purposes"][0].update(description="Now with better words."),
        lambda d: d["retention"][0].update(period="P6M"),
        lambda d: d["recipients"][0]["categories"].clear(),
        lambda d: d["purposes"].pop(),
        lambda d: d.update(policy_version="2.0", effective="2025-01-01"),
        lambda d: (
            d["security"].append({"id": "tls", "kind": "transport_encryption", "description": "TLS"})
            if "security" in d
            else d.update(security=[{"id": "tls", "kind": "transport_encryption", "description": "TLS"}])
        ),
    ],
    ids=[
        "org name",
        "new contact",
        "wording",
        "shorter retention",
        "recipient gets less",
        "purpose dropped",
        "new version",
        "new security measure",
    ],
)
def test_changes_that_are_not_material(pair: Pair, edit: Edit) -> None:
    found = changes(pair, edit)
    assert found, "the change is still reported"
    assert not has_material(found), [c.reason for c in found if c.material]


@pytest.mark.parametrize(
    ("edit", "path"),
    [
        (lambda d: d["server_logs"].update(ip="keep"), "server_logs.ip"),
        (lambda d: d["server_logs"].update(raw_retention="P30D"), "server_logs.raw_retention"),
        (lambda d: d["server_logs"].update(isp=True), "server_logs.isp"),
        (lambda d: d["server_logs"].update(referrer="path"), "server_logs.referrer"),
        (lambda d: d["statistics"].update(min_group_size=5), "statistics.min_group_size"),
        (lambda d: d["changes"].update(reconsent=False), "changes.reconsent"),
        (lambda d: d["changes"].update(advance="P7D"), "changes.advance"),
        (lambda d: d["security"].clear(), "security[tls]"),
        (lambda d: d["recipients"][0].update(kind="third_party"), "recipients[payments].kind"),
        (lambda d: d["recipients"][0].update(location="US"), "recipients[payments].location"),
        (lambda d: d["stores"][0].update(encrypted_at_rest=False), "stores[shop_db].encrypted_at_rest"),
        (
            lambda d: d.update(
                legal_holds=[{"id": "tax", "categories": ["user.name"], "law": "Tax law", "period": "P7Y"}]
            ),
            "legal_holds[tax]",
        ),
        (lambda d: d.update(audience={"description": "kids", "child_directed": True}), "audience"),
        (lambda d: purpose(d, "newsletter")["channels"].append("sms"), "purposes[newsletter].channels"),
        (lambda d: d["retention"].clear(), "retention[orders]"),
    ],
    ids=lambda v: v if isinstance(v, str) else "edit",
)
def test_other_material_kinds(pair: Pair, edit: Edit, path: str) -> None:
    found = material(pair, edit)
    assert [c.path for c in found] == [path], [c.as_dict() for c in changes(pair, edit)]


def test_change_serialises_to_a_stable_json_shape(pair: Pair) -> None:
    found = changes(pair, lambda d: d["minimum_age"].update(age=13))
    (data,) = json.loads(json.dumps([c.as_dict() for c in found]))
    assert set(data) == {"path", "kind", "before", "after", "material", "reason"}
    assert Change.from_dict(data) == found[0]


def test_two_different_examples_differ_materially() -> None:
    pesi, software = (
        load_declaration(EXAMPLES / n / "privacy.yaml").declaration for n in ("pesi", "software-vendor")
    )
    found = diff_declarations(pesi, software)
    assert has_material(found)
    assert any(c.path.startswith("purposes[") and c.kind == "added" and c.material for c in found)


@pytest.mark.parametrize(
    ("before", "after", "order"),
    [
        ("P1M", "P31D", 1),
        ("P1M", "P30D", -1),
        ("P1Y", "P12M", 0),
        ("session", "P1D", 1),
        ("P1D", "session", -1),
        ("indefinite", "P100Y", -1),
        ("until_sent", "P1D", None),
        (None, "P1D", 1),
        ("P1D", None, -1),
    ],
)
def test_compare_periods(before: Any, after: Any, order: int | None) -> None:
    assert compare_periods(before, after) == order
