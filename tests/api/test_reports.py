"""The schools' attendance reports over HTTP: who sees which report, what a report holds, and the
fortnightly snapshot spent for once (by the command line, or by the first view, even two at once)."""

from __future__ import annotations

import csv
import datetime as dt
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from gateway.cli import main
import json

from gateway.db.models import AuditEvent, PrivacySpend, ReportSnapshot, School
from gateway.services import reports
from gateway.services.schools import import_gias
from tests.conftest import Gateway
from tests.factories import GIAS_HEADER, feed_json, pupil

DAYS = [dt.date(2025, 10, 6), dt.date(2025, 10, 7), dt.date(2025, 10, 13), dt.date(2025, 10, 14)]
PRIOR_DAY = dt.date(2025, 3, 3)
TODAY = dt.date(2025, 10, 20)
#: urn, LA, LA name, establishment number, name, status, phase, trust UID.
SCHOOLS = [
    (100001, "202", "Camden", "2001", "Camden Primary School", "Open", "Primary", "4021"),
    (100002, "202", "Camden", "4001", "Camden Secondary School", "Open", "Secondary", ""),
    (100003, "211", "Tower Hamlets", "2002", "Tower Hamlets Primary School", "Open", "Primary", "4021"),
    (100005, "202", "Camden", "2005", "Camden Other Primary", "Open", "Primary", "5000"),
]
#: The trusts' names on the register (an ampersand, as real trusts' names have, for the escaping).
TRUST_NAMES = {"4021": "Camden & Tower Hamlets Learning Trust", "5000": "Ashfield Academy Trust"}


def _gias(path: Path) -> Path:
    with path.open("w", encoding="cp1252", newline="") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_ALL)
        writer.writerow([*GIAS_HEADER, "Trusts (code)", "Trusts (name)"])
        for urn, la, la_name, est, name, status, phase, trust in SCHOOLS:
            writer.writerow([urn, la, la_name, est, name, "Academy converter", "Academies", status,
                             "Not applicable", "01-09-1990", phase, "4", "11", "No boarders", "Mixed", "NW1 1AA",
                             trust, TRUST_NAMES.get(trust, "")])
    return path


def _put(gw: Gateway, urn: int, la: str, est: str, day: dt.date, absent: set[int]) -> None:
    rows = [pupil(n, la=la, est=est, year_group=str(1 + n % 6), sen_status="K" if n % 5 == 0 else "N",
                  fsm_eligible=n % 3 == 0, **({"am": "I", "pm": "O"} if n in absent else {}))
            for n in range(1, 13)]
    r = gw.client.put(f"/v1/schools/{urn}/attendance/{day.isoformat()}", content=feed_json(rows),
                      headers={"Content-Type": "application/json", **gw.auth("school", urn, "feed_submitter")})
    assert r.status_code in (200, 201), r.text


@pytest.fixture
def world(gw: Gateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Gateway:
    import_gias(gw.runtime.sessions, _gias(tmp_path / "gias.csv"))
    for urn, la, _, est, *_rest in SCHOOLS:
        for i, day in enumerate(DAYS):
            _put(gw, urn, la, est, day, {1, 2} if urn == 100001 else {i + 3})
    monkeypatch.setattr(reports, "today", lambda: TODAY)
    return gw


def _report(gw: Gateway, urn: int, *who: Any) -> Any:
    return gw.client.get(f"/v1/schools/{urn}/report", headers=gw.auth(*who))


def _spends(gw: Gateway) -> int:
    with gw.runtime.sessions() as db:
        return int(db.scalar(select(func.count()).select_from(PrivacySpend)
                             .where(PrivacySpend.consumer == "school-benchmarks")) or 0)


def _last_event(gw: Gateway) -> dict[str, Any]:
    with gw.runtime.sessions() as db:
        row = db.execute(select(AuditEvent).order_by(AuditEvent.idx.desc()).limit(1)).scalar_one()
        return dict(json.loads(row.entry))


def test_a_school_sees_its_own_report_with_group_and_england_intervals_and_viewing_spends_once(
    world: Gateway,
) -> None:
    r = _report(world, 100001, "school", 100001, "attendance_officer")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["urn"] == 100001 and body["name"] == "Camden Primary School"
    assert body["fortnight_start"] == "2025-10-20" and body["academic_year"] == 2025
    assert [s["urn"] for s in body["similar_schools"]] == [100003, 100005]  # the other primaries
    overall = next(m for m in body["measures"] if m["window"] == "year_to_date" and m["dimension"] == "all"
                   and m["measure"] == "overall_absence_rate")
    # Its own value is exact: 2 of 12 pupils absent both sessions on each of 4 days.
    assert overall["school"] == pytest.approx(100 * 16 / 96, abs=0.01)
    for scope in ("similar_schools", "england"):
        if overall[scope] is not None:
            assert overall[scope]["lower"] <= overall[scope]["value"] <= overall[scope]["upper"]
    assert {m["window"] for m in body["measures"]} == {"year_to_date", "last_four_weeks"}
    assert {m["dimension"] for m in body["measures"]} == {"all", "year_group", "sen_status", "fsm"}
    for row in body["strengths"]:
        assert row["school"] < row["similar_schools"]["lower"]
    for row in body["focus"]:
        assert row["school"] > row["similar_schools"]["upper"]
    assert body["abie"]["available"] is False  # no prior-year snapshot
    assert _spends(world) == 1
    event = _last_event(world)
    assert event["action"] == "report.viewed" and event["decision"] == "allow"
    assert _report(world, 100001, "school", 100001, "attendance_officer").status_code == 200
    assert _spends(world) == 1


@pytest.mark.parametrize(("urn", "who", "status"), [
    (100001, ("trust", "4021", "trust_officer"), 200),
    (100003, ("trust", "4021", "trust_officer"), 200),
    (100005, ("trust", "4021", "trust_officer"), 403),  # another trust's school
    (100002, ("trust", "4021", "trust_officer"), 403),  # in no trust
    (100001, ("la", "202", "case_officer"), 200),
    (100003, ("la", "202", "case_officer"), 403),  # another LA's school
    (100001, ("school", 100003, "attendance_officer"), 403),  # another school's report
    (100001, ("school", 100001, "feed_submitter"), 403),
    (100001, ("dfe", "dfe", "statistician"), 403),
])
def test_who_may_see_a_schools_report(world: Gateway, urn: int, who: tuple[Any, ...], status: int) -> None:
    r = _report(world, urn, *who)
    assert r.status_code == status, r.text
    event = _last_event(world)
    assert event["decision"] == ("allow" if status == 200 else "deny")
    if status == 403:
        assert event["action"] == "access.denied" and event["details"]["action"] == "report.view"
        assert "measures" not in r.text


def test_an_unknown_school_is_404_and_a_bad_urn_422(world: Gateway) -> None:
    assert _report(world, 100009, "la", "202", "case_officer").status_code == 404
    assert _report(world, 12, "la", "202", "case_officer").status_code == 422


def test_a_trust_sees_its_schools_with_headline_rates_and_no_other_trust(world: Gateway) -> None:
    r = world.client.get("/v1/trusts/4021/schools", headers=world.auth("trust", "4021", "trust_officer"))
    assert r.status_code == 200, r.text
    assert (r.json()["trust"], r.json()["name"]) == ("4021", "Camden & Tower Hamlets Learning Trust")
    rows = r.json()["schools"]
    assert [s["urn"] for s in rows] == [100001, 100003]
    assert rows[0]["overall_absence_rate"] == pytest.approx(100 * 16 / 96, abs=0.01)
    assert set(rows[0]["abie"]) == {"available", "expectation_pp", "target"}
    other = world.client.get("/v1/trusts/4021/schools", headers=world.auth("trust", "5000", "trust_officer"))
    assert other.status_code == 403
    assert _last_event(world)["details"]["action"] == "trust.schools"
    assert world.client.get("/v1/trusts/4021/schools",
                            headers=world.auth("la", "202", "case_officer")).status_code == 403


def test_a_trust_the_register_names_no_school_of_has_no_name_and_no_schools(world: Gateway) -> None:
    r = world.client.get("/v1/trusts/9999/schools", headers=world.auth("trust", "9999", "trust_officer"))
    assert r.status_code == 200, r.text
    assert (r.json()["trust"], r.json()["name"], r.json()["schools"]) == ("9999", None, [])


def test_a_trusts_name_is_the_one_its_open_schools_carry() -> None:
    def school(urn: int, status: str, trust_name: str | None) -> School:
        return School(urn=urn, status=status, trust_uid="4021", trust_name=trust_name)

    # A closed school keeps the name the trust had when it closed; the open schools have the new one.
    schools = [school(1, "Closed", "Old Name Trust"), school(2, "Closed", "Old Name Trust"),
               school(3, "Open", "New Name Trust"), school(4, "Open", None)]
    assert reports.trust_name(schools) == "New Name Trust"
    assert reports.trust_name(schools[:2]) == "Old Name Trust"
    assert reports.trust_name([school(5, "Open", None)]) is None


def test_an_la_sees_its_schools_and_not_another_las(world: Gateway) -> None:
    r = world.client.get("/v1/las/202/schools", headers=world.auth("la", "202", "case_officer"))
    assert r.status_code == 200, r.text
    assert {s["urn"] for s in r.json()["schools"]} == {100001, 100002, 100005}
    assert world.client.get("/v1/las/211/schools", headers=world.auth("la", "202", "case_officer")).status_code == 403
    assert _last_event(world)["details"]["action"] == "la.schools"
    assert world.client.get("/v1/las/20x/schools", headers=world.auth("la", "202", "case_officer")).status_code == 422


def test_dfe_sees_every_schools_abie_and_no_one_else_does(world: Gateway) -> None:
    r = world.client.get("/v1/abie", headers=world.auth("dfe", "dfe", "statistician"))
    assert r.status_code == 200, r.text
    assert {s["urn"] for s in r.json()["schools"]} == {100001, 100002, 100003, 100005}
    assert world.client.get("/v1/abie", headers=world.auth("la", "202", "case_officer")).status_code == 403
    assert _last_event(world)["details"]["action"] == "abie.list"
    missing = world.client.get("/v1/abie?academic_year=2019", headers=world.auth("dfe", "dfe", "statistician"))
    assert missing.status_code == 404 and "academic_year" in missing.text


def test_the_abie_comes_from_the_prior_years_snapshot(world: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    for urn, la, _, est, *_rest in SCHOOLS:
        _put(world, urn, la, est, PRIOR_DAY, {1} if urn == 100001 else set())
    env = {"GATEWAY_DATA_DIR": str(world.settings.data_dir), "GATEWAY_DATABASE_URL": world.settings.database_url}
    result = CliRunner().invoke(main, ["reports", "snapshot", "--day", "2025-03-10"], env=env)
    assert result.exit_code == 0, result.output
    body = _report(world, 100001, "school", 100001, "attendance_officer").json()
    abie = body["abie"]
    assert abie["prior_year"] == 2024
    if abie["available"]:
        assert abie["target"] == pytest.approx(min(100, abie["prior_attendance"] + abie["expectation_pp"]), abs=0.01)
    assert _spends(world) == 2


def test_the_command_line_builds_the_fortnights_snapshot_once(world: Gateway) -> None:
    env = {"GATEWAY_DATA_DIR": str(world.settings.data_dir), "GATEWAY_DATABASE_URL": world.settings.database_url}
    first = CliRunner().invoke(main, ["reports", "snapshot", "--day", TODAY.isoformat()], env=env)
    assert first.exit_code == 0, first.output
    assert '"built": true' in first.output and '"schools": 4' in first.output
    again = CliRunner().invoke(main, ["reports", "snapshot", "--day", "2025-10-24"], env=env)
    assert '"built": false' in again.output
    assert _report(world, 100001, "school", 100001, "attendance_officer").status_code == 200
    assert _spends(world) == 1


def test_two_first_views_of_a_fortnight_at_once_spend_once(world: Gateway) -> None:
    statuses: list[int] = []
    start = threading.Barrier(2)

    def view(urn: int) -> None:
        start.wait()
        statuses.append(_report(world, urn, "la", "202", "case_officer").status_code)

    threads = [threading.Thread(target=view, args=(u,)) for u in (100001, 100005)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200, 200]
    assert _spends(world) == 1
    with world.runtime.sessions() as db:
        assert db.scalar(select(func.count()).select_from(ReportSnapshot)) == 1


def test_a_past_fortnight_without_a_snapshot_is_404_naming_the_field(world: Gateway) -> None:
    r = world.client.get("/v1/schools/100001/report?to=2025-09-10",
                         headers=world.auth("school", 100001, "attendance_officer"))
    assert r.status_code == 404 and "'to'" in r.text
    assert _spends(world) == 0


def test_a_spent_share_refuses_the_next_snapshot_and_the_refusal_is_audited(
    world: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.services.reports import snapshots as report_snapshots

    monkeypatch.setattr(report_snapshots, "FORTNIGHTS_PER_YEAR", 1)  # one snapshot takes the whole share
    assert _report(world, 100001, "school", 100001, "attendance_officer").status_code == 200
    monkeypatch.setattr(reports, "today", lambda: TODAY + dt.timedelta(days=14))
    r = _report(world, 100001, "school", 100001, "attendance_officer")
    assert r.status_code == 403 and "budget_exhausted" in r.text
    event = _last_event(world)
    assert event["action"] == "stats.denied" and event["details"]["action"] == "report.snapshot"
    assert _spends(world) == 1


def test_the_command_line_reports_a_spent_share_without_a_traceback(
    world: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.services.reports import snapshots as report_snapshots

    monkeypatch.setattr(report_snapshots, "FORTNIGHTS_PER_YEAR", 1)
    env = {"GATEWAY_DATA_DIR": str(world.settings.data_dir), "GATEWAY_DATABASE_URL": world.settings.database_url}
    assert CliRunner().invoke(main, ["reports", "snapshot", "--day", TODAY.isoformat()], env=env).exit_code == 0
    refused = CliRunner().invoke(main, ["reports", "snapshot", "--day", "2025-11-03"], env=env)
    assert refused.exit_code == 1 and "budget_exhausted" in refused.output
    assert "Traceback" not in refused.output
    assert _last_event(world)["actor"]["sub"] == "gateway reports snapshot"
