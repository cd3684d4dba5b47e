"""The consent operations the API and the privacy center share: read a person's consent, apply
their changes, and record a banner choice. Thin: each is a few calls into the consent ledger.

A banner choice is about cookie *categories*; the ledger keeps consent per *purpose*. A category
stands for the purposes the declaration files under it (``cookie_category``, or the ``purpose``
of a cookie in it); the choice is recorded for each of those that offers a choice, and only when
it differs from what the ledger last recorded for that purpose (a first refusal is recorded too,
as proof of the choice), so a visitor clicking "Reject all" every day adds nothing.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pledge.consent.events import EventKind
from pledge.consent.overview import overview
from pledge.consent.snapshot import LedgerState
from pledge.errors import Conflict, InputError
from pledge.middleware.consent_cookie import OPTIONAL_CATEGORIES

if TYPE_CHECKING:
    from pledge.system import Pledge

__all__ = [
    "ACTIONS",
    "Change",
    "RenderedViews",
    "apply_changes",
    "category_purposes",
    "consent_view",
    "record_banner_choice",
]

ACTIONS: Mapping[str, EventKind] = {
    "grant": EventKind.GRANT,
    "withdraw": EventKind.WITHDRAW,
    "object": EventKind.OBJECT,
    "withdraw_objection": EventKind.WITHDRAW_OBJECTION,
    "restrict": EventKind.RESTRICT,
    "lift_restriction": EventKind.LIFT_RESTRICTION,
    "opt_out_of_sale": EventKind.OPT_OUT_OF_SALE,
    "opt_in_to_sale": EventKind.OPT_IN_TO_SALE,
}


@dataclass(frozen=True, slots=True)
class Change:
    action: str
    purpose: str = "*"
    channel: str = "*"


def category_purposes(system: Pledge) -> dict[str, list[str]]:
    """Optional cookie category → the purposes behind it that offer a consent choice."""
    decl = system.loaded.declaration
    found: dict[str, list[str]] = {c: [] for c in OPTIONAL_CATEGORIES}
    for purpose in decl.purposes:
        if purpose.cookie_category in found:
            found[purpose.cookie_category].append(purpose.id)
    for cookie in decl.cookies:
        if cookie.category in found and cookie.purpose and cookie.purpose not in found[cookie.category]:
            found[cookie.category].append(cookie.purpose)
    return {
        category: [p for p in ids if p in system.policy.purposes and system.policy.purposes[p].consent_choice]
        for category, ids in found.items()
    }


def _categories(system: Pledge, rows: Iterable[Mapping[str, Any]]) -> dict[str, bool]:
    allowed = {row["purpose"]: bool(row["allowed"]) for row in rows}
    return {
        category: all(allowed.get(p, False) for p in purposes)
        for category, purposes in category_purposes(system).items()
        if purposes
    }


def consent_view(
    system: Pledge,
    subject_id: str | None,
    *,
    jurisdiction: str | None = None,
    events: bool = True,
    state: LedgerState | None = None,
) -> dict[str, Any]:
    """A person's consent at a glance (``subject_id`` None: someone unknown, the defaults).
    ``state``: the subject's :meth:`~pledge.consent.ConsentLedger.current` state, if already read."""
    if jurisdiction is not None and jurisdiction not in system.policy.jurisdictions:
        raise InputError(f"unknown jurisdiction {jurisdiction[:60]!r}")
    # One read for state and history, from the enforcer's cache once it has caught up.
    if state is None and subject_id:
        state = system.ledger.current(subject_id)
    where = jurisdiction or (state.jurisdiction if state else None)
    rows = overview(system.policy, state, jurisdiction=where, today=system.now().date())
    names = {p.id: p.name for p in system.loaded.declaration.purposes}
    history = system.ledger.history(subject_id, state=state) if subject_id and events else []
    return {
        "subject_id": subject_id,
        "known": state is not None and state.last_event > 0,
        "policy_version": system.version,
        "material_version": system.material_version(),
        "jurisdiction": where,
        "sale_opted_out": bool(state and state.sale and state.sale.kind in ("opt_out", "gpc")),
        "purposes": [{**row, "name": names.get(row["purpose"], row["purpose"])} for row in rows],
        "categories": _categories(system, rows),
        "events": [
            {
                "id": e.id,
                "kind": e.kind,
                "purpose": e.purpose,
                "channel": e.channel,
                "source": e.source,
                "policy_version": e.policy_version,
                "occurred_at": e.occurred_at,
            }
            for e in history
        ],
    }


def apply_changes(
    system: Pledge,
    subject_id: str,
    changes: Iterable[Change],
    *,
    source: str,
    proof: str | None = None,
    jurisdiction: str | None = None,
) -> int:
    """Record ``changes`` for the subject in one transaction (all or nothing); returns how many."""
    wanted = list(changes)
    if not wanted:
        raise InputError("no changes given")
    for change in wanted:
        if change.action not in ACTIONS:
            raise InputError(f"unknown action {change.action[:40]!r}", hint=", ".join(ACTIONS))
    with system.db.begin() as conn:
        for change in wanted:
            kind = ACTIONS[change.action]
            options: dict[str, Any] = {
                "source": source,
                "proof": proof,
                "jurisdiction": jurisdiction,
                "conn": conn,
            }
            if kind in (EventKind.GRANT, EventKind.WITHDRAW):
                options.update(purpose=change.purpose, channel=change.channel)
            elif kind not in (EventKind.OPT_OUT_OF_SALE, EventKind.OPT_IN_TO_SALE):
                options.update(purpose=change.purpose)
                if change.channel != "*":
                    raise InputError(f"'{change.action}' applies to a purpose as a whole: leave channel out")
            elif change.purpose != "*" or change.channel != "*":
                raise InputError(f"'{change.action}' applies to the whole person: leave purpose out")
            system.ledger.record(subject_id, kind, **options)
    return len(wanted)


def record_banner_choice(
    system: Pledge, cookie_id: str, choices: Mapping[str, bool], policy_version: str, *, gpc: bool
) -> tuple[int, dict[str, bool]]:
    """Record what a visitor chose in the banner; returns (events recorded, categories granted).

    The choice must be about the policy in force: a page loaded before a new version was
    published asks again rather than have an old text's consent count for the new one.
    """
    unknown = sorted(set(choices) - set(OPTIONAL_CATEGORIES))
    if unknown:
        raise InputError(
            f"unknown cookie categories: {', '.join(c[:40] for c in unknown)}",
            hint=f"one of: {', '.join(OPTIONAL_CATEGORIES)}",
        )
    if policy_version != system.version:
        raise Conflict(
            f"the choice was made on policy version {policy_version[:40]!r}; {system.version!r} is in force",
            hint="reload the page to see the current policy",
        )
    effective = {c: bool(v) and not (gpc and c == "advertising") for c, v in choices.items()}
    by_category = category_purposes(system)
    proof = "banner: " + ", ".join(f"{c}={'yes' if v else 'no'}" for c, v in sorted(effective.items()))
    per_purpose = {
        purpose: granted
        for category, granted in effective.items()
        for purpose in by_category.get(category, [])
    }
    # Only what differs from the ledger is recorded, decided under the subject's lock.
    subject = system.directory.ensure("cookie_id", cookie_id)
    gpc_proof = "Sec-GPC / navigator.globalPrivacyControl" if gpc else None
    written = system.ledger.set_consent(
        subject, per_purpose, source="banner", proof=proof, gpc_signal=gpc_proof
    )
    recorded = len(written)
    granted_categories = {
        category: effective.get(category, False) for category, purposes in by_category.items() if purposes
    }
    return recorded, granted_categories


class RenderedViews:
    """Rendered answers to ``GET /api/v1/consent``, per (subject, jurisdiction), each kept with
    the stamp it was rendered under: the state object it came from (the very object the
    enforcer's cache holds, compared by identity, so any write to the subject's ledger, here or
    in another process, which replaces that object, makes it stale), the day and the policy
    versions in force. A stale answer is never served; bounded."""

    LIMIT = 4096

    def __init__(self) -> None:
        self.rendered: dict[tuple[str | None, str | None], tuple[object, bytes]] = {}
        self.lock = threading.Lock()

    def get(self, key: tuple[str | None, str | None], stamp: object) -> bytes | None:
        found = self.rendered.get(key)
        return found[1] if found is not None and found[0] == stamp else None

    def put(self, key: tuple[str | None, str | None], stamp: object, body: bytes) -> None:
        rendered = self.rendered
        if len(rendered) >= self.LIMIT:
            with self.lock:  # forget the oldest quarter (dicts keep insertion order)
                for stale in list(itertools.islice(rendered, self.LIMIT // 4)):
                    rendered.pop(stale, None)
        rendered[key] = (stamp, body)


class Identity:
    """Compares equal only to a wrapper of the very same object (states compare by value, and
    an equal-looking state read before a write of an equal mark must not count as the same)."""

    __slots__ = ("obj",)

    def __init__(self, obj: object) -> None:
        self.obj = obj

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Identity) and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)
