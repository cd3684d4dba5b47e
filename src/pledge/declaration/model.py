"""The declaration (``privacy.yaml``) as pydantic models.

One field per promise a privacy policy makes. Unknown keys are errors (a typo must not silently
drop a promise). Enumerations are ``Literal`` strings so the YAML reads naturally and error
messages can list the allowed words. Cross-field rules live in ``validate.py``, not here, so that
every problem of a file is reported in one run with its location.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StringConstraints,
    model_validator,
)

from pledge.declaration.durations import IsoDuration, parse_duration

__all__ = [
    "Audience",
    "Category",
    "ChangeNotice",
    "Channel",
    "ChoicePoint",
    "Commitments",
    "ConsentMode",
    "ConsentPolicy",
    "Contact",
    "Cookie",
    "CookieCategory",
    "DataSource",
    "DataSubject",
    "Declaration",
    "Duration",
    "ErasureRule",
    "Jurisdiction",
    "LawfulBasis",
    "LegalHold",
    "MinimumAge",
    "Organisation",
    "Period",
    "Purpose",
    "Recipient",
    "RetentionRule",
    "Right",
    "RightKind",
    "SecurityMeasure",
    "ServerLogs",
    "SharingLimit",
    "StaffRole",
    "Statistics",
    "StorageRegion",
    "Store",
]


def _to_duration(value: Any) -> IsoDuration:
    if isinstance(value, IsoDuration):
        return value
    return parse_duration(value)


Duration = Annotated[IsoDuration, BeforeValidator(_to_duration), PlainSerializer(str, return_type=str)]
"""An ISO-8601 duration such as ``P30D``, ``P1M``, ``P7Y``."""

SpecialPeriod = Literal["session", "while_account_active", "until_sent", "indefinite"]


def _to_period(value: Any) -> IsoDuration | str:
    if isinstance(value, IsoDuration):
        return value
    if isinstance(value, str) and value in ("session", "while_account_active", "until_sent", "indefinite"):
        return value
    if isinstance(value, str) and value.upper().startswith("P"):
        return parse_duration(value)
    raise ValueError(
        f"'{value}' is not a period: use an ISO-8601 duration (P30D, P1M, P7Y) or one of "
        "session, while_account_active, until_sent, indefinite"
    )


Period = Annotated[
    IsoDuration | SpecialPeriod, BeforeValidator(_to_period), PlainSerializer(str, return_type=str)
]
"""How long something is kept: a duration, or a lifecycle word."""

Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=120)]
CategoryId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$", max_length=200)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=320)]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$|^EU$|^EEA$")]

LawfulBasis = Literal[
    "consent", "contract", "legitimate_interest", "legal_obligation", "vital_interest", "public_task"
]
ConsentMode = Literal["opt_in", "opt_out", "notice_only"]
Channel = Literal["email", "postal_mail", "phone", "push", "sms", "third_party_offers", "in_app"]
ChoicePoint = Literal[
    "registration",
    "checkout",
    "sign_in",
    "first_visit",
    "account_settings",
    "privacy_center",
    "every_message",
]
"""Where the person is shown the choice (e.g. an opt-out box on the registration form)."""
WithdrawMethod = Literal[
    "privacy_center",
    "unsubscribe_link",
    "account_settings",
    "email",
    "device_settings",
    "banner",
    "contact_form",
    "phone",
    "postal_mail",
    "browser_settings",
    "vendor_opt_out",
]
CookieCategory = Literal["strictly_necessary", "preferences", "analytics", "advertising"]
RightKind = Literal[
    "know_if_held",
    "access",
    "portability",
    "rectification",
    "erasure",
    "restriction",
    "objection",
    "withdraw_consent",
    "opt_out_of_sale",
    "complaint",
    "automated_decisions",
    "deactivate_account",
]
Verification = Literal["none", "email_link", "account", "email_link_or_account", "id_document"]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- who we are ----------------------------------------------------------------------------------


class Contact(Model):
    kind: Literal["privacy", "support", "general", "dpo", "complaints", "security", "legal"] = "general"
    name: str | None = None
    email: Email | None = None
    phone: str | None = None
    url: str | None = None
    address: str | None = None

    @model_validator(mode="after")
    def _reachable(self) -> Contact:
        if not (self.email or self.phone or self.url or self.address):
            raise ValueError("a contact needs at least one of email, phone, url or address")
        return self


class Representative(Model):
    region: str
    name: str
    address: str | None = None
    email: Email | None = None


class Organisation(Model):
    name: Text
    legal_name: str | None = None
    address: str | None = None
    country: CountryCode | None = None
    website: str | None = None
    contacts: list[Contact] = Field(min_length=1)
    dpo: Contact | None = None
    representatives: list[Representative] = []
    roles: list[Literal["controller", "processor"]] = Field(default=["controller"], min_length=1)
    processor_scope: str | None = None
    """When the organisation is also a processor: whose data, and who answers for it."""


class Jurisdiction(Model):
    id: Id
    name: Text
    law: str | None = None
    regions: list[str] = []
    authority: str | None = None
    """Supervisory authority a subject may complain to."""


class StorageRegion(Model):
    id: Id
    name: Text
    countries: list[CountryCode] = []
    safeguards: str | None = None


class Store(Model):
    id: Id
    name: Text
    region: Id
    kind: Literal[
        "database", "file_storage", "cloud", "backup", "email", "crm", "logs", "analytics", "other"
    ] = "database"
    provider: Id | None = None
    """A recipient id when a processor hosts this store."""
    categories: list[CategoryId] = []
    encrypted_at_rest: StrictBool = False
    description: str | None = None


# --- what we collect -----------------------------------------------------------------------------


class Category(Model):
    """A custom category below a built-in one (e.g. ``user.behavior.newsletter_clicks``)."""

    id: CategoryId
    name: Text
    description: str | None = None
    sensitive: StrictBool = False


class DataSubject(Model):
    id: Id
    name: Text
    description: str | None = None


class DataSource(Model):
    id: Id
    name: Text
    kind: Literal[
        "form",
        "order",
        "account",
        "third_party_login",
        "server_log",
        "cookie",
        "device",
        "support",
        "referral",
        "import",
        "partner",
        "survey",
        "public",
        "other",
    ]
    description: str | None = None
    subjects: list[Id] = []
    categories: list[CategoryId] = Field(min_length=1)
    optional: list[CategoryId] = []
    """Categories the person may leave out."""
    forward_only: list[CategoryId] = []
    """Categories passed straight to a recipient and never kept (card numbers to the card processor)."""
    forward_to: list[Id] = []
    provider: Id | None = None
    """For third-party logins and partner data: the recipient id of who supplies it."""


# --- why -----------------------------------------------------------------------------------------


class ConsentPolicy(Model):
    default: ConsentMode
    jurisdictions: dict[Id, ConsentMode] = {}
    offered_at: list[ChoicePoint] = []
    """Where the choice is put in front of the person; empty means only where they go looking."""

    def mode_for(self, jurisdiction: str | None) -> ConsentMode:
        if jurisdiction is not None and jurisdiction in self.jurisdictions:
            return self.jurisdictions[jurisdiction]
        return self.default


class Purpose(Model):
    id: Id
    name: Text
    description: str | None = None
    lawful_basis: LawfulBasis
    legitimate_interest: str | None = None
    """The interest pursued, when the basis is legitimate interest."""
    categories: list[CategoryId] = Field(min_length=1)
    subjects: list[Id] = []
    sources: list[Id] = []
    consent: ConsentPolicy | None = None
    channels: list[Channel] = []
    objection: StrictBool | None = None
    """May the subject object? Defaults to yes for legitimate interest and consent."""
    withdraw: list[WithdrawMethod] = []
    never_sold: StrictBool = False
    essential: StrictBool = False
    """Needed to deliver what the person asked for; cannot be refused without refusing the service."""
    cookie_category: CookieCategory | None = None
    aggregate_only: StrictBool = False
    """Results are only ever used in aggregate and never linked back to a person."""
    automated_decisions: StrictBool = False
    role: Literal["controller", "processor"] = "controller"
    """``processor``: done on a client's instructions with the client's data (the client answers
    for it to its own customers); needs ``processor`` in ``organisation.roles``."""

    @property
    def may_object(self) -> bool:
        if self.objection is not None:
            return self.objection
        return self.lawful_basis in ("legitimate_interest", "consent", "public_task")

    def consent_mode(self, jurisdiction: str | None = None) -> ConsentMode:
        if self.consent is not None:
            return self.consent.mode_for(jurisdiction)
        return "opt_in" if self.lawful_basis == "consent" else "notice_only"


# --- who receives it -----------------------------------------------------------------------------


class Recipient(Model):
    id: Id
    name: Text
    kind: Literal["processor", "third_party", "affiliate", "authority", "partner"]
    description: str | None = None
    examples: list[str] = []
    purposes: list[Id] = []
    categories: list[CategoryId] = []
    """The minimum categories this recipient may receive."""
    location: str | None = None
    """A storage-region id or an ISO country code."""
    sale: StrictBool = False
    legal_basis: (
        Literal[
            "contract",
            "consent",
            "legitimate_interest",
            "legal_obligation",
            "court_order",
            "subpoena",
            "law_enforcement_request",
            "vital_interest",
        ]
        | None
    ) = None
    safeguards: str | None = None
    contract: StrictBool | None = None
    """A written contract binds the recipient to our instructions (processors)."""
    aggregate_only: StrictBool = False
    """Receives only anonymous aggregate statistics, never personal data."""


class StaffRole(Model):
    id: Id
    name: Text
    purposes: list[Id] = Field(min_length=1)
    categories: list[CategoryId] | None = None
    """Narrower than the purposes' categories, when the job needs less."""
    description: str | None = None


# --- how long ------------------------------------------------------------------------------------


class RetentionRule(Model):
    id: Id
    categories: list[CategoryId] = []
    purposes: list[Id] = []
    subjects: list[Id] = []
    period: Period
    grace: Duration | None = None
    """Extra time after the period's event, e.g. after the account closes."""
    start: str | None = Field(default=None, alias="from")
    """The event the clock starts from (``collected``, ``last_activity``, ``order_date``...)."""
    action: Literal["delete", "anonymise"] = "delete"
    reason: str | None = None

    @model_validator(mode="after")
    def _targets(self) -> RetentionRule:
        if not self.categories and not self.purposes:
            raise ValueError("a retention rule needs categories or purposes")
        return self


class ErasureRule(Model):
    """How erasure treats some categories: ``delete_row`` removes the whole row, ``null`` empties
    the field, ``mask`` rewrites it keeping its shape, ``hash`` replaces it by a keyed hash."""

    categories: list[CategoryId] = Field(min_length=1)
    strategy: Annotated[
        Literal["delete_row", "null", "mask", "hash"],
        BeforeValidator(lambda v: "null" if v is None else v),  # YAML reads a bare `null` as None
    ]
    reason: str | None = None


class LegalHold(Model):
    id: Id
    categories: list[CategoryId] = Field(min_length=1)
    law: Text
    period: Duration
    start: str | None = Field(default=None, alias="from")
    reason: str | None = None


# --- cookies and similar -------------------------------------------------------------------------


class Cookie(Model):
    name: Text
    provider: str = "first_party"
    """``first_party`` or a recipient id."""
    category: CookieCategory
    purpose: Id | None = None
    lifetime: Period
    kind: Literal["cookie", "local_storage", "pixel", "sdk", "device_id"] = "cookie"
    description: str | None = None


# --- rights --------------------------------------------------------------------------------------


class Right(Model):
    right: RightKind
    jurisdictions: list[Id] = []
    """Empty means everyone, wherever they live."""
    deadline: Duration | None = None
    extension: Duration | None = None
    """How much longer the deadline may be extended, with notice to the person."""
    acknowledge: Duration | None = None
    acknowledge_business_days: int | None = Field(default=None, ge=1, le=60)
    verification: Verification = "email_link"
    approval: StrictBool = False
    """An operator approves before the request runs."""
    how: list[str] = []
    """Ways to exercise it: privacy_center, account, email:ADDRESS, ..."""
    exceptions: str | None = None
    description: str | None = None


# --- audiences, logs, statistics, changes ---------------------------------------------------------


class MinimumAge(Model):
    age: int = Field(ge=0, le=25)
    reason: str | None = None
    on_detection: Literal["purge", "block", "parental_consent"] = "purge"


class Audience(Model):
    description: Text
    child_directed: StrictBool = False
    min_age: int | None = Field(default=None, ge=0, le=120)


class ServerLogs(Model):
    categories: list[CategoryId] = Field(min_length=1)
    purposes: list[Id] = Field(min_length=1)
    ip: Literal["truncate", "hash", "drop", "keep"] = "truncate"
    ipv4_prefix: int = Field(default=24, ge=0, le=32)
    ipv6_prefix: int = Field(default=48, ge=0, le=128)
    geolocation: Literal["none", "country"] = "country"
    isp: StrictBool = False
    """Record the visitor's ISP (derived from the IP before truncation)."""
    user_agent: Literal["parse", "keep", "drop"] = "parse"
    referrer: Literal["host", "path", "drop"] = "host"
    """What is kept of the referring page: its host, its host and path (never the query), or nothing."""
    raw_retention: Duration
    anonymised_retention: Duration | None = None


class PrivacyBudget(Model):
    epsilon: float = Field(gt=0, le=100)
    delta: float = Field(default=0.0, ge=0, lt=1)
    period: Duration | None = None
    """The budget renews each period; without one it is spent for good."""
    per_release: float | None = Field(default=None, gt=0)


class Statistics(Model):
    mode: Literal["suppress", "differential_privacy", "both"] = "suppress"
    min_group_size: int = Field(default=10, ge=2, le=10_000)
    mechanism: Literal["laplace", "gaussian"] = "laplace"
    privacy_budget: PrivacyBudget | None = None
    shared_with: list[Id] = []
    max_contributions: int = Field(default=5, ge=1, le=1000)
    """Differential privacy: at most this many rows of one visitor count in each released table."""
    published: StrictBool = False
    description: str | None = None


class ChangeNotice(Model):
    channels: list[Literal["email", "sign_in", "website", "banner", "in_app"]] = Field(min_length=1)
    advance: Duration | None = None
    """Notice given this long before a material change takes effect."""
    reconsent: StrictBool = True
    """Ask for fresh consent for consent-based purposes a material change touches."""
    continued_use_is_acceptance: StrictBool = False


class SecurityMeasure(Model):
    id: Id
    kind: Literal[
        "transport_encryption",
        "encryption_at_rest",
        "access_control",
        "pseudonymisation",
        "network",
        "organisational",
        "certification",
        "authentication",
        "other",
    ]
    description: Text


class SharingLimit(Model):
    """Categories that may go only to the listed recipients (none: to nobody), for the listed purposes."""

    id: Id
    categories: list[CategoryId] = Field(min_length=1)
    recipients: list[Id] = []
    purposes: list[Id] = []
    """When given, the only purposes for which those recipients may receive the categories."""
    reason: str | None = None


class Commitments(Model):
    never_sell: StrictBool = False
    never_share: StrictBool = False
    """No disclosure except to processors acting for us and to authorities when the law compels it."""
    consent_for_new_purposes: StrictBool = False
    data_minimisation: StrictBool = False
    no_third_party_marketing_without_consent: StrictBool = False
    never_sold_categories: list[CategoryId] = []
    """Categories never sold, even where other data is (e-mail addresses, phone numbers)."""
    sharing_limits: list[SharingLimit] = []
    first_party_pixels_only: StrictBool = False
    """No other company may place web beacons (pixels) on our pages."""
    staff_least_privilege: StrictBool = False
    """No staff role sees everything: each lists the narrow categories its job needs."""
    statements: list[str] = []
    """Other promises in words, rendered verbatim into the policy."""


# --- the whole -----------------------------------------------------------------------------------


class Declaration(Model):
    pledge: Literal[1] = 1
    """Schema version of this file."""
    policy_version: Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int | float) else v)]
    effective: dt.date
    language: str = "en"
    title: str | None = None
    summary: str | None = None
    organisation: Organisation
    jurisdictions: list[Jurisdiction] = []
    storage_regions: list[StorageRegion] = []
    subjects: list[DataSubject] = []
    categories: list[Category] = []
    data_sources: list[DataSource] = []
    stores: list[Store] = []
    purposes: list[Purpose] = Field(min_length=1)
    recipients: list[Recipient] = []
    staff_roles: list[StaffRole] = []
    retention: list[RetentionRule] = []
    legal_holds: list[LegalHold] = []
    erasure: list[ErasureRule] = []
    """Erasure strategy per category; without a rule a field is nulled, masked or kept by its type."""
    cookies: list[Cookie] = []
    rights: list[Right] = []
    minimum_age: MinimumAge | None = None
    audience: Audience | None = None
    server_logs: ServerLogs | None = None
    statistics: Statistics | None = None
    changes: ChangeNotice | None = None
    security: list[SecurityMeasure] = []
    commitments: Commitments = Commitments()

    # Lookups used everywhere; cheap enough to compute on demand for a frozen model.
    def purpose(self, purpose_id: str) -> Purpose | None:
        return next((p for p in self.purposes if p.id == purpose_id), None)

    def recipient(self, recipient_id: str) -> Recipient | None:
        return next((r for r in self.recipients if r.id == recipient_id), None)

    def rights_for(self, jurisdiction: str | None) -> list[Right]:
        return [r for r in self.rights if not r.jurisdictions or jurisdiction in r.jurisdictions]
