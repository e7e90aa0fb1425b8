"""Through the HTTP API and the CLI: one privacy ledger per academic year for every DfE org
id, a cap that no setting can raise once spent from (only a DPO's audited approval, under the
catalogue's ceiling), noise sized to the school days of the public calendar, and the noisy
measurements published, a window's denominator reused and not paid again."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select
from structlog.testing import capture_logs

from anonymisation import school_calendar
from gateway.cli import main
from gateway.db.models import AuditEvent
from gateway.main import create_app
from gateway.runtime import build_runtime
from gateway.services.schools import import_gias
from gateway.settings import Settings
from tests.conftest import Gateway
from tests.factories import feed_json, pupil, write_gias

DAYS = [dt.date(2025, 10, 6) + dt.timedelta(days=d) for d in range(5)]
YEAR_TO_DATE = {"from": "2025-08-01", "to": "2025-10-31"}


@pytest.fixture
def make_gateway(settings: Settings, tmp_path: Any) -> Iterator[Callable[..., Gateway]]:
    """Gateways on one database under settings changed as a test needs: a restart with new settings."""
    opened: list[tuple[Any, TestClient]] = []

    def make(**overrides: Any) -> Gateway:
        changed = settings.model_copy(update={"stats_min_schools_per_la_cell": 0, **overrides})
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


def with_registers(gw: Gateway) -> Gateway:
    for day in DAYS:
        r = gw.client.put(
            f"/v1/schools/100001/attendance/{day.isoformat()}",
            content=feed_json([pupil(1), pupil(2), pupil(3, am="I", pm="I"), pupil(4, pm="O")]),
            headers={"Content-Type": "application/json", **gw.auth("school", 100001, "feed_submitter")},
        )
        assert r.status_code == 201, r.text
    return gw


def as_statistician(gw: Gateway, org_id: str, sub: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + gw.token("dfe", org_id, "statistician", sub=sub)}


def ask(gw: Gateway, headers: dict[str, str], **params: str) -> Any:
    return gw.client.get("/v1/stats", params=params, headers=headers)


def events(gw: Gateway, action: str) -> list[dict[str, Any]]:
    """The audit log's entries of one action, as recorded (canonical JSON), with their index."""
    with gw.runtime.sessions() as db:
        rows = db.execute(select(AuditEvent).where(AuditEvent.action == action)).scalars()
        return [json.loads(e.entry) | {"idx": e.idx, "decision": e.decision} for e in rows]


def cli(gw: Gateway, *args: str, **settings: str) -> Any:
    env = {"GATEWAY_DATA_DIR": str(gw.settings.data_dir), "GATEWAY_DATABASE_URL": gw.settings.database_url}
    return CliRunner().invoke(main, list(args), env=env | settings)


def test_two_statisticians_draw_on_one_budget_and_the_budget_route_shows_both_the_same_ledger(
    make_gateway: Callable[..., Gateway],
) -> None:
    # DfE's share holds exactly two one-slot questions (enrolments) a year.
    gw = with_registers(make_gateway(stats_releases_per_year=1, stats_statistics_per_release=2))
    alice = as_statistician(gw, "dfe", "alice")
    bob = as_statistician(gw, "dfe", "bob")
    # DfE has one org id: a token naming another is refused before any budget is looked at.
    assert ask(gw, as_statistician(gw, "dfe-analysis", "eve"), measure="enrolments").status_code == 401
    assert ask(gw, alice, measure="enrolments", by="la", **YEAR_TO_DATE).status_code == 200
    assert ask(gw, bob, measure="enrolments", by="phase", **YEAR_TO_DATE).status_code == 200
    # The ledger was once keyed by organisation and asker; now both statisticians have spent the one.
    for who in (alice, bob):
        refused = ask(gw, who, measure="enrolments", **YEAR_TO_DATE)
        assert refused.status_code == 403
        assert refused.json()["detail"]["reasons"][0].startswith("budget_exhausted")
    seen = [gw.client.get("/v1/stats/budget", params={"year": 2025}, headers=h).json() for h in (alice, bob)]
    assert seen[0] == seen[1]
    budget = seen[0]
    assert budget["consumer"] == "dfe-statistics"
    assert {r["requester"] for r in budget["releases"]} == {"dfe:dfe"} and len(budget["releases"]) == 2
    assert budget["spent"]["units"] == sum(r["units"] for r in budget["releases"]) <= budget["cap"]["units"]
    ledger = budget["ledger"]
    assert ledger["spent"]["units"] == budget["spent"]["units"] and ledger["cap_fixed"] is True
    shares = {s["consumer"]: s for s in ledger["shares"]}
    assert set(shares) == {"dfe-statistics", "school-benchmarks"}
    assert sum(s["cap_units"] for s in shares.values()) <= ledger["cap"]["units"]
    assert shares["dfe-statistics"]["cap_units"] == budget["cap"]["units"]
    assert shares["school-benchmarks"]["spent_units"] == 0 and shares["school-benchmarks"]["reason"]


def test_the_same_question_from_another_statistician_gets_the_stored_answer_and_spends_nothing(
    make_gateway: Callable[..., Gateway],
) -> None:
    gw = with_registers(make_gateway())
    first = ask(gw, as_statistician(gw, "dfe", "alice"), measure="enrolments", by="la", **YEAR_TO_DATE).json()
    again = ask(gw, as_statistician(gw, "dfe", "bob"), measure="enrolments", by="la", **YEAR_TO_DATE).json()
    assert again["cached"] is True and again["rows"] == first["rows"]
    assert again["budget"]["spent"] == first["budget"]["spent"]


def test_a_restart_with_a_higher_epsilon_setting_leaves_the_years_cap_unchanged_and_warns(
    make_gateway: Callable[..., Gateway],
) -> None:
    gw = with_registers(make_gateway())
    headers = as_statistician(gw, "dfe", "alice")
    before = ask(gw, headers, measure="enrolments", by="la", **YEAR_TO_DATE).json()["budget"]
    restarted = make_gateway(stats_epsilon_per_year=14.0)
    with capture_logs() as logs:
        after = ask(restarted, headers, measure="enrolments", by="phase", **YEAR_TO_DATE).json()["budget"]
    assert after["cap"] == before["cap"] and after["ledger"]["cap"] == before["ledger"]["cap"]
    assert after["ledger"]["cap"]["epsilon"] == pytest.approx(10, abs=1e-6)
    warned = [e for e in logs if e["event"] == "stats_cap_setting_ignored"]
    assert len(warned) == 1 and warned[0]["log_level"] == "warning"
    shown = restarted.client.get("/v1/stats/budget", params={"year": 2025}, headers=headers).json()
    assert shown["configured"]["epsilon_per_year"] == 14.0 and shown["configured"]["in_force"] is False
    assert shown["cap"] == before["cap"]


def test_a_dpo_approval_above_the_catalogues_ceiling_is_refused_and_audited(
    make_gateway: Callable[..., Gateway],
) -> None:
    gw = with_registers(make_gateway())
    alice = as_statistician(gw, "dfe", "alice")
    before = ask(gw, alice, measure="enrolments", **YEAR_TO_DATE).json()["budget"]
    refused = cli(gw, "stats", "approve-cap", "--year", "2025", "--epsilon", "15.5", "--dpo", "dpo-1",
                  "--reason", "a larger programme of releases")
    assert refused.exit_code != 0 and "above_ceiling" in refused.output
    # Nor can a setting above the ceiling fix a new year's cap above it.
    high = make_gateway(stats_epsilon_per_year=40.0)
    body = ask(high, as_statistician(high, "dfe", "alice"), measure="enrolments", by="la",
               **{"from": "2026-09-01", "to": "2026-10-31"})
    assert body.status_code == 200, body.text
    ledger = body.json()["budget"]["ledger"]
    assert ledger["cap"]["units"] == ledger["ceiling"]["units"] and ledger["cap_fixed"] is True
    assert ledger["cap"]["epsilon"] == pytest.approx(15, abs=1e-6)
    (event,) = events(gw, "budget.cap_refused")
    assert event["decision"] == "deny" and event["actor"]["sub"] == "dpo-1"
    after = gw.client.get("/v1/stats/budget", params={"year": 2025}, headers=as_statistician(gw, "dfe", "a"))
    assert after.json()["ledger"]["cap"] == before["ledger"]["cap"]


def test_a_dpo_approval_raises_the_cap_of_a_year_already_spent_and_is_in_the_audit_log(
    make_gateway: Callable[..., Gateway],
) -> None:
    gw = with_registers(make_gateway())
    headers = as_statistician(gw, "dfe", "alice")
    before = ask(gw, headers, measure="enrolments", **YEAR_TO_DATE).json()["budget"]
    done = cli(gw, "stats", "approve-cap", "--year", "2025", "--epsilon", "12", "--dpo", "dpo-1",
               "--reason", "an extra termly release agreed with the DPIA")
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["old_cap_units"] == before["ledger"]["cap"]["units"] < result["cap"]["units"]
    (event,) = events(gw, "budget.cap_approved")
    assert event["decision"] == "allow" and event["actor"]["sub"] == "dpo-1"
    assert event["idx"] == result["audit_index"]
    assert event["details"]["new_cap_units"] == result["cap"]["units"]
    assert event["details"]["reason"] == "an extra termly release agreed with the DPIA"
    shown = gw.client.get("/v1/stats/budget", params={"year": 2025}, headers=headers).json()
    assert shown["ledger"]["cap"]["units"] == result["cap"]["units"]
    assert shown["ledger"]["cap"]["epsilon"] == pytest.approx(12, abs=1e-6)
    assert shown["ledger"]["fixed_by"] == "dpo-1" and shown["cap"]["units"] > before["cap"]["units"]
    # An approval below what the year has spent would un-spend it: refused.
    low = cli(gw, "stats", "approve-cap", "--year", "2025", "--epsilon", "0.0001", "--dpo", "dpo-1",
              "--reason", "trying to go below the spend")
    assert low.exit_code != 0 and "below_spent" in low.output


def test_the_noise_bound_counts_the_school_days_of_the_public_calendar_not_every_weekday(
    make_gateway: Callable[..., Gateway],
) -> None:
    gw = with_registers(make_gateway())
    headers = as_statistician(gw, "dfe", "alice")
    body = ask(gw, headers, measure="overall_absence_rate", by="la", **YEAR_TO_DATE).json()
    # 1 September to 24 October 2025 are school days (INSET days included), then the half term:
    # 40 days, 80 sessions; every weekday from 1 August would have been 66 days, 132 sessions.
    assert body["sessions_possible_bound"] == 80
    days = school_calendar.school_days(dt.date(2025, 8, 1), dt.date(2025, 10, 31))
    assert body["sessions_possible_bound"] == 2 * days
    assert [n["sensitivity"] for n in body["noise"]] == [80, 80]
    assert "2025/26" in body["sessions_possible_source"]
    # Christmas: 1 to 19 December and 5 to 9 January are 20 school days.
    winter = ask(gw, headers, measure="enrolments", **{"from": "2025-12-01", "to": "2026-01-09"})
    assert winter.status_code == 200 and winter.json()["sessions_possible_bound"] == 40
    half_term = ask(gw, headers, measure="enrolments", **{"from": "2025-10-27", "to": "2025-10-31"})
    assert half_term.status_code == 422
    assert half_term.json()["detail"]["errors"][0]["message"].startswith("the window has no school day")
    assert school_calendar.school_days(dt.date(2025, 12, 1), dt.date(2026, 1, 9)) == 20


def test_rates_publish_their_noisy_measurements_and_a_second_measure_reuses_the_windows_denominator(
    make_gateway: Callable[..., Gateway],
) -> None:
    gw = with_registers(make_gateway())
    headers = as_statistician(gw, "dfe", "alice")
    overall = ask(gw, headers, measure="overall_absence_rate", by="la,phase", **YEAR_TO_DATE).json()
    assert all(set(r["noisy"]) == {"absent", "possible"} for r in overall["rows"])
    for row in overall["rows"]:
        noisy = row["noisy"]
        if noisy["possible"] <= 0:
            assert row["value"] == "x"
        else:
            assert row["value"] == pytest.approx(min(max(noisy["absent"] / noisy["possible"], 0), 1))
    authorised = ask(gw, headers, measure="authorised_absence_rate", by="la,phase", **YEAR_TO_DATE).json()
    # The same noisy sessions possible, not drawn (nor paid for) again: the second measure costs less.
    possible = [r["noisy"]["possible"] for r in overall["rows"]]
    assert [r["noisy"]["possible"] for r in authorised["rows"]] == possible
    assert 0 < authorised["release_units"] < overall["release_units"]
    noise = {n["statistic"]: n for n in authorised["noise"]}
    assert noise["possible"]["reused"] is True and noise["possible"]["units"] == 0
    assert noise["authorised"]["reused"] is False
    assert noise["authorised"]["units"] == authorised["release_units"]
    assert authorised["budget"]["spent"]["units"] == overall["release_units"] + authorised["release_units"]
    # Another grouping is another measurement: drawn and paid in full.
    by_la = ask(gw, headers, measure="authorised_absence_rate", by="la", **YEAR_TO_DATE).json()
    assert by_la["release_units"] > authorised["release_units"]


def test_a_bundle_splits_its_budget_by_need_and_its_la_tables_publish_each_regions_sum(
    make_gateway: Callable[..., Gateway],
) -> None:
    gw = with_registers(make_gateway())
    headers = as_statistician(gw, "dfe", "alice")
    bundle = {
        "name": "autumn-by-need",
        **YEAR_TO_DATE,
        "tables": [
            {"measure": "overall_absence_rate", "by": ["la", "phase"]},
            {"measure": "overall_absence_rate", "by": ["fsm"]},
        ],
    }
    r = gw.client.post("/v1/stats/releases", json=bundle, headers=headers)
    assert r.status_code == 201, r.text
    body = r.json()
    fine, coarse = body["tables"]
    budget = gw.client.get("/v1/stats/budget", headers=headers, params={"year": 2025}).json()
    slot = budget["allotment"]["units_per_statistic"]
    # 459 LA x phase cells against 2 FSM cells: the fine table gets almost all of the bundle's 4 slots.
    assert fine["allotment_units"] + coarse["allotment_units"] == 4 * slot
    assert fine["allotment_units"] > 200 * coarse["allotment_units"] > 0
    assert "regions" in fine and "regions" not in coarse
    london = [g for g in fine["regions"] if g["region_name"] == "London" and g["phase"] == "primary"]
    (region,) = london
    members = [row for row in fine["rows"] if row["phase"] == "primary" and row["la_code"] in LONDON_LAS]
    assert region["las"] + region["las_withheld"] == len(members) == 33
    for name in ("absent", "possible"):
        assert region["noisy"][name] == sum(row["noisy"][name] for row in members if row["noisy"])


#: Inner (201-213) and outer (301-320) London boroughs, with the City of London (201).
LONDON_LAS = {str(code) for code in (*range(201, 214), *range(301, 321))}


def test_the_operators_dpo_asking_for_a_share_the_catalogue_does_not_have_gets_a_404(
    make_gateway: Callable[..., Gateway],
) -> None:
    gw = make_gateway()
    dpo = gw.auth("operator", "operator", "dpo")
    assert gw.client.get("/v1/stats/budget", params={"consumer": "school-benchmarks"}, headers=dpo).status_code == 200
    for unknown in ("null", "dfe-statistic"):
        r = gw.client.get("/v1/stats/budget", params={"consumer": unknown}, headers=dpo)
        assert r.status_code == 404, r.text
    assert gw.client.get("/v1/stats/budget", params={"consumer": "Not A Share"}, headers=dpo).status_code == 422
