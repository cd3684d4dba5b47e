"""Seed 003, Pressera: never rents, sells or shares; anonymous aggregates to advertisers; staff
do not get full access."""

from __future__ import annotations

from collections.abc import Callable

from pledge.consent import ConsentLedger
from pledge.policy import Enforcer
from pledge.sharing import Sharing, view

from .conftest import Asker


def test_no_third_party_ever_receives_personal_data(ask_for: Callable[[str], Asker]) -> None:
    ask = ask_for("pressera")
    policy = ask.policy
    for recipient in policy.recipients.values():
        assert not recipient.sale
        if recipient.kind in ("third_party", "partner", "affiliate"):
            assert not any(recipient.receivable.values()), recipient.id
    everything = tuple(
        sorted({c for p in policy.purposes.values() for c in p.allowed if c.startswith("user")})
    )
    for purpose in policy.purposes:
        for category in everything:
            reason = ask((), purpose, (category,), "advertisers_partners")
            assert reason in ("aggregate_only", "recipient_not_for_purpose", "category_not_allowed")
            assert ask((), purpose, (category,), "partners_of_partners") in (
                "unknown_recipient",
                "category_not_allowed",
            )


def test_statistics_are_anonymous(ask_for: Callable[[str], Asker]) -> None:
    ask = ask_for("pressera")
    browsing = ("user.behavior.browsing_history",)
    assert ask((), "customer_statistics", browsing) == "aggregate_only"
    assert ask.enforcer.decide(None, "customer_statistics", browsing).allowed


def test_no_staff_role_sees_everything(ask_for: Callable[[str], Asker]) -> None:
    policy = ask_for("pressera").policy
    categories = sorted({c for p in policy.declaration.purposes for c in p.categories})
    record = {c: f"value of {c}" for c in categories}
    fields = {c: c for c in categories}
    assert policy.roles
    for role in policy.roles:
        shown = view(policy, role, record, fields)
        masked = [c for c in categories if shown[c] != record[c]]
        assert masked, f"role {role} sees every category"
        assert "user.financial.credit_card" in masked
    support = view(
        policy,
        "support_agent",
        {"card": "4111 1111 1111 1111", "email": "a@b.example"},
        {"card": "user.financial.credit_card", "email": "user.contact.email"},
    )
    assert support == {"card": "4***", "email": "a@b.example"}


def test_nothing_is_shared_with_advertisers(
    stored_for: Callable[[str], tuple[ConsentLedger, Enforcer, Sharing]],
) -> None:
    ledger, _enforcer, sharing = stored_for("pressera")
    shop = ledger.directory.resolve("email", "shop@example.com")
    row = {"name": "Shop Ltd", "email": "shop@example.com", "orders": 12}
    fields = {"name": "user.name", "email": "user.contact.email", "orders": "user.behavior.purchase_history"}
    assert (
        sharing.share(row, "advertisers_partners", "customer_statistics", subject_id=shop, fields=fields)
        == {}
    )
    assert sharing.disclosures() == []
    court = sharing.record_disclosure(
        "courts",
        subject_id=shop,
        categories=["user.name"],
        legal_basis="court_order",
        reference="No. 2024/17",
    )
    assert sharing.disclosures_for_subject(shop) == [court]
