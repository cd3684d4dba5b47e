from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from pledge.declaration.model import Declaration
from tests.declaration.conftest import MINIMAL

Edit = Callable[[dict[str, Any]], None]


def base() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(MINIMAL)
    data["jurisdictions"].append({"id": "ccpa", "name": "California"})
    data["retention"] = [{"id": "orders", "purposes": ["orders"], "period": "P1Y"}]
    data["commitments"] = {"never_sell": True, "statements": ["We never read your e-mail."]}
    data["minimum_age"] = {"age": 16}
    data["rights"].append({"right": "erasure", "deadline": "P1M", "jurisdictions": ["gdpr"]})
    data["server_logs"] = {
        "categories": ["user.device.ip_address"],
        "purposes": ["orders"],
        "raw_retention": "P7D",
    }
    data["statistics"] = {"min_group_size": 10}
    data["changes"] = {"channels": ["email"], "advance": "P30D"}
    data["stores"][0]["encrypted_at_rest"] = True
    data["security"] = [{"id": "tls", "kind": "transport_encryption", "description": "TLS"}]
    return data


def build(data: dict[str, Any]) -> Declaration:
    return Declaration.model_validate(data)


@pytest.fixture
def pair() -> Callable[[Edit], tuple[Declaration, Declaration]]:
    """``pair(edit)`` → (the base declaration, the base with ``edit`` applied to a copy)."""

    def make(edit: Edit) -> tuple[Declaration, Declaration]:
        old = base()
        new = copy.deepcopy(old)
        edit(new)
        return build(old), build(new)

    return make
