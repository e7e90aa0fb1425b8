"""The schools' attendance reports in a real browser: the school's officer reads its report (its
interval charts drawn) and its pupils at risk; the trust's officer sorts its schools and opens one's
report; the LA's case officer sees its schools; DfE's statistician reads every school's ABIE.

The world is the console's (tests/e2e/seed.py), with the register of schools refreshed to put
Camden Primary and Tower Hamlets Primary in trust 4021 and one more day of Camden's registers, on
which pupils 1 and 2 pass 7.5% absence (at risk, not yet persistently absent). Reports are made as
of 20 October 2025, the fortnight of those registers. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.services import reports
from gateway.services.schools import import_gias
from tests.api.test_reports import _gias
from tests.e2e.conftest import SCREENSHOTS, Served
from tests.e2e.seed import CAMDEN_PRIMARY
from tests.e2e.test_accessibility_e2e import Checked, axe_source
from tests.e2e.test_console_e2e import UPN_SHAPE, Browser
from tests.factories import feed_json, pupil

OFFICER = ("school", str(CAMDEN_PRIMARY), "attendance_officer")
TRUST = ("trust", "4021", "trust_officer")
CASE_OFFICER = ("la", "202", "case_officer")
STATISTICIAN = ("dfe", "dfe", "statistician")
TODAY = dt.date(2025, 10, 20)


@pytest.fixture(scope="module")
def world(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    import_gias(served.gateway.runtime.sessions, _gias(tmp_path_factory.mktemp("trusts") / "gias.csv"))
    rows = [pupil(n, am="I" if n == 2 else "/") for n in (1, 2, 3, 4)]
    token = served.token("school", str(CAMDEN_PRIMARY), "feed_submitter")
    r = httpx.put(f"{served.base_url}/v1/schools/{CAMDEN_PRIMARY}/attendance/{TODAY.isoformat()}",
                  content=feed_json(rows),
                  headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    assert r.status_code in (200, 201), r.text
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reports, "today", lambda: TODAY)
        yield served


@pytest.fixture
def browse(browser: Any, world: Served) -> Iterator[Any]:
    contexts: list[Any] = []

    def open_browser() -> Browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB",
                                      timezone_id="Europe/London")
        contexts.append(context)
        return Browser(world, context)

    yield open_browser
    for context in contexts:
        context.close()


def _urns(b: Browser) -> list[int]:
    return [int(u) for u in b.page.locator("[data-testid=overview] tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.urn)")]


def _shot(b: Browser, name: str) -> None:
    b.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_the_school_reads_its_report_with_charts_then_its_pupils_at_risk(browse: Any) -> None:
    b = browse()
    b.sign_in(OFFICER)
    b.click("a:has-text('Attendance report')")
    assert b.heading() == "Camden Primary School: attendance report"
    for window in ("year_to_date", "last_four_weeks"):
        chart = b.page.locator(f"svg[data-testid=chart-{window}]")
        assert chart.is_visible()
        box = chart.bounding_box()
        assert box is not None and box["width"] > 400 and box["height"] > 200
        # Five measures, each with the school's bar and similar schools' and England's beside it (a
        # noisy estimate with no value, a sum noised below zero, is said so and not drawn).
        assert chart.locator("rect[data-series=school]").count() == 5
        assert chart.locator("g > title").count() == 15
        drawn = chart.locator("rect[data-series=similar_schools], rect[data-series=england]").count()
        said = chart.locator("g > title", has_text="no value").count()
        assert drawn + said == 10
    b.page.locator("[data-testid=chart-year_to_date-figure]").screenshot(
        path=str(SCREENSHOTS / "reports-school-chart.png"))
    assert "Overall absence rate" in b.text("[data-testid=measures]")
    _shot(b, "reports-school-report")

    b.goto("/console/")
    b.click("a:has-text('Pupils at risk')")
    assert b.heading() == "Pupils at risk of persistent absence"
    b.page.fill("#to-day", "24")
    b.page.fill("#to-month", "10")
    b.page.fill("#to-year", "2025")
    b.click("button:has-text('Show pupils at risk')")
    assert "to-day=24&to-month=10&to-year=2025" in b.path()
    listed = b.text("[data-testid=at-risk]")
    assert "Surname1, Forename1" in listed and "Surname2, Forename2" in listed
    assert "Surname3" not in listed  # already persistently absent: the school knows
    assert "Absence so far this year 9.1%, close to the 10.0% line" in listed
    assert "below 92%" in b.text("[data-testid=rule]")
    _shot(b, "reports-at-risk")


def test_the_trust_sorts_its_schools_and_opens_a_schools_report(browse: Any) -> None:
    b = browse()
    b.sign_in(TRUST)
    _shot(b, "reports-trust-home")
    b.click("a[href='/console/trust']")
    assert b.path() == "/console/trust" and b.heading() == "Schools' attendance"
    assert _urns(b) == [100001, 100003]  # by name
    _shot(b, "reports-trust-overview")
    b.click("[data-testid=overview] a[data-sort=overall_absence_rate]")
    ascending = _urns(b)
    b.click("[data-testid=overview] a[data-sort=overall_absence_rate]")
    assert b.path() == "/console/trust?sort=overall_absence_rate&dir=desc"
    assert _urns(b) == list(reversed(ascending))
    assert b.page.locator("th[aria-sort=descending]").inner_text().startswith("Overall absence")
    _shot(b, "reports-trust-sorted")
    b.click("[data-testid=overview] a:has-text('Tower Hamlets Primary School')")
    assert b.heading() == "Tower Hamlets Primary School: attendance report"
    assert b.page.locator("svg[data-testid=chart-year_to_date]").is_visible()
    assert "Surname" not in b.text()
    _shot(b, "reports-trust-school-report")
    # A school outside the trust (Camden Secondary, in none) is refused.
    response = b.goto("/console/school/report?urn=100002")
    assert response.status == 403 and "You do not have permission" in b.heading()


def test_the_la_sees_its_schools_and_dfe_every_schools_abie(browse: Any) -> None:
    b = browse()
    b.sign_in(CASE_OFFICER)
    b.click("a[href='/console/la/schools']")
    assert b.path() == "/console/la/schools"
    assert 100001 in _urns(b) and 100003 not in _urns(b)  # Tower Hamlets is LA 211's
    _shot(b, "reports-la-schools")
    b.click("[data-testid=overview] a:has-text('Camden Primary School')")
    assert b.heading() == "Camden Primary School: attendance report"

    d = browse()
    d.sign_in(STATISTICIAN)
    d.click("a:has-text('Attendance baseline improvement expectations')")
    assert d.path() == "/console/abie"
    rows = d.page.locator("[data-testid=abie-list] tbody tr")
    assert rows.count() >= 4
    d.click("[data-testid=abie-list] a[data-sort=name]")
    names = d.page.locator("[data-testid=abie-list] tbody th").all_inner_texts()
    assert names == sorted(names, key=str.casefold)
    _shot(d, "reports-abie")


def test_no_reports_page_has_a_serious_accessibility_violation(browser: Any, world: Served) -> None:
    # axe-core, vendored and hash-checked, as tests/e2e/test_accessibility_e2e.py runs it.
    source = axe_source()
    found: dict[str, Any] = {}
    for who, paths in (
        (OFFICER, ["/console/school/report", "/console/school/at-risk?to=2025-10-24",
                   "/console/school/at-risk?to-day=40&to-month=10&to-year=2025"]),
        (TRUST, ["/console/", "/console/trust?sort=overall_absence_rate&dir=desc",
                 "/console/school/report?urn=100003"]),
        (CASE_OFFICER, ["/console/la/schools"]),
        (STATISTICIAN, ["/console/abie?sort=name"]),
    ):
        checked = Checked(browser, world, source)
        try:
            checked.sign_in(who)
            for path in paths:
                checked.visit(path)
            found |= checked.found
        finally:
            checked.context.close()
    assert found == {}, json.dumps(found, indent=2)


def test_no_address_any_reports_page_used_names_a_pupil(world: Served) -> None:
    # Runs last in this module: every page above kept its links and requests.
    assert world.linked and world.requested
    for address in world.linked + world.requested:
        assert not UPN_SHAPE.search(address), address
        assert not re.search(r"Surname|Forename", address), address
    assert all(Path(SCREENSHOTS / f"reports-{n}.png").is_file()
               for n in ("school-report", "at-risk", "trust-overview", "trust-sorted", "la-schools", "abie"))
