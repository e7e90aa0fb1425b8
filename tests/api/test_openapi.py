"""The OpenAPI document describes what the gateway really sends: real bodies of every kind validate
against the operation's documented response, error bodies are the gateway's own, and a 405 names
every method of its path."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.core.failures import FailureGroup

from tests.api.test_releases import JUSTIFICATION, WINDOW, fortnight, la_officer, marks, release
from tests.conftest import Gateway
from tests.factories import feed_json, pupil, school_day


@pytest.fixture
def camden(loaded: Gateway) -> Gateway:
    # Pupil 1: 2 of 20 sessions missed; 3: 10 of 20; 4: 12 unauthorised (G), enough for a penalty notice.
    fortnight(loaded, 100001, {1: marks(2), 3: marks(10), 4: marks(12, "G")})
    return loaded


def document(gw: Gateway) -> dict[str, Any]:
    r = gw.client.get("/openapi.json")
    assert r.status_code == 200
    body: dict[str, Any] = r.json()
    return body


def conforms(gw: Gateway, path: str, method: str, response: httpx.Response) -> None:
    """The response is one the document lists for the operation, with its documented body and no
    field the document does not name (schemathesis validates against the document itself)."""
    schema = schemathesis.openapi.from_dict(document(gw))
    try:
        schema[path][method].validate_response(response)
    except FailureGroup as group:
        pytest.fail(f"{method} {path} -> {response.status_code}: {group}")


def properties(gw: Gateway, model: str) -> set[str]:
    return set(document(gw)["components"]["schemas"][model]["properties"])


def test_a_real_release_validates_against_the_documented_release(camden: Gateway) -> None:
    r = release(camden, {"purpose": "la-targeting-support", "justification": JUSTIFICATION, **WINDOW},
                la_officer(camden))
    assert r.status_code == 201, r.text
    assert r.json()["records"]
    conforms(camden, "/v1/releases", "POST", r)
    assert set(r.json()) == properties(camden, "ReleaseOut")


def test_a_penalty_notice_release_with_its_sessions_validates_too(camden: Gateway) -> None:
    r = release(camden, {"purpose": "la-penalty-notice", "justification": JUSTIFICATION, "to": "2025-10-17"},
                la_officer(camden))
    assert r.status_code == 201, r.text
    assert any(isinstance(v, list) for rec in r.json()["records"] for v in rec.values())
    conforms(camden, "/v1/releases", "POST", r)


def test_a_denied_release_validates_against_the_documented_denial(camden: Gateway) -> None:
    body = {"purpose": "no-such-purpose", "justification": JUSTIFICATION, **WINDOW}
    r = release(camden, body, la_officer(camden))
    assert r.status_code == 403 and r.json()["detail"]["decision"] == "deny"
    conforms(camden, "/v1/releases", "POST", r)


def test_a_register_receipt_validates_against_the_document_when_stored_and_unchanged(loaded: Gateway) -> None:
    path = f"/v1/schools/100001/attendance/{school_day().isoformat()}"
    headers = {"Content-Type": "application/json", **loaded.auth("school", 100001, "feed_submitter")}
    for status in (201, 200):
        r = loaded.client.put(path, content=feed_json([pupil(1), pupil(2)]), headers=headers)
        assert r.status_code == status, r.text
        conforms(loaded, "/v1/schools/{urn}/attendance/{date}", "PUT", r)


def test_a_register_refused_row_by_row_validates_against_the_documented_422(loaded: Gateway) -> None:
    path = f"/v1/schools/100001/attendance/{school_day().isoformat()}"
    headers = {"Content-Type": "application/json", **loaded.auth("school", 100001, "feed_submitter")}
    r = loaded.client.put(path, content=feed_json([pupil(1, am="?")]), headers=headers)
    assert r.status_code == 422 and r.json()["detail"]["errors"][0]["row"] == 1
    conforms(loaded, "/v1/schools/{urn}/attendance/{date}", "PUT", r)


def test_the_other_routes_answers_validate_against_the_document(camden: Gateway) -> None:
    made = release(camden, {"purpose": "la-targeting-support", "justification": JUSTIFICATION, **WINDOW},
                   la_officer(camden)).json()
    officer = camden.auth("school", 100001, "attendance_officer")
    dpo = camden.auth("operator", "operator", "dpo")
    asked = [
        ("/v1/purposes", "/v1/purposes", officer),
        ("/v1/releases/{release_id}", f"/v1/releases/{made['release_id']}", la_officer(camden)),
        ("/v1/releases", "/v1/releases", dpo),
        ("/v1/schools/{urn}/pupils", "/v1/schools/100001/pupils?from=2025-09-01&to=2025-10-31", officer),
        ("/v1/schools/{urn}/pupil-refs/{pupil_ref}",
         f"/v1/schools/100001/pupil-refs/{made['records'][0]['pupil_ref']}", officer),
        ("/v1/schools/{urn}/consents", "/v1/schools/100001/consents", officer),
        ("/v1/audit/tree-head", "/v1/audit/tree-head", dpo),
        ("/v1/audit/events", "/v1/audit/events?from=2020-01-01&to=2100-01-01T00:00:00Z", dpo),
        ("/v1/audit/keys", "/v1/audit/keys", {}),
        ("/healthz", "/healthz", {}),
        ("/readyz", "/readyz", {}),
        ("/v1/stats/budget", "/v1/stats/budget", camden.auth("dfe", "dfe", "statistician")),
        ("/v1/releases/{release_id}", "/v1/releases/rel_none", la_officer(camden)),  # 404
        ("/v1/audit/events", "/v1/audit/events", officer),  # 403
        ("/v1/purposes", "/v1/purposes", {"Authorization": "Bearer not-a-token"}),  # 401
    ]
    for template, url, headers in asked:
        r = camden.client.get(url, headers=headers)
        assert r.status_code < 500, (url, r.text)
        conforms(camden, template, "GET", r)
    upn = pupil(1)["upn"]
    consent = {"upn": upn, "purpose": "mentoring-referral", "decision": "granted"}
    posted = [
        ("/v1/schools/{urn}/consents", "/v1/schools/100001/consents", consent, 201),
        ("/v1/schools/{urn}/consents/history", "/v1/schools/100001/consents/history", {"upn": upn}, 200),
        ("/v1/consents/history", "/v1/consents/history", {"upn": upn}, 200),
        ("/v1/audit/subject-access", "/v1/audit/subject-access", {"upn": upn}, 200),
        ("/v1/releases/{release_id}/deletion", f"/v1/releases/{made['release_id']}/deletion", None, 200),
        ("/v1/releases/{release_id}/deletion", f"/v1/releases/{made['release_id']}/deletion", None, 409),
    ]
    for template, url, body, status in posted:
        headers = officer
        if url.startswith(("/v1/audit", "/v1/consents")):
            headers = dpo
        elif "deletion" in url:
            headers = la_officer(camden)
        r = camden.client.post(url, json=body, headers=headers)
        assert r.status_code == status, (url, r.text)
        conforms(camden, template, "POST", r)


def test_fastapis_default_422_is_nowhere_and_every_422_is_the_gateways_own(loaded: Gateway) -> None:
    doc = document(loaded)
    assert not {"HTTPValidationError", "ValidationError"} & set(doc["components"]["schemas"])
    documented = 0
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            if "422" in operation["responses"]:
                documented += 1
                schema = operation["responses"]["422"]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Invalid"}, (method, path)
    assert documented >= 15


def test_every_operation_documents_its_success_body_and_its_errors(loaded: Gateway) -> None:
    doc = document(loaded)
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            success = [s for s in responses if s.startswith("2")]
            assert success, (method, path)
            for status in success:
                content = responses[status]["content"]
                assert all(media["schema"] for media in content.values()), (method, path, status)
            if path.startswith("/v1/") and path != "/v1/audit/keys":
                assert {"401", "503"} <= set(responses), (method, path)
                assert operation["security"] == [{"bearer": []}]
                # Any authenticated user may list the purposes; every other route can refuse.
                assert "403" in responses or path == "/v1/purposes", (method, path)
            for status, model in (("401", "Unauthenticated"), ("403", "Denied"), ("404", "Problem")):
                if status in responses:
                    schema = responses[status]["content"]["application/json"]["schema"]
                    assert schema == {"$ref": f"#/components/schemas/{model}"}, (method, path, status)


def test_formats_and_enumerations_are_in_the_request_schemas(loaded: Gateway) -> None:
    doc = document(loaded)
    models = doc["components"]["schemas"]
    for model in ("ConsentIn", "HistoryIn", "SubjectAccessIn"):
        assert models[model]["properties"]["upn"]["format"] == "upn"
        assert models[model]["properties"]["upn"]["pattern"].startswith("^[A-HJ-NP-RT-Z")
    row = models["RegisterRowIn"]["properties"]
    assert {"/", "\\", "I", "G"} <= set(row["am"]["enum"]) and row["date_of_birth"]["format"] == "date"
    stats = {p["name"]: p["schema"] for p in doc["paths"]["/v1/stats"]["get"]["parameters"]}
    assert "persistent_absence_rate" in stats["measure"]["enum"] and "fsm" in stats["by"]["pattern"]
    assert stats["from"]["anyOf"][0]["format"] == "date"
    release_in = models["ReleaseIn"]
    assert "acknowledged" in release_in["required"]
    assert release_in["properties"]["acknowledged"]["const"] is True


def test_the_console_is_not_in_the_document(loaded: Gateway) -> None:
    assert not [path for path in document(loaded)["paths"] if path.startswith("/console")]


@pytest.mark.parametrize("method", ["OPTIONS", "DELETE", "PATCH"])
def test_a_method_not_allowed_names_every_method_of_its_path(loaded: Gateway, method: str) -> None:
    r = loaded.client.request(method, "/v1/schools/100001/consents")
    assert r.status_code == 405
    assert {m.strip() for m in r.headers["allow"].split(",")} >= {"GET", "POST"}
    r = loaded.client.request(method, "/v1/releases")
    assert {m.strip() for m in r.headers["allow"].split(",")} >= {"GET", "POST"}


def test_the_documented_purpose_and_decision_pairs_of_a_consent_are_exactly_those_accepted(
    loaded: Gateway,
) -> None:
    path = f"/v1/schools/100001/attendance/{school_day().isoformat()}"
    headers = {"Content-Type": "application/json", **loaded.auth("school", 100001, "feed_submitter")}
    assert loaded.client.put(path, content=feed_json([pupil(1)]), headers=headers).status_code == 201
    variants = document(loaded)["components"]["schemas"]["ConsentIn"]["oneOf"]
    documented = {(purpose, decision) for v in variants for purpose in v["properties"]["purpose"]["enum"]
                  for decision in v["properties"]["decision"]["enum"]}
    assert ("mentoring-referral", "granted") in documented
    officer = loaded.auth("school", 100001, "attendance_officer")
    purposes = [p["id"] for p in loaded.client.get("/v1/purposes", headers=officer).json()["purposes"]]
    for purpose in purposes:
        for decision in ("granted", "withdrawn", "objected"):
            body = {"upn": pupil(1)["upn"], "purpose": purpose, "decision": decision}
            r = loaded.client.post("/v1/schools/100001/consents", json=body, headers=officer)
            expected = 201 if (purpose, decision) in documented else 422
            assert r.status_code == expected, (purpose, decision, r.text)
