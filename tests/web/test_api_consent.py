"""The consent API: the banner's record of a visitor's choice (answered with the signed cookie the
middleware trusts), a subject's consent with the API key, and a signed-in person's own."""

from __future__ import annotations

from http.cookies import SimpleCookie

from pledge.middleware import ConsentGate, parse_consent_cookie
from pledge.middleware.consent_cookie import derive_cookie_key
from tests.web.sites import Site

COOKIE_ID = "visitor-0123456789abcdef"


def banner(choices: dict[str, bool], version: str = "2026-11-01", **extra: object) -> dict[str, object]:
    return {
        "cookie_id": COOKIE_ID,
        "choices": choices,
        "policy_version": version,
        "gpc": False,
        "source": "banner",
        **extra,
    }


def consent_cookie(response: object) -> str:
    headers = response.headers.get_list("set-cookie")  # type: ignore[attr-defined]
    values = [h for h in headers if h.startswith("pledge_consent=")]
    assert len(values) == 1, headers
    parsed: SimpleCookie = SimpleCookie()
    parsed.load(values[0])
    return parsed["pledge_consent"].value


def test_a_banner_choice_is_recorded_and_answered_with_a_signed_cookie(pledge_site: Site) -> None:
    client = pledge_site.client()
    response = client.post("/api/v1/consent", json=banner({"analytics": True, "advertising": False}))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["recorded"] == 2  # a grant for statistics, a withdrawal for advertising
    assert body["categories"] == {"analytics": True, "advertising": False}
    value = consent_cookie(response)
    parsed = parse_consent_cookie(value, pledge_site.system.keys.signing_key)
    assert parsed is not None and parsed.signed and parsed.visitor_id == COOKIE_ID
    assert parsed.choices == {"analytics": True, "advertising": False}
    # The middleware, configured as the site configures it, trusts the grant.
    gate = ConsentGate(
        pledge_site.system.loaded,
        signing_key=pledge_site.system.keys.signing_key,
        material_version=pledge_site.system.material_version(),
    )
    state = gate.consent(f"pledge_consent={value}")
    assert state.decided and state.allows("analytics") and not state.allows("advertising")
    # The same choice again adds nothing to the ledger.
    again = client.post("/api/v1/consent", json=banner({"analytics": True, "advertising": False}))
    assert again.json()["recorded"] == 0
    read = client.get("/api/v1/consent", params={"cookie_id": COOKIE_ID}).json()
    assert read["categories"] == {"analytics": True, "advertising": False}
    assert read["subject_id"] is not None and read["known"]
    rows = {r["purpose"]: r for r in read["purposes"]}
    assert rows["site_analytics"]["allowed"] and not rows["interest_ads"]["allowed"]
    assert [e["source"] for e in read["events"]] == ["banner", "banner"]
    assert derive_cookie_key(b"x" * 32) != derive_cookie_key(pledge_site.system.keys.signing_key)


def test_withdrawing_in_the_banner_takes_effect_for_later_decisions(pledge_site: Site) -> None:
    client = pledge_site.client()
    client.post("/api/v1/consent", json=banner({"analytics": True, "advertising": True}))
    subject = pledge_site.system.find_subject("cookie_id", COOKIE_ID)
    decide = pledge_site.system.enforcer.decide
    assert decide(subject, "interest_ads", ("user.device.cookie_id",))
    client.post("/api/v1/consent", json=banner({"analytics": True, "advertising": False}))
    assert decide(subject, "interest_ads", ("user.device.cookie_id",)).reason == "consent_withdrawn"


def test_gpc_turns_advertising_off_whatever_the_visitor_clicked(pledge_site: Site) -> None:
    client = pledge_site.client()
    response = client.post("/api/v1/consent", json=banner({"analytics": True, "advertising": True}, gpc=True))
    assert response.json()["categories"] == {"analytics": True, "advertising": False}
    parsed = parse_consent_cookie(consent_cookie(response), pledge_site.system.keys.signing_key)
    assert parsed is not None and parsed.choices["advertising"] is False
    read = client.get("/api/v1/consent", params={"cookie_id": COOKIE_ID}).json()
    assert read["sale_opted_out"] is True  # GPC is recorded as an opt-out of sale
    assert "gpc_signal" in [e["kind"] for e in read["events"]]


def test_a_choice_made_on_an_older_policy_is_refused(pledge_site: Site) -> None:
    client = pledge_site.client()
    stale = client.post("/api/v1/consent", json=banner({"analytics": True}, version="2018-05-24"))
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "conflict"
    assert "set-cookie" not in {k.lower() for k in stale.headers}  # no signed cookie for it
    assert pledge_site.system.find_subject("cookie_id", COOKIE_ID) is None  # nothing was written


def test_banner_input_errors_change_nothing(pledge_site: Site) -> None:
    client = pledge_site.client()
    for body in (
        banner({"marketing": True}),  # not a cookie category
        banner({"analytics": "yes"}),  # strict booleans
        {**banner({"analytics": True}), "cookie_id": "short"},
        {**banner({"analytics": True}), "cookie_id": "a" * 20 + "!"},
        {**banner({"analytics": True}), "source": "api"},
        {**banner({"analytics": True}), "subject_id": "s_x"},
        {"cookie_id": COOKIE_ID, "source": "banner"},
    ):
        response = client.post("/api/v1/consent", json=body)
        assert response.status_code == 422, (body, response.text)
    assert pledge_site.system.find_subject("cookie_id", COOKIE_ID) is None
    assert client.get("/api/v1/consent").status_code == 422  # neither cookie_id nor subject_id
    both = client.get("/api/v1/consent", params={"cookie_id": COOKIE_ID, "subject_id": "s"})
    assert both.status_code == 422


def test_a_subject_s_consent_by_api_key(pledge_site: Site) -> None:
    client = pledge_site.client()
    subject = pledge_site.system.resolve_subject("email", "ann@example.com")
    assert client.get("/api/v1/consent", params={"subject_id": subject}).status_code == 401
    admin = pledge_site.admin()
    changes = [
        {"action": "grant", "purpose": "relevant_offers", "channel": "email"},
        {"action": "object", "purpose": "marketing_analysis"},
        {"action": "opt_out_of_sale"},
    ]
    body = {"subject_id": subject, "changes": changes, "source": "operator", "proof": "phone call"}
    written = client.post("/api/v1/consent", json=body, headers=admin)
    assert written.status_code == 200, written.text
    assert written.json()["recorded"] == 3
    view = client.get("/api/v1/consent", params={"subject_id": subject}, headers=admin).json()
    rows = {r["purpose"]: r for r in view["purposes"]}
    assert rows["relevant_offers"]["channels"]["email"] == "consented"
    assert rows["marketing_analysis"]["reason"] == "objection"
    assert view["sale_opted_out"]
    # All or nothing: one bad change in a batch writes none of them.
    bad = {
        "subject_id": subject,
        "changes": [
            {"action": "withdraw", "purpose": "relevant_offers"},
            {"action": "grant", "purpose": "order_fulfilment"},
        ],
    }
    refused = client.post("/api/v1/consent", json=bad, headers=admin)
    assert refused.status_code == 422
    after = client.get("/api/v1/consent", params={"subject_id": subject}, headers=admin).json()
    assert len(after["events"]) == len(view["events"])
    unknown = client.post(
        "/api/v1/consent", json={"subject_id": "s_nobody", "changes": changes[:1]}, headers=admin
    )
    assert unknown.status_code == 404


def test_my_consent_needs_a_session(pledge_site: Site) -> None:
    client = pledge_site.client()
    assert client.get("/api/v1/me/consent").status_code == 401
    change = {"changes": [{"action": "grant", "purpose": "relevant_offers", "channel": "email"}]}
    assert client.post("/api/v1/me/consent", json=change).status_code == 401
    assert client.post("/api/v1/signin", json={"email": "Pat@Example.com"}).status_code == 202
    token = pledge_site.token("/privacy/signin/confirm", to="pat@example.com")
    assert client.post("/api/v1/signin/confirm", json={"token": token}).status_code == 200
    assert client.post("/api/v1/me/consent", json=change).json()["recorded"] == 1
    mine = client.get("/api/v1/me/consent").json()
    assert {r["purpose"]: r for r in mine["purposes"]}["relevant_offers"]["channels"]["email"] == "consented"
    assert mine["subject_id"] == pledge_site.system.find_subject("email", "pat@example.com")
    replay = client.post("/api/v1/signin/confirm", json={"token": token})
    assert replay.status_code == 409 and replay.json()["error"]["code"] == "token_replayed"
