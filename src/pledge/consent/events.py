"""What the ledger records: event kinds, sources, the event record, and checking a new event
against the declaration before anything is written (bad input changes nothing)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pledge.errors import InputError
from pledge.policy.compiled import CompiledPolicy
from pledge.policy.state import ANY

__all__ = ["SOURCES", "ConsentEvent", "EventKind", "NewEvent", "check_event"]

MAX_PROOF = 64 * 1024
"""Characters of proof kept (the form text shown, the banner's wording): enough for any form."""


class EventKind(StrEnum):
    GRANT = "grant"
    WITHDRAW = "withdraw"
    OBJECT = "object"
    WITHDRAW_OBJECTION = "withdraw_objection"
    RESTRICT = "restrict"
    LIFT_RESTRICTION = "lift_restriction"
    OPT_OUT_OF_SALE = "opt_out_of_sale"
    OPT_IN_TO_SALE = "opt_in_to_sale"
    GPC_SIGNAL = "gpc_signal"
    AGE_DECLARED = "age_declared"
    BIRTH_DATE_DECLARED = "birth_date_declared"
    LINKED = "linked"
    """Another subject (e.g. a banner cookie) turned out to be this person; recorded by the ledger."""


SOURCES = frozenset({"banner", "privacy_center", "api", "email_link", "import", "operator"})

_CONSENT = frozenset({EventKind.GRANT, EventKind.WITHDRAW})
_OBJECTION = frozenset({EventKind.OBJECT, EventKind.WITHDRAW_OBJECTION})
_RESTRICTION = frozenset({EventKind.RESTRICT, EventKind.LIFT_RESTRICTION})
_SUBJECT_WIDE = frozenset(
    {
        EventKind.OPT_OUT_OF_SALE,
        EventKind.OPT_IN_TO_SALE,
        EventKind.GPC_SIGNAL,
        EventKind.AGE_DECLARED,
        EventKind.BIRTH_DATE_DECLARED,
        EventKind.LINKED,
    }
)
_NO_CONSENT_NEEDED = frozenset({"contract", "legal_obligation", "vital_interest"})
_CHANNELS = frozenset({"email", "postal_mail", "phone", "push", "sms", "third_party_offers", "in_app"})


@dataclass(frozen=True, slots=True)
class ConsentEvent:
    id: int
    subject_id: str
    kind: str
    purpose: str
    channel: str
    value: Mapping[str, Any] | None
    jurisdiction: str | None
    source: str
    policy_version: str
    declaration_digest: str
    proof: str | None
    proof_hash: str | None
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    audit_index: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subject_id": self.subject_id,
            "kind": self.kind,
            "purpose": self.purpose,
            "channel": self.channel,
            "value": dict(self.value) if self.value is not None else None,
            "jurisdiction": self.jurisdiction,
            "source": self.source,
            "policy_version": self.policy_version,
            "declaration_digest": self.declaration_digest,
            "proof_hash": self.proof_hash,
            "occurred_at": self.occurred_at.isoformat(),
            "recorded_at": self.recorded_at.isoformat(),
            "audit_index": self.audit_index,
        }


@dataclass(frozen=True, slots=True)
class NewEvent:
    """A checked event, ready to be written."""

    kind: EventKind
    purpose: str
    channel: str
    value: Mapping[str, Any] | None
    jurisdiction: str | None
    source: str
    proof: str | None
    proof_hash: str | None
    occurred_at: dt.datetime


def check_event(
    policy: CompiledPolicy,
    kind: str,
    *,
    purpose: str,
    channel: str,
    source: str,
    value: Any,
    proof: str | None,
    jurisdiction: str | None,
    occurred_at: dt.datetime | None,
    now: dt.datetime,
    internal: bool = False,
) -> NewEvent:
    """Check one event against the declaration. Raises ``InputError`` naming what is wrong."""
    try:
        event_kind = EventKind(kind)
    except ValueError:
        known = ", ".join(k.value for k in EventKind if k is not EventKind.LINKED)
        raise InputError(f"unknown consent event '{kind}'", hint=f"one of: {known}") from None
    if event_kind is EventKind.LINKED and not internal:
        raise InputError("'linked' events are recorded by linking identities, not directly")
    if source not in SOURCES:
        raise InputError(f"unknown source '{source}'", hint=f"one of: {', '.join(sorted(SOURCES))}")
    if jurisdiction is not None and jurisdiction not in policy.jurisdictions:
        raise InputError(f"unknown jurisdiction '{jurisdiction}'", hint=_listing(policy.jurisdictions))
    if proof is not None and (not isinstance(proof, str) or len(proof) > MAX_PROOF):
        raise InputError(f"proof must be text of at most {MAX_PROOF} characters")
    if proof is not None and "\x00" in proof:
        raise InputError("proof text may not contain NUL characters")
    if occurred_at is None:
        occurred_at = now
    elif occurred_at.tzinfo is None:
        raise InputError("occurred_at needs a time zone", hint="use datetime.now(UTC) or an aware value")
    elif occurred_at > now + dt.timedelta(minutes=5):
        raise InputError("occurred_at is in the future")
    occurred_at = occurred_at.astimezone(dt.UTC)

    _check_scope(policy, event_kind, purpose, channel)
    checked_value = _check_value(event_kind, value, occurred_at)
    return NewEvent(
        kind=event_kind,
        purpose=purpose,
        channel=channel,
        value=checked_value,
        jurisdiction=jurisdiction,
        source=source,
        proof=proof,
        proof_hash=hashlib.sha256(proof.encode("utf-8")).hexdigest() if proof is not None else None,
        occurred_at=occurred_at,
    )


def _listing(names: frozenset[str]) -> str:
    return f"declared: {', '.join(sorted(names))}" if names else "the declaration declares none"


def _check_scope(policy: CompiledPolicy, kind: EventKind, purpose: str, channel: str) -> None:
    if kind in _SUBJECT_WIDE:
        if purpose != ANY or channel != ANY:
            raise InputError(f"'{kind}' applies to the whole subject: leave purpose and channel as '*'")
        return
    if purpose != ANY and purpose not in policy.purposes:
        raise InputError(f"unknown purpose '{purpose}'", hint=_listing(frozenset(policy.purposes)))
    if channel != ANY and channel not in _CHANNELS:
        raise InputError(f"unknown channel '{channel}'", hint=_listing(_CHANNELS))
    rule = policy.purposes.get(purpose)
    if kind in _CONSENT:
        if purpose == ANY and kind is EventKind.GRANT:
            raise InputError(
                "consent is given purpose by purpose, never to everything at once",
                hint="record one grant per purpose the person chose",
            )
        if rule is not None:
            may_choose = rule.consent_choice or (
                policy.consent_for_new_purposes and rule.lawful_basis not in _NO_CONSENT_NEEDED
            )
            if not may_choose:
                raise InputError(
                    f"purpose '{purpose}' rests on {rule.lawful_basis.replace('_', ' ')} and offers "
                    "no consent choice",
                    hint="record an objection instead, if the person may object to it",
                )
            if channel != ANY and channel not in rule.channels:
                raise InputError(
                    f"purpose '{purpose}' does not use channel '{channel}'", hint=_listing(rule.channels)
                )
        return
    if channel != ANY:
        raise InputError(f"'{kind}' applies to a purpose as a whole: leave channel as '*'")
    if kind in _OBJECTION and rule is not None and not rule.may_object:
        raise InputError(
            f"purpose '{purpose}' rests on {rule.lawful_basis.replace('_', ' ')}; the declaration "
            "offers no objection to it"
        )


def _check_value(kind: EventKind, value: Any, occurred_at: dt.datetime) -> Mapping[str, Any] | None:
    if kind is EventKind.AGE_DECLARED:
        age = value.get("age") if isinstance(value, Mapping) else value
        if isinstance(age, bool) or not isinstance(age, int) or not 0 <= age <= 130:
            raise InputError("an age is a whole number of years from 0 to 130")
        return {"age": age}
    if kind is EventKind.BIRTH_DATE_DECLARED:
        raw = value.get("birth_date") if isinstance(value, Mapping) else value
        if isinstance(raw, dt.datetime):
            raw = raw.date()
        if isinstance(raw, str):
            text = raw
            try:
                raw = dt.date.fromisoformat(text)
            except ValueError:
                raise InputError(f"'{text[:40]}' is not a date (YYYY-MM-DD)") from None
        if not isinstance(raw, dt.date):
            raise InputError("a birth date is a date (YYYY-MM-DD)")
        if raw > occurred_at.date() or raw.year < occurred_at.year - 130:
            raise InputError("a birth date must be in the past 130 years")
        return {"birth_date": raw.isoformat()}
    if kind is EventKind.LINKED:
        if not isinstance(value, Mapping):
            raise InputError("a link names the merged subject")
        return dict(value)
    if value is not None:
        raise InputError(f"'{kind}' events carry no value")
    return None
