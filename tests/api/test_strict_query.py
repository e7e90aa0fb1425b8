"""Query parameters an operation does not take are refused, naming the parameter, never echoing a
name that could carry a value (a UPN put where a parameter's name goes)."""

from __future__ import annotations

from tests.factories import upn


def test_a_misspelt_parameter_is_refused_with_its_name(gw):
    client, dpo_headers = gw.client, gw.auth("operator", "operator", "dpo")
    answer = client.get("/v1/releases?stauts=active", headers=dpo_headers)
    assert answer.status_code == 422
    assert answer.json()["detail"]["errors"] == [
        {"row": None, "field": "stauts", "message": "this operation takes no such query parameter"}
    ]
    assert client.get("/v1/releases?status=active", headers=dpo_headers).status_code == 200


def test_a_parameter_name_that_could_be_personal_data_is_not_echoed(gw):
    client, dpo_headers = gw.client, gw.auth("operator", "operator", "dpo")
    pupil = upn(serial=7)
    answer = client.get(f"/v1/releases?{pupil}=1", headers=dpo_headers)
    assert answer.status_code == 422
    assert pupil not in answer.text and pupil.lower() not in answer.text
    assert answer.json()["detail"]["errors"][0]["field"] is None


def test_operations_without_query_parameters_still_ignore_them(gw):
    assert gw.client.get("/healthz?verbose=1").status_code == 200


def test_a_parameter_of_one_value_given_twice_is_refused_not_half_read(gw):
    """The framework would keep the last value and drop the first: an auditor filtering the trail by
    one organisation, then another, would read one of them believing it was both."""
    client, dpo_headers = gw.client, gw.auth("operator", "operator", "dpo")
    answer = client.get("/v1/audit/events?org_id=100001&org_id=100002", headers=dpo_headers)
    assert answer.status_code == 422
    assert answer.json()["detail"]["errors"] == [
        {"row": None, "field": "org_id", "message": "given more than once; it takes one value"}
    ]
    assert client.get("/v1/audit/events?org_id=100001", headers=dpo_headers).status_code == 200
    assert client.get("/v1/releases?status=active&status=expired", headers=dpo_headers).status_code == 422
