"""Plain-English words for the declaration's enumerations, used by the published policy.

The declaration speaks in identifiers (``legitimate_interest``, ``opt_out``, ``while_account_active``)
so that code can act on them; the policy must speak to people. One table per enumeration keeps the
wording in one place, and an unknown value (a word a newer model added) falls back to the value with
underscores turned into spaces rather than failing a render.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from pledge.declaration.durations import IsoDuration

__all__ = ["WORDS", "date_words", "every_words", "join_words", "period_words", "word"]

WORDS: dict[str, dict[str, str]] = {
    "lawful_basis": {
        "consent": "your consent",
        "contract": "performing a contract with you, or steps you asked for before one",
        "legitimate_interest": "our legitimate interests",
        "legal_obligation": "a legal obligation we must meet",
        "vital_interest": "protecting someone's vital interests",
        "public_task": "a task carried out in the public interest",
    },
    "consent_mode": {
        "opt_in": "only with your prior consent (opt-in)",
        "opt_out": "unless you opt out",
        "notice_only": "without asking, once you have been told (notice)",
    },
    "channel": {
        "email": "e-mail",
        "postal_mail": "post",
        "phone": "phone",
        "push": "push notifications",
        "sms": "text messages",
        "third_party_offers": "offers from other companies, sent by us",
        "in_app": "messages in our app",
    },
    "choice_point": {
        "registration": "when you register",
        "checkout": "at checkout",
        "sign_in": "when you sign in",
        "first_visit": "on your first visit",
        "account_settings": "in your account settings",
        "privacy_center": "in our privacy center",
        "every_message": "in every message",
    },
    "withdraw": {
        "privacy_center": "in our privacy center",
        "unsubscribe_link": "with the unsubscribe link in every message",
        "account_settings": "in your account settings",
        "email": "by e-mail to us",
        "device_settings": "in your device settings",
        "banner": "in the cookie banner",
        "contact_form": "with our contact form",
        "phone": "by phone",
        "postal_mail": "by post",
        "browser_settings": "in your browser settings",
        "vendor_opt_out": "on the provider's own opt-out page",
    },
    "cookie_category": {
        "strictly_necessary": "Strictly necessary",
        "preferences": "Preferences",
        "analytics": "Analytics",
        "advertising": "Advertising",
    },
    "cookie_kind": {
        "cookie": "Cookie",
        "local_storage": "Local storage",
        "pixel": "Pixel (web beacon)",
        "sdk": "Software kit (SDK)",
        "device_id": "Device identifier",
    },
    "right": {
        "know_if_held": "Know whether we hold data about you",
        "access": "Access your data",
        "portability": "Take your data with you (portability)",
        "rectification": "Correct your data",
        "erasure": "Have your data deleted",
        "restriction": "Restrict how we use your data",
        "objection": "Object to how we use your data",
        "withdraw_consent": "Withdraw your consent",
        "opt_out_of_sale": "Opt out of the sale of your data",
        "complaint": "Complain",
        "automated_decisions": "Not be subject to decisions made only by a machine",
        "deactivate_account": "Deactivate your account",
    },
    "verification": {
        "none": "We do not need to confirm who you are for this.",
        "email_link": "We confirm it is you with a single-use link sent to your e-mail address.",
        "account": "We confirm it is you by asking you to sign in to your account.",
        "email_link_or_account": (
            "We confirm it is you by asking you to sign in, or with a single-use link sent to your "
            "e-mail address."
        ),
        "id_document": "We confirm it is you by asking for an identity document.",
    },
    "recipient_kind": {
        "processor": "Service providers acting on our behalf",
        "affiliate": "Companies in our group",
        "partner": "Partners",
        "third_party": "Other companies",
        "authority": "Public authorities",
    },
    "legal_basis": {
        "contract": "a contract",
        "consent": "your consent",
        "legitimate_interest": "our legitimate interests",
        "legal_obligation": "a legal obligation",
        "court_order": "a court order",
        "subpoena": "a subpoena",
        "law_enforcement_request": "a lawful request from law enforcement",
        "vital_interest": "protecting someone's vital interests",
    },
    "source_kind": {
        "form": "a form you fill in",
        "order": "your orders",
        "account": "your account",
        "third_party_login": "signing in with another service",
        "server_log": "our server logs",
        "cookie": "cookies and similar technologies",
        "device": "your device",
        "support": "your contacts with our support",
        "referral": "someone who refers you",
        "import": "data we import",
        "partner": "our partners",
        "survey": "surveys",
        "public": "public sources",
        "other": "other sources",
    },
    "store_kind": {
        "database": "database",
        "file_storage": "file storage",
        "cloud": "cloud service",
        "backup": "backups",
        "email": "e-mail system",
        "crm": "customer records system",
        "logs": "logs",
        "analytics": "analytics",
        "other": "other storage",
    },
    "security_kind": {
        "transport_encryption": "Encryption in transit",
        "encryption_at_rest": "Encryption at rest",
        "access_control": "Access control",
        "pseudonymisation": "Pseudonymisation",
        "network": "Network protection",
        "organisational": "Organisational measures",
        "certification": "Certification",
        "authentication": "Authentication",
        "other": "Other measures",
    },
    "contact_kind": {
        "privacy": "Privacy questions",
        "support": "Customer support",
        "general": "General enquiries",
        "dpo": "Data protection officer",
        "complaints": "Complaints",
        "security": "Security reports",
        "legal": "Legal matters",
    },
    "on_detection": {
        "purge": "we delete their personal data",
        "block": "we block the account and stop using their personal data",
        "parental_consent": "we ask a parent or guardian for consent before going further",
    },
    "notice_channel": {
        "email": "by e-mail",
        "sign_in": "when you next sign in",
        "website": "on our website",
        "banner": "with a notice on our pages",
        "in_app": "in our app",
    },
    "retention_action": {"delete": "then deleted", "anonymise": "then anonymised"},
    "ip": {
        "truncate": "shortened so that it no longer points to one connection",
        "hash": "replaced by a keyed hash",
        "drop": "not kept",
        "keep": "kept in full",
    },
    "user_agent": {
        "parse": "reduced to the browser and operating system",
        "keep": "kept in full",
        "drop": "not kept",
    },
    "referrer": {
        "host": "reduced to the site you came from (its host name)",
        "path": "reduced to the page you came from, without any query string",
        "drop": "not kept",
    },
    "mechanism": {"laplace": "the Laplace mechanism", "gaussian": "the Gaussian mechanism"},
    "statistics_mode": {
        "suppress": "groups smaller than the minimum size are left out",
        "differential_privacy": "calibrated random noise is added (differential privacy)",
        "both": (
            "groups smaller than the minimum size are left out and calibrated random noise is added "
            "(differential privacy)"
        ),
    },
    "role": {"controller": "controller", "processor": "processor"},
    "erasure": {
        "delete_row": "the whole record is deleted",
        "null": "the value is emptied",
        "mask": "the value is overwritten so that it no longer identifies you",
        "hash": "the value is replaced by a keyed hash that cannot be turned back into it",
    },
}

_LIFECYCLE = {
    "session": "until the end of your visit (the browser session)",
    "while_account_active": "while your account is active",
    "until_sent": "only until the message is sent",
    "indefinite": "without a set time limit",
}

_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def word(kind: str, value: str) -> str:
    """The words for ``value`` of enumeration ``kind``; unknown values read as themselves."""
    return WORDS.get(kind, {}).get(value, value.replace("_", " "))


def period_words(period: IsoDuration | str) -> str:
    """``P1Y`` → ``1 year``; ``while_account_active`` → ``while your account is active``."""
    if isinstance(period, IsoDuration):
        return period.describe()
    return _LIFECYCLE.get(period, period.replace("_", " "))


def join_words(values: Iterable[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = [v for v in values if v]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def date_words(value: dt.date) -> str:
    """``2024-01-01`` → ``1 January 2024`` (fixed English, not the machine's locale: goldens)."""
    return f"{value.day} {_MONTHS[value.month - 1]} {value.year}"


def every_words(duration: IsoDuration) -> str:
    """The tail of "renewed every ...": ``P1M`` → ``month``, ``P3M`` → ``3 months``."""
    text = duration.describe()
    return text[2:] if text.startswith("1 ") and " and " not in text and ", " not in text else text
