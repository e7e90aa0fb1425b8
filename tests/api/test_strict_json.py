"""Strict JSON over HTTP: a name used twice in a body is a 422 naming row and field, never "last one
wins"; control characters in a text field of any body (JSON or CSV register, release, consent,
subject access, statistics bundle) are a 422 naming row and field; the value is never echoed, and
nothing is stored or logged."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from gateway.db.base import Base
from schemas.feeds import FEED_FIELDS
from tests.api.test_consents import school  # noqa: F401 (a fixture)
from tests.conftest import Gateway
from tests.factories import feed_csv, feed_json, pupil

DAY = "2025-10-06"
URL = f"/v1/schools/100001/attendance/{DAY}"
NAME = "Zebedee"  # a name that must never come back in a response


def stored(gw: Gateway) -> dict[str, int]:
    """Rows in every table (audit log included): what a refused request must leave unchanged."""
    with gw.runtime.sessions() as db:
        return {t.name: int(db.execute(select(func.count()).select_from(t)).scalar_one())
                for t in Base.metadata.sorted_tables}


def put(gw: Gateway, body: bytes, content_type: str = "application/json"):
    return gw.client.put(URL, content=body, headers={"Content-Type": content_type,
                                                     **gw.auth("school", 100001, "feed_submitter")})


def post(gw: Gateway, url: str, body: bytes, headers: dict[str, str]):
    return gw.client.post(url, content=body, headers={"Content-Type": "application/json", **headers})


def errors(response: Any) -> list[tuple[int | None, str | None]]:
    assert response.status_code == 422, response.text
    return [(e["row"], e["field"]) for e in response.json()["detail"]["errors"]]


def register(*rows: dict[str, Any]) -> bytes:
    return feed_json(rows)


# --- the register ---------------------------------------------------------------------------------


def test_a_mark_given_twice_in_a_row_is_refused_naming_row_and_field_and_nothing_is_stored(
    loaded: Gateway,
) -> None:
    first, second, rest = register(pupil(1), pupil(2), pupil(3)).split(b'"am": "/"', 2)
    body = first + b'"am": "/"' + second + b'"am": "/", "am": "X"' + rest
    assert json.loads(body)["pupils"][1]["am"] == "X"  # the standard library keeps the last
    before = stored(loaded)
    response = put(loaded, body)
    assert errors(response) == [(2, "am")]
    assert "twice" in response.json()["detail"]["errors"][0]["message"]
    assert stored(loaded) == before


def test_the_same_value_twice_is_refused_too_wherever_the_row_is(loaded: Gateway) -> None:
    rows = [pupil(n) for n in range(1, 6)]
    body = register(*rows).replace(b'"surname": "Surname5"', b'"surname": "Surname5", "surname": "Surname5"')
    before = stored(loaded)
    assert errors(put(loaded, body)) == [(5, "surname")]
    # A colon inside a name: the cheap count cannot settle it, the decoder still finds the name used twice.
    assert errors(put(loaded, body.replace(b"Forename1", b"Fore: name1"))) == [(5, "surname")]
    assert stored(loaded) == before


def test_two_lists_of_pupils_are_refused_as_the_bodys_problem(loaded: Gateway) -> None:
    first, second = register(pupil(1)), register(pupil(2))
    body = first[:-1] + b", " + second[1:]
    assert body.count(b'"pupils"') == 2
    before = stored(loaded)
    response = put(loaded, body)
    assert errors(response) == [(None, "pupils")]
    assert stored(loaded) == before


def test_a_register_whose_names_are_each_used_once_is_still_accepted(loaded: Gateway) -> None:
    response = put(loaded, register(pupil(1, forename="Ann: Marie"), pupil(2)))
    assert response.status_code == 201, response.text


TEXT_FIELDS = list(FEED_FIELDS)  # every field is text in a CSV register
#: NUL, the C0 controls and tab and line breaks, DEL, a C1 control, the Unicode line separator.
CONTROLS = ["\x00", "\t", "\n", "\r", "\x1b", "\x7f", "\x85", "\u2028"]


def with_control(field: str, char: str, where: str) -> dict[str, Any]:
    value = str(pupil(2)[field]).lower() if field == "fsm_eligible" else str(pupil(2)[field])
    value = {"start": char + value, "middle": value[:1] + char + value[1:], "end": value + char}[where]
    return pupil(2, **{field: value})


@pytest.mark.parametrize("fmt", ["json", "csv"])
@pytest.mark.parametrize(("n", "field"), list(enumerate(TEXT_FIELDS)))
def test_a_control_character_in_any_field_of_a_register_is_refused_naming_row_and_field(
    loaded: Gateway, fmt: str, n: int, field: str
) -> None:
    before = stored(loaded)
    # Each field meets a different character, at the start, in the middle or at the end (where
    # stripping whitespace would otherwise hide it).
    for char, where in [(CONTROLS[n % len(CONTROLS)], "end"), (CONTROLS[(n + 3) % len(CONTROLS)], "middle"),
                        (CONTROLS[(n + 5) % len(CONTROLS)], "start")]:
        if fmt == "csv" and char == "\r":
            char = "\r\n"  # a CR alone would end the record (the writer leaves it unquoted)
        rows = [pupil(1), with_control(field, char, where), pupil(3, forename=NAME)]
        response = put(loaded, feed_json(rows)) if fmt == "json" else put(loaded, feed_csv(rows), "text/csv")
        assert errors(response) == [(2, field)], (char, where)
        assert "control characters" in response.json()["detail"]["errors"][0]["message"]
        assert all(name not in response.text for name in (NAME, "Forename2", "Surname2"))
    assert stored(loaded) == before


def test_a_csv_value_that_runs_over_two_lines_is_refused(loaded: Gateway) -> None:
    body = feed_csv([pupil(1), pupil(2, surname="Surname\nTwo")])
    assert b'"Surname\nTwo"' in body
    before = stored(loaded)
    assert errors(put(loaded, body, "text/csv")) == [(2, "surname")]
    assert stored(loaded) == before


def test_escaped_and_raw_control_characters_in_json_are_both_refused(loaded: Gateway) -> None:
    before = stored(loaded)
    escaped = register(pupil(1), pupil(2, forename="Ann\u0000"))
    assert b"\\u0000" in escaped
    raw = json.dumps({"pupils": [pupil(1), pupil(2, forename="Ann\x85\u2028")]}, ensure_ascii=False).encode()
    assert b"\xc2\x85" in raw
    for body in (escaped, raw):
        assert errors(put(loaded, body)) == [(2, "forename")]
    assert stored(loaded) == before


def test_names_with_accents_apostrophes_and_backslash_escapes_are_accepted(loaded: Gateway) -> None:
    rows = [pupil(1, forename="Zoë", surname="O’Brien-Ní Dhónaill"), pupil(2, forename="Nguyễn\u00a0Thị"),
            pupil(3, surname="Back\\nslash")]
    for body in (feed_json(rows), json.dumps({"pupils": rows}, ensure_ascii=False).encode()):
        response = put(loaded, body)
        assert response.status_code in (200, 201), response.text
    assert put(loaded, feed_csv(rows), "text/csv").status_code == 200  # the same register


# --- every other JSON body ------------------------------------------------------------------------


def la_officer(gw: Gateway) -> dict[str, str]:
    return gw.auth("la", "202", "case_officer")


def school_officer(gw: Gateway) -> dict[str, str]:
    return gw.auth("school", 100001, "attendance_officer")


def dpo(gw: Gateway) -> dict[str, str]:
    return gw.auth("operator", "operator", "dpo")


def statistician(gw: Gateway) -> dict[str, str]:
    return gw.auth("dfe", "dfe", "statistician")


UPN = pupil(1)["upn"]
BODIES: dict[str, tuple[str, Any, str]] = {
    # name: (url, headers, body with the duplicated member spelt twice); the field it must name.
    "release": ("/v1/releases", la_officer,
                '{"purpose": "la-targeting-support", "acknowledged": true, '
                '"from": "2025-09-01", "to": "2025-10-31", '
                '"justification": "Termly targeting support meeting with the attendance lead", '
                '"purpose": "la-severe-absence"}'),
    "consent": ("/v1/schools/100001/consents", school_officer,
                f'{{"upn": "{UPN}", "purpose": "mentoring-referral", '
                '"decision": "granted", "decision": "withdrawn"}'),
    "school history": ("/v1/schools/100001/consents/history", school_officer,
                       f'{{"upn": "{UPN}", "upn": "{pupil(2)["upn"]}"}}'),
    "history": ("/v1/consents/history", dpo,
                f'{{"upn": "{UPN}", "purpose": "a", "purpose": "mentoring-referral"}}'),
    "subject access": ("/v1/audit/subject-access", dpo, f'{{"upn": "{pupil(2)["upn"]}", "upn": "{UPN}"}}'),
    "statistics": ("/v1/stats/releases", statistician,
                   '{"name": "bundle", "tables": [{"measure": "enrolments", "by": [], "by": ["la"]}]}'),
}
DUPLICATED = {"release": "body.purpose", "consent": "body.decision", "school history": "body.upn",
              "history": "body.purpose", "subject access": "body.upn", "statistics": "body.tables.0.by"}


@pytest.mark.parametrize("name", list(BODIES))
def test_a_name_used_twice_in_any_other_body_is_refused_naming_the_field(loaded: Gateway, name: str) -> None:
    url, headers, body = BODIES[name]
    json.loads(body)  # well-formed JSON: only the repeated name is wrong
    before = stored(loaded)
    response = post(loaded, url, body.encode(), headers(loaded))
    assert errors(response) == [(None, DUPLICATED[name])]
    assert stored(loaded) == before


def test_an_unpaired_surrogate_is_a_422_not_a_500(loaded: Gateway) -> None:
    before = stored(loaded)
    for body in (b'{"purpose": "la-targeting-support", "justification": "\\ud800", "acknowledged": true}',
                 b'{"\\udc00": 1, "purpose": "la-targeting-support", "acknowledged": true}'):
        response = post(loaded, "/v1/releases", body, la_officer(loaded))
        assert response.status_code == 422, response.text
        assert "surrogate" in response.json()["detail"]["errors"][0]["message"]
    assert stored(loaded) == before


RELEASE = {"purpose": "la-targeting-support", "acknowledged": True, "from": "2025-09-01", "to": "2025-10-31",
           "justification": "Termly targeting support meeting with the attendance lead"}
TEXT_IN_BODIES = [
    ("release", "purpose", "la-targeting\x00-support"),
    ("release", "justification", "Termly targeting\x00 support meeting with the attendance lead"),
    ("release", "justification", "Termly targeting support meeting with the attendance lead\x1b[2J"),
    ("release", "upns", [UPN + "\n"]),
    ("consent", "upn", UPN + "\t"),
    ("consent", "purpose", "mentoring-referral\x7f"),
    ("consent", "evidence", "Signed form\x00, 3 Oct 2025"),
    ("consent", "evidence", "Signed form\x85 3 Oct 2025"),
    ("history", "upn", "\x00" + UPN),
    ("history", "purpose", "mentoring\u2028referral"),
    ("subject access", "upn", UPN[:5] + "\x00" + UPN[5:]),
    ("statistics", "name", "bundle\n"),
    ("statistics", "measure", "enrolments\x00"),
]


def text_body(name: str, field: str, value: Any) -> tuple[str, dict[str, str], dict[str, Any], str]:
    if name == "release":
        body: dict[str, Any] = {**RELEASE, "schools": [100001], field: value}
        return "/v1/releases", {}, body, f"body.{field}" + (".0" if field == "upns" else "")
    if name == "consent":
        body = {"upn": UPN, "purpose": "mentoring-referral", "decision": "granted", "evidence": "Signed form",
                field: value}
        return "/v1/schools/100001/consents", {}, body, f"body.{field}"
    if name == "history":
        return "/v1/consents/history", {}, {"upn": UPN, field: value}, f"body.{field}"
    if name == "subject access":
        return "/v1/audit/subject-access", {}, {"upn": value}, "body.upn"
    if field == "measure":
        body = {"name": "bundle", "tables": [{"measure": value, "by": []}]}
        return "/v1/stats/releases", {}, body, "body.tables.0.measure"
    body = {"name": value, "tables": [{"measure": "enrolments", "by": []}]}
    return "/v1/stats/releases", {}, body, f"body.{field}"


@pytest.mark.parametrize(("name", "field", "value"), TEXT_IN_BODIES)
def test_a_control_character_in_a_text_field_of_any_other_body_is_refused_naming_it(
    loaded: Gateway, name: str, field: str, value: Any
) -> None:
    url, _, body, named = text_body(name, field, value)
    headers = BODIES[name][1](loaded)
    before = stored(loaded)
    response = post(loaded, url, json.dumps(body).encode(), headers)
    assert errors(response) == [(None, named)]
    message = response.json()["detail"]["errors"][0]["message"]
    # A UPN field is refused by its shape, which no control character fits; text fields by the rule.
    assert ("control characters" in message) or (field.startswith("upn") and "pattern" in message), message
    assert UPN[3:] not in response.text and "Termly" not in response.text and "Signed" not in response.text
    assert stored(loaded) == before


def test_evidence_typed_over_several_lines_is_still_accepted(school: Gateway) -> None:  # noqa: F811
    body = {"upn": UPN, "purpose": "mentoring-referral", "decision": "granted",
            "evidence": "Signed form\r\n\treceived 3 Oct 2025"}
    response = post(school, "/v1/schools/100001/consents", json.dumps(body).encode(), school_officer(school))
    assert response.status_code == 201, response.text


def test_every_operation_that_takes_a_json_body_refuses_a_name_used_twice(loaded: Gateway) -> None:
    """Walks the OpenAPI document, so that a body route added later without the strict route class fails."""
    paths = loaded.client.get("/openapi.json").json()["paths"]
    operations = [(method, path) for path, item in paths.items() for method, op in item.items()
                  if "application/json" in op.get("requestBody", {}).get("content", {})]
    assert len(operations) >= 7
    params = {"{urn}": "100001", "{date}": DAY}
    headers = {"Content-Type": "application/json", **loaded.auth("school", 100001, "feed_submitter")}
    before = stored(loaded)
    for method, path in operations:
        url = path
        for name, value in params.items():
            url = url.replace(name, value)
        response = loaded.client.request(method, url, content=b'{"x": 1, "x": 2}', headers=headers)
        assert errors(response) in ([(None, "body.x")], [(None, "x")]), (method, path)
    assert stored(loaded) == before
