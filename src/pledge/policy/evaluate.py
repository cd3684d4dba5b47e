"""The decision itself: a pure function of the compiled policy, a subject's state and the question.

No storage, no clock of its own, no caching: :class:`pledge.policy.enforcer.Enforcer` adds those.
The order of the checks is documented (and fixed) in :mod:`pledge.policy.reasons`.
"""

from __future__ import annotations

import datetime as dt

from pledge.policy.compiled import CompiledPolicy, PurposeRule
from pledge.policy.decision import Decision
from pledge.policy.reasons import Reason
from pledge.policy.state import SubjectState

__all__ = ["evaluate", "normalise_categories"]

# Lawful bases that stand even when the subject is a minor or has restricted processing.
_OVERRIDING = frozenset({"legal_obligation", "vital_interest"})
# Bases for which "consent before any new purpose" means nothing: the law or a contract decides.
_NO_CONSENT_NEEDED = frozenset({"contract", "legal_obligation", "vital_interest"})


def normalise_categories(categories: object) -> tuple[str, ...]:
    """A category, or an iterable of them, as a sorted tuple without duplicates."""
    if isinstance(categories, str):
        return (categories,)
    if not hasattr(categories, "__iter__"):
        raise TypeError(f"categories must be a string or an iterable of strings, not {type(categories)!r}")
    items = list(categories)
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"a category must be a string, not {type(item)!r}")
    return tuple(sorted(set(items)))


def evaluate(
    policy: CompiledPolicy,
    state: SubjectState,
    purpose: str,
    categories: tuple[str, ...],
    recipient: str | None = None,
    *,
    channel: str | None = None,
    jurisdiction: str | None = None,
    gpc: bool | None = None,
    today: dt.date,
) -> Decision:
    rule = policy.purposes.get(purpose)

    def deny(reason: Reason, detail: str) -> Decision:
        basis = rule.lawful_basis if rule is not None else None
        return Decision(False, purpose, basis, reason, recipient, categories, detail)

    if rule is None:
        return deny(Reason.UNKNOWN_PURPOSE, f"no purpose '{purpose}' is declared")
    where = jurisdiction if jurisdiction is not None else state.jurisdiction
    if jurisdiction is not None and jurisdiction not in policy.jurisdictions:
        return deny(Reason.UNKNOWN_JURISDICTION, f"no jurisdiction '{jurisdiction}' is declared")
    if where is not None and where not in policy.jurisdictions:
        where = None  # a jurisdiction recorded under an older declaration: use the default

    for category in categories:
        if category not in rule.allowed:
            known = "" if category in policy.categories else " (not in the taxonomy)"
            return deny(Reason.CATEGORY_NOT_ALLOWED, f"purpose '{purpose}' may not use '{category}'{known}")
    if channel is not None and channel not in rule.channels:
        declared = ", ".join(sorted(rule.channels)) or "none"
        return deny(
            Reason.CHANNEL_NOT_DECLARED,
            f"purpose '{purpose}' does not use channel '{channel}' (declared: {declared})",
        )

    sale = False
    if recipient is not None:
        target = policy.recipients.get(recipient)
        if target is None:
            return deny(Reason.UNKNOWN_RECIPIENT, f"no recipient '{recipient}' is declared")
        if purpose not in target.purposes:
            return deny(
                Reason.RECIPIENT_NOT_FOR_PURPOSE, f"recipient '{recipient}' does not serve '{purpose}'"
            )
        if target.aggregate_only:
            return deny(Reason.AGGREGATE_ONLY, f"recipient '{recipient}' receives only anonymous aggregates")
        receivable = target.receivable.get(purpose, frozenset())
        for category in categories:
            if category not in receivable:
                return deny(
                    Reason.NOT_A_RECIPIENT_OF_THIS_CATEGORY,
                    f"recipient '{recipient}' may not receive '{category}' for '{purpose}'",
                )
        sale = target.sale

    overriding = rule.lawful_basis in _OVERRIDING
    if not overriding and policy.minimum_age is not None:
        age = state.age_on(today)
        if age is not None and age < policy.minimum_age:
            return deny(
                Reason.UNDER_MINIMUM_AGE,
                f"the subject is under the minimum age of {policy.minimum_age}",
            )
    if not overriding and state.restricted(purpose):
        return deny(Reason.RESTRICTED, "the subject restricted processing")
    if rule.may_object and state.objected(purpose):
        return deny(Reason.OBJECTION, f"the subject objected to '{purpose}'")

    if sale:
        denial = _sale_denial(state, gpc)
        if denial is not None:
            return deny(*denial)
    if rule.advertising and not _explicit_opt_in_after_gpc(state, purpose, gpc):
        return deny(Reason.GPC_OPT_OUT, "Global Privacy Control opts the subject out of targeted ads")

    decision = _consent(policy, rule, state, purpose, categories, recipient, channel, where)
    if decision.allowed and rule.aggregate_only and state.subject_id is not None:
        # Last, so a withdrawn or missing consent still says so: the person's choice about
        # collection is shown, and even with it their data is only ever used in aggregate.
        return deny(
            Reason.AGGREGATE_ONLY,
            f"purpose '{purpose}' is aggregate-only: its results are never linked to a person",
        )
    return decision


def _sale_denial(state: SubjectState, gpc: bool | None) -> tuple[Reason, str] | None:
    mark = state.sale
    if mark is not None and mark.kind == "opt_out":
        return Reason.SALE_OPTED_OUT, "the subject opted out of the sale of their data"
    if mark is not None and mark.kind == "gpc":
        return Reason.GPC_OPT_OUT, "a recorded Global Privacy Control signal opts out of sale"
    if gpc and (mark is None or mark.kind != "opt_in"):
        # An explicit opt-in may outrank a browser's standing signal (CCPA regs § 7025(c)(3)).
        return Reason.GPC_OPT_OUT, "the request carries a Global Privacy Control signal"
    return None


def _explicit_opt_in_after_gpc(state: SubjectState, purpose: str, gpc: bool | None) -> bool:
    """False when a GPC signal (in the request, or the latest recorded sale choice) stands
    against targeted advertising and no explicit grant of ``purpose`` came after it."""
    mark = state.sale
    recorded = mark is not None and mark.kind == "gpc"
    if not (gpc or recorded):
        return True
    since = mark.seq if recorded and mark is not None else 0
    return state.granted_after(purpose, since)


def _consent(
    policy: CompiledPolicy,
    rule: PurposeRule,
    state: SubjectState,
    purpose: str,
    categories: tuple[str, ...],
    recipient: str | None,
    channel: str | None,
    jurisdiction: str | None,
) -> Decision:
    mode = rule.mode(jurisdiction)
    basis = rule.lawful_basis
    if basis == "consent" and mode == "notice_only":
        mode = "opt_in"  # validation forbids it; consent is never implied
    if (
        policy.consent_for_new_purposes
        and len(policy.versions) > 1  # without earlier versions nothing can be told apart as new
        and basis not in _NO_CONSENT_NEEDED
        and not rule.essential
        and state.subject_id is not None
        and rule.introduced > policy.version_index(state.baseline_version)
    ):
        mode = "opt_in"  # a purpose added after this subject arrived: ask first

    def answer(allowed: bool, reason: Reason, detail: str) -> Decision:
        return Decision(allowed, purpose, basis, reason, recipient, categories, detail)

    if mode == "notice_only":
        return answer(True, Reason(basis), f"'{purpose}' rests on {basis.replace('_', ' ')}")

    # Over a channel-less question on a purpose that uses channels, any open channel will do:
    # someone who opted out of e-mail may still get post.
    channels: tuple[str | None, ...] = (channel,)
    if channel is None and rule.channels:
        channels = tuple(sorted(rule.channels))
    first_denial: Decision | None = None
    for option in channels:
        mark, channel_specific = state.consent_mark(purpose, option)
        if mark is not None and mark.on:
            return answer(True, Reason.CONSENTED, f"the subject consented to '{purpose}'")
        if mark is not None:
            if channel_specific:
                result = answer(
                    False, Reason.CHANNEL_OPTED_OUT, f"the subject opted out of '{purpose}' by {option}"
                )
            else:
                result = answer(False, Reason.CONSENT_WITHDRAWN, f"the subject withdrew from '{purpose}'")
        elif mode == "opt_out":
            return answer(
                True, Reason.OPT_OUT_DEFAULT, f"'{purpose}' is opt-out and the subject has not opted out"
            )
        else:
            result = answer(False, Reason.CONSENT_MISSING, f"'{purpose}' needs the subject's consent first")
        first_denial = first_denial or result
    assert first_denial is not None
    return first_denial
