"""The reports in the console: the school's report page (and its interval charts), its pupils at risk,
the trust's and the LA's overviews and DfE's ABIE list; the same audited decisions and figures as
their API routes, each page allowed to whom the API allows it and refused (and recorded) to anyone else."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from click.testing import CliRunner

from gateway.cli import main
from gateway.console import overviews
from tests.api.test_console import audit_size, sign_in
from tests.api.test_pupils_at_risk import eight_weeks
from tests.api.test_reports import (  # noqa: F401
    PRIOR_DAY,
    SCHOOLS,
    TRUST_NAMES,
    _last_event,
    _put,
    _report,
    _spends,
    world,
)
from tests.conftest import Gateway
from tests.factories import pupil

OFFICER = ("school", "100001", "attendance_officer")


def _section(html: str, testid: str) -> str:
    return html.split(f'data-testid="{testid}"')[1].split("</table>")[0]


def _interval(scope: dict[str, Any] | None) -> str:
    return "–" if not scope else f"{scope['lower']:.1f}–{scope['upper']:.1f}%"


def test_the_report_page_shows_the_apis_figures_and_is_audited(world: Gateway) -> None:  # noqa: F811
    sign_in(world, OFFICER)
    home = world.client.get("/console/")
    assert 'href="/console/school/report"' in home.text
    before = audit_size(world)
    page = world.client.get("/console/school/report")
    assert page.status_code == 200, page.text
    event = _last_event(world)
    assert event["action"] == "report.viewed" and event["decision"] == "allow"
    # The first view spends the fortnight's snapshot (one event) and is itself one event.
    assert event["details"]["urn"] == 100001 and audit_size(world) == before + 2
    html = page.text
    assert "Camden Primary School: attendance report" in html
    body = _report(world, 100001, *OFFICER).json()  # the same snapshot: nothing more is spent
    assert _spends(world) == 1
    similar = _section(html, "similar-schools")
    for s in body["similar_schools"]:
        assert s["name"] in similar and str(s["urn"]) in similar
        if s["overall_absence"] is not None:
            assert f"{s['overall_absence']:.1f}%" in similar
    measures = _section(html, "measures")
    assert len(re.findall(r'<tr class="govuk-table__row">', measures)) == len(body["measures"]) + 1
    overall = next(m for m in body["measures"] if m["window"] == "year_to_date" and m["dimension"] == "all"
                   and m["measure"] == "overall_absence_rate")
    row = next(r for r in measures.split("</tr>") if "Year to date" in r and "All pupils" in r
               and "Overall absence rate" in r)
    assert f"{overall['school']:.1f}%" in row
    assert _interval(overall["similar_schools"]) in row and _interval(overall["england"]) in row
    for listed in ("strengths", "focus"):
        part = html.split(f'data-testid="{listed}"')[1].split("</table>")[0].split("<h2")[0]
        if body[listed]:
            assert len(re.findall(r'<tr class="govuk-table__row">', part)) == len(body[listed]) + 1
        else:
            assert "No measure is clearly" in part
    assert "Not available: no snapshot of the prior year" in html.split('data-testid="abie"')[1]


def test_the_report_page_shows_the_abie_from_the_prior_year(world: Gateway) -> None:  # noqa: F811
    for urn, la, _, est, *_rest in SCHOOLS:
        _put(world, urn, la, est, PRIOR_DAY, {1} if urn == 100001 else set())
    env = {"GATEWAY_DATA_DIR": str(world.settings.data_dir),
           "GATEWAY_DATABASE_URL": world.settings.database_url}
    assert CliRunner().invoke(main, ["reports", "snapshot", "--day", "2025-03-10"], env=env).exit_code == 0
    sign_in(world, OFFICER)
    html = world.client.get("/console/school/report").text
    abie = _report(world, 100001, *OFFICER).json()["abie"]
    shown = html.split('data-testid="abie"')[1].split("</div>\n\n")[0]
    if abie["available"]:
        assert f"{abie['target']:.1f}%" in shown
        assert f"{abie['expectation_pp']:.1f} percentage points" in shown
    else:
        assert f"Not available: {abie['reason']}" in shown


@pytest.mark.parametrize("who", [
    ("school", "100003", "attendance_officer"),
    ("la", "202", "case_officer"),
    ("dfe", "dfe", "statistician"),
])
def test_only_the_schools_own_officer_sees_its_report(world: Gateway, who: tuple[str, ...]) -> None:  # noqa: F811
    sign_in(world, who)
    page = world.client.get("/console/school/report")
    if who[0] == "school":
        # Another school's officer sees its own school's report (Camden Primary only as a similar
        # school), never Camden Primary's.
        assert "Tower Hamlets Primary School: attendance report" in page.text
        assert "Camden Primary School: attendance report" not in page.text
        assert _last_event(world)["details"]["urn"] == 100003
    else:
        assert page.status_code == 403, page.text
        assert 'data-testid="measures"' not in page.text
        event = _last_event(world)
        assert event["decision"] == "deny" and event["details"]["action"] == "report.view"
        assert "100001" not in json.dumps(event)


# --- the report's interval charts, and the report as a trust's or an LA's officer sees it ---------


def test_the_report_page_draws_each_measure_beside_its_groups_intervals(world: Gateway) -> None:  # noqa: F811
    sign_in(world, OFFICER)
    html = world.client.get("/console/school/report").text
    body = _report(world, 100001, *OFFICER).json()
    for window, title in (("year_to_date", "Year to date"), ("last_four_weeks", "Last four weeks")):
        chart = html.split(f'data-testid="chart-{window}"')[1].split("</svg>")[0]
        assert f"{title}: your school beside similar schools and England" in chart
        rows = [m for m in body["measures"] if m["window"] == window and m["dimension"] == "all"]
        assert len(rows) == 5 and chart.count('data-series="school"') == 5
        for m in rows:
            name = m["measure"].replace("_", " ").capitalize()
            assert f"{name}, Your school: {m['school']:.1f}%" in chart
            for scope, series in (("similar_schools", "Similar schools"), ("england", "England")):
                s = m[scope]
                if s is None:
                    assert f"{name}, {series}: no value" in chart
                else:
                    assert (f"{name}, {series}: {s['value']:.1f}% (95% interval {s['lower']:.1f}% to "
                            f"{s['upper']:.1f}%)") in chart
    # Drawn on the server: the page's only script is GOV.UK's start-up module, from the package, under
    # the console's one strict policy.
    assert re.findall(r"<script[^>]*>", html) == [
        m for m in re.findall(r"<script[^>]*>", html) if 'src="/console/static/init.js' in m]
    assert len(re.findall(r"<script[^>]*>", html)) == 1
    assert "script-src 'self'" in world.client.get("/console/school/report").headers["content-security-policy"]


@pytest.mark.parametrize(("who", "urn", "allowed"), [
    (("trust", "4021", "trust_officer"), 100001, True),
    (("trust", "4021", "trust_officer"), 100003, True),
    (("trust", "4021", "trust_officer"), 100005, False),  # another trust's school
    (("trust", "4021", "trust_officer"), 100002, False),  # a school in no trust
    (("la", "202", "case_officer"), 100001, True),
    (("la", "202", "case_officer"), 100003, False),  # another LA's school
    (("school", "100003", "attendance_officer"), 100001, False),  # another school
    (("dfe", "dfe", "statistician"), 100001, False),
])
def test_a_trust_or_la_officer_sees_the_report_of_their_own_schools_only(
    world: Gateway, who: tuple[str, ...], urn: int, allowed: bool  # noqa: F811
) -> None:
    sign_in(world, who)
    page = world.client.get(f"/console/school/report?urn={urn}")
    event = _last_event(world)
    assert event["details"]["urn"] == urn and event["details"]["action"] == "report.view"
    if allowed:
        assert page.status_code == 200, page.text
        assert event["action"] == "report.viewed" and event["decision"] == "allow"
        assert 'data-series="school"' in page.text and "This school" in page.text
        # A trust's or an LA's officer sees the school's figures, never a pupil.
        assert "Surname" not in page.text and "Forename" not in page.text
    else:
        assert page.status_code == 403, page.text
        assert 'data-testid="measures"' not in page.text
        assert event["action"] == "access.denied" and event["decision"] == "deny"


def test_a_malformed_school_in_the_address_is_no_page_not_an_error(world: Gateway) -> None:  # noqa: F811
    sign_in(world, ("trust", "4021", "trust_officer"))
    for bad in ("12", "abc", "1" * 40, "-100001"):
        assert world.client.get(f"/console/school/report?urn={bad}").status_code == 404
    assert world.client.get("/console/school/report?urn=100009").status_code in (403, 404)


# --- pupils at risk -----------------------------------------------------------------------------


AT_RISK = "/console/school/at-risk?to=2025-10-31"


def test_the_school_sees_its_pupils_at_risk_with_reasons_and_the_rule(loaded: Gateway) -> None:
    eight_weeks(loaded)
    sign_in(loaded, OFFICER)
    assert 'href="/console/school/at-risk"' in loaded.client.get("/console/").text
    page = loaded.client.get(AT_RISK)
    assert page.status_code == 200, page.text
    api = loaded.client.get("/v1/schools/100001/pupils-at-risk?to=2025-10-31",
                            headers=loaded.auth(*OFFICER)).json()
    table = _section(page.text, "at-risk")
    assert len(re.findall(r'<tr class="govuk-table__row">', table)) == len(api["pupils"]) + 1 == 2
    assert "Surname1, Forename1" in table and pupil(1)["upn"] in table and "Surname2" not in table
    assert "Attendance in the last 4 school weeks 87.5% against 100.0% before" in table
    rule = page.text.split('data-testid="rule"')[1]
    assert api["rule"]["reason"] in html.unescape(rule)
    assert "below 92% and at least 4 percentage points" in rule and "7.5% or more" in rule
    event = _last_event(loaded)
    assert event["action"] == "pupils_at_risk.viewed" and event["record_count"] == 1
    assert event["details"] == {"urn": 100001, "from": "2025-08-01", "to": "2025-10-31"}
    assert "Surname1" not in json.dumps(event) and pupil(1)["upn"] not in json.dumps(event)
    # An earlier window: no fall yet, and the page says so.
    early = loaded.client.get("/console/school/at-risk?to=2025-10-10")
    assert "No pupil is at risk" in early.text and "Surname1" not in early.text


@pytest.mark.parametrize("who", [
    ("la", "202", "case_officer"),
    ("trust", "4021", "trust_officer"),
    ("dfe", "dfe", "statistician"),
    ("school", "100001", "feed_submitter"),
])
def test_no_one_but_the_schools_officer_sees_its_pupils_at_risk(loaded: Gateway, who: tuple[str, ...]) -> None:
    eight_weeks(loaded)
    sign_in(loaded, who)
    before = audit_size(loaded)
    page = loaded.client.get(AT_RISK)
    assert page.status_code == 403, page.text
    assert "Surname1" not in page.text and "Forename1" not in page.text
    event = _last_event(loaded)
    assert audit_size(loaded) == before + 1
    assert event["decision"] == "deny" and event["details"]["action"] == "pupils_at_risk.view"
    assert "Surname1" not in json.dumps(event)


def test_another_schools_officer_sees_only_its_own_pupils_at_risk(loaded: Gateway) -> None:
    eight_weeks(loaded)
    sign_in(loaded, ("school", "100003", "attendance_officer"))
    page = loaded.client.get(AT_RISK)
    assert page.status_code == 200 and "Surname1" not in page.text and "School 100003" in page.text
    assert _last_event(loaded)["details"]["urn"] == 100003


def test_the_at_risk_window_comes_from_govuk_date_fields_and_a_bad_one_is_named(loaded: Gateway) -> None:
    eight_weeks(loaded)
    sign_in(loaded, OFFICER)
    page = loaded.client.get("/console/school/at-risk?to-day=31&to-month=10&to-year=2025")
    assert page.status_code == 200 and "Surname1, Forename1" in page.text
    assert 'name="to-day"' in page.text and 'value="31"' in page.text
    assert _last_event(loaded)["details"]["to"] == "2025-10-31"
    for query, message in (
        ("to=31-10-2025", "To must be a real date"),
        ("from-day=1&from-month=13&from-year=2025", "From must be a real date"),
        ("to-day=1&to-year=2025", "To must include a month"),
        ("to-day=%C2%B2&to-month=10&to-year=2025", "To must be a real date"),  # "²" is a digit to isdigit()
        ("from=2025-10-01&to=2025-09-01", "The window starts after it ends"),
        ("from=2024-10-01&to=2025-10-01", "The window must lie within one academic year"),
    ):
        before = audit_size(loaded)
        page = loaded.client.get(f"/console/school/at-risk?{query}")
        assert page.status_code == 400, (query, page.text)
        assert message in page.text and "govuk-error-summary" in page.text
        assert "Surname1" not in page.text and audit_size(loaded) == before  # nothing listed
    assert loaded.client.get("/console/school/at-risk?to=" + "9" * 50).status_code == 404


def test_a_bad_window_does_not_let_anyone_else_see_even_the_form(loaded: Gateway) -> None:
    sign_in(loaded, ("la", "202", "case_officer"))
    page = loaded.client.get("/console/school/at-risk?to-day=99")
    assert page.status_code == 403
    assert _last_event(loaded)["details"]["action"] == "pupils_at_risk.view"


# --- the trust's and the LA's overviews ---------------------------------------------------------


def _overview_urns(html: str) -> list[int]:
    return [int(u) for u in re.findall(r'<tr class="govuk-table__row" data-urn="(\d+)"', html)]


def test_the_trust_sees_its_schools_sortable_and_each_links_to_its_report(world: Gateway) -> None:  # noqa: F811
    trust = ("trust", "4021", "trust_officer")
    sign_in(world, trust)
    assert 'href="/console/trust"' in world.client.get("/console/").text
    page = world.client.get("/console/trust")
    assert page.status_code == 200, page.text
    # The trust is named as the register names it, not by its UID.
    caption = re.search(r'<span class="govuk-caption-l">([^<]*)</span>', page.text)
    assert caption and html.unescape(caption.group(1)) == TRUST_NAMES["4021"]
    assert "Trust 4021" not in page.text
    event = _last_event(world)
    assert event["action"] == "report.viewed" and event["details"]["action"] == "trust.schools"
    api = world.client.get("/v1/trusts/4021/schools", headers=world.auth(*trust)).json()["schools"]
    assert _overview_urns(page.text) == [100001, 100003]  # by name
    for s in api:
        row = page.text.split(f'data-urn="{s["urn"]}"')[1].split("</tr>")[0]
        assert f'href="/console/school/report?urn={s["urn"]}"' in row and s["name"] in row
        assert f"{s['overall_absence_rate']:.1f}%" in row
    by_absence = sorted(api, key=lambda s: s["overall_absence_rate"], reverse=True)
    desc = world.client.get("/console/trust?sort=overall_absence_rate&dir=desc").text
    assert _overview_urns(desc) == [s["urn"] for s in by_absence]
    assert 'aria-sort="descending"' in desc
    asc = world.client.get("/console/trust?sort=overall_absence_rate&dir=asc").text
    assert _overview_urns(asc) == [s["urn"] for s in reversed(by_absence)]
    assert _overview_urns(world.client.get("/console/trust?sort=urn&dir=desc").text) == [100003, 100001]
    # The heading links name a column and a direction, nothing else.
    assert set(re.findall(r'href="/console/trust\?([^"]*)"', desc)) <= {
        f"sort={c}&amp;dir={d}" for c in ("name", "urn", "phase", "overall_absence_rate",
                                          "persistent_absence_rate", "severe_absence_rate",
                                          "abie_expectation", "abie_target") for d in ("asc", "desc")}
    unknown = world.client.get("/console/trust?sort=surname&dir=sideways")
    assert unknown.status_code == 200 and "Sort by one of the table" in unknown.text
    assert _overview_urns(unknown.text) == [100001, 100003]
    assert "Surname" not in page.text  # no pupil on a trust's page
    # Its report link opens the school's report; a school outside the trust is refused.
    assert world.client.get("/console/school/report?urn=100003").status_code == 200
    assert world.client.get("/console/school/report?urn=100005").status_code == 403


def test_another_trusts_officer_sees_only_its_own_schools(world: Gateway) -> None:  # noqa: F811
    sign_in(world, ("trust", "5000", "trust_officer"))
    page = world.client.get("/console/trust").text
    assert _overview_urns(page) == [100005]
    assert TRUST_NAMES["5000"] in page and html.escape(TRUST_NAMES["4021"]) not in page


@pytest.mark.parametrize(("path", "who", "action"), [
    ("/console/trust", ("la", "202", "case_officer"), "trust.schools"),
    ("/console/trust", ("trust", "4021", "attendance_officer"), "trust.schools"),
    ("/console/trust", ("school", "100001", "attendance_officer"), "trust.schools"),
    ("/console/la/schools", ("trust", "4021", "trust_officer"), "la.schools"),
    ("/console/la/schools", ("la", "202", "dpo"), "la.schools"),
    ("/console/la/schools", ("school", "100001", "attendance_officer"), "la.schools"),
    ("/console/abie", ("la", "202", "case_officer"), "abie.list"),
    ("/console/abie", ("trust", "4021", "trust_officer"), "abie.list"),
    ("/console/abie", ("dfe", "dfe", "dpo"), "abie.list"),
])
def test_the_overviews_refuse_everyone_else_and_record_it(
    world: Gateway, path: str, who: tuple[str, ...], action: str  # noqa: F811
) -> None:
    sign_in(world, who)
    before = audit_size(world)
    page = world.client.get(path)
    assert page.status_code == 403, page.text
    assert 'data-testid="overview"' not in page.text and 'data-testid="abie-list"' not in page.text
    assert audit_size(world) == before + 1
    event = _last_event(world)
    assert event["decision"] == "deny" and event["details"]["action"] == action
    assert _spends(world) == 0  # refused before any snapshot is made


def test_the_la_sees_its_schools_from_its_home_and_their_reports(world: Gateway) -> None:  # noqa: F811
    la = ("la", "202", "case_officer")
    sign_in(world, la)
    assert 'href="/console/la/schools"' in world.client.get("/console/").text
    page = world.client.get("/console/la/schools?sort=name&dir=desc")
    assert page.status_code == 200, page.text
    assert _last_event(world)["details"]["action"] == "la.schools"
    api = world.client.get("/v1/las/202/schools", headers=world.auth(*la)).json()["schools"]
    names = sorted(((s["name"].casefold(), s["urn"]) for s in api), reverse=True)
    assert _overview_urns(page.text) == [u for _, u in names]
    assert "Local authority 202" in page.text
    assert world.client.get("/console/school/report?urn=100002").status_code == 200
    assert world.client.get("/console/school/report?urn=100003").status_code == 403


# --- DfE's ABIE list ----------------------------------------------------------------------------


def test_dfe_sees_every_schools_abie_paged_and_sorted(world: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    dfe = ("dfe", "dfe", "statistician")
    sign_in(world, dfe)
    assert 'href="/console/abie"' in world.client.get("/console/").text
    page = world.client.get("/console/abie")
    assert page.status_code == 200, page.text
    event = _last_event(world)
    assert event["action"] == "report.viewed" and event["details"]["action"] == "abie.list"
    api = world.client.get("/v1/abie", headers=world.auth(*dfe)).json()["schools"]
    assert _overview_urns(page.text) == sorted(s["urn"] for s in api) == [100001, 100002, 100003, 100005]
    for s in api:
        row = page.text.split(f'data-urn="{s["urn"]}"')[1].split("</tr>")[0]
        assert f">{len(s['similar_schools'])}<" in row
        for u in s["similar_schools"]:
            assert str(u) in row
        assert "Not available: no snapshot of the prior year" in row
    by_name = sorted(api, key=lambda s: s["name"].casefold())
    assert _overview_urns(world.client.get("/console/abie?sort=name").text) == [s["urn"] for s in by_name]
    monkeypatch.setattr(overviews, "ABIE_PER_PAGE", 3)
    first = world.client.get("/console/abie?sort=urn&dir=desc").text
    assert _overview_urns(first) == [100005, 100003, 100002] and "page 1 of 2" in first
    assert 'href="/console/abie?sort=urn&amp;dir=desc&amp;page=2"' in first
    second = world.client.get("/console/abie?sort=urn&dir=desc&page=2").text
    assert _overview_urns(second) == [100001]
    beyond = world.client.get("/console/abie?page=9")
    assert beyond.status_code == 200 and "Choose a page from 1 to 2" in beyond.text
    assert world.client.get("/console/abie?page=" + "9" * 60).status_code == 404
    assert "Choose a page from 1 to 2" in world.client.get("/console/abie?page=%C2%B2").text


def test_the_overview_and_the_abie_list_show_each_schools_abie_from_the_prior_year(world: Gateway) -> None:  # noqa: F811
    for urn, la, _, est, *_rest in SCHOOLS:
        _put(world, urn, la, est, PRIOR_DAY, {1} if urn == 100001 else set())
    env = {"GATEWAY_DATA_DIR": str(world.settings.data_dir),
           "GATEWAY_DATABASE_URL": world.settings.database_url}
    assert CliRunner().invoke(main, ["reports", "snapshot", "--day", "2025-03-10"], env=env).exit_code == 0
    dfe = ("dfe", "dfe", "statistician")
    sign_in(world, dfe)
    listing = world.client.get("/console/abie").text
    api = world.client.get("/v1/abie", headers=world.auth(*dfe)).json()["schools"]
    for s in api:
        row = listing.split(f'data-urn="{s["urn"]}"')[1].split("</tr>")[0]
        abie = s["abie"]
        if abie["available"]:
            for field in ("prior_attendance", "benchmark", "target"):
                assert f"{abie[field]:.1f}%" in row
            assert f"{abie['expectation_pp']:.1f} points" in row
        else:
            assert f"Not available: {html.escape(abie['reason'], quote=True)}" in row
    trust = ("trust", "4021", "trust_officer")
    sign_in(world, trust)
    overview = world.client.get("/console/trust?sort=abie_target&dir=desc").text
    rows = world.client.get("/v1/trusts/4021/schools", headers=world.auth(*trust)).json()["schools"]
    for s in rows:
        row = overview.split(f'data-urn="{s["urn"]}"')[1].split("</tr>")[0]
        if s["abie"]["available"]:
            assert f"{s['abie']['target']:.1f}%" in row
            assert f"{s['abie']['expectation_pp']:.1f} points" in row
        else:
            assert "Not available" in row
    targets = [s for s in rows if s["abie"]["available"]]
    expected = [s["urn"] for s in sorted(targets, key=lambda s: s["abie"]["target"], reverse=True)]
    assert _overview_urns(overview) == expected + sorted(s["urn"] for s in rows if s not in targets)
