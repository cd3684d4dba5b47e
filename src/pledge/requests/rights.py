"""Where requests meet the core: the consent ledger, disclosure records and decisions.

- :class:`LedgerRights` records ``restrict``, ``object`` and ``withdraw`` in the consent ledger,
  so every later decision denies. Each event carries ``request:<id>`` as its proof, which makes
  the step idempotent: run again after a crash, it finds its event and does not add another.
- :func:`ledger_disclosures` and :func:`ledger_decisions` feed the access archive: who received
  the person's data, and how each purpose stands for them now.
- :func:`request_consent_source` names where the choice came from, per request: staff running a
  request (the CLI, a request that came by e-mail) record it as ``operator``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pledge.errors import InputError
from pledge.requests.steps import Identity

if TYPE_CHECKING:
    from pledge.consent.ledger import ConsentLedger
    from pledge.sharing.disclosures import Sharing
    from pledge.storage.db import Database

__all__ = ["LedgerRights", "ledger_decisions", "ledger_disclosures", "request_consent_source", "subject_of"]

# Datamap identity names (Fides spelling) → the consent directory's identity kinds.
_DIRECTORY_KIND = {"phone_number": "phone"}
_EVENT = {"restrict": "restrict", "object": "object", "withdraw": "withdraw"}


def subject_of(ledger: ConsentLedger, identities: Sequence[Identity], *, create: bool) -> str | None:
    """The consent subject known by the first identity the directory can take (e-mail first)."""
    ordered = sorted(identities, key=lambda i: i.kind != "email")
    for identity in ordered:
        if ":" in identity.kind:
            continue  # a dataset:collection.field starting point names rows, not a person
        kind = _DIRECTORY_KIND.get(identity.kind, identity.kind)
        try:
            if create:
                return ledger.directory.resolve(kind, identity.value)
            found = ledger.directory.find(kind, identity.value)
        except InputError:
            continue  # not a kind (or value) the directory accepts: try the next identity
        if found is not None:
            return found
    return None


def _purposes(params: Mapping[str, Any]) -> list[str]:
    raw = params.get("purposes", params.get("purpose"))
    if raw is None:
        return ["*"]
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items or not all(isinstance(p, str) and p for p in items):
        raise InputError("'purposes' must be purpose ids")
    return items


# A request's source (``Workflow.create_request``) → the consent ledger's source of the event.
_CONSENT_SOURCE = {"privacy_center": "privacy_center", "api": "api", "cli": "operator", "email": "operator"}


def request_consent_source(db: Database, default: str = "privacy_center") -> Callable[[str], str]:
    """``request_id`` → the consent source its events are recorded with (read from the request)."""
    import sqlalchemy as sa

    from pledge.requests.tables import requests

    def source(request_id: str) -> str:
        with db.connect() as conn:
            found = conn.execute(
                sa.select(requests.c.source).where(requests.c.id == request_id)
            ).scalar_one_or_none()
        return _CONSENT_SOURCE.get(found or "", default)

    return source


class LedgerRights:
    """A :class:`~pledge.requests.execute.RightsRecorder` over the consent ledger. ``source`` is
    the consent source of the events, or a function of the request id giving it
    (:func:`request_consent_source`)."""

    def __init__(
        self, ledger: ConsentLedger, *, source: str | Callable[[str], str] = "privacy_center"
    ) -> None:
        self.ledger = ledger
        self.source = source

    def record_right(
        self, kind: str, identities: Sequence[Identity], params: Mapping[str, Any], *, request_id: str
    ) -> Mapping[str, Any]:
        if kind not in _EVENT:
            raise InputError(f"'{kind}' is not recorded in the consent ledger")
        subject = subject_of(self.ledger, identities, create=True)
        if subject is None:
            raise InputError("none of the identities can name a person in the consent ledger")
        channel = params.get("channel", "*")
        if not isinstance(channel, str):
            raise InputError("'channel' must be a channel name")
        proof = f"request:{request_id}"
        source = self.source(request_id) if callable(self.source) else self.source
        done = {(e.kind, e.purpose) for e in self.ledger.events(subject) if e.proof == proof}
        recorded: list[int] = []
        for purpose in _purposes(params):
            if (_EVENT[kind], purpose) in done:
                continue  # this step already ran (a crash came before its completion was saved)
            options: dict[str, Any] = {"purpose": purpose, "source": source, "proof": proof}
            if kind == "withdraw":
                options["channel"] = channel
            event = self.ledger.record(subject, _EVENT[kind], **options)
            recorded.append(event.id)
        return {"subject": subject, "recorded": recorded, "purposes": _purposes(params), "right": kind}


def ledger_disclosures(
    sharing: Sharing, ledger: ConsentLedger
) -> Callable[[Sequence[Identity]], Sequence[Mapping[str, Any]]]:
    """Who received the person's data, for the access archive."""

    def disclosures(identities: Sequence[Identity]) -> Sequence[Mapping[str, Any]]:
        subject = subject_of(ledger, identities, create=False)
        if subject is None:
            return []
        return [d.as_dict() for d in sharing.disclosures_for_subject(subject)]

    return disclosures


def ledger_decisions(
    ledger: ConsentLedger, *, jurisdiction: str | None = None
) -> Callable[[Sequence[Identity]], Mapping[str, Any]]:
    """How every purpose stands for the person now (consent, objections, restrictions)."""

    def decisions(identities: Sequence[Identity]) -> Mapping[str, Any]:
        from pledge.consent.overview import overview

        subject = subject_of(ledger, identities, create=False)
        state = ledger.load_state(subject) if subject is not None else None
        return {
            "known_to_consent_ledger": subject is not None,
            "purposes": overview(ledger.policy, state, jurisdiction=jurisdiction),
        }

    return decisions
