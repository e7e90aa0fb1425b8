"""The DfE statistician's console over HTTP: the dashboard's legend, labels and budget figures, and the
trend view by school week (its points, intervals and costs, a second look that spends nothing, and a
refusal for anyone else, audited). The same pages in a browser: tests/e2e/test_stats_trend_e2e.py."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from anonymisation import dp as adp
from anonymisation.dp import accounting
from gateway.console.statistics import NO_INTERVAL
from gateway.db.models import AuditEvent, PrivacySpend
from tests.api.test_console import STATISTICIAN, sign_in
from tests.conftest import Gateway
from tests.e2e.seed import World, seed

YEAR = 2025
BY_LA = {"measure": "overall_absence_rate", "by": "la", "from": "2025-10-06", "to": "2025-10-17"}
BY_PHASE = {"measure": "enrolments", "by": "phase", "from": "2025-10-06", "to": "2025-10-17"}


@pytest.fixture
def world(loaded: Gateway, tmp_path: Path) -> tuple[Gateway, World]:
    return loaded, seed(loaded, tmp_path)


def between(text: str, testid: str, end: str) -> str:
    return text.split(f'data-testid="{testid}"')[1].split(end)[0]


def ledger(gw: Gateway) -> tuple[int, int]:
    with gw.runtime.sessions() as db:
        row = db.execute(select(func.count(), func.coalesce(func.sum(PrivacySpend.units), 0))).one()
    return int(row[0]), int(row[1])


def api(gw: Gateway, path: str, **params: Any) -> Any:
    r = gw.client.get(path, params=params, headers=gw.auth(*STATISTICIAN))
    assert r.status_code == 200, r.text
    return r.json()


def release_trend(gw: Gateway, csrf: str) -> str:
    r = gw.client.post("/console/statistics/trend", data={"year": str(YEAR), "csrf_token": csrf})
    assert r.status_code == 200, r.text
    return r.text


# --- the dashboard: legend, labels, budget ---------------------------------------------------------


def test_the_legend_explains_every_symbol_the_core_defines_and_every_mark_the_table_shows(
    world: tuple[Gateway, World],
) -> None:
    gw, _ = world
    csrf = sign_in(gw, STATISTICIAN)
    # By LA: LAs with no school in the register are z, with one c, a noisy denominator at or below
    # zero x, and a wide interval u.
    r = gw.client.post("/console/statistics", data={**BY_LA, "csrf_token": csrf})
    assert r.status_code == 200, r.text
    legend = between(r.text, "legend", "</dl>")
    explained = set(re.findall(r'data-symbol="([^"]+)"', legend))
    defined = {v for k, v in vars(accounting).items() if k.startswith("SYMBOL_") and isinstance(v, str)}
    assert defined == set(adp.SYMBOL_MEANINGS) and explained == defined | {NO_INTERVAL}
    assert "c" in explained  # the single-school convention's symbol, once missing
    table = between(r.text, "stats-table", "</table>")
    shown = set(re.findall(r"<abbr title=\"[^\"]+\">([^<]+)</abbr>", table))
    assert {"c", "z", NO_INTERVAL} <= shown and shown <= explained
    # Every mark in the table carries its meaning, the legend's words.
    for mark, meaning in re.findall(r"<abbr title=\"([^\"]+)\">([^<]+)</abbr>", table):
        assert html.unescape(mark) == html.unescape(dict(adp.SYMBOL_MEANINGS).get(meaning, mark))


def test_a_breakdown_by_la_reads_local_authority_wherever_it_is_labelled(
    world: tuple[Gateway, World],
) -> None:
    gw, _ = world
    csrf = sign_in(gw, STATISTICIAN)
    r = gw.client.post("/console/statistics", data={**BY_LA, "csrf_token": csrf})
    assert "Overall absence rate by local authority" in between(r.text, "answer-title", "</h2>")
    asked = between(r.text, "asked", "</table>")
    assert "Overall absence rate by local authority, 2025-10-06 to 2025-10-17" in asked
    assert not re.search(r"\bby la\b", r.text)


def test_the_budget_adds_up_in_rho_and_gives_the_epsilon_of_the_whole_years_spend(
    world: tuple[Gateway, World],
) -> None:
    gw, _ = world
    csrf = sign_in(gw, STATISTICIAN)
    gw.client.post("/console/statistics", data={**BY_PHASE, "csrf_token": csrf})
    r = gw.client.post("/console/statistics", data={**BY_LA, "csrf_token": csrf})
    rho = {
        name: Decimal(re.search(r"ρ ([0-9.]+)", between(r.text, f"budget-{name}", "</dd>")).group(1))  # type: ignore[union-attr]
        for name in ("spent", "remaining", "cap")
    }
    assert rho["spent"] > 0 and rho["spent"] + rho["remaining"] == rho["cap"]
    budget = api(gw, "/v1/stats/budget", year=YEAR)
    # Spent rounded up, the cap down, to the printed places: never more budget shown than there is.
    assert rho["spent"] >= Decimal(budget["spent"]["units"]) / 10**12 > rho["spent"] - Decimal("0.000001")
    assert rho["cap"] <= Decimal(budget["cap"]["units"]) / 10**12 < rho["cap"] + Decimal("0.000001")
    # The epsilon is the year's whole spend's (two releases), at the catalogue's delta.
    year_epsilon = adp.zcdp_to_epsilon(adp.units_to_rho(budget["spent"]["units"]), budget["delta"])
    releases = [rel["units"] for rel in budget["releases"]]
    assert len(releases) == 2 and sum(releases) == budget["spent"]["units"]
    last_alone = adp.zcdp_to_epsilon(adp.units_to_rho(releases[-1]), budget["delta"])
    shown = between(r.text, "budget-spent-epsilon", "</span>")
    assert (
        f"ε {year_epsilon:.3f} for the year so far" in shown and f"{last_alone:.3f}" != f"{year_epsilon:.3f}"
    )
    assert f"ε {year_epsilon:.3f} at δ 1e-09" in between(r.text, "spend", "</p>")


# --- the trend by school week ----------------------------------------------------------------------


def test_the_trend_shows_each_school_week_with_its_interval_and_what_each_point_cost(
    world: tuple[Gateway, World],
) -> None:
    gw, _ = world
    csrf = sign_in(gw, STATISTICIAN)
    before = ledger(gw)
    first = gw.client.get("/console/statistics/trend", params={"year": YEAR})
    assert first.status_code == 200 and 'data-testid="no-trend"' in first.text
    assert ledger(gw) == before  # looking spends nothing, even with nothing released
    page = release_trend(gw, csrf)
    trend = api(gw, "/v1/stats/trend", year=YEAR)
    fortnights = trend["fortnights"]
    assert (
        fortnights
        and not trend["due"]
        and [f["fortnight"] for f in fortnights] == sorted(f["fortnight"] for f in fortnights)
    )
    # The ledger grew by exactly the fortnights' releases, one spend each, each its vectors' units.
    spends, units = ledger(gw)
    assert (spends - before[0], units - before[1]) == (len(fortnights), sum(f["units"] for f in fortnights))
    for f in fortnights:
        bundle = api(gw, f"/v1/stats/releases/{f['name']}")
        drawn = [n["units"] for t in bundle["tables"] for n in t["noise"] if not n["reused"]]
        assert sum(drawn) == bundle["release_units"] == f["units"] and len(drawn) == f["vectors"] == 6
        assert {t["measure"] for t in bundle["tables"]} == {
            "overall_absence_rate",
            "unauthorised_absence_rate",
        }
    # One national point per school week and rate: every week a Monday, each with an interval.
    national = [p for p in trend["points"] if p["geography"] == "National"]
    weeks = sorted({p["week"] for p in national})
    assert all(dt.date.fromisoformat(w).weekday() == 0 for w in weeks)
    # Exactly the weeks with a school day in the published term dates (half terms and holidays out).
    school_weeks = []
    for f in fortnights:
        for monday in (dt.date.fromisoformat(f["from"]) + dt.timedelta(days=d) for d in (0, 7)):
            monday -= dt.timedelta(days=monday.weekday())
            start, end = max(monday, dt.date.fromisoformat(f["from"])), monday + dt.timedelta(days=6)
            if start <= dt.date.fromisoformat(f["to"]) and adp.sessions_possible_bound(start, end) > 0:
                school_weeks.append(monday.isoformat())
    assert weeks == sorted(set(school_weeks)) and len(national) == 2 * len(weeks)
    assert "2025-10-27" not in weeks  # the October half term
    for p in national:
        assert (
            p["ci95"] is None if isinstance(p["value"], str) else p["ci95"][0] <= p["value"] <= p["ci95"][1]
        )
    # The weeks the registers cover (6 to 17 October) have numbers; nine regions every week.
    assert {"2025-10-06", "2025-10-13"} <= set(weeks)
    assert len({p["code"] for p in trend["points"] if p["geography"] == "Regional"}) == 9
    # The page: a row per week, each rate's value and interval, the chart's data the same points.
    table = between(page, "trend-table", "</table>")
    assert table.count('<th scope="row"') == len(weeks)
    assert "6 October 2025" in table and " to " in table
    chart = json.loads(html.unescape(page.split('id="trend-chart-data">')[1].split("</script>")[0]))
    assert chart["weeks"] == weeks and [s["label"] for s in chart["series"]] == [
        "Overall absence rate",
        "Unauthorised absence rate",
    ]
    october = chart["series"][0]["points"][weeks.index("2025-10-06")]
    point = next(p for p in national if p["week"] == "2025-10-06" and p["measure"] == "overall_absence_rate")
    assert (october["low"], october["high"]) == tuple(point["ci95"] or (None, None))
    # What it cost: rho per point and per fortnight's bundle, on the page.
    costs = between(page, "point-costs", "</table>")
    assert f"{point['rho']:.6f}" in costs and "National, overall absence rate" in costs
    assert f"{fortnights[0]['rho']:.6f}" in between(page, "trend-releases", "</table>")
    assert f"spent ρ {sum(f['rho'] for f in fortnights):.6f}" in between(page, "trend-spent", "</p>")
    # A region's own rows.
    region = gw.client.get("/console/statistics/trend", params={"year": YEAR, "place": "E12000007"})
    assert "London: " in between(region.text, "trend-table", "</caption>")


def test_a_second_look_at_the_trend_and_a_second_release_spend_nothing(world: tuple[Gateway, World]) -> None:
    gw, _ = world
    csrf = sign_in(gw, STATISTICIAN)
    release_trend(gw, csrf)
    after = ledger(gw)
    points = api(gw, "/v1/stats/trend", year=YEAR)["points"]
    again = gw.client.get("/console/statistics/trend", params={"year": YEAR})
    assert again.status_code == 200 and "Looking at the trend spends nothing" in again.text
    assert "nothing was spent" in release_trend(gw, csrf)
    r = gw.client.post("/v1/stats/trend", json={"academic_year": YEAR}, headers=gw.auth(*STATISTICIAN))
    assert r.status_code == 200 and r.json()["spent_units"] == 0
    assert ledger(gw) == after and api(gw, "/v1/stats/trend", year=YEAR)["points"] == points
    with gw.runtime.sessions() as db:
        views = db.execute(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "stats.trend_viewed")
        ).scalar_one()
    assert views >= 5  # every look is audited


def test_only_a_dfe_statistician_sees_the_trend_and_every_refusal_is_audited(
    world: tuple[Gateway, World],
) -> None:
    gw, _ = world
    for who in (("la", "202", "statistician"), ("school", "100001", "attendance_officer")):
        csrf = sign_in(gw, who)
        assert gw.client.get("/console/statistics/trend").status_code == 403
        posted = gw.client.post("/console/statistics/trend", data={"year": str(YEAR), "csrf_token": csrf})
        assert posted.status_code == 403
        assert gw.client.get("/v1/stats/trend", headers=gw.auth(*who)).status_code == 403
        with gw.runtime.sessions() as db:
            denials = (
                db.execute(
                    select(AuditEvent).where(AuditEvent.decision == "deny", AuditEvent.actor_org_id == who[1])
                )
                .scalars()
                .all()
            )
        details = [json.loads(bytes(e.entry))["details"] for e in denials]
        assert sum(d.get("page") == "trend" for d in details) == 2 and any("trend" in d for d in details)
    assert ledger(gw) == (0, 0)


def test_the_trend_refuses_a_day_after_today_and_keeps_its_bundle_names(world: tuple[Gateway, World]) -> None:
    gw, _ = world
    headers = gw.auth(*STATISTICIAN)
    future = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    r = gw.client.post("/v1/stats/trend", json={"academic_year": YEAR, "to": future}, headers=headers)
    assert r.status_code == 422 and [e["field"] for e in r.json()["detail"]["errors"]] == ["to"]
    old = gw.client.post("/v1/stats/trend", json={"academic_year": 2001}, headers=headers)
    assert old.status_code == 422
    assert [e["field"] for e in old.json()["detail"]["errors"]] == ["academic_year"]
    taken = gw.client.post(
        "/v1/stats/releases",
        json={
            "name": "trend-2025-f06",
            "tables": [{"measure": "enrolments"}],
            **{"from": "2025-10-06"},
            "to": "2025-10-17",
        },
        headers=headers,
    )
    assert taken.status_code == 422 and [e["field"] for e in taken.json()["detail"]["errors"]] == ["name"]
    # The console names the field, and never fails on what a browser sends.
    csrf = sign_in(gw, STATISTICIAN)
    for data in ({"year": "soon"}, {"year": "2001"}):
        r = gw.client.post("/console/statistics/trend", data={**data, "csrf_token": csrf})
        assert r.status_code == 422 and 'href="#year"' in r.text, data
    assert 'data-testid="release-due"' not in r.text  # nothing to release for 2001
    # A malformed address is the console's 404 page, as for every page's query.
    for params in ({"place": "London"}, {"year": "last"}, {"year": "1999"}):
        r = gw.client.get("/console/statistics/trend", params=params)
        assert r.status_code == 404 and "There is no page at this address" in r.text, params
    assert ledger(gw) == (0, 0)


def test_a_fortnights_bundle_is_in_dfes_csv_layout_with_a_row_per_week(world: tuple[Gateway, World]) -> None:
    gw, _ = world
    headers = gw.auth(*STATISTICIAN)
    r = gw.client.post("/v1/stats/trend", json={"academic_year": YEAR, "to": "2025-10-19"}, headers=headers)
    assert r.status_code == 201, r.text
    assert [f["name"] for f in r.json()["fortnights"]][-1] == "trend-2025-f06"
    text = gw.client.get("/v1/stats/releases/trend-2025-f06/csv", headers=headers).text
    header, *lines = text.splitlines()
    assert "week_commencing" in header.split(",")
    national = [line for line in lines if ",National," in line]
    assert [line.split(",")[header.split(",").index("week_commencing")] for line in national] == [
        "2025-10-06",
        "2025-10-13",
    ]
