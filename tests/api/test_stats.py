"""Differentially private statistics for DfE through GET /v1/stats, the yearly privacy budget at
GET /v1/stats/budget, and named release bundles at POST /v1/stats/releases."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from gateway.db.models import AuditEvent, PrivacySpend, StatsAnswer
from gateway.main import create_app
from gateway.runtime import build_runtime
from gateway.services.schools import import_gias
from gateway.settings import Settings
from tests.conftest import Gateway
from tests.factories import feed_json, pupil, write_gias

# Monday 6 to Friday 10 October 2025 (academic year 2025/26).
DAYS = [dt.date(2025, 10, 6) + dt.timedelta(days=d) for d in range(5)]
YEAR_TO_DATE = {"from": "2025-08-01", "to": "2025-10-31"}
# Tests that read LA cells of this tiny register as numbers turn DfE's single-school convention off
# (stats_min_schools_per_la_cell=0); the convention has its own test below.


@pytest.fixture
def make_gateway(settings: Settings, tmp_path: Any) -> Iterator[Callable[..., Gateway]]:
    """A gateway with the test schools imported, under settings changed as a test needs."""
    opened: list[tuple[Any, TestClient]] = []

    def make(**overrides: Any) -> Gateway:
        changed = settings.model_copy(update=overrides)
        runtime = build_runtime(changed)
        client = TestClient(create_app(changed, runtime=runtime), raise_server_exceptions=False)
        client.__enter__()
        opened.append((runtime, client))
        import_gias(runtime.sessions, write_gias(tmp_path / "gias.csv"))
        return Gateway(settings=changed, runtime=runtime, client=client)

    yield make
    for runtime, client in opened:
        client.__exit__(None, None, None)
        runtime.engine.dispose()


def submit(gw: Gateway, urn: int, day: dt.date, rows: list[dict]) -> None:
    r = gw.client.put(
        f"/v1/schools/{urn}/attendance/{day.isoformat()}",
        content=feed_json(rows),
        headers={"Content-Type": "application/json", **gw.auth("school", urn, "feed_submitter")},
    )
    assert r.status_code == 201, r.text


def with_registers(gw: Gateway) -> Gateway:
    """Camden primary: four pupils, one absent all week; Camden secondary: two; Tower Hamlets: one."""
    for day in DAYS:
        submit(gw, 100001, day, [pupil(1), pupil(2), pupil(3, am="I", pm="I"), pupil(4, pm="O")])
        submit(
            gw,
            100002,
            day,
            [pupil(5, est="4001", year_group="8"), pupil(6, est="4001", year_group="9", sen_status="E")],
        )
        submit(gw, 100003, day, [pupil(7, la="211", est="2002", fsm_eligible=True)])
    return gw


def statistician(gw: Gateway) -> dict[str, str]:
    return gw.auth("dfe", "dfe", "statistician")


def stats(gw: Gateway, headers: dict[str, str] | None = None, **params: str) -> Any:
    return gw.client.get("/v1/stats", params=params, headers=headers or statistician(gw))


def count(gw: Gateway, model: Any, *where: Any) -> int:
    with gw.runtime.sessions() as db:
        return int(db.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


def cell(rows: list[dict[str, Any]], **keys: Any) -> dict[str, Any]:
    return next(r for r in rows if all(r[k] == v for k, v in keys.items()))


def test_a_statistician_gets_every_la_and_phase_cell_with_a_noisy_value_and_a_95_percent_interval(
    make_gateway: Callable[..., Gateway],
) -> None:
    gw = with_registers(make_gateway(stats_min_schools_per_la_cell=0))
    r = stats(gw, measure="overall_absence_rate", by="la,phase", **YEAR_TO_DATE)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["measure"] == "overall_absence_rate" and body["by"] == ["la", "phase"]
    assert (body["from"], body["to"], body["academic_year"]) == ("2025-08-01", "2025-10-31", 2025)
    # Every public cell, empty ones included: 153 LAs x 3 phases.
    assert len(body["rows"]) == 459
    assert {(row["la_code"], row["phase"]) for row in body["rows"]} >= {
        ("202", "primary"),
        ("420", "special"),
    }
    camden = cell(body["rows"], la_code="202", phase="primary")
    assert camden["la_name"] == "Camden" and set(camden) == {
        "la_code",
        "la_name",
        "phase",
        "value",
        "ci95",
        "reliability",
        "symbol",
        "noisy",
    }
    for row in body["rows"]:
        if row["value"] == "x":  # a noisy denominator at or below zero: no rate, DfE's symbol
            assert row["ci95"] is None
        else:
            assert 0 <= row["ci95"][0] <= row["value"] <= row["ci95"][1] <= 1
    # The school days from 1 August to 31 October bound each pupil's sessions: 40 days, 80 sessions.
    assert body["sessions_possible_bound"] == 80
    assert [(n["statistic"], n["sensitivity"]) for n in body["noise"]] == [("absent", 80), ("possible", 80)]
    assert all(n["scale"] > 0 and n["half_width_95"] > 0 for n in body["noise"])
    assert body["mechanism"] == "discrete Gaussian (zCDP)" and body["cached"] is False
    assert 0 < body["epsilon_spent"] < 10 and body["delta"] == 1e-9 and body["rho_spent"] > 0
    assert body["budget"]["ledger"]["cap"]["epsilon"] == pytest.approx(10, abs=1e-6)
    assert body["budget_remaining"]["units"] == body["budget"]["cap"]["units"] - body["release_units"]
    assert isinstance(body["audit_index"], int)
    assert pupil(1)["upn"] not in r.text and "Surname1" not in r.text


def test_asking_the_same_question_again_returns_the_stored_answer_and_spends_nothing(
    make_gateway: Callable[..., Gateway],
) -> None:
    gw = make_gateway()
    first = stats(gw, measure="persistent_absence_rate", by="phase,sen_status", **YEAR_TO_DATE).json()
    again = stats(gw, measure="persistent_absence_rate", by="sen_status,phase", **YEAR_TO_DATE).json()
    assert (
        again["cached"] is True
        and again["rows"] == first["rows"]
        and again["release_id"] == first["release_id"]
    )
    assert again["rho_spent"] == 0 and again["epsilon_spent"] == 0
    assert again["budget"]["spent"] == first["budget"]["spent"]
    assert again["audit_index"] > first["audit_index"]
    assert count(gw, PrivacySpend) == 1


def test_noisy_values_sit_near_the_truth_and_counts_are_never_clipped_at_zero(
    make_gateway: Callable[..., Gateway],
) -> None:
    # One release a year of two statistics: each noisy vector gets half the yearly budget.
    gw = with_registers(make_gateway(stats_releases_per_year=1, stats_statistics_per_release=2, stats_min_schools_per_la_cell=0))
    year = stats(gw, measure="enrolments", by="la", **YEAR_TO_DATE).json()
    window = stats(gw, measure="enrolments", by="la", **{"from": "2025-10-07", "to": "2025-10-08"}).json()
    for body, camden, tower_hamlets in ((year, 6, 1), (window, 6, 1)):
        half_width = body["noise"][0]["half_width_95"]
        assert abs(cell(body["rows"], la_code="202")["value"] - camden) <= 2 * half_width
        assert abs(cell(body["rows"], la_code="211")["value"] - tower_hamlets) <= 2 * half_width
    # Empty LAs are noised like the others, and published unclipped: some come out negative.
    assert any(row["value"] < 0 for row in year["rows"])
    assert window["sessions_possible_bound"] == 4


def test_only_a_dfe_statistician_may_ask_and_every_refusal_is_recorded(
    make_gateway: Callable[..., Gateway],
) -> None:
    gw = make_gateway()
    askers = [
        (("la", "202", "statistician"), "wrong_organisation"),
        (("dfe", "dfe", "dpo"), "wrong_role"),
        (("school", "100001", "attendance_officer"), "wrong_organisation"),
    ]
    for (org_type, org_id, role), reason in askers:
        r = stats(gw, gw.auth(org_type, org_id, role), measure="enrolments", by="la")
        assert r.status_code == 403, role
        assert r.json()["detail"]["decision"] == "deny"
        assert any(x.startswith(reason) for x in r.json()["detail"]["reasons"]), role
    assert count(gw, AuditEvent, AuditEvent.action == "stats.denied", AuditEvent.decision == "deny") == len(
        askers
    )
    assert count(gw, PrivacySpend) == 0


def test_bad_measures_groupings_and_windows_are_422_naming_the_field(
    make_gateway: Callable[..., Gateway],
) -> None:
    gw = make_gateway()
    cases = [
        ({"measure": "attendance_rate"}, "measure"),
        ({"measure": "enrolments", "by": "la,region"}, "by"),
        ({"measure": "enrolments", "by": "la,la"}, "by"),
        (
            {"measure": "enrolments", "from": "2025-10-10", "to": "2025-10-01"},
            "from",
        ),  # ends before it starts
        ({"measure": "enrolments", "from": "2025-07-01", "to": "2025-10-01"}, "from"),  # two academic years
        (
            {"measure": "enrolments", "from": "2025-10-11", "to": "2025-10-12"},
            "from",
        ),  # a weekend: no session
        ({"measure": "enrolments", "to": (dt.date.today() + dt.timedelta(days=2)).isoformat()}, "to"),
        ({"measure": "enrolments", "to": "31/10/2025"}, "query.to"),
        ({"by": "la"}, "query.measure"),
    ]
    for params, field in cases:
        r = stats(gw, **params)
        assert r.status_code == 422, (params, r.text)
        assert [e["field"] for e in r.json()["detail"]["errors"]] == [field], params
    assert count(gw, PrivacySpend) == 0


def test_a_question_over_the_yearly_cap_is_refused_with_a_reason_and_nothing_is_released(
    make_gateway: Callable[..., Gateway],
) -> None:
    # A year of three noisy vectors: one rate (two) and one count (one), then nothing more.
    gw = make_gateway(stats_releases_per_year=1, stats_statistics_per_release=3)
    assert stats(gw, measure="overall_absence_rate", by="la", **YEAR_TO_DATE).status_code == 200
    refused = stats(gw, measure="unauthorised_absence_rate", by="la", **YEAR_TO_DATE)
    assert refused.status_code == 403
    assert refused.json()["detail"]["reasons"][0].startswith("budget_exhausted: ")
    assert stats(gw, measure="enrolments", by="phase", **YEAR_TO_DATE).status_code == 200
    assert stats(gw, measure="enrolments", by="la", **YEAR_TO_DATE).status_code == 403
    # A question already answered is still served: it costs nothing.
    assert stats(gw, measure="overall_absence_rate", by="la", **YEAR_TO_DATE).json()["cached"] is True
    assert count(gw, PrivacySpend) == 2 and count(gw, StatsAnswer) == 2
    assert count(gw, AuditEvent, AuditEvent.action == "stats.denied") == 2
    budget = gw.client.get("/v1/stats/budget", params={"year": 2025}, headers=statistician(gw)).json()
    assert 0 <= budget["remaining"]["units"] < budget["allotment"]["units_per_statistic"]


def test_the_budget_shows_the_cap_its_epsilon_equivalent_and_every_release_with_its_noise(
    make_gateway: Callable[..., Gateway],
) -> None:
    gw = make_gateway()
    released = stats(gw, measure="severe_absence_rate", by="fsm", **YEAR_TO_DATE).json()
    r = gw.client.get("/v1/stats/budget", params={"year": 2025}, headers=statistician(gw))
    assert r.status_code == 200, r.text
    budget = r.json()
    assert budget["consumer"] == "dfe-statistics" and budget["academic_year_label"] == "2025/26"
    ledger = budget["ledger"]
    assert ledger["cap"]["epsilon"] == pytest.approx(10, abs=1e-6) and ledger["cap"]["rho"] == pytest.approx(
        1.0908, abs=1e-4
    )
    # DfE's share of the year's one cap, as the catalogue declares it.
    assert budget["share"]["fraction"] == 0.9
    assert budget["cap"]["rho"] == pytest.approx(0.9 * 1.0908, abs=1e-4)
    assert budget["delta"] == 1e-9
    assert (
        budget["allotment"]["releases_per_year"] == 26 and budget["allotment"]["statistics_per_release"] == 8
    )
    assert (
        budget["spent"]["units"] == released["release_units"] == sum(x["units"] for x in budget["releases"])
    )
    assert budget["spent"]["units"] + budget["remaining"]["units"] == budget["cap"]["units"]
    (entry,) = budget["releases"]
    assert entry["release_id"] == released["release_id"] and entry["status"] == "released"
    assert entry["question"]["tables"] == [{"measure": "severe_absence_rate", "by": ["fsm"]}]
    statistics = entry["noise"][0]["statistics"]
    assert [s["statistic"] for s in statistics] == ["severe", "enrolments"]
    assert all(s["measurement"].startswith("{") and s["scale"] > 0 for s in statistics)
    # The operator's DPO sees any consumer's budget; others see only their own, and schools nothing.
    dpo = gw.client.get(
        "/v1/stats/budget",
        params={"year": 2025, "consumer": "dfe-statistics"},
        headers=gw.auth("operator", "operator", "dpo"),
    )
    assert dpo.status_code == 200 and dpo.json()["spent"] == budget["spent"]
    other = gw.client.get(
        "/v1/stats/budget", params={"consumer": "school-benchmarks"}, headers=statistician(gw)
    )
    assert other.status_code == 403
    assert (
        gw.client.get(
            "/v1/stats/budget", headers=gw.auth("school", "100001", "attendance_officer")
        ).status_code
        == 403
    )


def test_a_release_is_audited_as_a_budget_spend_before_the_noisy_answer_leaves(
    make_gateway: Callable[..., Gateway],
) -> None:
    gw = make_gateway()
    body = stats(gw, measure="enrolments", by="year_group", **YEAR_TO_DATE).json()
    with gw.runtime.sessions() as db:
        events = {
            e.action: e
            for e in db.execute(
                select(AuditEvent).where(AuditEvent.release_id == body["release_id"])
            ).scalars()
        }
        spend = db.execute(select(PrivacySpend)).scalar_one()
    assert events["budget.spent"].idx < events["stats.released"].idx == body["audit_index"]
    assert spend.audit_index == events["budget.spent"].idx and spend.status == "released"
    assert spend.units == body["release_units"]


def test_a_named_bundle_spends_once_and_gives_dfe_a_csv_in_its_open_data_layout(
    make_gateway: Callable[..., Gateway],
) -> None:
    gw = with_registers(make_gateway(stats_min_schools_per_la_cell=0))
    bundle = {
        "name": "pupil-attendance-2025-10-31",
        **YEAR_TO_DATE,
        "tables": [
            {"measure": "overall_absence_rate", "by": ["la", "phase"]},
            {"measure": "persistent_absence_rate", "by": ["la", "phase"]},
            {"measure": "overall_absence_rate", "by": ["sen_status", "fsm"]},
            {"measure": "enrolments", "by": []},
        ],
    }
    r = gw.client.post("/v1/stats/releases", json=bundle, headers=statistician(gw))
    assert r.status_code == 201, r.text
    body = r.json()
    assert [len(t["rows"]) for t in body["tables"]] == [459, 459, 6, 1]
    assert body["cached"] is False and count(gw, PrivacySpend) == 1
    assert body["release_units"] == sum(n["units"] for t in body["tables"] for n in t["noise"])

    csv_response = gw.client.get(f"/v1/stats/releases/{bundle['name']}/csv", headers=statistician(gw))
    assert csv_response.status_code == 200 and csv_response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(csv_response.text)))
    assert list(rows[0])[:6] == [
        "time_period",
        "time_identifier",
        "period_start",
        "period_end",
        "geographic_level",
        "country_code",
    ]
    # Tables with the same grouping share rows: 459 LA x phase rows, 9 regions x 3 phases (sums of
    # their LAs' noisy cells), 6 SEN x FSM, 1 national.
    assert len(rows) == 459 + 27 + 6 + 1
    london = next(x for x in rows if x["geographic_level"] == "Regional" and x["region_name"] == "London"
                  and x["education_phase"] == "Primary")
    assert london["la_name"] == "" and london["overall_absence_perc_noisy_denominator"] not in ("", "x")
    camden = next(x for x in rows if x["old_la_code"] == "202" and x["education_phase"] == "Primary")
    assert camden["time_period"] == "202526" and camden["geographic_level"] == "Local authority"
    assert (camden["new_la_code"], camden["la_name"], camden["region_code"]) == (
        "E09000007",
        "Camden",
        "E12000007",
    )
    assert camden["enrolments"] == "x"  # not in that table
    # A rate's noisy numerator and denominator stand beside it.
    assert int(camden["overall_absence_perc_noisy_numerator"]) >= -10**9
    assert int(camden["overall_absence_perc_noisy_denominator"]) >= -10**9
    for column in ("overall_absence_perc", "pa_perc"):
        if camden[column] != "x":
            assert (
                float(camden[f"{column}_lower95"])
                <= float(camden[column])
                <= float(camden[f"{column}_upper95"])
                <= 100
            )
    national = next(x for x in rows if x["geographic_level"] == "National" and x["sen_status"] == "Total")
    assert national["education_phase"] == "Total" and national["overall_absence_perc"] == "x"
    assert {x["sen_status"] for x in rows if x["fsm_status"] != "Total"} == {
        "No SEN",
        "SEN support",
        "EHC plan",
    }

    again = gw.client.post("/v1/stats/releases", json=bundle, headers=statistician(gw))
    assert (
        again.status_code == 200
        and again.json()["cached"] is True
        and again.json()["tables"] == body["tables"]
    )
    changed = gw.client.post(
        "/v1/stats/releases", json=bundle | {"tables": bundle["tables"][:1]}, headers=statistician(gw)
    )
    assert changed.status_code == 409
    fetched = gw.client.get(f"/v1/stats/releases/{bundle['name']}", headers=statistician(gw))
    assert fetched.status_code == 200 and fetched.json()["release_id"] == body["release_id"]
    assert gw.client.get("/v1/stats/releases/no-such-bundle", headers=statistician(gw)).status_code == 404
    assert count(gw, PrivacySpend) == 1


def test_a_malformed_bundle_is_422_and_spends_nothing(make_gateway: Callable[..., Gateway]) -> None:
    gw = make_gateway()
    bundles = [
        {"name": "Bad Name", "tables": [{"measure": "enrolments"}]},
        {"name": "ok", "tables": []},
        {"name": "ok", "tables": [{"measure": "enrolments"}, {"measure": "enrolments", "by": []}]},
        {"name": "ok", "tables": [{"measure": "enrolments", "by": ["district"]}]},
        {"name": "ok", "tables": [{"measure": "enrolments"}], "unexpected": 1},
    ]
    for bundle in bundles:
        r = gw.client.post("/v1/stats/releases", json=bundle, headers=statistician(gw))
        assert r.status_code == 422, (bundle, r.text)
    assert count(gw, PrivacySpend) == 0


def test_persistent_and_severe_absence_are_refused_for_a_day_or_a_week_and_answered_for_four_weeks(
    make_gateway: Callable[..., Gateway],
) -> None:
    """docs/domain.md 2.3: DfE publishes persistent absence for term and year-to-date windows only. A week
    is refused before any budget is touched; four weeks, or the year to date, are answered."""
    gw = with_registers(make_gateway())
    for measure in ("persistent_absence_rate", "severe_absence_rate"):
        for window in ({"from": "2025-10-06", "to": "2025-10-10"}, {"from": "2025-10-06", "to": "2025-10-06"},
                       {"from": "2025-10-06", "to": "2025-11-01"}):
            r = stats(gw, measure=measure, by="phase", **window)
            assert r.status_code == 422, (measure, window, r.text)
            [error] = r.json()["detail"]["errors"]
            assert error["field"] == "measure" and "term or year-to-date" in error["message"]
    r = gw.client.post("/v1/stats/releases", headers=statistician(gw), json={
        "name": "one-week", "from": "2025-10-06", "to": "2025-10-10",
        "tables": [{"measure": "overall_absence_rate", "by": ["la"]}, {"measure": "persistent_absence_rate", "by": ["la"]}],
    })
    assert r.status_code == 422 and r.json()["detail"]["errors"][0]["field"] == "tables.1.measure"
    assert count(gw, PrivacySpend) == 0
    # The overall absence rate is published for any window; persistent absence for four weeks and more.
    assert stats(gw, measure="overall_absence_rate", by="phase", **{"from": "2025-10-06", "to": "2025-10-10"}).status_code == 200
    four_weeks = stats(gw, measure="persistent_absence_rate", by="phase", **{"from": "2025-10-06", "to": "2025-11-02"})
    assert four_weeks.status_code == 200, four_weeks.text
    assert stats(gw, measure="severe_absence_rate", by="phase", **YEAR_TO_DATE).status_code == 200


def test_la_cells_backed_by_one_school_in_the_register_are_c_and_by_none_are_z_at_no_extra_cost(
    make_gateway: Callable[..., Gateway],
) -> None:
    """DfE's convention (docs/domain.md 2.4), judged from the public register of schools, never from the
    attendance data: Camden has an open primary and an open secondary school, Tower Hamlets one open
    primary (its other school is closed). Noise is drawn and paid for every cell either way."""
    gw = with_registers(make_gateway())
    by_la = stats(gw, measure="enrolments", by="la", **YEAR_TO_DATE).json()
    assert isinstance(cell(by_la["rows"], la_code="202")["value"], int)
    tower_hamlets = cell(by_la["rows"], la_code="211")
    assert (tower_hamlets["value"], tower_hamlets["symbol"], tower_hamlets["ci95"]) == ("c", "c", None)
    assert cell(by_la["rows"], la_code="201")["value"] == "z"  # City of London: no school in this register
    by_phase = stats(gw, measure="enrolments", by="la,phase", **YEAR_TO_DATE).json()
    assert cell(by_phase["rows"], la_code="202", phase="primary")["value"] == "c"
    assert cell(by_phase["rows"], la_code="202", phase="special")["value"] == "z"
    # Not split by LA: nothing withheld.
    national = stats(gw, measure="enrolments", by="phase", **YEAR_TO_DATE).json()
    assert all(isinstance(r["value"], int) for r in national["rows"])
    assert by_la["release_units"] == national["release_units"]  # one slot each, c or not
    bundle = gw.client.post("/v1/stats/releases", headers=statistician(gw), json={
        "name": "convention", **YEAR_TO_DATE, "tables": [{"measure": "overall_absence_rate", "by": ["la"]}],
    })
    assert bundle.status_code == 201, bundle.text
    csv_text = gw.client.get("/v1/stats/releases/convention/csv", headers=statistician(gw)).text
    [row] = [r for r in csv.DictReader(io.StringIO(csv_text)) if r["old_la_code"] == "211"]
    assert row["overall_absence_perc"] == row["overall_absence_perc_lower95"] == "c"
