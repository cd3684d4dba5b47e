"""Which changes to a declaration are *material*: people must be told before they apply.

A change is material when it lets the business do more with personal data than before, or takes a
protection away: a new purpose or recipient, a new category for a purpose or recipient, longer
retention, a weaker consent default, a new sale, a right removed or slower, a lower minimum age, a
commitment dropped, a new storage region or country, a new advertising or analytics cookie, a lawful
basis changed to a weaker one. Everything else (wording, contacts, shorter retention, a new right)
is reported but not material.

Each rule is keyed by the change's path pattern (``purposes[].categories``) and returns
``(material, reason)``; a path without a rule is not material. When a comparison cannot be decided
(is "while your account is active" longer than two years?) the rule says material: telling people
about a change that turns out harmless costs less than not telling them about one that wasn't.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pledge.declaration.durations import IsoDuration, parse_duration
from pledge.declaration.model import Declaration
from pledge.declaration.taxonomy import is_within
from pledge.publish.diff import Change, Raw

__all__ = ["RULES", "classify", "compare_periods", "consent_changes"]

Verdict = tuple[bool, str]
Rule = Callable[[Raw, Declaration, Declaration], Verdict]

CONSENT_STRENGTH = {"opt_in": 3, "opt_out": 2, "notice_only": 1}
# How much say the person keeps under each lawful basis (higher is stronger for them).
BASIS_STRENGTH = {
    "consent": 4,
    "contract": 3,
    "legal_obligation": 2,
    "vital_interest": 2,
    "public_task": 2,
    "legitimate_interest": 1,
}
_LIFECYCLE_ORDER = {"session": 0, "until_sent": 1, "while_account_active": 2, "indefinite": 3}
_VERIFICATION_EFFORT = {
    "none": 0,
    "email_link_or_account": 1,
    "email_link": 2,
    "account": 2,
    "id_document": 3,
}
_IP_DETAIL = {"drop": 0, "truncate": 1, "hash": 2, "keep": 3}
_UA_DETAIL = {"drop": 0, "parse": 1, "keep": 2}
_ERASURE_LEFTOVER = {"delete_row": 0, "null": 0, "hash": 1, "mask": 1}
_TRACKING_COOKIES = ("advertising", "analytics")


def classify(raw: Raw, old: Declaration, new: Declaration) -> Verdict:
    rule = RULES.get(raw.pattern)
    if rule is not None:
        return rule(raw, old, new)
    if raw.pattern.startswith("commitments.") and raw.before is True and raw.after is not True:
        return True, f"dropped the commitment '{raw.segments[-1]}'"
    if raw.pattern.startswith("commitments.") and raw.after is True:
        return False, f"new commitment '{raw.segments[-1]}'"
    return False, _plain_reason(raw)


def _plain_reason(raw: Raw) -> str:
    top = raw.segments[0] if raw.segments else ""
    if top in ("organisation", "title", "summary", "language"):
        return "who we are, contacts or wording"
    if top in ("policy_version", "effective"):
        return "version details"
    return {"added": "something added", "removed": "something removed", "changed": "details changed"}[
        raw.kind
    ]


# --- periods --------------------------------------------------------------------------------------


def _as_period(value: Any) -> IsoDuration | str | None:
    if value is None or isinstance(value, IsoDuration):
        return value
    text = str(value)
    return text if text in _LIFECYCLE_ORDER else parse_duration(text)


def compare_periods(before: Any, after: Any) -> int | None:
    """-1 shorter, 0 same, 1 longer; ``None`` when it cannot be told (a duration against
    "while the account is active"). A missing period (no grace, no extension) counts as zero."""
    old, new = _as_period(before) or IsoDuration(), _as_period(after) or IsoDuration()
    if isinstance(old, IsoDuration) and isinstance(new, IsoDuration):
        a, b = old.approx_days, new.approx_days
        return (b > a) - (b < a)
    if isinstance(old, str) and isinstance(new, str):
        a, b = _LIFECYCLE_ORDER[old], _LIFECYCLE_ORDER[new]
        return (b > a) - (b < a)
    # A duration against a lifecycle word: a session is shorter than any duration and
    # "indefinite" longer; "until sent" and "while the account is active" cannot be compared.
    word = old if isinstance(old, str) else new
    if word in ("session", "indefinite"):
        word_is_longer = word == "indefinite"
        new_is_word = isinstance(new, str)
        return 1 if word_is_longer == new_is_word else -1
    return None


def _longer(what: str) -> Rule:
    def rule(raw: Raw, old: Declaration, new: Declaration) -> Verdict:
        order = compare_periods(raw.before, raw.after)
        if order is None:
            return True, f"{what} changed from {raw.before} to {raw.after}, which may be longer"
        if order > 0:
            return True, f"longer {what}: {raw.before or 'none'} → {raw.after}"
        return False, f"{what} {'shorter' if order < 0 else 'unchanged in length'}"

    return rule


# --- categories -----------------------------------------------------------------------------------


def _collected(decl: Declaration) -> list[str]:
    cats = [c for s in decl.data_sources for c in (*s.categories, *s.optional)]
    if decl.server_logs is not None:
        cats.extend(decl.server_logs.categories)
    return cats


def _is_new_collection(categories: list[str], old: Declaration) -> list[str]:
    before = _collected(old) or [c for p in old.purposes for c in p.categories]
    return [c for c in categories if not any(is_within(c, b) for b in before)]


def _purpose_category(raw: Raw, old: Declaration, new: Declaration) -> Verdict:
    if raw.kind != "added":
        return False, "purpose uses less data"
    purpose = old.purpose(raw.key())
    if purpose is not None and any(is_within(raw.after, c) for c in purpose.categories):
        return False, "narrower category within what the purpose already used"
    return True, f"purpose '{raw.key()}' uses a new category: {raw.after}"


def _recipient_category(raw: Raw, old: Declaration, new: Declaration) -> Verdict:
    if raw.kind != "added":
        return False, "recipient receives less data"
    recipient = old.recipient(raw.key())
    if recipient is not None and any(is_within(raw.after, c) for c in recipient.categories):
        return False, "narrower category within what the recipient already received"
    return True, f"recipient '{raw.key()}' receives a new category: {raw.after}"


def _source_category(raw: Raw, old: Declaration, new: Declaration) -> Verdict:
    if raw.kind == "added" and _is_new_collection([raw.after], old):
        return True, f"collects a new category: {raw.after}"
    return False, "collects the same kinds of data as before"


def _source_added(raw: Raw, old: Declaration, new: Declaration) -> Verdict:
    if raw.kind == "added":
        fresh = _is_new_collection(list(raw.after.get("categories") or []), old)
        if fresh:
            return True, f"new data source collecting new categories: {', '.join(fresh)}"
        return False, "new data source for data already collected"
    return False, "data source no longer used"


def _no_longer_optional(raw: Raw, old: Declaration, new: Declaration) -> Verdict:
    source = next((s for s in new.data_sources if s.id == raw.key()), None)
    if raw.kind == "removed" and source is not None and raw.before in source.categories:
        return True, f"{raw.before} is no longer optional in '{raw.key()}'"
    return False, "more data may be left out"


def _now_kept(raw: Raw, old: Declaration, new: Declaration) -> Verdict:
    source = next((s for s in new.data_sources if s.id == raw.key()), None)
    if raw.kind == "removed" and source is not None and raw.before in source.categories:
        return True, f"{raw.before} was only forwarded and is now kept"
    return False, "more data only forwarded, never kept"


# --- generic shapes -------------------------------------------------------------------------------


def _when_added(reason: str, otherwise: str = "removed") -> Rule:
    def rule(raw: Raw, old: Declaration, new: Declaration) -> Verdict:
        if raw.kind == "added":
            return True, reason.format(key=raw.key(), value=raw.after)
        return False, otherwise

    return rule


def _when_removed(reason: str, otherwise: str = "added") -> Rule:
    def rule(raw: Raw, old: Declaration, new: Declaration) -> Verdict:
        if raw.kind == "removed":
            return True, reason.format(key=raw.key(), value=raw.before)
        return False, otherwise

    return rule


def _turned(on: bool, reason: str) -> Rule:
    """Material when a flag becomes ``on`` (``True``) or stops being ``True`` (``on=False``)."""

    def rule(raw: Raw, old: Declaration, new: Declaration) -> Verdict:
        became = raw.after is True if on else (raw.before is True and raw.after is not True)
        return (True, reason.format(key=raw.key())) if became else (False, "stronger protection")

    return rule


def _ranked(ranks: dict[str, int], reason: str, *, higher_is_worse: bool = True) -> Rule:
    def rule(raw: Raw, old: Declaration, new: Declaration) -> Verdict:
        if raw.before is None or raw.after is None:
            return False, "details changed"
        delta = ranks.get(str(raw.after), 0) - ranks.get(str(raw.before), 0)
        worse = delta > 0 if higher_is_worse else delta < 0
        return (True, f"{reason}: {raw.before} → {raw.after}") if worse else (False, "no weaker")

    return rule


def _number(reason: str, *, lower_is_worse: bool) -> Rule:
    def rule(raw: Raw, old: Declaration, new: Declaration) -> Verdict:
        if raw.after is None:
            return True, f"{reason}: {raw.before} → none"
        if raw.before is None:
            return False, "a new limit"
        worse = raw.after < raw.before if lower_is_worse else raw.after > raw.before
        return (True, f"{reason}: {raw.before} → {raw.after}") if worse else (False, "no weaker")

    return rule


# --- specific rules -------------------------------------------------------------------------------


def _cookie_added(raw: Raw, old: Declaration, new: Declaration) -> Verdict:
    if raw.kind == "added" and raw.after.get("category") in _TRACKING_COOKIES:
        return True, f"new {raw.after['category']} cookie '{raw.after.get('name')}'"
    return False, "cookie list changed (no new tracking)"


def _cookie_category(raw: Raw, old: Declaration, new: Declaration) -> Verdict:
    if raw.after in _TRACKING_COOKIES and raw.before not in _TRACKING_COOKIES:
        return True, f"cookie now used for {raw.after}"
    if raw.after == "advertising" and raw.before == "analytics":
        return True, "analytics cookie now used for advertising"
    return False, "cookie category changed"


def _right_removed(raw: Raw, old: Declaration, new: Declaration) -> Verdict:
    if raw.kind == "added":
        return False, "new right"
    kind, jurisdictions = raw.before["right"], raw.before.get("jurisdictions") or []
    if jurisdictions:
        still = all(any(r.right == kind for r in new.rights_for(j)) for j in jurisdictions)
    else:
        still = any(r.right == kind and not r.jurisdictions for r in new.rights)
    if not still:
        return True, f"right removed: {kind}"
    # Offered under another entry: what matters is whether it got slower.
    old_deadline = _as_period(raw.before.get("deadline"))
    targets = jurisdictions or [None]
    for j in targets:
        for right in new.rights_for(j):
            if right.right == kind and compare_periods(old_deadline, right.deadline) == 1:
                return True, f"right '{kind}' answered more slowly: {old_deadline} → {right.deadline}"
    return False, "right still offered to the same people"


def _deadline(raw: Raw, old: Declaration, new: Declaration) -> Verdict:
    if raw.after is None:
        return True, f"no deadline any more for '{raw.key()}'"
    if raw.before is None:
        return False, "a new deadline"
    return _longer(f"deadline of '{raw.key()}'")(raw, old, new)


def _lawful_basis(raw: Raw, old: Declaration, new: Declaration) -> Verdict:
    weaker = BASIS_STRENGTH.get(raw.after, 0) < BASIS_STRENGTH.get(raw.before, 0)
    if weaker:
        return True, f"purpose '{raw.key()}' rests on a weaker lawful basis: {raw.before} → {raw.after}"
    return False, "lawful basis changed to one that gives the person no less say"


def _objection(raw: Raw, old: Declaration, new: Declaration) -> Verdict:
    before, after = old.purpose(raw.key()), new.purpose(raw.key())
    if before is not None and after is not None and before.may_object and not after.may_object:
        return True, f"people may no longer object to '{raw.key()}'"
    return False, "objection rules changed"


def _location(raw: Raw, old: Declaration, new: Declaration) -> Verdict:
    if raw.after is None:
        return False, "location no longer stated"
    return True, f"recipient '{raw.key()}' now located in {raw.after}"


def _recipient_kind(raw: Raw, old: Declaration, new: Declaration) -> Verdict:
    if raw.before == "processor":
        return True, f"'{raw.key()}' no longer acts only on our instructions ({raw.before} → {raw.after})"
    return False, "kind of recipient changed"


def _sharing_limit(raw: Raw, old: Declaration, new: Declaration) -> Verdict:
    if raw.kind == "removed":
        return True, f"sharing limit '{raw.key()}' dropped"
    return False, "new sharing limit"


def _store_region(raw: Raw, old: Declaration, new: Declaration) -> Verdict:
    return True, f"store '{raw.key()}' moved from region {raw.before} to {raw.after}"


def _audience(raw: Raw, old: Declaration, new: Declaration) -> Verdict:
    if raw.kind == "added" and raw.after.get("child_directed"):
        return True, "service now directed at children"
    return False, "audience described differently"


def _stats_mode(raw: Raw, old: Declaration, new: Declaration) -> Verdict:
    if raw.after == "both":
        return False, "statistics now both suppressed and noised"
    return True, f"statistics protected differently: {raw.before} → {raw.after}"


def _budget_period(raw: Raw, old: Declaration, new: Declaration) -> Verdict:
    order = compare_periods(raw.before, raw.after)
    if raw.before is not None and (order is None or order < 0):
        return True, f"privacy budget renews more often: {raw.before} → {raw.after or 'never'}"
    had_budget = old.statistics is not None and old.statistics.privacy_budget is not None
    if raw.before is None and raw.after is not None and had_budget:
        return True, f"privacy budget, once spent for good, now renews every {raw.after}"
    return False, "privacy budget renews less often"


def _advance(raw: Raw, old: Declaration, new: Declaration) -> Verdict:
    if raw.after is None:
        return True, "no advance notice of changes any more"
    if raw.before is None:
        return False, "advance notice introduced"
    order = compare_periods(raw.before, raw.after)
    if order is not None and order < 0:
        return True, f"shorter advance notice: {raw.before} → {raw.after}"
    return False, "advance notice no shorter"


RULES: dict[str, Rule] = {
    # why
    "purposes[]": _when_added("new purpose '{key}'", "purpose no longer pursued"),
    "purposes[].categories": _purpose_category,
    "purposes[].lawful_basis": _lawful_basis,
    "purposes[].channels": _when_added("purpose '{key}' contacts people by a new channel: {value}"),
    "purposes[].objection": _objection,
    "purposes[].essential": _turned(True, "purpose '{key}' can no longer be refused"),
    "purposes[].never_sold": _turned(False, "purpose '{key}' dropped the promise never to sell"),
    "purposes[].aggregate_only": _turned(False, "purpose '{key}' no longer uses data only in aggregate"),
    "purposes[].automated_decisions": _turned(True, "purpose '{key}' now makes automated decisions"),
    # what we collect
    "data_sources[]": _source_added,
    "data_sources[].categories": _source_category,
    "data_sources[].optional": _no_longer_optional,
    "data_sources[].forward_only": _now_kept,
    # who receives it
    "recipients[]": _when_added("new recipient '{key}'", "recipient removed"),
    "recipients[].categories": _recipient_category,
    "recipients[].purposes": _when_added("recipient '{key}' receives data for a new purpose: {value}"),
    "recipients[].sale": _turned(True, "new sale: data given to '{key}' now counts as a sale"),
    "recipients[].location": _location,
    "recipients[].kind": _recipient_kind,
    "recipients[].contract": _turned(False, "recipient '{key}' is no longer bound by a contract"),
    "recipients[].aggregate_only": _turned(False, "recipient '{key}' now receives personal data"),
    "recipients[].safeguards": _when_removed("transfer safeguards of '{key}' removed", "safeguards changed"),
    # how long
    "retention[]": _when_removed("retention limit '{key}' removed", "new retention limit"),
    "retention[].period": _longer("retention"),
    "retention[].grace": _longer("grace period"),
    "legal_holds[]": _when_added("data kept longer under a new legal hold '{key}'", "legal hold ended"),
    "legal_holds[].period": _longer("legal hold"),
    "legal_holds[].categories": _when_added("legal hold '{key}' keeps a new category: {value}"),
    "server_logs": _when_added("server logs are now kept", "server logs no longer kept"),
    "server_logs.categories": _source_category,
    "server_logs.raw_retention": _longer("raw log retention"),
    "server_logs.anonymised_retention": _longer("anonymised log retention"),
    "server_logs.ip": _ranked(_IP_DETAIL, "more of the IP address kept"),
    "server_logs.ipv4_prefix": _number("more of the IPv4 address kept", lower_is_worse=False),
    "server_logs.ipv6_prefix": _number("more of the IPv6 address kept", lower_is_worse=False),
    "server_logs.geolocation": _ranked({"none": 0, "country": 1}, "location now derived from logs"),
    "server_logs.isp": _turned(True, "internet provider now recorded"),
    "server_logs.user_agent": _ranked(_UA_DETAIL, "more of the browser identification kept"),
    "server_logs.referrer": _ranked({"drop": 0, "host": 1, "path": 2}, "more of the referring page kept"),
    "erasure[].strategy": _ranked(_ERASURE_LEFTOVER, "erasure leaves more behind"),
    # cookies
    "cookies[]": _cookie_added,
    "cookies[].category": _cookie_category,
    "cookies[].lifetime": _longer("cookie lifetime"),
    # rights
    "rights[]": _right_removed,
    "rights[].deadline": _deadline,
    "rights[].extension": _longer("deadline extension"),
    "rights[].acknowledge": _deadline,
    "rights[].acknowledge_business_days": _number("slower acknowledgement", lower_is_worse=False),
    "rights[].verification": _ranked(_VERIFICATION_EFFORT, "harder to prove who you are"),
    # minors
    "minimum_age": _when_removed("no minimum age any more", "minimum age introduced"),
    "minimum_age.age": _number("lower minimum age", lower_is_worse=True),
    "audience": _audience,
    "audience.min_age": _number("audience starts younger", lower_is_worse=True),
    "audience.child_directed": _turned(True, "service now directed at children"),
    # commitments
    "commitments.statements": _when_removed("dropped the commitment: {value}", "new commitment"),
    "commitments.never_sold_categories": _when_removed("may now sell {value}", "more data never sold"),
    "commitments.sharing_limits[]": _sharing_limit,
    "commitments.sharing_limits[].categories": _when_removed(
        "sharing limit '{key}' no longer covers {value}"
    ),
    "commitments.sharing_limits[].recipients": _when_added(
        "'{value}' may now receive data limited by '{key}'"
    ),
    # where
    "storage_regions[]": _when_added("new storage region '{key}'", "storage region no longer used"),
    "storage_regions[].countries": _when_added("new storage country {value} in region '{key}'"),
    "stores[].region": _store_region,
    "stores[].encrypted_at_rest": _turned(False, "store '{key}' no longer encrypted at rest"),
    "security[]": _when_removed("security measure '{key}' removed", "new security measure"),
    # statistics
    "statistics.min_group_size": _number("smaller minimum group size", lower_is_worse=True),
    "statistics.mode": _stats_mode,
    "statistics.privacy_budget.epsilon": _number("larger privacy budget (epsilon)", lower_is_worse=False),
    "statistics.privacy_budget.delta": _number("larger delta", lower_is_worse=False),
    "statistics.privacy_budget.per_release": _number("more budget per release", lower_is_worse=False),
    "statistics.privacy_budget.period": _budget_period,
    # notice of changes
    "changes.advance": _advance,
    "changes.reconsent": _turned(False, "no fresh consent asked after material changes"),
    "changes.continued_use_is_acceptance": _turned(True, "continued use now counts as acceptance"),
    "changes.channels": _when_removed("no longer told about changes by {value}"),
}


def consent_changes(old: Declaration, new: Declaration) -> list[Change]:
    """Effective consent modes per purpose and jurisdiction, compared where both have the purpose."""
    jurisdictions = list(dict.fromkeys([j.id for j in old.jurisdictions] + [j.id for j in new.jurisdictions]))
    for decl in (old, new):
        for p in decl.purposes:
            if p.consent is not None:
                jurisdictions.extend(k for k in p.consent.jurisdictions if k not in jurisdictions)
    out: list[Change] = []
    for after in new.purposes:
        before = old.purpose(after.id)
        if before is None:
            continue
        base = (before.consent_mode(None), after.consent_mode(None))
        if base[0] != base[1]:
            out.append(_mode_change(f"purposes[{after.id}].consent.default", after.id, None, *base))
        for key in jurisdictions:
            pair = (before.consent_mode(key), after.consent_mode(key))
            if pair[0] != pair[1] and pair != base:
                path = f"purposes[{after.id}].consent.jurisdictions[{key}]"
                out.append(_mode_change(path, after.id, key, *pair))
    return out


def _mode_change(path: str, purpose: str, jurisdiction: str | None, before: str, after: str) -> Change:
    where = f" in {jurisdiction}" if jurisdiction else ""
    if CONSENT_STRENGTH[after] < CONSENT_STRENGTH[before]:
        reason = f"weaker consent default for '{purpose}'{where}: {before} → {after}"
        return Change(path, "changed", before, after, True, reason)
    reason = f"stronger consent default for '{purpose}'{where}: {before} → {after}"
    return Change(path, "changed", before, after, False, reason)
