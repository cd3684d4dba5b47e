"""Every way a client can get it wrong answers 4xx with the stable error shape, never 500, and
changes nothing."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from tests.web.sites import Site

HOSTILE = [
    "'; DROP TABLE requests; --",
    "%s%s%n%x",
    "<script>alert(1)</script>",
    "ünïcödé ✓ \u202e\u2028",
    "x" * 10_000,
    "\x00nul",
]


def error_of(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message", "hint", "problems"} <= set(body["error"])
    return body["error"]  # type: ignore[no-any-return]


def test_admin_endpoints_need_the_api_key(pledge_site: Site) -> None:
    client = pledge_site.client()
    decision = {"purpose": "relevant_offers", "categories": ["user.contact.email"]}
    missing = client.post("/api/v1/decisions", json=decision)
    assert missing.status_code == 401 and error_of(missing)["code"] == "unauthorized"
    assert missing.headers["www-authenticate"].startswith("Bearer")
    for headers in (
        {"Authorization": "Bearer wrong"},
        {"X-API-Key": "wrong"},
        {"Authorization": f"Basic {pledge_site.admin_key}"},
        {"Authorization": ("Bearer " + "ü" * 50).encode("latin-1")},  # type: ignore[dict-item]
    ):
        response = client.post("/api/v1/decisions", json=decision, headers=headers)
        assert response.status_code == 401, headers
    for headers in (
        {"Authorization": f"Bearer {pledge_site.admin_key}"},
        {"X-API-Key": pledge_site.admin_key},
    ):
        assert client.post("/api/v1/decisions", json=decision, headers=headers).status_code == 200
    for path in ("/api/v1/requests", "/api/v1/disclosures", "/api/v1/complaints", "/api/v1/audit/proof/0"):
        assert client.get(path).status_code == 401, path
    assert client.post("/api/v1/audit/verify").status_code == 401


def test_malformed_bodies_are_422_or_415(pledge_site: Site) -> None:
    client = pledge_site.client(headers=pledge_site.admin())
    bad_json = client.post(
        "/api/v1/decisions", content=b'{"purpose": ', headers={"Content-Type": "application/json"}
    )
    assert bad_json.status_code == 422 and error_of(bad_json)["code"] == "bad_input"
    not_json = client.post("/api/v1/decisions", content=b"purpose=x", headers={"Content-Type": "text/plain"})
    assert not_json.status_code == 422
    for body in (
        [],
        "a string",
        {"purpose": 5},
        {"purpose": "relevant_offers", "categories": "user.contact.email"},
        {"purpose": "relevant_offers", "gpc": "true"},  # strict: a string is not a boolean
        {"purpose": "relevant_offers", "unexpected": 1},
        {"purpose": "relevant_offers", "categories": ["x"] * 101},
        {"purpose": "relevant_offers", "subject_id": "s", "identity": {"kind": "email", "value": "a@b.c"}},
        {"purpose": "relevant_offers", "identity": {"kind": "Email!", "value": "a@b.c"}},
    ):
        response = client.post("/api/v1/decisions", json=body)
        assert response.status_code == 422, (body, response.text)
        error = error_of(response)
        assert error["code"] in ("bad_input",)
        assert "x" * 200 not in response.text  # inputs are not echoed back


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_strings_never_cause_a_500(pledge_site: Site, text: str) -> None:
    """Refused with the error shape (4xx), or accepted as the data it is (a complaint may say
    anything; a decision about an undeclared purpose is a denial): never a 5xx."""
    client = pledge_site.client(headers=pledge_site.admin())
    banner = {"cookie_id": "a" * 20, "choices": {text: True}, "policy_version": text, "source": "banner"}
    calls = [
        ("post", "/api/v1/decisions", {"purpose": text, "categories": [text], "recipient": text}),
        (
            "post",
            "/api/v1/decisions",
            {"purpose": "relevant_offers", "identity": {"kind": "email", "value": text}},
        ),
        ("post", "/api/v1/requests", {"kind": "access", "email": text, "jurisdiction": text}),
        ("post", "/api/v1/consent", banner),
        ("post", "/api/v1/consent", {"subject_id": text, "changes": [{"action": "grant", "purpose": text}]}),
        ("post", "/api/v1/complaints", {"kind": "question", "topic": "other", "message": text, "name": text}),
        ("post", "/api/v1/subjects/lookup", {"kind": "email", "value": text}),
        ("post", "/api/v1/disclosures", {"recipient": text, "categories": [text], "legal_basis": text}),
        ("post", "/api/v1/requests/verify", {"token": text}),
        ("post", "/api/v1/signin/confirm", {"token": text}),
        ("post", "/api/v1/signin", {"email": text}),
        ("get", f"/api/v1/requests/{quote(text[:500], safe='')}", None),
        ("get", f"/api/v1/versions/{quote(text[:500], safe='')}", None),
        ("get", "/api/v1/consent", {"subject_id": text[:200]}),
        ("get", "/api/v1/versions/diff", {"from": text[:200], "to": text[:200]}),
    ]
    for method, path, body in calls:
        response = client.post(path, json=body) if method == "post" else client.get(path, params=body)
        assert response.status_code < 500, (path, response.status_code, response.text[:300])
        if response.status_code >= 400:
            error_of(response)
        elif path == "/api/v1/decisions":
            assert response.json()["allowed"] is False
        elif path == "/api/v1/complaints":
            reference = response.json()["reference"]
            stored = {c["id"]: c for c in client.get("/api/v1/complaints").json()}[reference]
            assert stored["message"] == text.strip() and stored["name"] == text.strip()
        elif path == "/api/v1/subjects/lookup":
            assert response.json() == {"subject_id": None}
        else:
            raise AssertionError(f"{path} accepted {text[:40]!r}")


def test_unknown_routes_and_methods_answer_json_errors(pledge_site: Site) -> None:
    client = pledge_site.client()
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    wrong_method = client.delete("/api/v1/decisions")
    assert wrong_method.status_code == 405 and error_of(wrong_method)["code"] == "method_not_allowed"


def test_the_openapi_schema_documents_the_error_shape(pledge_site: Site) -> None:
    schema = pledge_site.client().get("/openapi.json").json()
    assert "ErrorBody" in schema["components"]["schemas"]
    paths = schema["paths"]
    assert {"/api/v1/decisions", "/api/v1/consent", "/api/v1/requests", "/api/v1/audit/head"} <= set(paths)
    assert not any(p.startswith(("/privacy", "/admin", "/policy")) for p in paths)  # pages are not API
    assert "401" in paths["/api/v1/decisions"]["post"]["responses"]
