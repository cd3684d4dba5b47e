"""Data-subject requests over the API: the same answer for everyone, rate limits, single-use
expiring links, a session that sees only its own requests, and the operator's decisions."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from pathlib import Path

from pledge.web.ratelimit import Limit
from tests.web.sites import Site, open_site

KNOWN = "robin.quill@example.com"  # the first fictional customer, with orders and a house-file entry
UNKNOWN = "nobody.at.all@example.net"


def create(client: object, email: str, kind: str = "access", **extra: object) -> object:
    body = {"kind": kind, "email": email, "jurisdiction": "gdpr", **extra}
    return client.post("/api/v1/requests", json=body)  # type: ignore[attr-defined]


def test_known_and_unknown_addresses_get_the_same_answer(pledge_site: Site) -> None:
    client = pledge_site.client()
    known, unknown = create(client, KNOWN), create(client, UNKNOWN)
    assert known.status_code == unknown.status_code == 202  # type: ignore[attr-defined]
    a, b = known.json(), unknown.json()  # type: ignore[attr-defined]
    assert a.keys() == b.keys() and a["request_id"] != b["request_id"]
    assert {k: v for k, v in a.items() if k != "request_id"} == {
        k: v for k, v in b.items() if k != "request_id"
    }
    assert a["state"] == "received" and a["verification"] == "email_link_or_account"
    # Both addresses get the same verification mail: nothing was looked up.
    assert pledge_site.links(to=KNOWN) and pledge_site.links(to=UNKNOWN)
    subjects = [m["Subject"].split("(")[0] for m in pledge_site.mail.sent]
    assert subjects[0] == subjects[1]


def test_verification_mails_are_rate_limited_per_address_and_per_network(pledge_site: Site) -> None:
    pledge_site.web.limits = type(pledge_site.web.limits)(
        per_address=Limit(2, dt.timedelta(hours=1)), per_ip=Limit(4, dt.timedelta(hours=1))
    )
    client = pledge_site.client()
    assert [create(client, KNOWN).status_code for _ in range(3)] == [202, 202, 429]  # type: ignore[attr-defined]
    limited = create(client, KNOWN)
    assert limited.headers["retry-after"].isdigit()  # type: ignore[attr-defined]
    assert limited.json()["error"]["code"] == "rate_limited"  # type: ignore[attr-defined]
    sent = len(pledge_site.mail.sent)
    assert create(client, "other@example.org").status_code == 429  # type: ignore[attr-defined]  # the network's 5th
    assert len(pledge_site.mail.sent) == sent == 2  # refused attempts sent nothing
    # The limit holds for a second process too: it is counted in the database.
    other = pledge_site.client()
    assert create(other, "third@example.org").status_code == 429  # type: ignore[attr-defined]


def test_the_link_verifies_once_and_opens_a_session_for_that_request_only(pledge_site: Site) -> None:
    client = pledge_site.client()
    mine = create(client, KNOWN).json()["request_id"]  # type: ignore[attr-defined]
    other = create(pledge_site.client(), UNKNOWN).json()["request_id"]  # type: ignore[attr-defined]
    token = pledge_site.token("/privacy/requests/verify", to=KNOWN)
    assert client.get(f"/api/v1/me/requests/{mine}").status_code == 401  # no session yet
    forged = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    bad = client.post("/api/v1/requests/verify", json={"token": forged})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "token_invalid"
    verified = client.post("/api/v1/requests/verify", json={"token": token})
    assert verified.status_code == 200, verified.text
    assert verified.json()["id"] == mine
    cookie = verified.headers["set-cookie"]
    assert "pledge_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # served over plain HTTP here
    replay = client.post("/api/v1/requests/verify", json={"token": token})
    assert replay.status_code == 409 and replay.json()["error"]["code"] == "token_replayed"
    assert client.get(f"/api/v1/me/requests/{mine}").json()["state"] == "verified"
    assert client.get(f"/api/v1/requests/{mine}").status_code == 401  # the operator's view needs the key
    assert client.get(f"/api/v1/me/requests/{other}").status_code == 401  # not this session's
    assert client.get(f"/api/v1/requests/{other}/archive").status_code == 401
    me = client.get("/api/v1/me").json()
    assert me["signed_in"] and me["has_subject"] and [r["id"] for r in me["requests"]] == [mine]
    assert client.post("/api/v1/signout").status_code == 200
    assert client.get(f"/api/v1/me/requests/{mine}").status_code == 401


def test_an_access_request_runs_and_its_archive_is_downloaded_with_the_session(pledge_site: Site) -> None:
    client = pledge_site.client()
    request_id = create(client, KNOWN).json()["request_id"]  # type: ignore[attr-defined]
    client.post("/api/v1/requests/verify", json={"token": pledge_site.token("verify", to=KNOWN)})
    not_yet = client.get(f"/api/v1/requests/{request_id}/archive")
    assert not_yet.status_code == 409
    assert pledge_site.system.run_pending() == 1
    record = client.get(f"/api/v1/me/requests/{request_id}").json()
    assert record["state"] == "completed" and record["archive"] is True
    assert "decision_by" not in record and "error" not in record
    archive = client.get(f"/api/v1/requests/{request_id}/archive")
    assert archive.status_code == 200 and archive.headers["content-type"] == "application/zip"
    assert archive.headers["cache-control"] == "no-store"
    with zipfile.ZipFile(io.BytesIO(archive.content)) as bundle:
        data = json.loads(bundle.read("access/data.json"))
    assert data["pesi_shop:customers"][0]["email"] == KNOWN
    assert all(row["email"] == KNOWN for row in data["pesi_mailing:house_file"])
    # The completion mail's result link is reusable and opens the same request.
    assert "/privacy/requests/result?token=" in pledge_site.last_link("/result", to=KNOWN)


def test_the_operator_decides_with_the_api_key(pledge_site: Site) -> None:
    client = pledge_site.client()
    admin = pledge_site.admin()
    request_id = create(client, KNOWN, kind="erase").json()["request_id"]  # type: ignore[attr-defined]
    listed = client.get("/api/v1/requests", params={"deadline": "fine"}, headers=admin).json()
    assert [r["id"] for r in listed] == [request_id] and listed[0]["deadline_status"] == "fine"
    assert client.get("/api/v1/requests", params={"deadline": "someday"}, headers=admin).status_code == 422
    needs_no_approval = client.post(
        f"/api/v1/requests/{request_id}/approve", json={"by": "dana"}, headers=admin
    )
    assert needs_no_approval.status_code == 409
    extended = client.post(
        f"/api/v1/requests/{request_id}/extend",
        json={"by": "dana", "reason": "Checking the tax hold."},
        headers=admin,
    )
    assert extended.status_code == 200 and extended.json()["extension_reason"] == "Checking the tax hold."
    assert extended.json()["extended_due_at"] > extended.json()["due_at"]
    twice = client.post(
        f"/api/v1/requests/{request_id}/extend", json={"by": "dana", "reason": "x"}, headers=admin
    )
    assert twice.status_code == 409
    no_reason = client.post(f"/api/v1/requests/{request_id}/reject", json={"by": "dana"}, headers=admin)
    assert no_reason.status_code == 422
    rejected = client.post(
        f"/api/v1/requests/{request_id}/reject",
        json={"by": "dana", "reason": "Not confirmed."},
        headers=admin,
    )
    assert rejected.status_code == 200 and rejected.json()["state"] == "rejected"
    subjects = [m["Subject"] for m in pledge_site.mail.sent if m["To"] == KNOWN]
    assert any("more time" in s for s in subjects) and any("declined" in s for s in subjects)
    report = client.get(f"/api/v1/requests/{request_id}/report", headers=admin).json()
    assert report["request"]["state"] == "rejected" and report["steps"] == []
    retry = client.post(f"/api/v1/requests/{request_id}/retry", json={"by": "dana"}, headers=admin)
    assert retry.status_code == 409
    assert client.post("/api/v1/requests/nope/approve", json={"by": "d"}, headers=admin).status_code == 404


def test_parameters_and_operator_runs(pledge_site: Site) -> None:
    client = pledge_site.client()
    assert create(client, KNOWN, params={"dry_run": True}).status_code == 422  # type: ignore[attr-defined]
    assert create(client, KNOWN, kind="rectify", params={"set": {}}).status_code == 422  # type: ignore[attr-defined]
    assert create(client, KNOWN, kind="rectify", params={"set": "x"}).status_code == 422  # type: ignore[attr-defined]
    assert create(client, KNOWN, kind="object", params={"purposes": [1]}).status_code == 422  # type: ignore[attr-defined]
    no_right = create(client, KNOWN, kind="restrict")  # PESI offers no restriction right
    assert no_right.status_code == 422  # type: ignore[attr-defined]
    assert create(client, KNOWN, jurisdiction="us").status_code == 422  # type: ignore[attr-defined]  # no access right there
    assert len(pledge_site.mail.sent) == 0
    operator = create(client, KNOWN, kind="object", operator="dana", params={"purposes": ["list_rental"]})
    assert operator.status_code == 401  # type: ignore[attr-defined]  # staff only, with the key
    run = client.post(
        "/api/v1/requests",
        json={
            "kind": "object",
            "email": KNOWN,
            "jurisdiction": "gdpr",
            "operator": "dana",
            "params": {"purposes": ["list_rental"]},
        },
        headers=pledge_site.admin(),
    )
    assert run.status_code == 202 and run.json()["state"] == "verified"
    assert pledge_site.system.run_pending() == 1
    subject = pledge_site.system.find_subject("email", KNOWN)
    assert pledge_site.system.enforcer.decide(subject, "list_rental", ("user.name",)).reason == "objection"


def test_an_expired_link_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    now = [dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)]
    site = open_site(tmp_path, clock=lambda: now[0])
    try:
        client = site.client()
        request_id = create(client, KNOWN).json()["request_id"]  # type: ignore[attr-defined]
        token = site.token("verify", to=KNOWN)
        now[0] += dt.timedelta(hours=49)  # the link lives 48 hours
        expired = client.post("/api/v1/requests/verify", json={"token": token})
        assert expired.status_code == 400 and expired.json()["error"]["code"] == "token_expired"
        assert site.system.workflow.get_request(request_id).state == "received"
    finally:
        site.close()
