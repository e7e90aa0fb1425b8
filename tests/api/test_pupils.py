"""A school's attendance officer sees its own pupils with decrypted identifiers and totals."""

from __future__ import annotations

import datetime as dt

from tests.conftest import Gateway
from tests.factories import feed_json, pupil

MONDAY = dt.date(2025, 10, 6)


def submit(gw: Gateway, urn: int, day: dt.date, rows: list[dict]) -> None:
    r = gw.client.put(f"/v1/schools/{urn}/attendance/{day.isoformat()}", content=feed_json(rows),
                      headers={"Content-Type": "application/json", **gw.auth("school", urn, "feed_submitter")})
    assert r.status_code == 201, r.text


def officer(gw: Gateway, urn: int = 100001) -> dict[str, str]:
    return gw.auth("school", urn, "attendance_officer")


def test_the_officer_sees_its_pupils_with_totals_for_a_window(loaded: Gateway) -> None:
    for i in range(5):
        day = MONDAY + dt.timedelta(days=i)
        submit(loaded, 100001, day, [pupil(1, am="I" if i == 0 else "/", pm="\\"), pupil(2, forename="Zoë", surname="O'Brien")])
    response = loaded.client.get("/v1/schools/100001/pupils?from=2025-10-06&to=2025-10-10", headers=officer(loaded))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["from"] == "2025-10-06" and body["to"] == "2025-10-10"
    by_name = {p["surname"]: p for p in body["pupils"]}
    assert by_name["Surname1"]["upn"] == pupil(1)["upn"]
    assert by_name["Surname1"]["sessions_possible"] == 10
    assert by_name["Surname1"]["sessions_authorised_absence"] == 1
    assert by_name["Surname1"]["attendance_rate"] == 0.9
    assert by_name["Surname1"]["persistent_absence"] is True
    assert by_name["O'Brien"]["forename"] == "Zoë" and by_name["O'Brien"]["date_of_birth"] == "2015-03-14"
    narrower = loaded.client.get("/v1/schools/100001/pupils?from=2025-10-07&to=2025-10-10", headers=officer(loaded)).json()
    assert {p["surname"]: p["sessions_possible"] for p in narrower["pupils"]}["Surname1"] == 8
    assert {p["surname"]: p["attendance_rate"] for p in narrower["pupils"]}["Surname1"] == 1.0


def test_the_year_to_date_view_uses_the_running_totals(loaded: Gateway) -> None:
    submit(loaded, 100001, MONDAY, [pupil(1, am="G", pm="G")])
    body = loaded.client.get("/v1/schools/100001/pupils?to=2026-07-31", headers=officer(loaded)).json()
    assert body["from"] == "2025-08-01"
    assert body["pupils"][0]["sessions_unauthorised_absence"] == 2
    assert body["pupils"][0]["severe_absence"] is True


def test_another_schools_officer_is_refused(loaded: Gateway) -> None:
    submit(loaded, 100001, MONDAY, [pupil(1)])
    response = loaded.client.get("/v1/schools/100001/pupils", headers=officer(loaded, 100003))
    assert response.status_code == 403
    assert response.json()["detail"]["decision"] == "deny"
    assert loaded.client.get("/v1/schools/100001/pupils", headers=loaded.auth("school", 100001, "feed_submitter")).status_code == 403
    assert loaded.client.get("/v1/schools/100001/pupils", headers=loaded.auth("la", "202", "case_officer")).status_code == 403


def test_a_window_that_ends_before_it_starts_is_422(loaded: Gateway) -> None:
    r = loaded.client.get("/v1/schools/100001/pupils?from=2025-10-10&to=2025-10-01", headers=officer(loaded))
    assert r.status_code == 422


def test_a_bad_date_in_the_query_is_422(loaded: Gateway) -> None:
    assert loaded.client.get("/v1/schools/100001/pupils?from=yesterday", headers=officer(loaded)).status_code == 422


def test_a_pupils_attendance_rate_is_the_same_in_the_schools_view_and_in_a_release(loaded: Gateway) -> None:
    # Three possible sessions (the last is a planned closure, not counted), one attended: a third,
    # which the view and the release both give to four places, rounded half up.
    submit(loaded, 100001, MONDAY, [pupil(1, am="/", pm="I")])
    submit(loaded, 100001, MONDAY + dt.timedelta(days=1), [pupil(1, am="I", pm="#")])
    window = {"from": MONDAY.isoformat(), "to": (MONDAY + dt.timedelta(days=1)).isoformat()}
    view = loaded.client.get("/v1/schools/100001/pupils", params=window, headers=officer(loaded))
    assert view.status_code == 200, view.text
    release = loaded.client.post(
        "/v1/releases", headers=loaded.auth("la", "202", "case_officer"),
        json={"purpose": "la-severe-absence", "acknowledged": True, **window,
              "justification": "Severe absence review with the school's attendance lead"},
    )
    assert release.status_code == 201, release.text
    [shown] = view.json()["pupils"]
    [released] = release.json()["records"]
    assert shown["upn"] == released["upn"] == pupil(1)["upn"]
    assert shown["sessions_possible"] == released["sessions_possible"] == 3
    assert shown["attendance_rate"] == released["attendance_rate"] == 0.3333
