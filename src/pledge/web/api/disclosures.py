"""Disclosure records (who received what, when, and why) and subject look-ups; API key only."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from pledge.sharing.disclosures import Disclosure
from pledge.web.api.models import DisclosureIn, DisclosureOut, IdentityIn, LookupOut
from pledge.web.context import admin_key, web

router = APIRouter(tags=["disclosures"], dependencies=[Depends(admin_key)])


def disclosure_out(item: Disclosure) -> DisclosureOut:
    return DisclosureOut(
        id=item.id,
        recipient=item.recipient,
        recipient_kind=item.recipient_kind,
        subject_id=item.subject_id,
        purpose=item.purpose,
        legal_basis=item.legal_basis,
        categories=list(item.categories),
        fields=list(item.fields),
        reference=item.reference,
        occurred_at=item.occurred_at,
        recorded_at=item.recorded_at,
        audit_index=item.audit_index,
    )


@router.get("/disclosures", response_model=list[DisclosureOut])
def list_disclosures(
    request: Request,
    recipient: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[DisclosureOut]:
    """Disclosures, optionally to one recipient and within [since, until), oldest first."""
    found = web(request).system.sharing.disclosures(
        recipient=recipient, since=_aware(since), until=_aware(until), limit=limit
    )
    return [disclosure_out(d) for d in found]


@router.post("/disclosures", response_model=DisclosureOut, status_code=201)
def record_disclosure(body: DisclosureIn, request: Request) -> DisclosureOut:
    """Record a disclosure the law compelled (court order, subpoena, ...), with its reference."""
    sharing = web(request).system.sharing
    item = sharing.record_disclosure(
        body.recipient,
        subject_id=body.subject_id,
        categories=body.categories,
        legal_basis=body.legal_basis,
        reference=body.reference,
        purpose=body.purpose,
        fields=body.fields,
        note=body.note,
        occurred_at=body.occurred_at,
    )
    return disclosure_out(item)


@router.get("/subjects/{subject_id}/disclosures", response_model=list[DisclosureOut])
def subject_disclosures(subject_id: str, request: Request) -> list[DisclosureOut]:
    """Who received this subject's data (and that of subjects merged into it)."""
    system = web(request).system
    root = system.directory.root(subject_id)
    return [disclosure_out(d) for d in system.sharing.disclosures_for_subject(root)]


@router.post("/subjects/lookup", response_model=LookupOut)
def lookup(body: IdentityIn, request: Request) -> LookupOut:
    """The subject id behind an identity (POST keeps the address out of URLs and logs)."""
    return LookupOut(subject_id=web(request).system.find_subject(body.kind, body.value))


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)
