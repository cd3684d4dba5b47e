"""Compile a declaration once into the immutable structure every decision reads (OPA's shape:
load → compile → decide many times).

Everything a decision needs is worked out here, ahead of time: the category set each purpose may
use *with the taxonomy expanded* (a purpose allowed ``user.contact`` may use
``user.contact.email``), what each recipient may receive for each purpose after every promise that
narrows it (its own minimum list, sharing limits, categories never sold, "never sell", "never
share"), the consent mode per jurisdiction, channels, who may object, staff roles' views. A
decision is then a handful of set and dict lookups.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from pledge.declaration.load import LoadedDeclaration
from pledge.declaration.model import Declaration, Purpose, Recipient
from pledge.declaration.taxonomy import Taxonomy, is_within, overlaps

__all__ = ["CompiledPolicy", "PurposeRule", "RecipientRule", "compile_policy"]


@dataclass(frozen=True, slots=True)
class PurposeRule:
    id: str
    lawful_basis: str
    allowed: frozenset[str]
    """Every category this purpose may use, descendants included."""
    channels: frozenset[str]
    may_object: bool
    default_mode: str
    modes: Mapping[str, str]
    """jurisdiction id → consent mode, where it differs from the default."""
    advertising: bool
    """Targeted advertising (a GPC signal opts the subject out)."""
    aggregate_only: bool
    essential: bool
    introduced: int
    """Index in the policy's version history of the first version that had this purpose."""

    def mode(self, jurisdiction: str | None) -> str:
        if jurisdiction is None:
            return self.default_mode
        return self.modes.get(jurisdiction, self.default_mode)

    @property
    def consent_choice(self) -> bool:
        """Does the subject have a consent choice anywhere (opt-in or opt-out)?"""
        return self.default_mode != "notice_only" or any(m != "notice_only" for m in self.modes.values())


@dataclass(frozen=True, slots=True)
class RecipientRule:
    id: str
    kind: str
    sale: bool
    aggregate_only: bool
    legal_basis: str | None
    purposes: frozenset[str]
    receivable: Mapping[str, frozenset[str]]
    """purpose id → every category this recipient may receive for it (descendants included)."""


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    version: str
    digest: str
    purposes: Mapping[str, PurposeRule]
    recipients: Mapping[str, RecipientRule]
    jurisdictions: frozenset[str]
    categories: frozenset[str]
    """Every category the taxonomy knows."""
    roles: Mapping[str, frozenset[str]]
    """staff role id → the categories it may see unmasked."""
    minimum_age: int | None
    minor_action: str | None
    consent_for_new_purposes: bool
    versions: tuple[str, ...]
    """The policy versions this policy knows, oldest first (the current one last)."""
    declaration: Declaration

    def version_index(self, version: str | None) -> int:
        """Position of ``version`` in the history; -1 when unknown (treated as older than all)."""
        if version is None:
            return len(self.versions) - 1
        try:
            return self.versions.index(version)
        except ValueError:
            return -1

    def receivable(self, recipient: str, purpose: str) -> frozenset[str]:
        rule = self.recipients.get(recipient)
        if rule is None:
            return frozenset()
        return rule.receivable.get(purpose, frozenset())


def compile_policy(
    loaded: LoadedDeclaration, *, history: Sequence[LoadedDeclaration | Declaration] = ()
) -> CompiledPolicy:
    """Compile ``loaded``. ``history`` holds earlier versions, oldest first (e.g. the published
    ones, :func:`pledge.consent.service.published_history`); with
    ``commitments.consent_for_new_purposes`` a purpose added after a subject arrived needs that
    subject's consent (see :mod:`pledge.policy.evaluate`)."""
    decl = loaded.declaration
    taxonomy = loaded.taxonomy
    known = frozenset(c.id for c in taxonomy)
    earlier = [h.declaration if isinstance(h, LoadedDeclaration) else h for h in history]
    versions = tuple(dict.fromkeys([*(d.policy_version for d in earlier), loaded.version]))
    introduced: dict[str, int] = {}
    for older in (*earlier, decl):
        for purpose in older.purposes:
            introduced.setdefault(purpose.id, versions.index(older.policy_version))

    purposes = {p.id: _purpose_rule(p, taxonomy, introduced[p.id]) for p in decl.purposes}
    recipients = {r.id: _recipient_rule(r, decl, purposes, taxonomy) for r in decl.recipients}
    roles: dict[str, frozenset[str]] = {}
    for role in decl.staff_roles:
        by_purpose = frozenset().union(*(purposes[p].allowed for p in role.purposes if p in purposes))
        if role.categories is not None:
            roles[role.id] = _expand(role.categories, taxonomy) & by_purpose
        else:
            roles[role.id] = by_purpose
    return CompiledPolicy(
        version=loaded.version,
        digest=loaded.digest,
        purposes=MappingProxyType(purposes),
        recipients=MappingProxyType(recipients),
        jurisdictions=frozenset(j.id for j in decl.jurisdictions),
        categories=known,
        roles=MappingProxyType(roles),
        minimum_age=decl.minimum_age.age if decl.minimum_age else None,
        minor_action=decl.minimum_age.on_detection if decl.minimum_age else None,
        consent_for_new_purposes=decl.commitments.consent_for_new_purposes,
        versions=versions,
        declaration=decl,
    )


def _expand(categories: Iterable[str], taxonomy: Taxonomy) -> frozenset[str]:
    """The categories and every known category below them."""
    roots = tuple(categories)
    below = {c.id for c in taxonomy if any(is_within(c.id, root) for root in roots)}
    return frozenset(below | set(roots))


def _purpose_rule(purpose: Purpose, taxonomy: Taxonomy, introduced: int) -> PurposeRule:
    default = purpose.consent_mode(None)
    modes = dict(purpose.consent.jurisdictions) if purpose.consent else {}
    return PurposeRule(
        id=purpose.id,
        lawful_basis=purpose.lawful_basis,
        allowed=_expand(purpose.categories, taxonomy),
        channels=frozenset(purpose.channels),
        may_object=purpose.may_object,
        default_mode=default,
        modes=MappingProxyType(modes),
        advertising=purpose.cookie_category == "advertising",
        aggregate_only=purpose.aggregate_only,
        essential=purpose.essential,
        introduced=introduced,
    )


def _recipient_rule(
    recipient: Recipient, decl: Declaration, purposes: Mapping[str, PurposeRule], taxonomy: Taxonomy
) -> RecipientRule:
    receivable: dict[str, frozenset[str]] = {}
    commitments = decl.commitments
    for pid in recipient.purposes:
        rule = purposes.get(pid)
        purpose = decl.purpose(pid)
        if rule is None or purpose is None:
            continue
        if recipient.aggregate_only:
            receivable[pid] = frozenset()
            continue
        # Without its own list a recipient may get what its purpose uses (validate.py agrees).
        base = _expand(recipient.categories, taxonomy) if recipient.categories else rule.allowed
        cats = set(base & rule.allowed)
        if recipient.sale and (commitments.never_sell or purpose.never_sold):
            cats.clear()
        if commitments.never_share and recipient.kind in ("third_party", "partner", "affiliate"):
            cats.clear()
        if recipient.sale:
            # Sharing a parent category would hand over a never-sold child: drop both ways.
            cats = {c for c in cats if not any(overlaps(c, n) for n in commitments.never_sold_categories)}
        for limit in commitments.sharing_limits:
            barred = recipient.id not in limit.recipients or (
                bool(limit.purposes) and pid not in limit.purposes
            )
            if barred:
                cats = {c for c in cats if not any(overlaps(c, lim) for lim in limit.categories)}
        receivable[pid] = frozenset(cats)
    return RecipientRule(
        id=recipient.id,
        kind=recipient.kind,
        sale=recipient.sale,
        aggregate_only=recipient.aggregate_only,
        legal_basis=recipient.legal_basis,
        purposes=frozenset(recipient.purposes),
        receivable=MappingProxyType(receivable),
    )
