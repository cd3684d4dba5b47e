from __future__ import annotations

import datetime as dt

import pytest

from pledge.consent import ConsentLedger
from pledge.errors import InputError
from pledge.sharing import Sharing
from tests.consent.conftest import LockedAudit

RECORD = {
    "first": "Ann",
    "last": "Smith",
    "email": "ann@example.com",
    "phone": "+44 20 7946 0958",
    "street": "1 High St",
    "city": "Leeds",
    "card": "4111111111111111",
    "notes": "likes seminars",
}
FIELDS = {
    "first": "user.name.first",
    "last": "user.name.last",
    "email": "user.contact.email",
    "phone": "user.contact.phone_number",
    "street": "user.contact.address.street",
    "city": "user.contact.address.city",
    "card": "user.financial.credit_card",
}


def test_the_broker_gets_names_and_addresses_only(
    sharing: Sharing, ledger: ConsentLedger, audit: LockedAudit
) -> None:
    ann = ledger.directory.resolve("email", "ann@example.com")
    sent = sharing.share(RECORD, "list_broker", "list_rental", subject_id=ann, fields=FIELDS)
    assert sent == {"first": "Ann", "last": "Smith", "street": "1 High St", "city": "Leeds"}
    (disclosure,) = sharing.disclosures_for_subject(ann)
    assert disclosure.recipient == "list_broker" and disclosure.recipient_kind == "third_party"
    assert disclosure.purpose == "list_rental"
    assert disclosure.categories == (
        "user.contact.address.city",
        "user.contact.address.street",
        "user.name.first",
        "user.name.last",
    )
    assert set(disclosure.fields) == set(sent)
    assert disclosure.legal_basis == "legitimate_interest"
    assert disclosure.reference and disclosure.reference.startswith("d-")
    entry = audit.entries[disclosure.audit_index or 0]
    assert entry.kind == "disclosure" and entry.subject == ann
    assert entry.payload["withheld"] == [
        "user.contact.email",
        "user.contact.phone_number",
        "user.financial.credit_card",
    ]
    assert "ann@example.com" not in repr(entry.payload)


def test_nothing_goes_after_an_objection_or_a_sale_opt_out(
    sharing: Sharing, ledger: ConsentLedger, audit: LockedAudit
) -> None:
    ann = ledger.directory.resolve("email", "ann@example.com")
    ledger.object_to(ann, "list_rental", source="privacy_center")
    assert sharing.share(RECORD, "list_broker", "list_rental", subject_id=ann, fields=FIELDS) == {}
    sharing.enforcer.flush()
    assert audit.entries[-1].kind == "decision.denied"
    assert audit.entries[-1].payload["reason"] == "objection"
    bob = ledger.directory.resolve("email", "bob@example.com")
    ledger.opt_out_of_sale(bob, source="privacy_center")
    assert sharing.share(RECORD, "list_broker", "list_rental", subject_id=bob, fields=FIELDS) == {}
    assert sharing.disclosures() == []


def test_unlisted_fields_and_unreceivable_requests_share_nothing(
    sharing: Sharing, ledger: ConsentLedger
) -> None:
    ann = ledger.directory.resolve("email", "ann@example.com")
    only_contact = {"email": "user.contact.email", "phone": "user.contact.phone_number"}
    assert sharing.share(RECORD, "list_broker", "list_rental", subject_id=ann, fields=only_contact) == {}
    assert sharing.share(RECORD, "list_broker", "orders", subject_id=ann, fields=FIELDS) == {}
    assert sharing.share(RECORD, "nobody", "orders", subject_id=ann, fields=FIELDS) == {}
    assert sharing.share(RECORD, "advertisers", "stats", subject_id=ann, fields=FIELDS) == {}
    assert sharing.share({}, "list_broker", "list_rental", subject_id=ann, fields=FIELDS) == {}
    sent = sharing.share(RECORD, "mailer", "orders", subject_id=ann, fields=FIELDS)
    assert sent == {
        "first": "Ann",
        "last": "Smith",
        "email": "ann@example.com",
    }  # "notes" never: unclassified
    assert len(sharing.disclosures()) == 1


def test_location_goes_only_to_the_data_centre(sharing: Sharing, ledger: ConsentLedger) -> None:
    ann = ledger.directory.resolve("email", "ann@example.com")
    record = {"name": "Ann", "where": "Leeds, GB"}
    fields = {"name": "user.name", "where": "user.location.imprecise"}
    assert sharing.share(record, "datacentre", "hosting", subject_id=ann, fields=fields) == record
    assert sharing.share(record, "monitoring", "hosting", subject_id=ann, fields=fields) == {"name": "Ann"}
    assert sharing.share(record, "cdn", "hosting", subject_id=ann, fields=fields) == {"name": "Ann"}
    by_recipient = {d.recipient: d.categories for d in sharing.disclosures()}
    assert by_recipient == {
        "datacentre": ("user.location.imprecise", "user.name"),
        "monitoring": ("user.name",),
        "cdn": ("user.name",),
    }


def test_bad_field_maps_are_refused(sharing: Sharing, ledger: ConsentLedger) -> None:
    ann = ledger.directory.resolve("email", "ann@example.com")
    with pytest.raises(InputError, match="unknown data category"):
        sharing.share(RECORD, "mailer", "orders", subject_id=ann, fields={"email": "user.contact.emial"})
    with pytest.raises(InputError):
        sharing.share(RECORD, "mailer", "orders", subject_id=ann, fields={"email": 5})  # type: ignore[dict-item]
    with pytest.raises(InputError):
        sharing.share(RECORD, "mailer", "orders", subject_id=ann, fields=FIELDS, reference="x" * 500)
    assert sharing.disclosures() == []


def test_court_orders_are_their_own_legal_basis(
    sharing: Sharing, ledger: ConsentLedger, audit: LockedAudit
) -> None:
    ann = ledger.directory.resolve("email", "ann@example.com")
    ledger.object_to(ann, source="privacy_center")
    ledger.restrict(ann, source="operator")
    disclosure = sharing.record_disclosure(
        "Leeds County Court",
        subject_id=ann,
        categories=["user.name", "user.contact.address"],
        legal_basis="court_order",
        reference="Case 2025-CV-0042 ‘Smith’ 100%",
        fields=["first", "street"],
        note="Order served by post",
    )
    assert disclosure.recipient_kind == "authority"
    assert disclosure.reference == "Case 2025-CV-0042 ‘Smith’ 100%"
    assert audit.entries[-1].kind == "disclosure.authority"
    assert sharing.disclosures_for_subject(ann) == [disclosure]


BAD_AUTHORITY_DISCLOSURES: list[tuple[dict[str, object], str]] = [
    ({"legal_basis": "consent"}, "not a legal basis"),
    ({"reference": None}, "reference"),
    ({"reference": "   "}, "reference"),
    ({"reference": "x\x00y"}, "reference"),
    ({"categories": []}, "categories"),
    ({"categories": ["user.secret"]}, "unknown data category"),
    ({"recipient": "list_broker"}, "not an authority"),
    ({"recipient": ""}, "recipient"),
    ({"purpose": "nope"}, "unknown purpose"),
    ({"occurred_at": dt.datetime(2025, 1, 1)}, "time zone"),
]


def test_authority_disclosures_check_their_input(sharing: Sharing) -> None:
    for kwargs, error in BAD_AUTHORITY_DISCLOSURES:
        args: dict[str, object] = {
            "recipient": "Police",
            "subject_id": "s_x",
            "categories": ["user.name"],
            "legal_basis": "subpoena",
            "reference": "Ref 1",
        }
        args.update(kwargs)
        recipient = args.pop("recipient")
        with pytest.raises(InputError, match=error):
            sharing.record_disclosure(recipient, **args)  # type: ignore[arg-type]
    assert sharing.disclosures() == []


def test_queries_by_recipient_time_and_merged_subject(sharing: Sharing, ledger: ConsentLedger) -> None:
    visitor = ledger.directory.resolve("cookie_id", "c-1")
    ann = ledger.directory.resolve("email", "ann@example.com")
    fields = {"name": "user.name", "where": "user.location.imprecise"}
    sharing.share({"name": "V", "where": "GB"}, "datacentre", "hosting", subject_id=visitor, fields=fields)
    ledger.link(ann, "cookie_id", "c-1")
    sharing.share({"name": "Ann"}, "cdn", "hosting", subject_id=ann, fields=fields)
    old = sharing.record_disclosure(
        "Police",
        subject_id=ann,
        categories=["user.name"],
        legal_basis="law_enforcement_request",
        reference="R-1",
        occurred_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
    )
    assert [d.recipient for d in sharing.disclosures_for_subject(ann)] == ["datacentre", "cdn", "Police"]
    assert [d.recipient for d in sharing.disclosures(recipient="cdn")] == ["cdn"]
    assert sharing.disclosures(until=dt.datetime(2021, 1, 1, tzinfo=dt.UTC)) == [old]
    assert len(sharing.disclosures(since=dt.datetime(2021, 1, 1, tzinfo=dt.UTC))) == 2
    assert sharing.disclosures_for_subject("s_unknown") == []
