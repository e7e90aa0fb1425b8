"""A school's attendance officer sees its pupils at risk of persistent absence, with reasons in plain
words; everyone else is refused, and the audit log names no pupil."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select

from gateway.db.models import AuditEvent
from tests.conftest import Gateway
from tests.factories import feed_json, pupil

FIRST_MONDAY = dt.date(2025, 9, 8)
WEEKS = 8
WINDOW = "to=2025-10-31"


def submit(gw: Gateway, urn: int, day: dt.date, rows: list[dict]) -> None:
    r = gw.client.put(f"/v1/schools/{urn}/attendance/{day.isoformat()}", content=feed_json(rows),
                      headers={"Content-Type": "application/json", **gw.auth("school", urn, "feed_submitter")})
    assert r.status_code == 201, r.text


def eight_weeks(gw: Gateway) -> None:
    """Pupil 1 attends every session for four weeks, then misses five mornings in the last four weeks
    (87.5% against 100% before, 6.25% absence overall: not yet persistently absent). Pupil 2 attends
    throughout; pupil 3 misses a morning every week (5%, steady)."""
    falling = {FIRST_MONDAY + dt.timedelta(weeks=w, days=d) for w, d in ((4, 0), (5, 1), (6, 2), (6, 3), (7, 4))}
    for week in range(WEEKS):
        for d in range(5):
            day = FIRST_MONDAY + dt.timedelta(weeks=week, days=d)
            submit(gw, 100001, day, [
                pupil(1, am="I" if day in falling else "/"),
                pupil(2),
                pupil(3, am="O" if d == 0 else "/"),
            ])


def test_the_school_sees_a_falling_pupil_with_the_reason(loaded: Gateway) -> None:
    eight_weeks(loaded)
    r = loaded.client.get(f"/v1/schools/100001/pupils-at-risk?{WINDOW}",
                          headers=loaded.auth("school", 100001, "attendance_officer"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert [p["upn"] for p in body["pupils"]] == [pupil(1)["upn"]]
    listed = body["pupils"][0]
    assert listed["forename"] == "Forename1" and listed["surname"] == "Surname1" and listed["year_group"] == "5"
    assert listed["reasons"] == ["attendance in the last 4 school weeks 87.5% against 100.0% before"]
    assert body["rule"]["recent_weeks"] == 4 and body["rule"]["persistent_absence_line"] == 0.1
    assert body["from"] == "2025-08-01" and body["to"] == "2025-10-31"
    # Up to week 5, pupil 1 has missed one morning of the last four weeks' 40 sessions (97.5%): no fall yet.
    early = loaded.client.get("/v1/schools/100001/pupils-at-risk?to=2025-10-10",
                              headers=loaded.auth("school", 100001, "attendance_officer")).json()
    assert [p["upn"] for p in early["pupils"]] == []
    event = loaded.runtime.sessions().execute(
        select(AuditEvent).where(AuditEvent.action == "pupils_at_risk.viewed")).scalars().all()
    assert [json.loads(e.entry)["record_count"] for e in event] == [1, 0]


def test_others_are_refused_and_the_log_names_no_pupil(loaded: Gateway) -> None:
    eight_weeks(loaded)
    url = f"/v1/schools/100001/pupils-at-risk?{WINDOW}"
    for who in (("school", 100003, "attendance_officer"), ("school", 100001, "feed_submitter"),
                ("la", "202", "case_officer"), ("trust", "4001", "attendance_officer"),
                ("dfe", "dfe", "statistician")):
        r = loaded.client.get(url, headers=loaded.auth(*who))
        assert r.status_code == 403, (who, r.text)
        assert r.json()["detail"]["decision"] == "deny"
    assert loaded.client.get(url, headers={"Authorization": "Bearer not.a.token"}).status_code == 401
    assert loaded.client.get(url, headers=loaded.auth("school", 100001, "attendance_officer")).status_code == 200
    with loaded.runtime.sessions() as db:
        events = db.execute(select(AuditEvent)).scalars().all()
    denials = [e for e in events if e.decision == "deny"]
    assert len(denials) == 5
    text = " ".join(e.entry.decode() for e in events)
    for n in (1, 2, 3):
        assert pupil(n)["upn"] not in text and f"Surname{n}" not in text and f"Forename{n}" not in text


def test_an_unknown_query_parameter_is_refused(loaded: Gateway) -> None:
    r = loaded.client.get("/v1/schools/100001/pupils-at-risk?form=2025-09-01",
                          headers=loaded.auth("school", 100001, "attendance_officer"))
    assert r.status_code == 422 and "form" in r.text
