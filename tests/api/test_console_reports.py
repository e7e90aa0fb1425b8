"""The school's report page in the console: the same audited decision and figures as
``GET /v1/schools/{urn}/report``, for the school's own attendance officer only."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from click.testing import CliRunner

from gateway.cli import main
from tests.api.test_console import audit_size, sign_in
from tests.api.test_reports import PRIOR_DAY, SCHOOLS, _last_event, _put, _report, _spends, world  # noqa: F401
from tests.conftest import Gateway

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
