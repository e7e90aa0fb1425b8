"""The daily register feed, driven over HTTP."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text

from gateway.db import session as db_session
from gateway.db.models import AuditEvent, Enrolment, EnrolmentCodeTotal, Mark, Register, RegisterHistory
from schemas import registers as packed_registers
from tests.conftest import BACKENDS, Gateway
from tests.factories import feed_csv, feed_json, pupil, upn

DAY = dt.date(2025, 10, 6)
URL = f"/v1/schools/100001/attendance/{DAY.isoformat()}"


def submitter(gw: Gateway, urn: int = 100001) -> dict[str, str]:
    return gw.auth("school", urn, "feed_submitter")


def put(gw: Gateway, body: bytes, *, url: str = URL, content_type: str = "application/json", headers: dict[str, str] | None = None):
    return gw.client.put(url, content=body, headers={"Content-Type": content_type, **(headers or submitter(gw))})


def count(gw: Gateway, model: type) -> int:
    with gw.runtime.sessions() as db:
        return int(db.execute(select(func.count()).select_from(model)).scalar_one())


def test_a_school_submits_its_register_and_gets_a_receipt(loaded: Gateway) -> None:
    response = put(loaded, feed_json([pupil(1), pupil(2, am="I", pm="I")]))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["urn"] == 100001 and body["date"] == DAY.isoformat()
    assert body["pupils"] == 2 and body["version"] == 1 and body["supersedes"] is None
    assert isinstance(body["audit_index"], int)
    assert count(loaded, Mark) == 2


def test_csv_and_json_bodies_of_the_same_register_are_the_same_register(loaded: Gateway) -> None:
    rows = [pupil(1), pupil(2, am="L", pm="G")]
    assert put(loaded, feed_csv(rows), content_type="text/csv").status_code == 201
    again = put(loaded, feed_json(list(reversed(rows))))
    assert again.status_code == 200
    assert again.json()["version"] == 1
    assert count(loaded, Register) == 1


def test_the_same_body_again_changes_nothing(loaded: Gateway) -> None:
    body = feed_json([pupil(1), pupil(2)])
    first = put(loaded, body).json()
    events_before = count(loaded, AuditEvent)
    second = put(loaded, body)
    assert second.status_code == 200
    assert second.json() == first
    assert count(loaded, AuditEvent) == events_before
    with loaded.runtime.sessions() as db:
        possible = db.execute(select(func.sum(Enrolment.sessions_possible))).scalar_one()
    assert possible == 4


def test_a_different_body_is_a_correction_that_keeps_the_old_version(loaded: Gateway) -> None:
    put(loaded, feed_json([pupil(1, am="N", pm="N"), pupil(2), pupil(3)]))
    response = put(loaded, feed_json([pupil(1, am="I", pm="I"), pupil(2)]))
    assert response.status_code == 201
    assert response.json()["version"] == 2 and response.json()["supersedes"] == 1
    assert count(loaded, Mark) == 2
    # The superseded version is kept whole, packed, with its three pupils.
    with loaded.runtime.sessions() as db:
        [old] = db.execute(select(RegisterHistory)).scalars()
        [new] = db.execute(select(Register)).scalars()
    assert (old.version, old.pupil_count, new.version, new.pupil_count) == (1, 3, 2, 2)
    assert len(packed_registers.unpack(old.marks)) == 3 and len(packed_registers.unpack(new.marks)) == 2
    with loaded.runtime.sessions() as db:
        totals = {
            (e.sessions_possible, e.sessions_authorised, e.sessions_unauthorised, e.sessions_present)
            for e in db.execute(select(Enrolment)).scalars()
        }
        codes = {(c.code, c.sessions) for c in db.execute(select(EnrolmentCodeTotal)).scalars()}
    # pupil 1 now two authorised (I), pupil 2 present, pupil 3 removed: all marks taken off
    assert totals == {(2, 2, 0, 0), (2, 0, 0, 2), (0, 0, 0, 0)}
    assert ("N", 0) not in codes and ("I", 2) in codes


def test_running_totals_follow_each_statistical_class(loaded: Gateway) -> None:
    days = [DAY + dt.timedelta(days=i) for i in range(4)]
    marks = [("/", "\\"), ("B", "I"), ("G", "#"), ("L", "U")]
    for day, (am, pm) in zip(days, marks, strict=True):
        r = put(loaded, feed_json([pupil(1, am=am, pm=pm)]), url=f"/v1/schools/100001/attendance/{day.isoformat()}")
        assert r.status_code == 201, r.text
    with loaded.runtime.sessions() as db:
        e = db.execute(select(Enrolment)).scalar_one()
    assert (e.sessions_possible, e.sessions_present, e.sessions_aea, e.sessions_authorised, e.sessions_unauthorised,
            e.sessions_not_counted) == (7, 3, 1, 1, 2, 1)
    assert (e.first_date, e.last_date) == (days[0], days[-1])


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"upn": "A12345678901B"}, "upn"),
        ({"upn": upn()[:-1] + "9"}, "upn"),
        ({"am": "H"}, "am"),
        ({"pm": "ZZ"}, "pm"),
        ({"year_group": "15"}, "year_group"),
        ({"sen_status": "S"}, "sen_status"),
        ({"date_of_birth": "2015-02-30"}, "date_of_birth"),
        ({"date_of_birth": "2030-01-01"}, "date_of_birth"),
        ({"forename": ""}, "forename"),
        ({"ethnicity": "WBRI"}, "ethnicity"),
    ],
)
def test_a_bad_row_is_refused_naming_row_and_field_and_nothing_is_stored(loaded: Gateway, override: dict, field: str) -> None:
    rows = [pupil(1), pupil(2), pupil(3, **override)]
    response = put(loaded, feed_json(rows))
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]["errors"]
    assert {"row": 3, "field": field} == {k: errors[0][k] for k in ("row", "field")}
    assert count(loaded, Mark) == 0 and count(loaded, Register) == 0
    for value in override.values():
        if value:
            assert value not in response.text


def test_a_missing_session_mark_is_refused(loaded: Gateway) -> None:
    row = pupil(1)
    del row["pm"]
    errors = put(loaded, feed_json([row])).json()["detail"]["errors"]
    assert errors[0]["row"] == 1 and errors[0]["field"] == "pm"


def test_legacy_codes_are_accepted_only_before_the_2024_regulations(loaded: Gateway) -> None:
    old_day = "2024-07-15"
    ok = put(loaded, feed_json([pupil(1, am="H", pm="J")]), url=f"/v1/schools/100001/attendance/{old_day}")
    assert ok.status_code == 201, ok.text
    refused = put(loaded, feed_json([pupil(1, am="H", pm="J")]), url="/v1/schools/100001/attendance/2024-08-19")
    assert refused.status_code == 422


def test_a_duplicate_pupil_is_refused(loaded: Gateway) -> None:
    response = put(loaded, feed_json([pupil(1), pupil(2), pupil(1)]))
    assert response.status_code == 422
    assert response.json()["detail"]["errors"][0] == {"row": 3, "field": "upn", "message": "duplicate pupil (same UPN as row 1)"}


def test_a_date_in_the_future_is_refused(loaded: Gateway) -> None:
    tomorrow = dt.date.today() + dt.timedelta(days=2)
    response = put(loaded, feed_json([pupil(1)]), url=f"/v1/schools/100001/attendance/{tomorrow.isoformat()}")
    assert response.status_code == 422
    assert response.json()["detail"]["errors"][0]["field"] == "date"


def test_a_csv_with_an_unknown_column_is_refused(loaded: Gateway) -> None:
    body = feed_csv([pupil(1)]).replace(b"am,pm", b"am,pm,postcode").replace(b"/,\\\n", b"/,\\,NW1\n")
    response = put(loaded, body, content_type="text/csv")
    assert response.status_code == 422
    assert any(e["field"] == "postcode" for e in response.json()["detail"]["errors"])


def test_a_body_over_ten_mebibytes_is_refused_with_413(loaded: Gateway) -> None:
    body = b'{"pupils": [' + b" " * (10 * 1024 * 1024) + b"]}"
    assert put(loaded, body).status_code == 413
    assert count(loaded, Register) == 0


def test_a_streamed_body_over_the_limit_is_refused_without_a_length(loaded: Gateway) -> None:
    def chunks():
        for _ in range(11):
            yield b" " * (1024 * 1024)

    response = loaded.client.put(URL, content=chunks(), headers={"Content-Type": "application/json", **submitter(loaded)})
    assert response.status_code == 413


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b'{"pupils": {}}', b'{"pupils": []}', b"\xff\xfe", b'{"pupils": [1]}'])
def test_malformed_json_bodies_get_422_not_500(loaded: Gateway, body: bytes) -> None:
    assert put(loaded, body).status_code == 422


@pytest.mark.parametrize("body", [b"", b"upn\n", b'upn,forename,surname,date_of_birth,year_group,sen_status,fsm_eligible,am,pm\n"x', b"\xff\xfe"])
def test_malformed_csv_bodies_get_422_not_500(loaded: Gateway, body: bytes) -> None:
    assert put(loaded, body, content_type="text/csv").status_code == 422


def test_another_media_type_is_refused(loaded: Gateway) -> None:
    assert put(loaded, b"<xml/>", content_type="application/xml").status_code == 415


def test_only_the_schools_own_feed_submitter_may_submit(loaded: Gateway) -> None:
    body = feed_json([pupil(1)])
    assert put(loaded, body, headers=submitter(loaded, 100003)).status_code == 403
    assert put(loaded, body, headers=loaded.auth("school", 100001, "attendance_officer")).status_code == 403
    assert put(loaded, body, headers=loaded.auth("la", "202", "feed_submitter")).status_code == 403
    assert count(loaded, Register) == 0


def test_a_closed_school_may_not_submit(loaded: Gateway) -> None:
    url = f"/v1/schools/100004/attendance/{DAY.isoformat()}"
    response = put(loaded, feed_json([pupil(1)]), url=url, headers=submitter(loaded, 100004))
    assert response.status_code == 403
    assert "school_not_open" in response.json()["detail"]["reasons"][0]


def test_an_unknown_school_is_404(loaded: Gateway) -> None:
    url = f"/v1/schools/199999/attendance/{DAY.isoformat()}"
    assert put(loaded, feed_json([pupil(1)]), url=url, headers=submitter(loaded, 199999)).status_code == 404


def test_a_pupil_who_moves_school_has_two_enrolments(loaded: Gateway) -> None:
    child = pupil(7)
    put(loaded, feed_json([child]))
    later = f"/v1/schools/100003/attendance/{(DAY + dt.timedelta(days=7)).isoformat()}"
    assert put(loaded, feed_json([child]), url=later, headers=submitter(loaded, 100003)).status_code == 201
    with loaded.runtime.sessions() as db:
        enrolments = {(e.urn, e.la_code) for e in db.execute(select(Enrolment)).scalars()}
    assert enrolments == {(100001, "202"), (100003, "211")}


@pytest.mark.parametrize("la", ["838", "839", "940", "941", "942", "943"])
def test_upns_issued_by_las_created_since_2019_are_accepted(loaded: Gateway, la: str) -> None:
    row = pupil(1, upn=upn(la, "2001", "19", 1))
    assert put(loaded, feed_json([row])).status_code == 201


def test_a_upn_from_an_la_number_that_never_existed_is_refused(loaded: Gateway) -> None:
    errors = put(loaded, feed_json([pupil(1, upn=upn("999", "2001", "19", 1))])).json()["detail"]["errors"]
    assert errors[0]["field"] == "upn"


def test_a_new_pupils_wrong_check_letter_is_refused_on_a_day_when_the_others_are_known(loaded: Gateway) -> None:
    # Check letters are checked at the door only for pupils not already stored under the same keyed
    # identity digest; a new pupil's wrong letter is still a 422 with the full list of problems.
    assert put(loaded, feed_json([pupil(1), pupil(2)])).status_code == 201
    later = f"/v1/schools/100001/attendance/{(DAY + dt.timedelta(days=1)).isoformat()}"
    marks, events = count(loaded, Mark), count(loaded, AuditEvent)
    bad = upn(serial=3)[:-1] + "9"
    refused = put(loaded, feed_json([pupil(1), pupil(2), pupil(3, upn=bad), pupil(4, am="ZZ")]), url=later)
    assert refused.status_code == 422, refused.text
    assert [(e["row"], e["field"]) for e in refused.json()["detail"]["errors"]] == [(3, "upn"), (4, "am")]
    assert bad not in refused.text
    assert (count(loaded, Mark), count(loaded, AuditEvent)) == (marks, events)
    renamed = put(loaded, feed_json([pupil(1), pupil(2, forename="Renamed", upn=upn(serial=2)[:-1] + "9")]), url=later)
    assert renamed.status_code == 422, renamed.text
    assert put(loaded, feed_json([pupil(1), pupil(2), pupil(3)]), url=later).status_code == 201


# PostgreSQL only (SQLite commits in process); CI always has it (GATEWAY_TEST_POSTGRES_URL).
@pytest.mark.parametrize("database_url", [b for b in BACKENDS if b == "postgresql"], indirect=True)
def test_a_register_whose_commit_cannot_be_confirmed_on_disk_gets_a_503_and_sending_it_again_is_a_no_op(
    loaded: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The register is committed asynchronously, and the connection is lost before the second commit
    confirms it on disk (``gateway.db.session.transaction``): no receipt goes out, and the same
    register sent again is answered from what was stored, without storing it twice."""
    body = feed_json([pupil(1), pupil(2, am="I", pm="I")])
    monkeypatch.setattr(db_session, "_FLUSH", text("SELECT pg_terminate_backend(pg_backend_pid())"))
    lost = put(loaded, body)
    assert lost.status_code == 503, lost.text
    assert "audit_index" not in lost.text
    monkeypatch.undo()
    again = put(loaded, body)
    assert again.status_code == 200, again.text
    assert again.json()["version"] == 1
    assert count(loaded, Register) == 1 and count(loaded, Mark) == 2
