"""The plain-text mails of the request workflow, built in code (no template engine in the core).

Mails to the person never say whether data about them was found: that answer is behind the
result link, after verification. Mails to operators carry the request id and deadline only,
never an identity.
"""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage

from pledge.requests.mail import build_message
from pledge.requests.steps import RequestKind

__all__ = [
    "KIND_WORDS",
    "acknowledgement",
    "completion",
    "extension",
    "operator_failure",
    "operator_reminder",
    "rejection",
    "verification",
]

KIND_WORDS: dict[RequestKind, str] = {
    "exists": "to know whether we hold personal data about you",
    "access": "for a copy of your personal data",
    "portability": "for your personal data in a portable format",
    "rectify": "to correct your personal data",
    "erase": "to delete your personal data",
    "restrict": "to restrict the processing of your personal data",
    "object": "objecting to the processing of your personal data",
    "withdraw": "to withdraw your consent",
}


def _day(when: dt.datetime | None) -> str:
    return when.strftime("%d %B %Y") if when is not None else "as soon as we can"


def _signature(org: str) -> str:
    return f"\n-- \n{org}\nThis message was sent because of a privacy request made with this address.\n"


def verification(
    sender: str,
    to: str,
    org: str,
    kind: RequestKind,
    request_id: str,
    link: str,
    expires: dt.datetime,
    due: dt.datetime | None,
) -> EmailMessage:
    body = (
        f"Hello,\n\nwe received a request {KIND_WORDS[kind]} (reference {request_id}).\n\n"
        "To make sure the request comes from you, please confirm it by opening this link:\n\n"
        f"    {link}\n\n"
        f"The link works once and expires on {expires.strftime('%d %B %Y at %H:%M UTC')}.\n"
        f"Once confirmed, we will answer by {_day(due)}.\n\n"
        "If you did not make this request, ignore this message: nothing will happen.\n" + _signature(org)
    )
    return build_message(sender, to, f"Please confirm your privacy request ({request_id})", body)


def acknowledgement(
    sender: str, to: str, org: str, kind: RequestKind, request_id: str, due: dt.datetime | None
) -> EmailMessage:
    body = (
        f"Hello,\n\nwe received your request {KIND_WORDS[kind]} (reference {request_id}).\n"
        f"We will answer by {_day(due)}.\n" + _signature(org)
    )
    return build_message(sender, to, f"We received your privacy request ({request_id})", body)


def extension(
    sender: str, to: str, org: str, request_id: str, new_due: dt.datetime, reason: str
) -> EmailMessage:
    body = (
        f"Hello,\n\nwe need more time to answer your privacy request (reference {request_id}).\n"
        f"We will now answer by {_day(new_due)}.\n\nThe reason:\n\n    {reason}\n" + _signature(org)
    )
    return build_message(sender, to, f"Your privacy request ({request_id}): more time needed", body)


def completion(sender: str, to: str, org: str, kind: RequestKind, request_id: str, link: str) -> EmailMessage:
    body = (
        f"Hello,\n\nyour request {KIND_WORDS[kind]} (reference {request_id}) has been carried out.\n"
        f"The result, and what we kept and why, is here:\n\n    {link}\n" + _signature(org)
    )
    return build_message(sender, to, f"Your privacy request ({request_id}) is done", body)


def rejection(
    sender: str, to: str, org: str, kind: RequestKind, request_id: str, reason: str
) -> EmailMessage:
    body = (
        f"Hello,\n\nwe could not carry out your request {KIND_WORDS[kind]} (reference {request_id}).\n\n"
        f"The reason:\n\n    {reason}\n\nYou may complain to a supervisory authority.\n" + _signature(org)
    )
    return build_message(sender, to, f"Your privacy request ({request_id}) was declined", body)


def operator_reminder(
    sender: str,
    to: str,
    org: str,
    request_id: str,
    kind: RequestKind,
    state: str,
    due: dt.datetime,
    overdue: bool,
) -> EmailMessage:
    when = "was due" if overdue else "is due"
    body = (
        f"Request {request_id} ({kind}, now {state}) {when} on {due.strftime('%d %B %Y at %H:%M UTC')}.\n"
        "Open the admin console to handle it.\n"
    )
    prefix = "OVERDUE" if overdue else "Reminder"
    return build_message(sender, to, f"[{org}] {prefix}: privacy request {request_id}", body)


def operator_failure(
    sender: str, to: str, org: str, request_id: str, kind: RequestKind, error: str
) -> EmailMessage:
    body = (
        f"Request {request_id} ({kind}) failed after its retries.\n\n"
        f"Error:\n\n    {error[:2000]}\n\nFix the cause, then retry it from the admin console.\n"
    )
    return build_message(sender, to, f"[{org}] FAILED: privacy request {request_id}", body)
