"""Request and response bodies of the HTTP API (pydantic), so the OpenAPI schema is exact.

Inputs are strict (a string is never taken for a number or a boolean) and closed (an unknown
field is an error, as a typo must not silently drop an instruction). Lengths are bounded here so
hostile sizes are refused before any work is done.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "ApproveIn",
    "AuditHeadOut",
    "ChangeOut",
    "ComplaintIn",
    "ComplaintOut",
    "ComplaintReceived",
    "ConsentChange",
    "ConsentEventOut",
    "ConsentIn",
    "ConsentOut",
    "ConsentRecorded",
    "DecisionIn",
    "DecisionOut",
    "DeclarationOut",
    "DiffOut",
    "DisclosureIn",
    "DisclosureOut",
    "IdentityIn",
    "LookupOut",
    "MeOut",
    "MyConsentIn",
    "MyRequestOut",
    "PurposeStatus",
    "ReasonIn",
    "RequestCreated",
    "RequestIn",
    "RequestOut",
    "RequestReport",
    "SignedHeadOut",
    "SigninConfirmIn",
    "SigninIn",
    "Status",
    "TokenIn",
    "VersionOut",
]

Short = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=120)]
Text = Annotated[str, StringConstraints(max_length=5000)]
Token = Annotated[str, StringConstraints(min_length=1, max_length=4096)]
Email = Annotated[str, StringConstraints(min_length=3, max_length=320)]


class In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# --- decisions -------------------------------------------------------------------------------------


class IdentityIn(In):
    kind: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    value: Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class DecisionIn(In):
    subject_id: Short | None = None
    identity: IdentityIn | None = None
    purpose: Name
    categories: list[Short] = Field(default_factory=list, max_length=100)
    recipient: Name | None = None
    channel: Name | None = None
    jurisdiction: Name | None = None
    gpc: bool | None = None


class DecisionOut(BaseModel):
    allowed: bool
    purpose: str
    lawful_basis: str | None
    reason: str
    recipient: str | None
    categories: list[str]
    detail: str
    subject_id: str | None


# --- consent ---------------------------------------------------------------------------------------

ConsentAction = Literal[
    "grant",
    "withdraw",
    "object",
    "withdraw_objection",
    "restrict",
    "lift_restriction",
    "opt_out_of_sale",
    "opt_in_to_sale",
]


class ConsentChange(In):
    action: ConsentAction
    purpose: Name = "*"
    channel: Name = "*"


class ConsentIn(In):
    """Either the banner's record of a visitor's choice (``cookie_id``, ``choices``,
    ``policy_version``, ``gpc``, ``source: banner``), or, with the admin API key, changes for a
    known subject (``subject_id``, ``changes``)."""

    source: Literal["banner", "api", "operator", "import", "privacy_center", "email_link"] = "api"
    cookie_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{16,64}$")] | None = None
    choices: dict[Name, bool] | None = Field(default=None, max_length=10)
    policy_version: Short | None = None
    gpc: bool = False
    subject_id: Short | None = None
    changes: list[ConsentChange] = Field(default_factory=list, max_length=100)
    jurisdiction: Name | None = None
    proof: Annotated[str, StringConstraints(max_length=65536)] | None = None


class MyConsentIn(In):
    """A signed-in person's own changes (the privacy center's API)."""

    changes: list[ConsentChange] = Field(min_length=1, max_length=100)
    jurisdiction: Name | None = None


class PurposeStatus(BaseModel):
    purpose: str
    name: str
    lawful_basis: str
    mode: str
    allowed: bool
    reason: str
    channels: dict[str, str]


class ConsentEventOut(BaseModel):
    id: int
    kind: str
    purpose: str
    channel: str
    source: str
    policy_version: str
    occurred_at: dt.datetime


class ConsentOut(BaseModel):
    subject_id: str | None
    known: bool
    policy_version: str
    material_version: str
    jurisdiction: str | None
    sale_opted_out: bool
    purposes: list[PurposeStatus]
    categories: dict[str, bool]
    """Cookie categories (preferences, analytics, advertising): granted for every purpose behind them."""
    events: list[ConsentEventOut]


class ConsentRecorded(BaseModel):
    recorded: int
    policy_version: str
    material_version: str
    categories: dict[str, bool]


# --- requests --------------------------------------------------------------------------------------

RequestKindIn = Literal[
    "exists", "access", "portability", "rectify", "erase", "restrict", "object", "withdraw"
]


class RequestIn(In):
    kind: RequestKindIn
    email: Email
    jurisdiction: Name | None = None
    params: dict[Annotated[str, StringConstraints(max_length=40)], Any] = Field(
        default_factory=dict, max_length=10
    )
    operator: Short | None = None
    """With the admin API key only: staff vouch for the person; the request needs no e-mail link."""


class RequestCreated(BaseModel):
    request_id: str
    state: str
    verification: str
    message: str


class RequestOut(BaseModel):
    id: str
    kind: str
    right: str
    state: str
    jurisdiction: str | None
    source: str
    verification: str
    requires_approval: bool
    subject: str
    received_at: dt.datetime
    verified_at: dt.datetime | None
    approved_at: dt.datetime | None
    finished_at: dt.datetime | None
    due_at: dt.datetime | None
    extended_due_at: dt.datetime | None
    deadline: dt.datetime | None
    deadline_status: str
    decision_by: str | None
    decision_reason: str | None
    extension_reason: str | None
    error: str | None


class MyRequestOut(BaseModel):
    id: str
    kind: str
    state: str
    received_at: dt.datetime
    deadline: dt.datetime | None
    finished_at: dt.datetime | None
    reason: str | None
    archive: bool


class StepOut(BaseModel):
    name: str
    description: str
    state: str
    attempts: int
    result: dict[str, Any] | None
    error: str | None


class RequestReport(BaseModel):
    request: RequestOut
    steps: list[StepOut]
    kept: list[dict[str, Any]]
    archive: list[str]


class ApproveIn(In):
    by: Short
    reason: Text | None = None


class ReasonIn(In):
    by: Short
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class TokenIn(In):
    token: Token


# --- sessions --------------------------------------------------------------------------------------


class SigninIn(In):
    email: Email


class SigninConfirmIn(In):
    token: Token


class MeOut(BaseModel):
    signed_in: bool
    has_subject: bool
    requests: list[MyRequestOut]


class Status(BaseModel):
    status: str
    message: str


# --- disclosures and subjects ----------------------------------------------------------------------


class DisclosureIn(In):
    recipient: Short
    subject_id: Short | None = None
    categories: list[Short] = Field(min_length=1, max_length=100)
    legal_basis: Name
    reference: Short | None = None
    purpose: Name | None = None
    fields: list[Short] = Field(default_factory=list, max_length=200)
    note: Text | None = None
    occurred_at: dt.datetime | None = None


class DisclosureOut(BaseModel):
    id: int
    recipient: str
    recipient_kind: str | None
    subject_id: str | None
    purpose: str | None
    legal_basis: str
    categories: list[str]
    fields: list[str]
    reference: str | None
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    audit_index: int | None


class LookupOut(BaseModel):
    subject_id: str | None


# --- audit -----------------------------------------------------------------------------------------


class SignedHeadOut(BaseModel):
    tree_size: int
    root: str
    signed_at: str
    key_id: str
    signature: str


class AuditHeadOut(BaseModel):
    size: int
    root: str
    latest_signed: SignedHeadOut | None
    public_key: str | None


# --- declaration and versions ------------------------------------------------------------------------


class DeclarationOut(BaseModel):
    version: str
    digest: str
    material_version: str
    declaration: dict[str, Any]


class ChangeOut(BaseModel):
    path: str
    kind: str
    before: Any = None
    after: Any = None
    material: bool
    reason: str


class VersionOut(BaseModel):
    version: str
    effective: dt.date
    digest: str
    published_at: dt.datetime
    previous_version: str | None
    material: bool
    changes: list[ChangeOut]


class DiffOut(BaseModel):
    from_version: str
    to_version: str
    material: bool
    changes: list[ChangeOut]


# --- complaints ------------------------------------------------------------------------------------


class ComplaintIn(In):
    kind: Literal["complaint", "question"]
    topic: Literal["processing", "request", "marketing", "cookies", "other"]
    message: Annotated[str, StringConstraints(min_length=1, max_length=5000)]
    email: Email | None = None
    name: Short | None = None
    jurisdiction: Name | None = None


class ComplaintReceived(BaseModel):
    reference: str
    message: str


class ComplaintOut(BaseModel):
    id: str
    kind: str
    topic: str
    jurisdiction: str | None
    state: str
    received_at: dt.datetime
    closed_at: dt.datetime | None
    name: str | None
    email: str | None
    message: str | None
