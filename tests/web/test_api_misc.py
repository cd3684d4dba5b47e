"""Decisions, disclosures, the audit log, the declaration and its versions, complaints, and the
banner's files over HTTP."""

from __future__ import annotations

from pledge.audit.merkle import leaf_hash, verify_inclusion
from tests.web.sites import Site

KNOWN = "robin.quill@example.com"


def test_decisions_carry_their_reason_and_resolve_identities(pledge_site: Site) -> None:
    client = pledge_site.client(headers=pledge_site.admin())
    ask = {
        "identity": {"kind": "email", "value": KNOWN},
        "purpose": "relevant_offers",
        "categories": ["user.contact.email"],
        "channel": "email",
    }
    first = client.post("/api/v1/decisions", json=ask).json()
    assert first["allowed"] is False and first["reason"] == "consent_missing"
    subject = first["subject_id"]
    assert subject == pledge_site.system.find_subject("email", KNOWN)
    pledge_site.system.ledger.grant(subject, "relevant_offers", "email", source="api")
    second = client.post("/api/v1/decisions", json={**ask, "identity": None, "subject_id": subject}).json()
    assert (
        second["allowed"] is True and second["reason"] == "consented" and second["lawful_basis"] == "consent"
    )
    shared = client.post(
        "/api/v1/decisions",
        json={
            "subject_id": subject,
            "purpose": "order_fulfilment",
            "categories": ["user.financial.credit_card"],
            "recipient": "logistics",
        },
    ).json()
    assert shared["allowed"] is False and shared["reason"] == "not_a_recipient_of_this_category"
    gpc = client.post(
        "/api/v1/decisions",
        json={
            "subject_id": subject,
            "purpose": "interest_ads",
            "categories": ["user.device.cookie_id"],
            "gpc": True,
        },
    ).json()
    assert gpc["reason"] == "gpc_opt_out"


def test_disclosures_are_recorded_listed_and_looked_up(pledge_site: Site) -> None:
    client = pledge_site.client(headers=pledge_site.admin())
    subject = pledge_site.system.resolve_subject("email", KNOWN)
    body = {
        "recipient": "government",
        "subject_id": subject,
        "categories": ["user.name"],
        "legal_basis": "subpoena",
        "reference": "Case 12-345",
        "purpose": "government_requests",
    }
    made = client.post("/api/v1/disclosures", json=body)
    assert made.status_code == 201, made.text
    assert made.json()["legal_basis"] == "subpoena" and made.json()["audit_index"] is not None
    no_reference = client.post("/api/v1/disclosures", json={**body, "reference": None})
    assert no_reference.status_code == 422  # a subpoena names its case
    to_processor = client.post("/api/v1/disclosures", json={**body, "recipient": "logistics"})
    assert to_processor.status_code == 422  # a processor is not an authority: use share()
    listed = client.get("/api/v1/disclosures", params={"recipient": "government"}).json()
    assert [d["reference"] for d in listed] == ["Case 12-345"]
    assert client.get("/api/v1/disclosures", params={"since": "2999-01-01T00:00:00"}).json() == []
    assert client.get("/api/v1/disclosures", params={"since": "yesterday"}).status_code == 422
    mine = client.get(f"/api/v1/subjects/{subject}/disclosures").json()
    assert [d["recipient"] for d in mine] == ["government"]
    assert client.get("/api/v1/subjects/s_nobody/disclosures").status_code == 404
    found = client.post("/api/v1/subjects/lookup", json={"kind": "email", "value": KNOWN.upper()}).json()
    assert found == {"subject_id": subject}


def test_the_audit_log_head_proofs_and_verification(pledge_site: Site) -> None:
    client = pledge_site.client()
    empty = client.get("/api/v1/audit/head").json()
    assert empty["size"] == 0 and empty["latest_signed"] is None
    subject = pledge_site.system.resolve_subject("email", KNOWN)
    for purpose in ("relevant_offers", "comparable_products"):
        pledge_site.system.ledger.grant(subject, purpose, "email", source="api")
    head = client.get("/api/v1/audit/head").json()  # public, like a transparency log's head
    assert head["size"] > 0 and len(head["root"]) == 64 and head["public_key"]
    admin = pledge_site.admin()
    signed = client.post("/api/v1/audit/head", headers=admin).json()
    assert signed["tree_size"] == head["size"]
    proof = client.get("/api/v1/audit/proof/0", headers=admin).json()
    assert proof["format"] == "pledge-audit-inclusion/v1"
    path = [bytes.fromhex(h) for h in proof["audit_path"]]
    root = bytes.fromhex(proof["head"]["root"])
    assert verify_inclusion(0, proof["tree_size"], leaf_hash(proof["leaf"].encode()), path, root)
    assert client.get(f"/api/v1/audit/proof/{10**9}", headers=admin).status_code == 404
    assert client.get("/api/v1/audit/proof/-1", headers=admin).status_code == 422
    consistency = client.get("/api/v1/audit/consistency", params={"old": 1}, headers=admin).json()
    assert consistency["old_size"] == 1 and consistency["new_size"] == signed["tree_size"]
    report = client.post("/api/v1/audit/verify", headers=admin).json()
    assert report["ok"] is True and report["signatures_checked"] is True and report["first"] is None


def test_the_declaration_versions_and_what_changed(pledge_site: Site) -> None:
    client = pledge_site.client()
    current = client.get("/api/v1/declaration").json()
    assert current["version"] == "2026-11-01" and current["material_version"] == "2026-11-01"
    assert current["declaration"]["organisation"]["name"] == "PESI"
    html = client.get("/api/v1/declaration/rendered")
    assert (
        html.headers["content-type"].startswith("text/html") and "<h1>PESI privacy policy</h1>" in html.text
    )
    markdown = client.get("/api/v1/declaration/rendered", params={"format": "md"})
    assert markdown.headers["content-type"].startswith("text/markdown") and markdown.text.startswith("#")
    assert client.get("/api/v1/declaration/rendered", params={"format": "pdf"}).status_code == 422
    versions = client.get("/api/v1/versions").json()
    assert [v["version"] for v in versions] == ["2026-11-01", "2018-05-24"]
    assert versions[0]["material"] and not versions[1]["material"]
    diff = client.get("/api/v1/versions/diff", params={"from": "2018-05-24", "to": "2026-11-01"}).json()
    assert diff["material"] is True
    assert {c["path"] for c in diff["changes"] if c["material"]} >= {
        "purposes[interest_ads]",
        "recipients[ad_network]",
    }
    backwards = client.get("/api/v1/versions/diff", params={"from": "2026-11-01", "to": "2018-05-24"}).json()
    assert backwards["material"] is False  # removing purposes asks nobody again
    assert client.get("/api/v1/versions/2018-05-24").json()["previous_version"] is None
    assert client.get("/api/v1/versions/1999").status_code == 404


def test_complaints_are_stored_sealed_and_closed_by_the_operator(pledge_site: Site) -> None:
    client = pledge_site.client()
    sent = client.post(
        "/api/v1/complaints",
        json={
            "kind": "complaint",
            "topic": "marketing",
            "message": "Still getting catalogues.",
            "email": "kim@example.org",
            "jurisdiction": "gdpr",
        },
    )
    assert sent.status_code == 201
    reference = sent.json()["reference"]
    with pledge_site.system.db.connect() as conn:
        raw = conn.exec_driver_sql("SELECT sealed FROM web_complaints").scalar_one()
    assert "catalogues" not in raw and "kim@" not in raw  # sealed at rest
    admin = pledge_site.admin()
    listed = client.get("/api/v1/complaints", headers=admin).json()
    assert listed[0]["message"] == "Still getting catalogues." and listed[0]["email"] == "kim@example.org"
    closed = client.post(f"/api/v1/complaints/{reference}/close", json={"by": "dana"}, headers=admin)
    assert closed.json()["state"] == "closed"
    assert (
        client.post(f"/api/v1/complaints/{reference}/close", json={"by": "dana"}, headers=admin).status_code
        == 409
    )
    assert client.get("/api/v1/complaints", params={"state": "open"}, headers=admin).json() == []
    kinds = [e.kind for e in pledge_site.system.audit.entries(kind="complaint.received")]
    assert kinds == ["complaint.received"]
    bad_email = {"kind": "question", "topic": "other", "message": "hi", "email": "not an address"}
    assert client.post("/api/v1/complaints", json=bad_email).status_code == 422


def test_the_banner_files_and_gpc_document(pledge_site: Site) -> None:
    client = pledge_site.client()
    js = client.get("/static/banner.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert '"endpoint":"/api/v1/consent"' in js.text and '"mt":"2026-11-01"' in js.text
    again = client.get("/static/banner.js", headers={"If-None-Match": js.headers["etag"]})
    assert again.status_code == 304
    assert client.get("/static/banner.css").headers["content-type"].startswith("text/css")
    assert client.get("/.well-known/gpc.json").json() == {"gpc": True, "lastUpdate": "2026-11-01"}
    assert client.get("/static/pledge.css").status_code == 200
