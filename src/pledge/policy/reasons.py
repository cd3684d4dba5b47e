"""Every reason a decision can give, in one place.

A :class:`~pledge.policy.decision.Decision` carries one of these codes. They are a contract: the
HTTP API returns them, the audit log stores them, reports group by them, and callers branch on
them. Add codes, never rename or reuse one. ``Reason`` members are strings, so comparing a
decision's ``reason`` with ``"objection"`` works as well as with ``Reason.OBJECTION``.

Checks run in this order and the first that fails names the denial, so a decision always points
at the most fundamental problem (an unknown purpose before a missing consent):

1. the purpose exists                                  → ``unknown_purpose``
2. the jurisdiction, when given, is declared           → ``unknown_jurisdiction``
3. every category is one the purpose may use           → ``category_not_allowed``
4. the channel, when given, is one the purpose uses    → ``channel_not_declared``
5. the recipient, when given: declared, serves the purpose, takes personal data, may receive
   each category          → ``unknown_recipient``, ``recipient_not_for_purpose``,
                            ``aggregate_only``, ``not_a_recipient_of_this_category``
6. the subject is not under the minimum age            → ``under_minimum_age``
7. processing is not restricted (Art. 18)              → ``restricted``
8. the subject has not objected                        → ``objection``
9. a sale: no opt-out of sale, no GPC signal           → ``sale_opted_out``, ``gpc_opt_out``
10. targeted advertising: no GPC signal                → ``gpc_opt_out``
11. consent where the purpose needs it                 → ``consent_missing``,
    ``consent_withdrawn``, ``channel_opted_out``
12. an aggregate-only purpose is never about a named subject → ``aggregate_only`` (last, so
    the person's consent choice for it still shows; ask with ``subject_id=None`` for aggregates)

Legal obligations (and vital interests) pass checks 7 and 8: the law, or someone's life, comes
before a restriction request or a missing birthday.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ALLOWED_REASONS", "DENIED_REASONS", "Reason", "describe"]


class Reason(StrEnum):
    # --- allowed ----------------------------------------------------------------------------
    CONSENTED = "consented"
    """The subject gave consent (opt-in), or confirmed it where the default is opt-out."""
    OPT_OUT_DEFAULT = "opt_out_default"
    """The purpose is opt-out here and the subject has not opted out."""
    CONTRACT = "contract"
    LEGITIMATE_INTEREST = "legitimate_interest"
    LEGAL_OBLIGATION = "legal_obligation"
    VITAL_INTEREST = "vital_interest"
    PUBLIC_TASK = "public_task"

    # --- denied -----------------------------------------------------------------------------
    UNKNOWN_PURPOSE = "unknown_purpose"
    UNKNOWN_JURISDICTION = "unknown_jurisdiction"
    CATEGORY_NOT_ALLOWED = "category_not_allowed"
    CHANNEL_NOT_DECLARED = "channel_not_declared"
    UNKNOWN_RECIPIENT = "unknown_recipient"
    RECIPIENT_NOT_FOR_PURPOSE = "recipient_not_for_purpose"
    NOT_A_RECIPIENT_OF_THIS_CATEGORY = "not_a_recipient_of_this_category"
    AGGREGATE_ONLY = "aggregate_only"
    UNDER_MINIMUM_AGE = "under_minimum_age"
    RESTRICTED = "restricted"
    OBJECTION = "objection"
    SALE_OPTED_OUT = "sale_opted_out"
    GPC_OPT_OUT = "gpc_opt_out"
    CONSENT_MISSING = "consent_missing"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    CHANNEL_OPTED_OUT = "channel_opted_out"


ALLOWED_REASONS = frozenset(
    {
        Reason.CONSENTED,
        Reason.OPT_OUT_DEFAULT,
        Reason.CONTRACT,
        Reason.LEGITIMATE_INTEREST,
        Reason.LEGAL_OBLIGATION,
        Reason.VITAL_INTEREST,
        Reason.PUBLIC_TASK,
    }
)
DENIED_REASONS = frozenset(set(Reason) - ALLOWED_REASONS)

_DESCRIPTIONS: dict[Reason, str] = {
    Reason.CONSENTED: "the subject consented",
    Reason.OPT_OUT_DEFAULT: "allowed by default; the subject has not opted out",
    Reason.CONTRACT: "needed to perform a contract with the subject",
    Reason.LEGITIMATE_INTEREST: "a declared legitimate interest, not objected to",
    Reason.LEGAL_OBLIGATION: "required by law",
    Reason.VITAL_INTEREST: "needed to protect someone's life",
    Reason.PUBLIC_TASK: "a task in the public interest",
    Reason.UNKNOWN_PURPOSE: "the declaration has no such purpose",
    Reason.UNKNOWN_JURISDICTION: "the declaration has no such jurisdiction",
    Reason.CATEGORY_NOT_ALLOWED: "the purpose may not use this category",
    Reason.CHANNEL_NOT_DECLARED: "the purpose does not use this channel",
    Reason.UNKNOWN_RECIPIENT: "the declaration has no such recipient",
    Reason.RECIPIENT_NOT_FOR_PURPOSE: "the recipient does not serve this purpose",
    Reason.NOT_A_RECIPIENT_OF_THIS_CATEGORY: "the recipient may not receive this category",
    Reason.AGGREGATE_ONLY: "only anonymous aggregates may be used here, never one person's data",
    Reason.UNDER_MINIMUM_AGE: "the subject is under the declared minimum age",
    Reason.RESTRICTED: "the subject asked to restrict processing",
    Reason.OBJECTION: "the subject objected",
    Reason.SALE_OPTED_OUT: "the subject opted out of the sale of their data",
    Reason.GPC_OPT_OUT: "a Global Privacy Control signal opts the subject out",
    Reason.CONSENT_MISSING: "the purpose needs consent the subject has not given",
    Reason.CONSENT_WITHDRAWN: "the subject withdrew consent",
    Reason.CHANNEL_OPTED_OUT: "the subject opted out of this channel",
}


def describe(reason: str) -> str:
    """A one-line explanation of a reason code (for reports and the CLI)."""
    try:
        return _DESCRIPTIONS[Reason(reason)]
    except ValueError:
        return reason
