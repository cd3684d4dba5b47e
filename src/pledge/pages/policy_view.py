"""What the published policy says, worked out from the declaration before any template runs.

Templates only print: every lookup (an id to its name, a category to its label), grouping (recipients
by kind, rights by jurisdiction) and choice of which sections have something to say happens here, in
plain Python, once for both the HTML and the Markdown editions. Strings here are *unescaped* text;
escaping is the template environment's job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pledge.declaration.load import LoadedDeclaration
from pledge.declaration.model import Contact, Cookie, Declaration, Organisation, Purpose, Recipient, Right
from pledge.pages.countries import country_name
from pledge.pages.words import date_words, join_words, period_words, word

__all__ = ["CookieRow", "Item", "PolicyView", "Section", "safe_href"]


@dataclass(frozen=True, slots=True)
class Section:
    id: str
    title: str

    @property
    def slug(self) -> str:
        """The anchor GitHub and most Markdown renderers derive from the heading text."""
        return re.sub(r"[^\w\- ]", "", self.title.lower()).replace(" ", "-")


@dataclass(frozen=True, slots=True)
class Item:
    """A labelled fact, printed as "label: text"."""

    label: str
    text: str = ""


@dataclass(frozen=True, slots=True)
class CookieRow:
    name: str
    kind: str
    provider: str
    category: str
    lifetime: str
    purpose: str


@dataclass(frozen=True, slots=True)
class Group:
    title: str
    recipients: tuple[Recipient, ...]


@dataclass
class PolicyView:
    """The declaration plus everything the templates need to say it in words."""

    loaded: LoadedDeclaration
    d: Declaration = field(init=False)

    def __post_init__(self) -> None:
        self.d = self.loaded.declaration

    # --- lookups ---------------------------------------------------------------------------------

    @property
    def org(self) -> Organisation:
        return self.d.organisation

    @property
    def title(self) -> str:
        return self.d.title or f"{self.d.organisation.name} privacy policy"

    @property
    def language(self) -> str:
        # A BCP 47 tag goes into <html lang>; anything else falls back to English.
        tag = self.d.language.strip()
        return tag if re.fullmatch(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*", tag) else "en"

    @property
    def effective(self) -> str:
        return date_words(self.d.effective)

    def label(self, category: str) -> str:
        text = self.loaded.taxonomy.label(category)
        return f"{text} (sensitive)" if self.loaded.taxonomy.is_sensitive(category) else text

    def labels(self, categories: Iterable[str]) -> list[str]:
        return _unique(self.label(c) for c in categories)

    def word(self, kind: str, value: str) -> str:
        return word(kind, value)

    def words(self, kind: str, values: Iterable[str]) -> list[str]:
        return _unique(word(kind, v) for v in values)

    def period(self, value: Any) -> str:
        return period_words(value)

    def purpose_name(self, purpose_id: str) -> str:
        found = self.d.purpose(purpose_id)
        return found.name if found else purpose_id

    def recipient_name(self, recipient_id: str) -> str:
        found = self.d.recipient(recipient_id)
        return found.name if found else recipient_id

    def names(self, kind: str, ids: Iterable[str]) -> list[str]:
        lookup = {
            "purpose": self.purpose_name,
            "recipient": self.recipient_name,
            "jurisdiction": self.jurisdiction_name,
            "subject": lambda i: next((s.name for s in self.d.subjects if s.id == i), i),
            "source": lambda i: next((s.name for s in self.d.data_sources if s.id == i), i),
            "region": self.place,
        }[kind]
        return _unique(lookup(i) for i in ids)

    def jurisdiction_name(self, jurisdiction_id: str) -> str:
        return next((j.name for j in self.d.jurisdictions if j.id == jurisdiction_id), jurisdiction_id)

    def place(self, location: str | None) -> str:
        """A storage-region id or a country code, in words."""
        if not location:
            return ""
        region = next((r for r in self.d.storage_regions if r.id == location), None)
        return region.name if region else country_name(location)

    def countries(self, codes: Iterable[str]) -> list[str]:
        return _unique(country_name(c) for c in codes)

    def provider_name(self, provider: str) -> str:
        return "us" if provider == "first_party" else self.recipient_name(provider)

    # --- sections --------------------------------------------------------------------------------

    @property
    def sections(self) -> list[Section]:
        """The sections this declaration has something to say in, in reading order."""
        d = self.d
        wanted = [
            ("who", "Who we are", True),
            ("commitments", "Our promises", bool(self.commitments)),
            ("collect", "What we collect and where it comes from", True),
            ("purposes", "Why we use it and on what basis", True),
            ("recipients", "Who receives it", True),
            ("sale", "Sale of personal information", True),
            ("cookies", "Cookies and similar technologies", True),
            ("retention", "How long we keep it", True),
            ("rights", "Your rights and how to use them", True),
            ("security", "How we protect it", bool(d.security)),
            ("minors", "Children", d.minimum_age is not None or d.audience is not None),
            ("storage", "Where your data is stored", bool(d.storage_regions or d.stores)),
            ("statistics", "Aggregate statistics", d.statistics is not None),
            ("staff", "Staff access", bool(d.staff_roles)),
            ("changes", "Changes to this policy", True),
            ("contact", "Contact us", True),
        ]
        return [Section(key, title) for key, title, present in wanted if present]

    @property
    def commitments(self) -> list[str]:
        c = self.d.commitments
        out: list[str] = []
        if c.never_sell:
            out.append("We never sell your personal information.")
        if c.never_sold_categories:
            never = join_words(self.labels(c.never_sold_categories))
            out.append(f"We never sell these kinds of data: {never}.")
        if c.never_share:
            out.append(
                "We disclose personal information only to service providers acting on our instructions, "
                "and to public authorities when the law compels us."
            )
        if c.no_third_party_marketing_without_consent:
            out.append("No other company markets to you with data from us unless you agree to it.")
        if c.consent_for_new_purposes:
            out.append("We ask for your consent before we use your data for a purpose not listed here.")
        if c.data_minimisation:
            out.append("We collect only the data each purpose below needs.")
        if c.first_party_pixels_only:
            out.append("No other company may place web beacons (pixels) on our pages.")
        if c.staff_least_privilege:
            out.append("No member of our staff sees everything: each role sees only what its job needs.")
        for limit in c.sharing_limits:
            what = join_words([_lower_first(x) for x in self.labels(limit.categories)])
            if limit.recipients:
                text = f"We share {what} only with {join_words(self.names('recipient', limit.recipients))}"
                if limit.purposes:
                    text += f", and only for {join_words(self.names('purpose', limit.purposes))}"
            else:
                text = f"We share {what} with nobody outside our organisation"
            out.append(text + (f": {limit.reason}" if limit.reason else "."))
        out.extend(c.statements)
        return out

    # --- what we collect -------------------------------------------------------------------------

    @property
    def collected_without_sources(self) -> list[str]:
        """When no data source is declared, what the purposes use stands in for "what we collect"."""
        if self.d.data_sources:
            return []
        return self.labels(c for p in self.d.purposes for c in p.categories)

    @property
    def custom_categories(self) -> list[Item]:
        """Our own categories that need explaining (a bare name explains nothing more)."""
        return [Item(c.name, text=c.description) for c in self.d.categories if c.description]

    @property
    def where(self) -> str:
        """The address line, without repeating a country the address already names."""
        org = self.d.organisation
        country = country_name(org.country) if org.country else ""
        if country and org.address and country.lower() in org.address.lower():
            country = ""
        return ", ".join(x for x in (org.address, country) if x)

    @property
    def sensitive_categories(self) -> list[str]:
        used = [c for s in self.d.data_sources for c in s.categories] + [
            c for p in self.d.purposes for c in p.categories
        ]
        return _unique(self.loaded.taxonomy.label(c) for c in used if self.loaded.taxonomy.is_sensitive(c))

    # --- why -------------------------------------------------------------------------------------

    def consent_lines(self, purpose: Purpose) -> list[str]:
        """How the choice works, per jurisdiction; empty when the purpose asks nobody anything."""
        default = purpose.consent_mode(None)
        exceptions = purpose.consent.jurisdictions if purpose.consent is not None else {}
        if purpose.consent is None and default == "notice_only":
            return []
        if not exceptions:
            return [f"We do this {word('consent_mode', default)}."]
        lines = [
            f"In {self.jurisdiction_name(key)}: {word('consent_mode', mode)}."
            for key, mode in exceptions.items()
        ]
        return [*lines, f"Everywhere else: {word('consent_mode', default)}."]

    def offered_at(self, purpose: Purpose) -> list[str]:
        return self.words("choice_point", purpose.consent.offered_at if purpose.consent else [])

    def recipients_of(self, purpose_id: str) -> list[Recipient]:
        return [r for r in self.d.recipients if purpose_id in r.purposes]

    # --- who receives it -------------------------------------------------------------------------

    @property
    def recipient_groups(self) -> list[Group]:
        order = ("processor", "affiliate", "partner", "third_party", "authority")
        groups = [
            Group(word("recipient_kind", kind), tuple(r for r in self.d.recipients if r.kind == kind))
            for kind in (*order, *sorted({r.kind for r in self.d.recipients} - set(order)))
        ]
        return [g for g in groups if g.recipients]

    @property
    def sold_to(self) -> list[Recipient]:
        return [r for r in self.d.recipients if r.sale]

    @property
    def never_sold_purposes(self) -> list[str]:
        return [p.name for p in self.d.purposes if p.never_sold]

    @property
    def maybe_sold_purposes(self) -> list[str]:
        """Purposes that do not promise "never sold" (said instead when they are the few)."""
        return [p.name for p in self.d.purposes if not p.never_sold]

    @property
    def sale_opt_out(self) -> list[str]:
        """Every way to opt out of a sale: the right's channels and the purposes' withdrawals."""
        ways: list[str] = []
        for right in self.d.rights:
            if right.right == "opt_out_of_sale":
                # The policy states the Global Privacy Control rule on its own; no need to repeat it.
                ways.extend(how_words(h) for h in right.how if h != "gpc")
        for recipient in self.sold_to:
            for pid in recipient.purposes:
                purpose = self.d.purpose(pid)
                if purpose is not None:
                    ways.extend(self.words("withdraw", purpose.withdraw))
        return _unique(ways)

    # --- cookies ---------------------------------------------------------------------------------

    def cookie_row(self, cookie: Cookie) -> CookieRow:
        purpose = self.d.purpose(cookie.purpose) if cookie.purpose else None
        what = [x for x in (purpose.name if purpose else None, cookie.description) if x]
        if not what:
            what = [p.name for p in self.d.purposes if p.cookie_category == cookie.category][:3]
        lifetime = (
            "until you close your browser" if cookie.lifetime == "session" else period_words(cookie.lifetime)
        )
        return CookieRow(
            name=cookie.name,
            kind=word("cookie_kind", cookie.kind),
            provider=self.org.name
            if cookie.provider == "first_party"
            else self.recipient_name(cookie.provider),
            category=word("cookie_category", cookie.category),
            lifetime=lifetime,
            purpose="; ".join(what)
            or ("Needed for the site to work" if cookie.category == "strictly_necessary" else "")
            or word("cookie_category", cookie.category),
        )

    @property
    def cookie_rows(self) -> list[CookieRow]:
        return [self.cookie_row(c) for c in self.d.cookies]

    @property
    def cookie_choice(self) -> list[str]:
        """How each non-essential category is governed, per jurisdiction, from the purposes that
        use it. Several purposes sharing a category get the strictest of their modes, which is
        what a banner that asks per category has to apply."""
        out: list[str] = []
        for category in ("preferences", "analytics", "advertising"):
            if not any(c.category == category for c in self.d.cookies):
                continue
            users = [p for p in self.d.purposes if p.cookie_category == category]
            default = _strictest(p.consent_mode(None) for p in users)
            keys = _unique(k for p in users if p.consent for k in p.consent.jurisdictions)
            exceptions: dict[str, list[str]] = {}
            for key in keys:
                mode = _strictest(p.consent_mode(key) for p in users)
                if mode != default:
                    exceptions.setdefault(mode, []).append(self.jurisdiction_name(key))
            label = word("cookie_category", category)
            if not exceptions:
                out.append(f"{label}: set {word('consent_mode', default)}.")
                continue
            parts = [f"in {join_words(n)}, set {word('consent_mode', m)}" for m, n in exceptions.items()]
            out.append(f"{label}: {'; '.join(parts)}; everywhere else, set {word('consent_mode', default)}.")
        return out

    # --- retention -------------------------------------------------------------------------------

    @property
    def retention_items(self) -> list[Item]:
        items: list[Item] = []
        for rule in self.d.retention:
            if rule.categories:
                label = join_words(self.labels(rule.categories))
            else:
                label = f"Data used for {join_words(self.names('purpose', rule.purposes))}"
            if rule.categories and rule.purposes:
                label += f" (for {join_words(self.names('purpose', rule.purposes))})"
            if rule.subjects:
                label += f", of {join_words(self.names('subject', rule.subjects))}"
            text = f"kept {period_words(rule.period)}"
            if rule.start and not isinstance(rule.period, str):
                text += f" {start_words(rule.start)}"
            if rule.grace is not None:
                text += f", plus {rule.grace.describe()}"
            if rule.period != "indefinite":
                text += f", {word('retention_action', rule.action)}"
            text += "."
            if rule.reason:
                text += f" {rule.reason}"
            items.append(Item(label, text=text))
        logs = self.d.server_logs
        if logs is not None:
            text = f"kept {logs.raw_retention.describe()}"
            if logs.anonymised_retention is not None:
                text += f"; the anonymised records for {logs.anonymised_retention.describe()}"
            items.append(Item("Server logs", text=text + "."))
        return items

    @property
    def hold_items(self) -> list[Item]:
        items: list[Item] = []
        for hold in self.d.legal_holds:
            text = f"kept for {hold.period.describe()}"
            if hold.start:
                text += f" {start_words(hold.start)}"
            text += f", because {hold.law} requires it."
            if hold.reason:
                text += f" {hold.reason}"
            items.append(Item(join_words(self.labels(hold.categories)), text=text))
        return items

    # --- rights ----------------------------------------------------------------------------------

    def right_title(self, right: Right) -> str:
        title = word("right", right.right)
        if right.jurisdictions:
            title += f" ({join_words(self.names('jurisdiction', right.jurisdictions))})"
        return title

    def right_anchor(self, right: Right) -> str:
        return "right-" + right.right + "".join(f"-{j}" for j in sorted(right.jurisdictions))

    def how(self, right: Right) -> list[str]:
        return _unique(how_words(entry) for entry in right.how)

    def deadline(self, right: Right) -> str:
        if right.deadline is None:
            return ""
        text = f"We answer within {right.deadline.describe()}"
        if right.extension is not None:
            text += (
                f"; when a request is complex we may take up to {right.extension.describe()} more, "
                "and we tell you why within the first period"
            )
        return text + "."

    def acknowledge(self, right: Right) -> str:
        if right.acknowledge_business_days is not None:
            days = right.acknowledge_business_days
            return f"We confirm we received your request within {days} business day{'s' * (days != 1)}."
        if right.acknowledge is not None:
            return f"We confirm we received your request within {right.acknowledge.describe()}."
        return ""

    @property
    def authorities(self) -> list[Item]:
        return [Item(j.name, text=j.authority) for j in self.d.jurisdictions if j.authority]

    def authorities_for(self, right: Right) -> list[Item]:
        """The supervisory authorities of the jurisdictions a right is offered in."""
        return [
            Item(j.name, text=j.authority)
            for j in self.d.jurisdictions
            if j.authority and (not right.jurisdictions or j.id in right.jurisdictions)
        ]

    @property
    def erasure_items(self) -> list[Item]:
        return [
            Item(
                join_words(self.labels(rule.categories)),
                text=word("erasure", rule.strategy) + "." + (f" {rule.reason}" if rule.reason else ""),
            )
            for rule in self.d.erasure
        ]

    # --- contacts --------------------------------------------------------------------------------

    @property
    def primary_contact(self) -> Contact:
        contacts = self.d.organisation.contacts
        return next((c for c in contacts if c.kind == "privacy"), self.d.organisation.dpo or contacts[0])

    def contact_title(self, contact: Contact) -> str:
        return contact.name or word("contact_kind", contact.kind)

    # --- helpers for the remaining sections -------------------------------------------------------

    def stores_in(self, region_id: str) -> list[str]:
        out = []
        for store in self.d.stores:
            if store.region != region_id:
                continue
            text = f"{store.name} ({word('store_kind', store.kind)}"
            if store.provider:
                text += f", run for us by {self.recipient_name(store.provider)}"
            if store.encrypted_at_rest:
                text += ", encrypted at rest"
            out.append(text + ")")
        return out


def safe_href(url: str | None) -> str | None:
    """A link target we are willing to print: http(s) and mailto only (no ``javascript:``)."""
    if not url:
        return None
    text = url.strip()
    if re.match(r"^(https?://|mailto:)[^\s<>\"'`]+$", text, re.IGNORECASE):
        return text
    if re.match(r"^[A-Za-z0-9.-]+\.[A-Za-z]{2,}(/[^\s<>\"'`]*)?$", text):  # "example.com/privacy"
        return "https://" + text
    return None


def how_words(entry: str) -> str:
    """One entry of a right's ``how`` list in words (``email:x@y`` → ``by e-mail to x@y``)."""
    kind, sep, rest = entry.partition(":")
    fixed = {
        "privacy_center": "in our privacy center",
        "account": "in your account",
        "account_settings": "in your account settings",
        "contact_form": "with our contact form",
        "banner": "in the cookie banner",
        "unsubscribe_link": "with the unsubscribe link in our messages",
        "postal_mail": "by post to our address",
        "phone": "by phone",
        "email": "by e-mail",
        "gpc": "with the Global Privacy Control setting of your browser",
        "customer_service": "through our customer service",
    }
    if kind in ("http", "https") and sep:
        return f"at {entry}"
    if sep and rest.strip():
        prefix = {
            "email": "by e-mail to",
            "phone": "by phone on",
            "url": "at",
            "postal_mail": "by post to",
            "contact_form": "with our contact form at",
            "privacy_center": "in our privacy center at",
            "account": "in your account at",
            "account_settings": "in your account settings at",
        }
        return f"{prefix.get(kind, kind.replace('_', ' '))} {rest.strip()}"
    return fixed.get(entry, entry.replace("_", " "))


def start_words(start: str) -> str:
    fixed = {
        "collected": "from when we collect it",
        "collection": "from when we collect it",
        "last_activity": "from your last activity",
        "order_date": "from the date of the order",
        "account_closed": "after your account is closed",
        "account_closure": "after your account is closed",
        "sent": "after it is sent",
        "end_of_contract": "after the contract ends",
        "end_of_year": "from the end of the year",
        "end_of_financial_year": "from the end of the financial year",
    }
    return fixed.get(start, "from " + start.replace("_", " "))


def _strictest(modes: Iterable[str]) -> str:
    """opt_in over opt_out over notice_only; opt_in when nothing says otherwise."""
    found = set(modes)
    return next((m for m in ("opt_in", "opt_out", "notice_only") if m in found), "opt_in")


def _lower_first(text: str) -> str:
    """``E-mail address`` → ``e-mail address`` mid-sentence, but ``IP address`` stays."""
    return text[0].lower() + text[1:] if len(text) > 1 and text[1].islower() else text


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))
