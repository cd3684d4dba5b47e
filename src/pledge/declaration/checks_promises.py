"""Checks on promises: sale, consent and withdrawal, rights, roles, commitments.

Each check is ``(Context) -> Iterator[Problem]`` and is listed in ``validate.CHECKS``.
"""

from __future__ import annotations

from collections.abc import Iterator

from pledge.declaration.check_context import Context
from pledge.declaration.taxonomy import is_within, overlaps
from pledge.errors import Problem


def check_sale(ctx: Context) -> Iterator[Problem]:
    decl = ctx.decl
    for i, recipient in enumerate(decl.recipients):
        if not recipient.sale:
            continue
        if decl.commitments.never_sell:
            yield ctx.problem(
                ("recipients", i, "sale"),
                f"recipient '{recipient.id}' is a sale, but the declaration promises never to sell",
                "set sale: false, or drop commitments.never_sell",
                code="sale_contradiction",
            )
        if decl.commitments.never_share:
            yield ctx.problem(
                ("recipients", i, "sale"),
                f"recipient '{recipient.id}' is a sale, but the declaration promises never to share",
                code="sale_contradiction",
            )
        for pid in recipient.purposes:
            purpose = decl.purpose(pid)
            if purpose is not None and purpose.never_sold:
                yield ctx.problem(
                    ("recipients", i, "sale"),
                    f"recipient '{recipient.id}' buys data for purpose '{pid}', "
                    "which says its data is never sold",
                    "set sale: false on the recipient, or never_sold: false on the purpose",
                    code="sale_contradiction",
                )
                continue
            if purpose is not None and not purpose.may_object and purpose.consent_mode() == "notice_only":
                yield ctx.problem(
                    ("recipients", i, "sale"),
                    f"data is sold to '{recipient.id}' for '{pid}', but the person can neither "
                    "object nor opt out",
                    "set objection: true or consent on that purpose",
                    code="sale_without_opt_out",
                )
    if decl.commitments.never_share:
        for i, recipient in enumerate(decl.recipients):
            if recipient.kind in ("third_party", "partner", "affiliate") and not recipient.aggregate_only:
                yield ctx.problem(
                    ("recipients", i, "kind"),
                    f"recipient '{recipient.id}' is a {recipient.kind}, but the declaration "
                    "promises never to share personal data",
                    "mark it aggregate_only: true if it only gets anonymous statistics",
                    code="share_contradiction",
                )


def check_withdrawal(ctx: Context) -> Iterator[Problem]:
    for i, purpose in enumerate(ctx.decl.purposes):
        modes = set()
        if purpose.lawful_basis == "consent":
            modes.add(purpose.consent_mode())
        if purpose.consent is not None:
            modes.update({purpose.consent.default, *purpose.consent.jurisdictions.values()})
        if purpose.lawful_basis == "consent" and "notice_only" in modes:
            yield ctx.problem(
                ("purposes", i, "consent"),
                f"purpose '{purpose.id}' rests on consent but is notice-only somewhere",
                "consent needs opt_in (or opt_out where the law allows)",
                code="consent_notice_only",
            )
        if modes & {"opt_in", "opt_out"} and not purpose.withdraw:
            yield ctx.problem(
                ("purposes", i),
                f"purpose '{purpose.id}' is consent-based but offers no way to withdraw",
                "add withdraw: [privacy_center, unsubscribe_link, ...]",
                code="no_withdrawal",
                key=True,
            )
        if (
            "email" in purpose.channels
            and modes & {"opt_in", "opt_out"}
            and "unsubscribe_link" not in purpose.withdraw
            and "privacy_center" not in purpose.withdraw
        ):
            yield ctx.problem(
                ("purposes", i, "withdraw"),
                f"purpose '{purpose.id}' sends e-mail but its messages carry no unsubscribe link",
                "add unsubscribe_link to withdraw",
                code="no_unsubscribe",
                severity="warning",
            )
        if purpose.lawful_basis == "legitimate_interest" and not purpose.legitimate_interest:
            yield ctx.problem(
                ("purposes", i, "lawful_basis"),
                f"purpose '{purpose.id}' relies on legitimate interest without saying which",
                "add legitimate_interest: <the interest pursued>",
                code="interest_unstated",
                severity="warning",
            )
        if purpose.lawful_basis == "legitimate_interest" and purpose.objection is False:
            yield ctx.problem(
                ("purposes", i, "objection"),
                f"purpose '{purpose.id}' relies on legitimate interest but refuses objections",
                "people may object to processing based on legitimate interest (GDPR Art. 21)",
                code="objection_refused",
            )


def check_rights(ctx: Context) -> Iterator[Problem]:
    for i, right in enumerate(ctx.decl.rights):
        if right.deadline is None:
            yield ctx.problem(
                ("rights", i),
                f"right '{right.right}' has no deadline",
                "add deadline: P1M (GDPR: one month) or P45D (CCPA)",
                code="right_without_deadline",
                key=True,
            )
        if right.extension is not None and right.deadline is None:
            continue
    if not ctx.decl.rights:
        yield ctx.problem(
            ("purposes",),
            "the declaration offers no rights to data subjects",
            "add a 'rights:' section (access, erasure, ...)",
            code="no_rights",
            severity="warning",
            key=True,
        )


def check_processor_role(ctx: Context) -> Iterator[Problem]:
    org = ctx.decl.organisation
    if "processor" in org.roles and not org.processor_scope:
        yield ctx.problem(
            ("organisation", "roles"),
            "the organisation is a processor but does not say for whose data",
            "add processor_scope: a sentence on the client data it processes",
            code="processor_scope_missing",
            severity="warning",
        )


def check_authorities(ctx: Context) -> Iterator[Problem]:
    for i, recipient in enumerate(ctx.decl.recipients):
        if recipient.kind == "authority" and recipient.legal_basis is None:
            yield ctx.problem(
                ("recipients", i, "kind"),
                f"authority '{recipient.id}' has no legal basis for disclosure",
                "add legal_basis: court_order | subpoena | legal_obligation",
                code="authority_without_basis",
                severity="warning",
            )
        if recipient.sale and recipient.kind in ("processor", "authority"):
            yield ctx.problem(
                ("recipients", i, "sale"),
                f"a {recipient.kind} does not buy data; '{recipient.id}' cannot be a sale",
                code="sale_to_processor",
            )


def check_never_sold_categories(ctx: Context) -> Iterator[Problem]:
    """A sale must not include a category the declaration says is never sold."""
    decl = ctx.decl
    kept_back = decl.commitments.never_sold_categories
    if not kept_back:
        return
    for i, recipient in enumerate(decl.recipients):
        if not recipient.sale:
            continue
        # Without its own list a recipient may get whatever its purposes use: check those instead.
        if recipient.categories:
            sold = [(("recipients", i, "categories", j), c) for j, c in enumerate(recipient.categories)]
        else:
            sold = [
                (("recipients", i, "purposes", k), c)
                for k, pid in enumerate(recipient.purposes)
                if (p := decl.purpose(pid))
                for c in p.categories
            ]
        for path, cat in sold:
            for never in kept_back:
                if overlaps(cat, never):
                    yield ctx.problem(
                        path,
                        f"'{cat}' is sold to '{recipient.id}', but the declaration promises "
                        f"never to sell '{never}'",
                        "narrow the recipient's categories, or drop it from never_sold_categories",
                        code="never_sold_category",
                    )


def check_sharing_limits(ctx: Context) -> Iterator[Problem]:
    """Categories promised to go only to some recipients (for some purposes) go nowhere else."""
    decl = ctx.decl
    recipients = {r.id for r in decl.recipients}
    for n, limit in enumerate(decl.commitments.sharing_limits):
        base = ("commitments", "sharing_limits", n)
        for j, rid in enumerate(limit.recipients):
            if rid not in recipients:
                yield ctx.problem(
                    (*base, "recipients", j),
                    f"unknown recipient '{rid}'",
                    "declare it under 'recipients:'",
                    code="unknown_recipient",
                )
        for j, pid in enumerate(limit.purposes):
            if pid not in ctx.purpose_ids:
                yield ctx.problem(
                    (*base, "purposes", j),
                    f"unknown purpose '{pid}'",
                    "declare it under 'purposes:'",
                    code="unknown_purpose",
                )
    for i, recipient in enumerate(decl.recipients):
        for limit in decl.commitments.sharing_limits:
            for j, cat in enumerate(recipient.categories):
                hit = next((c for c in limit.categories if overlaps(cat, c)), None)
                if hit is None:
                    continue
                if recipient.id not in limit.recipients:
                    allowed = ", ".join(limit.recipients) or "nobody"
                    yield ctx.problem(
                        ("recipients", i, "categories", j),
                        f"recipient '{recipient.id}' receives '{cat}', but sharing limit "
                        f"'{limit.id}' promises '{hit}' goes only to {allowed}",
                        "remove the category from this recipient, or widen the sharing limit",
                        code="sharing_limit_exceeded",
                    )
                    continue
                if not limit.purposes:
                    continue
                # The recipient is allowed, but only for the named purposes: any other purpose of
                # it that uses the limited category would let the data flow for that reason too.
                for k, pid in enumerate(recipient.purposes):
                    purpose = decl.purpose(pid)
                    if (
                        purpose is not None
                        and pid not in limit.purposes
                        and any(overlaps(c, hit) for c in purpose.categories)
                    ):
                        yield ctx.problem(
                            ("recipients", i, "purposes", k),
                            f"recipient '{recipient.id}' could receive '{hit}' for '{pid}', but "
                            f"sharing limit '{limit.id}' allows it only for "
                            f"{', '.join(limit.purposes)}",
                            "remove the category from that purpose, or add the purpose to the limit",
                            code="sharing_limit_exceeded",
                        )


def check_processor_purposes(ctx: Context) -> Iterator[Problem]:
    if "processor" in ctx.decl.organisation.roles:
        return
    for i, purpose in enumerate(ctx.decl.purposes):
        if purpose.role == "processor":
            yield ctx.problem(
                ("purposes", i, "role"),
                f"purpose '{purpose.id}' is done as a processor, but the organisation is not one",
                "add processor to organisation.roles (with processor_scope)",
                code="processor_role_missing",
            )


def check_choice_points(ctx: Context) -> Iterator[Problem]:
    """A choice offered at registration (or anywhere) needs a choice to offer."""
    for i, purpose in enumerate(ctx.decl.purposes):
        consent = purpose.consent
        if consent is None or not consent.offered_at:
            continue
        modes = {consent.default, *consent.jurisdictions.values()}
        if modes == {"notice_only"}:
            yield ctx.problem(
                ("purposes", i, "consent", "offered_at"),
                f"purpose '{purpose.id}' offers a choice at {', '.join(consent.offered_at)}, "
                "but it is notice-only everywhere",
                "set consent.default to opt_in or opt_out, or drop offered_at",
                code="choice_without_option",
            )


def check_pixels(ctx: Context) -> Iterator[Problem]:
    if not ctx.decl.commitments.first_party_pixels_only:
        return
    for i, cookie in enumerate(ctx.decl.cookies):
        if cookie.kind == "pixel" and cookie.provider != "first_party":
            yield ctx.problem(
                ("cookies", i, "provider"),
                f"pixel '{cookie.name}' is placed by '{cookie.provider}', but the declaration "
                "promises no other company places pixels on its pages",
                "make it first_party, or drop commitments.first_party_pixels_only",
                code="third_party_pixel",
            )


def check_staff_least_privilege(ctx: Context) -> Iterator[Problem]:
    decl = ctx.decl
    if not decl.commitments.staff_least_privilege:
        return
    if not decl.staff_roles:
        yield ctx.problem(
            ("commitments", "staff_least_privilege"),
            "staff access is promised to be limited, but no staff roles are declared",
            "add staff_roles: with the categories each job needs",
            code="no_staff_roles",
            severity="warning",
        )
    everything = {c for p in decl.purposes for c in p.categories}
    for i, role in enumerate(decl.staff_roles):
        if role.categories is None:
            yield ctx.problem(
                ("staff_roles", i),
                f"staff role '{role.id}' sees everything its purposes use",
                "list the narrow categories this job needs under categories:",
                code="role_without_limit",
                key=True,
            )
        elif everything and all(any(is_within(c, r) for r in role.categories) for c in everything):
            yield ctx.problem(
                ("staff_roles", i, "categories"),
                f"staff role '{role.id}' sees every category the organisation uses",
                "no role may have full access: narrow its categories",
                code="role_full_access",
            )
