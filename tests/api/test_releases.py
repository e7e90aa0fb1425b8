"""Purpose-limited releases through POST /v1/releases: decisions, minimised records, life cycle."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from gateway.db import session as db_session
from gateway.db.models import AuditEvent, Release, ReleasePupil
from gateway.services import audit as audit_service
from tests.conftest import BACKENDS, Gateway
from tests.factories import feed_json, pupil

# Ten school days of autumn 2025 (academic year 2025/26), Monday 6 to Friday 17 October.
DAYS = [dt.date(2025, 10, 6) + dt.timedelta(days=d) for d in range(12) if (dt.date(2025, 10, 6) + dt.timedelta(days=d)).weekday() < 5]
WINDOW = {"from": "2025-09-01", "to": "2025-10-31"}
JUSTIFICATION = "Termly targeting support meeting with the school's attendance lead"


def submit(gw: Gateway, urn: int, day: dt.date, rows: list[dict]) -> None:
    r = gw.client.put(f"/v1/schools/{urn}/attendance/{day.isoformat()}", content=feed_json(rows),
                      headers={"Content-Type": "application/json", **gw.auth("school", urn, "feed_submitter")})
    assert r.status_code == 201, r.text


def fortnight(gw: Gateway, urn: int, pupils: dict[int, list[tuple[str, str]]], *, est: str = "2001", la: str = "202",
              extra: dict[int, dict] | None = None) -> None:
    """Each pupil serial gets its list of (am, pm) marks, one per school day of DAYS."""
    for i, day in enumerate(DAYS):
        rows = [pupil(serial, am=marks[i][0], pm=marks[i][1], est=est, la=la, **(extra or {}).get(serial, {}))
                for serial, marks in pupils.items()]
        submit(gw, urn, day, rows)


PRESENT = ("/", "\\")


def marks(absent_sessions: int, code: str = "I") -> list[tuple[str, str]]:
    """Ten days = 20 sessions; the first `absent_sessions` sessions coded `code`."""
    sessions = [code] * absent_sessions + ["P"] * (20 - absent_sessions)
    out = []
    for d in range(10):
        am, pm = sessions[2 * d], sessions[2 * d + 1]
        out.append(("/" if am == "P" else am, "\\" if pm == "P" else pm))
    return out


@pytest.fixture
def camden(loaded: Gateway) -> Gateway:
    # Pupil 1: 2 of 20 sessions missed (exactly 10%); 2: 1 of 20 (5%); 3: 10 of 20 (50%); 4: 12 unauthorised (G).
    fortnight(loaded, 100001, {1: marks(2), 2: marks(1), 3: marks(10), 4: marks(12, "G")})
    # Tower Hamlets: a persistently absent pupil who must never reach Camden.
    fortnight(loaded, 100003, {51: marks(8)}, est="2002", la="211")
    return loaded


def la_officer(gw: Gateway, la: str = "202") -> dict[str, str]:
    return gw.auth("la", la, "case_officer")


def release(gw: Gateway, body: dict, headers: dict[str, str]):
    return gw.client.post("/v1/releases", json={"acknowledged": True, **body}, headers=headers)


def audit_count(gw: Gateway, decision: str | None = None) -> int:
    with gw.runtime.sessions() as db:
        stmt = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "release.decided")
        if decision:
            stmt = stmt.where(AuditEvent.decision == decision)
        return int(db.execute(stmt).scalar_one())


def test_targeting_support_releases_the_las_persistently_absent_pupils_pseudonymised(camden: Gateway) -> None:
    r = release(camden, {"purpose": "la-targeting-support", "justification": JUSTIFICATION, **WINDOW}, la_officer(camden))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["purpose"] == "la-targeting-support" and body["recipient"] == {"org_type": "la", "org_id": "202"}
    assert body["record_count"] == 3 == len(body["records"])
    assert isinstance(body["audit_index"], int) and body["policy_version"]
    record_fields = {k for rec in body["records"] for k in rec}
    assert record_fields == set(body["fields"])
    assert {"upn", "forename", "surname", "date_of_birth"}.isdisjoint(record_fields)
    rates = sorted(rec["attendance_rate"] for rec in body["records"])
    assert rates == [0.4, 0.5, 0.9]
    assert all(rec["school_urn"] == 100001 and rec["pupil_ref"].startswith("pr_") for rec in body["records"])
    assert pupil(1)["upn"] not in r.text and pupil(51)["upn"] not in r.text
    created = dt.datetime.fromisoformat(body["created_at"])
    assert dt.datetime.fromisoformat(body["expires_at"]) - created > dt.timedelta(days=364)


def test_the_same_la_gets_the_same_pupil_ref_within_the_year_and_another_la_a_different_one(camden: Gateway) -> None:
    first = release(camden, {"purpose": "la-targeting-support", "justification": JUSTIFICATION, **WINDOW}, la_officer(camden)).json()
    second = release(camden, {"purpose": "la-targeting-support", "justification": JUSTIFICATION, **WINDOW}, la_officer(camden)).json()
    assert sorted(r["pupil_ref"] for r in first["records"]) == sorted(r["pupil_ref"] for r in second["records"])
    # The same child moves to Tower Hamlets and is persistently absent there too.
    fortnight(camden, 100003, {51: marks(8), 3: marks(10)}, est="2002", la="211")
    ours = release(camden, {"purpose": "la-targeting-support", "justification": JUSTIFICATION, **WINDOW}, la_officer(camden, "211")).json()
    theirs = {r["pupil_ref"] for r in first["records"]}
    assert ours["record_count"] == 2 and theirs.isdisjoint(r["pupil_ref"] for r in ours["records"])


def test_severe_absence_releases_names_at_exactly_fifty_percent(camden: Gateway) -> None:
    r = release(camden, {"purpose": "la-severe-absence", "justification": JUSTIFICATION, **WINDOW}, la_officer(camden))
    assert r.status_code == 201, r.text
    records = r.json()["records"]
    assert sorted((rec["upn"], rec["surname"]) for rec in records) == sorted(
        [(pupil(3)["upn"], "Surname3"), (pupil(4)["upn"], "Surname4")]
    )
    assert all(rec["date_of_birth"] == "2015-03-14" for rec in records)


def test_penalty_notice_lists_ten_or_more_unauthorised_sessions_with_dates_and_codes(camden: Gateway) -> None:
    r = release(camden, {"purpose": "la-penalty-notice", "justification": JUSTIFICATION, "to": "2025-10-17"}, la_officer(camden))
    assert r.status_code == 201, r.text
    records = r.json()["records"]
    assert len(records) == 1 and records[0]["upn"] == pupil(4)["upn"]
    sessions = records[0]["unauthorised_sessions"]
    assert len(sessions) == 12 and {s["code"] for s in sessions} == {"G"}
    assert sessions[0] == {"date": "2025-10-06", "session": "AM", "code": "G"}


def test_transition_gives_a_secondary_school_the_year_6_band_only(camden: Gateway) -> None:
    # The school's registers now also list two Year 6 pupils (the same four pupils as before besides).
    fortnight(camden, 100001, {1: marks(2), 2: marks(1), 3: marks(10), 4: marks(12, "G"), 61: marks(1), 62: marks(3)},
              extra={61: {"year_group": "6"}, 62: {"year_group": "6"}})
    upns = [pupil(61)["upn"], pupil(62)["upn"], pupil(1)["upn"]]
    headers = camden.auth("school", 100002, "attendance_officer")
    r = release(camden, {"purpose": "transition-y6-y7", "upns": upns, "justification": JUSTIFICATION, **WINDOW}, headers)
    assert r.status_code == 201, r.text
    records = sorted(r.json()["records"], key=lambda rec: rec["upn"])
    assert {k for rec in records for k in rec} == {"upn", "attendance_band", "persistent_absence"}
    by_upn = {rec["upn"]: rec for rec in records}
    assert by_upn[pupil(61)["upn"]]["attendance_band"] == "95+"
    assert by_upn[pupil(62)["upn"]] == {"upn": pupil(62)["upn"], "attendance_band": "50-90", "persistent_absence": True}
    assert pupil(1)["upn"] not in by_upn  # in Year 5: not a Year 6 record


def test_a_primary_school_cannot_ask_for_transition_data(camden: Gateway) -> None:
    headers = camden.auth("school", 100001, "attendance_officer")
    r = release(camden, {"purpose": "transition-y6-y7", "upns": [pupil(1)["upn"]], "justification": JUSTIFICATION, **WINDOW}, headers)
    assert r.status_code == 403


def test_mentoring_referral_releases_nobody_without_consent(camden: Gateway) -> None:
    r = release(camden, {"purpose": "mentoring-referral", "justification": JUSTIFICATION, **WINDOW}, la_officer(camden))
    assert r.status_code == 201, r.text
    assert r.json()["record_count"] == 0


@pytest.mark.parametrize(
    ("body", "headers", "reason"),
    [
        ({"purpose": "la-severe-absence"}, ("la", "202", "dpo"), "wrong_role"),
        ({"purpose": "la-severe-absence"}, ("school", "100001", "case_officer"), "wrong_org_type"),
        ({"purpose": "la-severe-absence", "schools": [100003]}, ("la", "202", "case_officer"), "other_la_school"),
        ({"purpose": "la-everything"}, ("la", "202", "case_officer"), "unknown_purpose"),
        ({"purpose": "dfe-statistics"}, ("dfe", "dfe", "statistician"), "statistics_only"),
        ({"purpose": "pupils-at-risk"}, ("school", "100001", "attendance_officer"), "view_only"),
        ({"purpose": "la-severe-absence", "justification": None}, ("la", "202", "case_officer"), "missing_justification"),
        ({"purpose": "la-severe-absence", "justification": "   "}, ("la", "202", "case_officer"), "missing_justification"),
    ],
)
def test_every_denial_is_403_with_reasons_and_is_recorded(camden: Gateway, body: dict, headers: tuple, reason: str) -> None:
    before = audit_count(camden, "deny")
    payload = {"justification": JUSTIFICATION, **WINDOW, **body}
    payload = {k: v for k, v in payload.items() if v is not None}
    r = release(camden, payload, camden.auth(*headers))
    assert r.status_code == 403, r.text
    detail = r.json()["detail"]
    assert detail["decision"] == "deny"
    assert any(text.startswith(reason) for text in detail["reasons"]), detail
    assert audit_count(camden, "deny") == before + 1
    with camden.runtime.sessions() as db:
        assert db.execute(select(func.count()).select_from(Release)).scalar_one() == 0


@pytest.mark.parametrize("acknowledged", [None, False, "true", 1])
def test_a_release_without_the_purposes_acknowledgement_is_422_naming_acknowledged(camden: Gateway, acknowledged) -> None:
    body = {"purpose": "la-targeting-support", "justification": JUSTIFICATION, **WINDOW}
    if acknowledged is not None:
        body["acknowledged"] = acknowledged
    r = camden.client.post("/v1/releases", json=body, headers=la_officer(camden))
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["detail"]["errors"]] == ["body.acknowledged"]
    with camden.runtime.sessions() as db:
        assert db.execute(select(func.count()).select_from(Release)).scalar_one() == 0


def test_an_unknown_field_in_the_request_is_422(camden: Gateway) -> None:
    r = release(camden, {"purpose": "la-severe-absence", "justification": JUSTIFICATION, "fields": ["upn"]}, la_officer(camden))
    assert r.status_code == 422


def test_a_bad_upn_in_a_transition_request_is_422_without_echo(camden: Gateway) -> None:
    headers = camden.auth("school", 100002, "attendance_officer")
    r = release(camden, {"purpose": "transition-y6-y7", "upns": ["X123"], "justification": JUSTIFICATION}, headers)
    assert r.status_code == 422 and "X123" not in r.text


def test_when_the_audit_append_fails_nothing_leaves(camden: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(db, event):
        raise OperationalError("INSERT INTO audit_events", {}, Exception("disk full"))

    monkeypatch.setattr(audit_service, "_append", broken)
    r = release(camden, {"purpose": "la-severe-absence", "justification": JUSTIFICATION, **WINDOW}, la_officer(camden))
    assert r.status_code == 503
    assert "records" not in r.text and pupil(3)["upn"] not in r.text
    with camden.runtime.sessions() as db:
        assert db.execute(select(func.count()).select_from(Release)).scalar_one() == 0


# PostgreSQL only (SQLite commits in process); CI always has it (GATEWAY_TEST_POSTGRES_URL).
@pytest.mark.parametrize("database_url", [b for b in BACKENDS if b == "postgresql"], indirect=True)
def test_when_the_commit_cannot_be_confirmed_on_disk_nothing_leaves(
    camden: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The release and its audit event are committed asynchronously, and the connection is lost before
    the second commit confirms them on disk (``gateway.db.session.transaction``): the LA gets a 503 and
    no record; the log keeps what was decided, as it would if the answer were lost on the way."""
    monkeypatch.setattr(db_session, "_FLUSH", text("SELECT pg_terminate_backend(pg_backend_pid())"))
    body = {"purpose": "la-severe-absence", "justification": JUSTIFICATION, **WINDOW}
    r = release(camden, body, la_officer(camden))
    assert r.status_code == 503
    assert "records" not in r.text and pupil(3)["upn"] not in r.text
    monkeypatch.undo()
    with camden.runtime.sessions() as db:
        made = db.execute(select(Release)).scalars().all()
        assert len(made) == 1 and made[0].audit_index >= 0


def test_the_recipient_reads_the_metadata_and_attests_deletion(camden: Gateway) -> None:
    made = release(camden, {"purpose": "la-severe-absence", "justification": JUSTIFICATION, **WINDOW}, la_officer(camden)).json()
    url = f"/v1/releases/{made['release_id']}"
    meta = camden.client.get(url, headers=la_officer(camden))
    assert meta.status_code == 200
    assert meta.json()["record_count"] == 2 and "records" not in meta.json() and meta.json()["status"] == "active"
    # Another LA is refused, and the refusal is recorded (the id is random: no probing to guard against).
    assert camden.client.get(url, headers=la_officer(camden, "211")).status_code == 403
    assert camden.client.post(url + "/deletion", headers=la_officer(camden, "211")).status_code == 403
    deleted = camden.client.post(url + "/deletion", headers=la_officer(camden))
    assert deleted.status_code == 200 and deleted.json()["status"] == "deleted"
    assert camden.client.post(url + "/deletion", headers=la_officer(camden)).status_code == 409
    dpo = camden.auth("operator", "operator", "dpo")
    listed = camden.client.get("/v1/releases?status=deleted", headers=dpo).json()["releases"]
    assert [r["release_id"] for r in listed] == [made["release_id"]]
    assert camden.client.get("/v1/releases?status=overdue", headers=dpo).json()["releases"] == []
    assert camden.client.get("/v1/releases", headers=la_officer(camden)).status_code == 403
    assert camden.client.get("/v1/releases?status=bogus", headers=dpo).status_code == 422


def test_an_overdue_release_is_listed_for_dpos(camden: Gateway) -> None:
    made = release(camden, {"purpose": "la-targeting-support", "justification": JUSTIFICATION, **WINDOW}, la_officer(camden)).json()
    from sqlalchemy import update

    with camden.runtime.sessions() as db, db.begin():
        db.execute(update(Release).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=1)))
    overdue = camden.client.get("/v1/releases?status=overdue", headers=camden.auth("operator", "operator", "dpo")).json()["releases"]
    assert [r["release_id"] for r in overdue] == [made["release_id"]]
    own = camden.client.get("/v1/releases?status=overdue", headers=camden.auth("la", "211", "dpo")).json()["releases"]
    assert own == []


def test_the_pupils_school_resolves_a_pupil_ref_and_no_other_school_can(camden: Gateway) -> None:
    made = release(camden, {"purpose": "la-targeting-support", "justification": JUSTIFICATION, **WINDOW}, la_officer(camden)).json()
    ref = next(r["pupil_ref"] for r in made["records"] if r["attendance_rate"] == 0.5)
    mine = camden.client.get(f"/v1/schools/100001/pupil-refs/{ref}", headers=camden.auth("school", 100001, "attendance_officer"))
    assert mine.status_code == 200, mine.text
    assert mine.json()["upn"] == pupil(3)["upn"] and mine.json()["release_id"] == made["release_id"]
    other = camden.client.get(f"/v1/schools/100003/pupil-refs/{ref}", headers=camden.auth("school", 100003, "attendance_officer"))
    assert other.status_code == 404
    wrong = camden.client.get(f"/v1/schools/100001/pupil-refs/{ref}", headers=camden.auth("school", 100003, "attendance_officer"))
    assert wrong.status_code == 403


def test_a_pupil_ref_given_again_resolves_to_the_latest_release_and_only_pupil_refs_are_kept(camden: Gateway) -> None:
    body = {"purpose": "la-targeting-support", "justification": JUSTIFICATION, **WINDOW}
    first, second = (release(camden, body, la_officer(camden)).json() for _ in range(2))
    ref = next(r["pupil_ref"] for r in second["records"] if r["attendance_rate"] == 0.5)
    assert ref in {r["pupil_ref"] for r in first["records"]}  # the same LA, the same year: the same reference
    got = camden.client.get(f"/v1/schools/100001/pupil-refs/{ref}", headers=camden.auth("school", 100001, "attendance_officer"))
    assert got.status_code == 200 and got.json()["release_id"] == second["release_id"], got.text
    notice = release(camden, {"purpose": "la-penalty-notice", "justification": JUSTIFICATION, "to": "2025-10-17"},
                     la_officer(camden)).json()
    assert notice["record_count"] == 1 and "pupil_ref" not in notice["fields"]
    with camden.runtime.sessions() as db:
        kept = dict(db.execute(select(ReleasePupil.release_id, func.count()).group_by(ReleasePupil.release_id)).all())
    # One row per pupil_ref given; a release of identifiers gives none, so it keeps none.
    assert kept == {first["release_id"]: first["record_count"], second["release_id"]: second["record_count"]}


def test_purposes_are_listed_for_any_authenticated_user(camden: Gateway) -> None:
    body = camden.client.get("/v1/purposes", headers=camden.auth("school", 100001, "feed_submitter")).json()
    ids = [p["id"] for p in body["purposes"]]
    assert ids == ["la-targeting-support", "la-severe-absence", "la-penalty-notice", "transition-y6-y7", "mentoring-referral", "dfe-statistics",
                   "school-attendance-report", "trust-attendance-overview", "la-attendance-overview", "abie-national",
                   "pupils-at-risk"]
    assert camden.client.get("/v1/purposes").status_code == 401
