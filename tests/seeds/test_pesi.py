"""Seed 000, PESI: sells only names and postal addresses, unless the person objects; per-channel
opt-out; no data of anyone under the legal purchase age."""

from __future__ import annotations

from collections.abc import Callable

from pledge.consent import ConsentLedger
from pledge.policy import Enforcer
from pledge.sharing import Sharing

from .conftest import Asker

HOUSE_FILE_ROW = {
    "first_name": "Ann",
    "last_name": "Smith",
    "street": "1 Main St",
    "zip": "54701",
    "email": "ann@example.com",
    "phone": "+1 715 555 0100",
    "card": "4111111111111111",
    "purchases": ["Trauma seminar"],
}
FIELDS = {
    "first_name": "user.name.first",
    "last_name": "user.name.last",
    "street": "user.contact.address.street",
    "zip": "user.contact.address.postal_code",
    "email": "user.contact.email",
    "phone": "user.contact.phone_number",
    "card": "user.financial.credit_card",
    "purchases": "user.behavior.purchase_history",
}
RENTAL = ("list_rental", ("user.name", "user.contact.address"), "list_broker")


def test_the_broker_may_get_names_and_postal_addresses(ask_for: Callable[[str], Asker]) -> None:
    ask = ask_for("pesi")
    assert ask((), *RENTAL) == "opt_out_default"
    for category in ("user.contact.email", "user.contact.phone_number"):
        # Neither as a purpose of the rental nor as anything the broker may receive.
        assert ask((), "list_rental", (category,), "list_broker") == "category_not_allowed"
        assert category not in ask.policy.receivable("list_broker", "list_rental")
    for purpose in ("order_fulfilment", "relevant_offers", "comparable_products", "correspondence"):
        assert ask((), purpose, ("user.name",), "list_broker") == "recipient_not_for_purpose"


def test_email_and_phone_are_never_sold_to_anyone(ask_for: Callable[[str], Asker]) -> None:
    policy = ask_for("pesi").policy
    for recipient in policy.recipients.values():
        if not recipient.sale:
            continue
        for cats in recipient.receivable.values():
            assert not any(c.startswith(("user.contact.email", "user.contact.phone_number")) for c in cats)


def test_nothing_is_sold_after_the_person_says_no(ask_for: Callable[[str], Asker]) -> None:
    ask = ask_for("pesi")
    assert ask((("object", "list_rental"),), *RENTAL) == "objection"
    assert ask((("object",),), *RENTAL) == "objection"
    assert ask((("withdraw", "list_rental"),), *RENTAL) == "consent_withdrawn"
    assert ask((("opt_out_of_sale",),), *RENTAL) == "sale_opted_out"
    assert ask((), *RENTAL, gpc=True) == "gpc_opt_out"
    # Saying no to the rental is not saying no to the order.
    assert ask((("object",), ("opt_out_of_sale",)), "order_fulfilment", ("user.name",)) == "contract"


def test_one_kind_of_mail_can_be_stopped_alone(ask_for: Callable[[str], Asker]) -> None:
    ask = ask_for("pesi")
    stop_email = (("withdraw", "comparable_products", "email"),)
    cats = ("user.name", "user.contact.email")
    assert ask(stop_email, "comparable_products", cats, channel="email") == "channel_opted_out"
    assert ask(stop_email, "comparable_products", ("user.contact.address",), channel="postal_mail") == (
        "opt_out_default"
    )
    assert (
        ask((), "third_party_offers", cats, channel="third_party_offers", jurisdiction="us")
        == "opt_out_default"
    )
    assert ask((), "third_party_offers", cats, channel="third_party_offers", jurisdiction="gdpr") == (
        "consent_missing"
    )
    assert ask((), "relevant_offers", cats, channel="email") == "consent_missing"


def test_no_data_of_anyone_under_the_purchase_age(ask_for: Callable[[str], Asker]) -> None:
    ask = ask_for("pesi")
    minor = (("birth_date_declared", "*", "*", {"birth_date": "2010-01-01"}),)
    for purpose in ("order_fulfilment", "comparable_products", "list_rental", "personalisation"):
        assert ask(minor, purpose, ()) == "under_minimum_age"
    assert ask((("age_declared", "*", "*", {"age": 18}),), "order_fulfilment", ()) == "contract"


def test_share_and_disclosure_record(
    stored_for: Callable[[str], tuple[ConsentLedger, Enforcer, Sharing]],
) -> None:
    ledger, _enforcer, sharing = stored_for("pesi")
    ann = ledger.directory.resolve("email", "ann@example.com")
    sent = sharing.share(HOUSE_FILE_ROW, "list_broker", "list_rental", subject_id=ann, fields=FIELDS)
    assert sent == {"first_name": "Ann", "last_name": "Smith", "street": "1 Main St", "zip": "54701"}
    ledger.object_to(ann, "list_rental", source="privacy_center")
    assert sharing.share(HOUSE_FILE_ROW, "list_broker", "list_rental", subject_id=ann, fields=FIELDS) == {}
    assert [d.recipient for d in sharing.disclosures_for_subject(ann)] == ["list_broker"]
    # Under age: flagged for purge the moment it is known.
    kid = ledger.directory.resolve("email", "kid@example.com")
    ledger.declare_age(kid, 15, source="operator")
    assert [f.subject_id for f in ledger.flagged_minors()] == [kid]
