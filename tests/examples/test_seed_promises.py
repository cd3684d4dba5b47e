"""Each seed's distinctive promises hold in the structure of its declaration, not just in prose."""

from __future__ import annotations

import pytest

from pledge.declaration import LoadedDeclaration, parse_declaration
from pledge.declaration.durations import IsoDuration
from pledge.declaration.model import Declaration, Purpose, Recipient
from pledge.declaration.taxonomy import is_within, overlaps
from pledge.errors import DeclarationError
from tests.examples.conftest import EXAMPLES, SEEDS, load


def decl(name: str) -> Declaration:
    return load(name).declaration


def purpose(d: Declaration, pid: str) -> Purpose:
    found = d.purpose(pid)
    assert found is not None, f"no purpose '{pid}'"
    return found


def recipient(d: Declaration, rid: str) -> Recipient:
    found = d.recipient(rid)
    assert found is not None, f"no recipient '{rid}'"
    return found


def receivers_of(d: Declaration, category: str) -> set[str]:
    return {r.id for r in d.recipients if any(overlaps(c, category) for c in r.categories)}


# --- every example is complete -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_every_section_is_filled(name: str) -> None:
    d = decl(name)
    for section in (
        "jurisdictions",
        "storage_regions",
        "data_sources",
        "stores",
        "purposes",
        "recipients",
        "retention",
        "legal_holds",
        "cookies",
        "rights",
        "security",
        "staff_roles",
    ):
        assert getattr(d, section), f"{name}: '{section}' is empty"
    for section in ("minimum_age", "audience", "server_logs", "statistics", "changes"):
        assert getattr(d, section) is not None, f"{name}: '{section}' is missing"
    assert d.organisation.contacts


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_rights_have_deadlines_and_core_rights_exist(name: str) -> None:
    d = decl(name)
    kinds = {r.right for r in d.rights}
    assert {"access", "rectification", "erasure", "objection", "complaint"} <= kinds
    for right in d.rights:
        assert right.deadline is not None
        # Nothing slower than the CCPA's 45 days; most are the GDPR's month.
        assert right.deadline.approx_days <= 45, right.right


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_logs_and_statistics_protect_people(name: str) -> None:
    d = decl(name)
    logs, stats = d.server_logs, d.statistics
    assert logs is not None and stats is not None
    assert logs.ip in ("truncate", "hash", "drop")
    assert logs.geolocation in ("none", "country")
    assert logs.raw_retention.approx_days <= 31
    assert stats.min_group_size >= 10
    if stats.shared_with or stats.published:
        assert stats.privacy_budget is not None, "shared statistics carry noise within a budget"
        for rid in stats.shared_with:
            assert recipient(d, rid).aggregate_only and not recipient(d, rid).categories


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_card_numbers_are_only_forwarded(name: str) -> None:
    d = decl(name)
    card = "user.financial.credit_card"
    sources = [s for s in d.data_sources if card in s.categories]
    assert sources and all(card in s.forward_only for s in sources)
    assert not any(is_within(c, card) for store in d.stores for c in store.categories)
    processors = receivers_of(d, card)
    assert len(processors) == 1 and recipient(d, processors.pop()).kind == "processor"


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_consent_purposes_can_be_withdrawn_and_email_unsubscribed(name: str) -> None:
    for p in decl(name).purposes:
        if p.consent_mode() in ("opt_in", "opt_out") or p.consent is not None:
            assert p.withdraw, p.id
        if "email" in p.channels and p.consent is not None:
            assert "unsubscribe_link" in p.withdraw, p.id


# --- PESI (000) ----------------------------------------------------------------------------------


def test_pesi_sells_only_names_and_postal_addresses_to_list_agencies() -> None:
    d = decl("pesi")
    broker = recipient(d, "list_broker")
    assert broker.sale and broker.kind == "third_party"
    assert set(broker.categories) == {"user.name", "user.contact.address"}
    assert [r.id for r in d.recipients if r.sale] == ["list_broker"]
    rental = purpose(d, "list_rental")
    assert broker.purposes == ["list_rental"]
    assert rental.may_object and rental.consent_mode() == "opt_out"
    assert {"user.contact.email", "user.contact.phone_number"} <= set(d.commitments.never_sold_categories)
    assert any(r.right == "opt_out_of_sale" for r in d.rights)


def test_pesi_per_channel_opt_outs() -> None:
    d = decl("pesi")
    channels = {c for p in d.purposes if p.consent is not None for c in p.channels}
    assert {"email", "postal_mail", "third_party_offers"} <= channels
    assert purpose(d, "third_party_offers").channels == ["third_party_offers"]
    assert purpose(d, "comparable_products").consent_mode() == "opt_out"


def test_pesi_cart_cookie_lives_one_session() -> None:
    d = decl("pesi")
    (cart,) = [c for c in d.cookies if c.name == "cart_session"]
    assert cart.lifetime == "session" and cart.category == "strictly_necessary"
    assert len(d.cookies) == 1  # the text mentions no other cookie


def test_pesi_login_providers_are_sources_and_minors_are_purged() -> None:
    d = decl("pesi")
    logins = [s for s in d.data_sources if s.kind == "third_party_login"]
    assert logins and all(s.provider and recipient(d, s.provider).kind == "third_party" for s in logins)
    assert d.minimum_age is not None and d.minimum_age.on_detection == "purge" and d.minimum_age.age >= 18


def test_pesi_storage_uk_us_au_and_listed_legitimate_interests() -> None:
    d = decl("pesi")
    countries = {c for r in d.storage_regions for c in r.countries}
    assert {"GB", "US", "AU"} <= countries
    listed = [
        "marketing_analysis",
        "correspondence",
        "fraud_prevention",
        "government_requests",
        "rights_requests",
        "call_recording",
        "helpdesk",
        "legal_claims",
        "personalisation",
    ]
    for pid in listed:
        p = purpose(d, pid)
        assert p.lawful_basis == "legitimate_interest" and p.legitimate_interest, pid
    assert receivers_of(d, "user.financial.credit_card") == {"card_processor"}


# --- 24sessions (001) ----------------------------------------------------------------------------


def test_24sessions_is_controller_and_processor() -> None:
    d = decl("24sessions")
    assert set(d.organisation.roles) == {"controller", "processor"} and d.organisation.processor_scope
    processor_work = [p for p in d.purposes if p.role == "processor"]
    assert [p.id for p in processor_work] == ["client_data_processing"]


def test_24sessions_rights_and_referral() -> None:
    d = decl("24sessions")
    kinds = {r.right for r in d.rights}
    assert {"know_if_held", "access", "rectification", "erasure", "objection", "complaint"} <= kinds
    (rule,) = [r for r in d.retention if "referral" in r.purposes]
    assert rule.period == "until_sent" and rule.action == "delete" and rule.subjects == ["friends"]
    assert d.commitments.consent_for_new_purposes and d.commitments.never_sell


def test_24sessions_every_promotional_email_can_be_unsubscribed_by_category() -> None:
    d = decl("24sessions")
    mail = [p for p in d.purposes if "email" in p.channels and p.consent is not None]
    assert len(mail) >= 4  # one purpose per mail category
    assert all("unsubscribe_link" in p.withdraw for p in mail)


def test_24sessions_location_goes_only_to_the_data_centre() -> None:
    d = decl("24sessions")
    assert receivers_of(d, "user.location") == {"datacentre"}
    centre = recipient(d, "datacentre")
    uses = [
        pid
        for pid in centre.purposes
        if any(overlaps(c, "user.location") for c in purpose(d, pid).categories)
    ]
    assert uses == ["connection_optimisation"]


def test_24sessions_push_ads_and_change_notice() -> None:
    d = decl("24sessions")
    push = purpose(d, "push_notifications")
    assert push.channels == ["push"] and "device_settings" in push.withdraw
    assert any(c.kind == "device_id" for c in d.cookies)
    ads = purpose(d, "interest_based_ads")
    assert ads.consent_mode("gdpr") == "opt_in" and "vendor_opt_out" in ads.withdraw
    assert d.changes is not None and "website" in d.changes.channels


# --- Packt (002) ---------------------------------------------------------------------------------


def test_packt_never_sells_or_shares() -> None:
    d = decl("packtpub")
    assert d.commitments.never_sell and d.commitments.never_share
    assert not any(r.sale for r in d.recipients)
    assert all(p.never_sold for p in d.purposes)
    for r in d.recipients:
        assert r.kind in ("processor", "authority") or r.aggregate_only, r.id


def test_packt_click_statistics_are_aggregate_and_pixels_first_party() -> None:
    d = decl("packtpub")
    clicks = purpose(d, "newsletter_click_stats")
    assert clicks.aggregate_only
    assert not receivers_of(d, "user.behavior.newsletter_clicks")
    assert d.commitments.first_party_pixels_only
    assert all(c.provider == "first_party" for c in d.cookies if c.kind == "pixel")


def test_packt_opt_out_at_registration_and_account_access() -> None:
    d = decl("packtpub")
    marketing = purpose(d, "marketing_email")
    assert marketing.consent is not None and "registration" in marketing.consent.offered_at
    assert marketing.consent_mode() == "opt_out"
    rights = {r.right: r for r in d.rights}
    assert rights["access"].verification == "account"
    assert rights["withdraw_consent"].verification == "email_link_or_account"
    assert d.commitments.data_minimisation


# --- Pressera (003) ------------------------------------------------------------------------------


def test_pressera_never_rents_sells_or_shares() -> None:
    d = decl("pressera")
    assert d.commitments.never_sell and d.commitments.never_share
    authorities = [r for r in d.recipients if r.kind == "authority"]
    assert {r.legal_basis for r in authorities} >= {"court_order", "legal_obligation"}
    partners = [r for r in d.recipients if r.kind in ("partner", "third_party", "affiliate")]
    assert partners and all(r.aggregate_only and not r.categories for r in partners)
    assert d.statistics is not None and d.statistics.published


def test_pressera_staff_never_have_full_access() -> None:
    d = decl("pressera")
    assert d.commitments.staff_least_privilege and len(d.staff_roles) >= 3
    everything = {c for p in d.purposes for c in p.categories}
    for role in d.staff_roles:
        assert role.categories is not None
        assert not all(any(is_within(c, r) for r in role.categories) for c in everything), role.id
        assert "user.financial.credit_card" not in role.categories


def test_pressera_notifies_changes_by_email_or_at_sign_in() -> None:
    d = decl("pressera")
    assert d.changes is not None and set(d.changes.channels) == {"email", "sign_in"}
    assert d.changes.advance is None  # at once


# --- the software vendor (004) ------------------------------------------------------------------


def test_vendor_server_logs_keep_country_and_isp() -> None:
    logs = decl("software-vendor").server_logs
    assert logs is not None and logs.geolocation == "country" and logs.isp and logs.ip == "truncate"


def test_vendor_google_tools_can_be_refused() -> None:
    d = decl("software-vendor")
    for pid in ("analytics", "remarketing"):
        p = purpose(d, pid)
        assert "vendor_opt_out" in p.withdraw and p.consent_mode("gdpr") == "opt_in"
    assert recipient(d, "google_ads").legal_basis == "consent"
    assert d.commitments.no_third_party_marketing_without_consent


def test_vendor_promotions_only_after_opt_in() -> None:
    promotions = purpose(decl("software-vendor"), "promotions")
    assert promotions.lawful_basis == "consent"
    assert {promotions.consent_mode(j) for j in (None, "gdpr", "ccpa", "world")} == {"opt_in"}


def test_vendor_statistics_have_no_identifiers_and_tickets_stay_inside() -> None:
    d = decl("software-vendor")
    assert purpose(d, "summary_statistics").aggregate_only
    assert not receivers_of(d, "user.content.private.support_ticket")
    roles = [
        r.id for r in d.staff_roles if r.categories and "user.content.private.support_ticket" in r.categories
    ]
    assert roles == ["support_staff"]


# --- the examples really are strict: breaking a promise in one is caught -----------------------

PESI_BROKER = "    categories: [user.name, user.contact.address]\n    sale: true"
COURTS = "    purposes: [legal_compliance]\n    categories: [user.name, user.contact,"
PARTNERS = "    kind: partner\n    aggregate_only: true\n    description: Receive aggregated"
SHIPPING_ROLE = (
    "    purposes: [shipping]\n"
    "    categories: [user.name, user.contact.address, user.behavior.purchase_history]\n"
)
CONTRACTORS = (
    "    categories: [user.name, user.contact.email, user.contact.address, "
    "user.behavior.purchase_history]\n    contract: true\n    safeguards: Strict"
)
BREAKS = [
    (
        "pesi",
        PESI_BROKER,
        PESI_BROKER.replace("address]", "address, user.contact.phone_number]"),
        "never_sold_category",
    ),
    (
        "24sessions",
        COURTS,
        COURTS.replace("[user.name", "[user.location.imprecise, user.name"),
        "sharing_limit_exceeded",
    ),
    ("packtpub", PARTNERS, PARTNERS.replace("    aggregate_only: true\n", ""), "share_contradiction"),
    ("pressera", SHIPPING_ROLE, "    purposes: [shipping]\n", "role_without_limit"),
    (
        "software-vendor",
        CONTRACTORS,
        CONTRACTORS.replace("user.contact.address, user.behavior.purchase_history", "user.content.private"),
        "sharing_limit_exceeded",
    ),
]


@pytest.mark.parametrize(("name", "old", "new", "code"), BREAKS, ids=[b[0] for b in BREAKS])
def test_a_broken_example_is_rejected(name: str, old: str, new: str, code: str) -> None:
    text = (EXAMPLES / name / "privacy.yaml").read_text(encoding="utf-8")
    assert text.count(old) == 1
    with pytest.raises(DeclarationError) as caught:
        parse_declaration(text.replace(old, new), f"{name}.yaml")
    assert code in {p.code for p in caught.value.problems}


def test_loaded_examples_are_the_checked_files() -> None:
    loaded: LoadedDeclaration = load("pesi")
    assert loaded.path.endswith("pesi/privacy.yaml") and len(loaded.digest) == 64
    assert isinstance(decl("pesi").rights[0].deadline, IsoDuration)
