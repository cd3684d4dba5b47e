from __future__ import annotations

import dataclasses

import pytest

import pledge.policy
from pledge.declaration import LoadedDeclaration
from pledge.policy import CompiledPolicy, compile_policy


def test_purpose_categories_are_expanded_down_the_taxonomy(policy: CompiledPolicy) -> None:
    orders = policy.purposes["orders"]
    assert {"user.contact", "user.contact.email", "user.contact.address.city"} <= orders.allowed
    assert "user" not in orders.allowed
    assert "user.financial.credit_card" not in orders.allowed


def test_recipient_receives_its_minimum_within_the_purpose(policy: CompiledPolicy) -> None:
    broker = policy.receivable("list_broker", "list_rental")
    assert {"user.name", "user.name.first", "user.contact.address", "user.contact.address.street"} <= broker
    assert "user.contact.email" not in broker
    assert policy.receivable("list_broker", "orders") == frozenset()
    assert policy.receivable("nobody", "orders") == frozenset()


def test_sharing_limits_and_never_sold_categories_narrow_what_goes_out(policy: CompiledPolicy) -> None:
    # No list of its own: the purpose's categories, minus what the sharing limit keeps back.
    assert policy.receivable("monitoring", "hosting") == frozenset(
        {"user.name", "user.name.first", "user.name.last"}
    )
    assert "user.location.imprecise" in policy.receivable("datacentre", "hosting")
    assert policy.receivable("advertisers", "stats") == frozenset()


def test_roles_see_their_narrow_list_or_their_purposes(policy: CompiledPolicy) -> None:
    assert "user.contact.email" in policy.roles["support"]
    assert "user.contact.address" not in policy.roles["support"]
    assert "user.contact.address" in policy.roles["fulfilment"]


def test_consent_modes_per_jurisdiction(policy: CompiledPolicy) -> None:
    offers = policy.purposes["offers"]
    assert offers.mode(None) == "opt_out"
    assert offers.mode("gdpr") == "opt_in"
    assert offers.mode("unknown") == "opt_out"
    assert policy.purposes["orders"].mode("gdpr") == "notice_only"
    assert policy.purposes["newsletter"].consent_choice
    assert not policy.purposes["orders"].consent_choice


def test_compiled_policy_is_immutable(policy: CompiledPolicy) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.version = "3"  # type: ignore[misc]
    with pytest.raises(TypeError):
        policy.purposes["x"] = policy.purposes["orders"]  # type: ignore[index]
    with pytest.raises(AttributeError):
        policy.purposes["orders"].allowed.add("user")  # type: ignore[attr-defined]


def test_version_history(shop: LoadedDeclaration) -> None:
    compiled = compile_policy(shop, history=[shop])
    assert compiled.versions == ("2.0",)
    assert compiled.version_index("2.0") == 0
    assert compiled.version_index("0.1") == -1
    assert compiled.version_index(None) == 0


def test_public_api_is_exported() -> None:
    for name in pledge.policy.__all__:
        assert hasattr(pledge.policy, name), name
