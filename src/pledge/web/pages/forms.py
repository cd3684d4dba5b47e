"""What the privacy center's forms offer, read from the declaration (and the datamap): which
requests a person may make, in which jurisdictions, about which purposes and categories."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request
from starlette.datastructures import FormData

from pledge.requests.deadlines import KIND_TO_RIGHT
from pledge.web.context import web
from pledge.web.security import check_csrf

if TYPE_CHECKING:
    from pledge.system import Pledge

__all__ = [
    "KIND_TEXT",
    "Offer",
    "correctable_categories",
    "flash_message",
    "offers",
    "read_form",
]

KIND_TEXT: dict[str, tuple[str, str]] = {
    "access": ("See my data", "Get a copy of the personal data we hold about you, and who received it."),
    "portability": ("Export my data", "Your data as JSON and CSV files, to take to another service."),
    "rectify": ("Correct my data", "Tell us what is wrong; we correct it everywhere we keep it."),
    "erase": ("Delete my data", "We delete what we may; what the law makes us keep is listed, with why."),
    "restrict": ("Restrict use of my data", "We keep your data but stop using it while a question is open."),
    "object": ("Object to a use of my data", "Stop a use that rests on our legitimate interest."),
    "withdraw": ("Withdraw my consent", "Take back consent you gave for one or every purpose."),
    "exists": ("Do you hold data about me?", "Find out whether we hold anything about you at all."),
}
FLASH = {
    "saved": "Your preferences are saved.",
    "unchanged": "Nothing changed: your preferences were already like this.",
    "check": "Where you live changes what some choices start as. Check them below, then save.",
    "signed_out": "You are signed out.",
    "approved": "The request is approved and will run now.",
    "rejected": "The request is rejected; the person is told why.",
    "extended": "The deadline is extended; the person is told why.",
    "retried": "The request runs again.",
    "closed": "The complaint is closed.",
    "signed": "A new audit head is signed.",
}


@dataclass(frozen=True)
class Offer:
    kind: str
    title: str
    text: str
    jurisdictions: tuple[str, ...]
    """Names of the jurisdictions where this right is offered; empty means everywhere."""
    deadline: str | None


def offers(system: Pledge) -> list[Offer]:
    """The request kinds the declaration offers, in a sensible order."""
    decl = system.loaded.declaration
    names = {j.id: j.name for j in decl.jurisdictions}
    found: list[Offer] = []
    for kind, (title, text) in KIND_TEXT.items():
        right = KIND_TO_RIGHT[kind]  # type: ignore[index]
        declared = [r for r in decl.rights if r.right == right]
        if not declared:
            continue
        everywhere = any(not r.jurisdictions for r in declared)
        places = (
            ()
            if everywhere
            else tuple(dict.fromkeys(names.get(j, j) for r in declared for j in r.jurisdictions))
        )
        deadline = next((r.deadline.describe() for r in declared if r.deadline is not None), None)
        found.append(Offer(kind, title, text, places, deadline))
    return found


def correctable_categories(system: Pledge) -> list[str]:
    """Categories a person may ask to correct: those the datamap maps, else the usual ones."""
    mapped = {
        category
        for collection in system.datamap.collections()
        for field in collection.all_fields()
        for category in field.categories
        if category.startswith("user.") and not category.startswith(("user.unique_id", "user.authorization"))
    }
    if mapped:
        return sorted(mapped)
    return ["user.name", "user.contact.email", "user.contact.address", "user.contact.phone_number"]


def flash_message(key: str | None) -> str | None:
    return FLASH.get(key or "")


async def read_form(request: Request) -> FormData:
    """The posted form, after the CSRF check (403 when it fails)."""
    form = await request.form(max_files=0, max_fields=200, max_part_size=64 * 1024)
    check_csrf(request, form, web(request).signing_key)
    return form


def field(form: FormData, name: str, limit: int = 5000) -> str:
    """One text field ('' when absent); files and oversized values count as absent/truncated."""
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


__all__ += ["field"]
