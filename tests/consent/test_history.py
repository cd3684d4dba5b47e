"""Consent before any new purpose, with the history taken from the published versions."""

from __future__ import annotations

from pledge.audit.sink import MemoryAudit
from pledge.consent import ConsentLedger, open_enforcer, published_history
from pledge.declaration import parse_declaration
from pledge.policy import compile_policy
from pledge.publish.versions import publish_version
from pledge.storage import Database
from tests.conftest import EXAMPLES

from .conftest import HASH_KEY

NEW_PURPOSE = """\
  - id: webinar_recommendations
    name: Recommend webinars
    lawful_basis: legitimate_interest
    legitimate_interest: Suggesting webinars a customer is likely to want.
    categories: [user.name, user.contact.email]
"""


def test_subjects_from_before_a_new_purpose_are_asked_first(db: Database) -> None:
    text = (EXAMPLES / "24sessions" / "privacy.yaml").read_text(encoding="utf-8")
    v1 = parse_declaration(text, "v1.1")
    v2_text = text.replace('policy_version: "1.1"', 'policy_version: "1.2"', 1)
    v2 = parse_declaration(v2_text.replace("\npurposes:\n", "\npurposes:\n" + NEW_PURPOSE, 1), "v1.2")
    assert published_history(db, "1.2") == []

    publish_version(db, v1)
    old_ledger = ConsentLedger(db, compile_policy(v1), MemoryAudit(), hash_key=HASH_KEY)
    before = old_ledger.directory.resolve("email", "early@example.com")  # arrived under 1.1

    assert [d.policy_version for d in published_history(db, "1.2")] == ["1.1"]
    policy = compile_policy(v2, history=published_history(db, "1.2"))
    ledger = ConsentLedger(db, policy, MemoryAudit(), hash_key=HASH_KEY)
    after = ledger.directory.resolve("email", "late@example.com")  # arrived under 1.2
    enforcer = open_enforcer(ledger, cross_process=False, flush_interval=None)
    question = ("webinar_recommendations", ("user.contact.email",))
    assert enforcer.decide(before, *question).reason == "consent_missing"
    assert enforcer.decide(after, *question).reason == "legitimate_interest"
    ledger.grant(before, "webinar_recommendations", source="privacy_center", proof="Yes, recommend")
    assert enforcer.decide(before, *question).reason == "consented"

    publish_version(db, v2)
    assert [d.policy_version for d in published_history(db, "1.2")] == ["1.1"]
    assert published_history(db, "1.1") == []
    enforcer.close()
