"""The console in a real browser: each role signs in, uses each page, and sees what it should.

A screenshot of each main page goes to test-artifacts/screenshots/. Every address any page asked
for, and every link, form action and source on every page, is kept and checked last: none may carry
a UPN, and no request may go to any host but the gateway (the chart library is vendored, no CDN).
Every page is checked for Content-Security-Policy violations as it is used.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.console.web import _number
from tests.e2e.conftest import SCREENSHOTS, Served
from tests.e2e.seed import CAMDEN_PRIMARY, WINDOW_FROM, WINDOW_TO

UPN_SHAPE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z][0-9]{11}[0-9A-Za-z](?![A-Za-z0-9])")

DPO = ("operator", "operator", "dpo")
OFFICER = ("school", str(CAMDEN_PRIMARY), "attendance_officer")
STATISTICIAN = ("dfe", "dfe", "statistician")
CASE_OFFICER = ("la", "202", "case_officer")

#: What every console page must have for a screen-reader user (a small subset of WCAG 2.2 AA that
#: can be checked without a rules engine): a language, one h1, a title, and a label for every field.
ACCESSIBILITY_PROBLEMS = """() => {
  const problems = [];
  if (!document.documentElement.lang) problems.push('no lang on <html>');
  if (document.querySelectorAll('h1').length !== 1) problems.push('not exactly one h1');
  if (!document.title.trim()) problems.push('no title');
  for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
    const labelled = (el.id && document.querySelector(`label[for="${el.id}"]`))
      || el.closest('label') || el.getAttribute('aria-label');
    if (!labelled) problems.push(`field without a label: ${el.name}`);
  }
  for (const img of document.querySelectorAll('img, svg[role=img]')) {
    const named = img.getAttribute('alt') !== null || img.getAttribute('aria-labelledby')
      || img.getAttribute('aria-label');
    if (!named) problems.push('image without text');
  }
  return problems;
}"""
ADDRESSES = """() => Array.from(document.querySelectorAll('[href],[src],[action],[formaction]'))
  .map(el => ['href', 'src', 'action', 'formaction'].map(name => el.getAttribute(name)).find(Boolean))"""
#: Runs before any of the page's own scripts (injected by the browser, outside the page's CSP): keeps
#: every Content-Security-Policy violation the page reports.
RECORD_CSP_VIOLATIONS = """window.__cspViolations = [];
document.addEventListener('securitypolicyviolation',
  e => window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));"""
#: What the DfE dashboard's chart holds, read from the Chart.js instance on its canvas.
DRAWN_CHART = """() => {
  const canvas = document.getElementById('stats-chart');
  const chart = Chart.getChart(canvas);
  const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
  return {
    type: chart.config.type,
    labels: chart.data.labels,
    points: chart.data.datasets[0].data,
    bars: chart.getDatasetMeta(0).data.length,
    title: chart.options.plugins.title.text,
    valueAxis: chart.options.scales.x.title.text,
    groupAxis: chart.options.scales.y.title.text,
    width: canvas.clientWidth,
    height: canvas.clientHeight,
    painted,
  };
}"""


class Browser:
    """One signed-in (or signed-out) browser context, recording what it asks for."""

    def __init__(self, served: Served, context: Any):
        self.served = served
        self.context = context
        self.requested: list[str] = []
        self.console: list[str] = []
        self.page_errors: list[str] = []
        context.add_init_script(RECORD_CSP_VIOLATIONS)
        self.page = context.new_page()
        self.page.set_default_timeout(10_000)
        self.page.on("request", lambda request: served.requested.append(request.url))
        self.page.on("request", lambda request: self.requested.append(request.url))
        self.page.on("console", lambda message: self.console.append(f"{message.type}: {message.text}"))
        self.page.on("pageerror", lambda error: self.page_errors.append(str(error)))

    def goto(self, path: str) -> Any:
        response = self.page.goto(self.served.base_url + path)
        self.check()
        return response

    def check(self) -> None:
        """After every page: keep its addresses for the UPN check, check its accessibility basics,
        and that nothing on it broke the Content-Security-Policy."""
        self.page.wait_for_load_state()
        self.served.linked.extend(a for a in self.page.evaluate(ADDRESSES) if a)
        assert self.page.evaluate(ACCESSIBILITY_PROBLEMS) == [], self.page.url
        # (With JavaScript switched off the recorder never runs, and nothing can break the policy.)
        assert self.page.evaluate("window.__cspViolations || []") == [], self.page.url
        assert not [m for m in self.console if "Content Security Policy" in m], self.page.url

    def sign_in(self, who: tuple[str, ...]) -> None:
        self.goto("/console/sign-in")
        self.page.fill("#token", self.served.token(*who))
        self.page.click("button:has-text('Sign in')")
        self.page.wait_for_url(re.compile(r"/console/$"))
        self.check()

    def click(self, selector: str) -> None:
        self.page.click(selector)
        self.check()

    def heading(self) -> str:
        return str(self.page.inner_text("h1")).strip()

    def text(self, selector: str = "main") -> str:
        return re.sub(r"\s+", " ", str(self.page.inner_text(selector)))

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    def path(self) -> str:
        return re.sub(r"^https?://[^/]+", "", str(self.page.url))


@pytest.fixture
def browse(browser: Any, served: Served) -> Iterator[Any]:
    contexts: list[Any] = []

    def open_browser(**options: Any) -> Browser:
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, locale="en-GB", timezone_id="Europe/London", **options
        )
        contexts.append(context)
        return Browser(served, context)

    yield open_browser
    for context in contexts:
        context.close()


def test_a_signed_out_browser_is_sent_to_sign_in_and_a_bad_token_is_refused(browse: Any) -> None:
    b = browse()
    b.goto("/console/audit")
    assert b.path() == "/console/sign-in?next=/console/audit" and b.heading() == "Sign in"
    b.shot("sign-in")
    b.page.fill("#token", "not-a-token")
    b.click("button:has-text('Sign in')")
    assert b.page.title().startswith("Error: ")
    assert "There is a problem" in b.text(".govuk-error-summary")
    assert "The token was not accepted" in b.text(".govuk-error-summary")
    b.click(".govuk-error-summary a[href='#token']")
    assert b.page.evaluate("document.activeElement.id") == "token"
    b.shot("sign-in-error")
    cookies = {c["name"]: c for c in b.context.cookies()}
    assert "gw_console_session" not in cookies
    assert (
        cookies["gw_console_presession"]["httpOnly"]
        and cookies["gw_console_presession"]["sameSite"] == "Strict"
    )


def test_the_dpo_reviews_the_trail_checks_the_log_chases_deletions_and_answers_subject_access(
    browse: Any, served: Served
) -> None:
    w = served.world
    b = browse()
    b.sign_in(DPO)
    session = {c["name"]: c for c in b.context.cookies()}["gw_console_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict" and session["path"] == "/console"
    assert "Audit trail" in b.text() and "Subject access" in b.text()
    b.shot("dpo-home")

    # The audit trail, then filtered to denials of release requests.
    b.click("nav a:has-text('Audit trail')")
    assert b.heading() == "Audit trail"
    assert b.page.locator("[data-testid=events] tbody tr").count() >= 20
    links = b.page.locator("[data-testid=events] tbody td:first-child a").all_inner_texts()
    numbers = [int(re.sub(r"\D.*", "", n.strip())) for n in links]
    assert numbers == sorted(numbers, reverse=True)  # newest first
    assert int(b.text("[data-testid=total]").replace(",", "")) >= len(numbers)
    b.click("[data-testid=order]")
    oldest = b.page.locator("[data-testid=events] tbody td:first-child a").first.inner_text()
    assert oldest.startswith("0")
    b.click("[data-testid=latest]")
    b.page.fill("#from-day", "1")
    b.page.fill("#from-month", "13")
    b.page.fill("#from-year", "2025")
    b.click("button:has-text('Apply filters')")
    assert "From must be a real date, for example 3 10 2025" in b.text(".govuk-error-summary")
    b.page.fill("#from-day", "")
    b.page.fill("#from-month", "")
    b.page.fill("#from-year", "")
    b.page.select_option("#decision", "deny")
    b.page.fill("#action", "release.decided")
    b.click("button:has-text('Apply filters')")
    rows = b.page.locator("[data-testid=events] tbody tr")
    assert rows.count() == 1 and "Denied" in rows.first.inner_text() and "la 202" in rows.first.inner_text()
    assert "decision=deny" in b.path()
    b.shot("dpo-audit-trail")

    # An allowed release's event: its detail, and the proof that it is in the signed log.
    b.page.select_option("#decision", "allow")
    b.page.select_option("#purpose", "la-targeting-support")
    b.click("button:has-text('Apply filters')")
    with b.page.expect_download() as trail_csv:
        b.page.click("[data-testid=csv-download]")
    rows = Path(trail_csv.value.path()).read_text(encoding="utf-8").splitlines()
    assert len(rows) == 2 and ",release.decided," in rows[1] and ",allow," in rows[1]
    b.click("[data-testid=events] tbody tr a")
    assert re.fullmatch(r"Event \d+", b.heading())
    assert "This entry is in the signed log" in b.text("[data-testid=inclusion]")
    assert w.targeting_release in b.text("[data-testid=event]")
    assert b.text("[data-testid=justification]").startswith("Termly targeting support")
    assert "{" not in b.text("[data-testid=event] ~ dl")  # details as rows, not JSON
    with b.page.expect_download() as proof:
        b.page.click("[data-testid=proof-download]")
    proved = json.loads(Path(proof.value.path()).read_text(encoding="utf-8"))
    assert proved["entry"]["release_id"] == w.targeting_release and proved["inclusion_proof"]["audit_path"]
    b.shot("dpo-audit-event")

    # Integrity: the latest signed head, and the verify button.
    b.click("nav a:has-text('Integrity')")
    assert "Valid" in b.text("[data-testid=tree-head]")
    b.click("button:has-text('Verify the audit log')")
    result = b.page.locator("[data-testid=verify-result]")
    assert result.get_attribute("data-ok") == "true" and "The audit log holds" in result.inner_text()
    b.shot("dpo-integrity")

    # Releases overdue for deletion.
    b.click("nav a:has-text('Overdue releases')")
    overdue = b.text("[data-testid=overdue]")
    assert (
        w.overdue_release in overdue and w.targeting_release not in overdue and "la-severe-absence" in overdue
    )
    b.shot("dpo-overdue")

    # Subject access: the UPN is posted, the answer lists both releases that included the pupil.
    b.click("nav a:has-text('Subject access')")
    b.page.fill("#upn", w.upns[3])
    b.click("button:has-text('Find releases')")
    assert b.path() == "/console/subject-access"
    assert "2 releases included this pupil" in b.text("[data-testid=answer-title]")
    found = b.text("[data-testid=subject-releases]")
    assert w.targeting_release in found and w.overdue_release in found and "la 202" in found
    assert w.upns[3] not in b.page.content()
    b.shot("dpo-subject-access")
    b.page.fill("#upn", "X12")
    b.click("button:has-text('Find releases')")
    assert "Enter a UPN in the correct format" in b.text(".govuk-error-summary")

    # The record of processing activities and the purpose catalogue.
    b.click("nav a:has-text('Processing record')")
    assert "la-targeting-support" in b.text("[data-testid=ropa]")
    with b.page.expect_download() as download:
        b.page.click("a:has-text('Download as CSV')")
    assert download.value.suggested_filename.startswith("record-of-processing-")
    b.shot("dpo-ropa")
    b.click("nav a:has-text('Purposes')")
    assert "Targeting support meetings" in b.text()
    b.shot("purposes")

    # Sign out: the session is gone.
    b.click("button:has-text('Sign out')")
    assert "You have signed out" in b.text()
    b.goto("/console/audit")
    assert b.heading() == "Sign in"


def test_the_school_sees_its_absence_lists_and_records_consent(browse: Any, served: Served) -> None:
    w = served.world
    b = browse()
    b.sign_in(OFFICER)
    b.shot("school-home")
    b.click("nav a:has-text('Pupils')")
    for name, iso in (("from", WINDOW_FROM), ("to", WINDOW_TO)):  # GOV.UK date inputs, no date picker
        year, month, day = iso.split("-")
        b.page.fill(f"#{name}-day", str(int(day)))
        b.page.fill(f"#{name}-month", str(int(month)))
        b.page.fill(f"#{name}-year", year)
    b.click("button:has-text('Show')")
    assert b.text("[data-testid=count-pupils]") == "4"
    assert b.text("[data-testid=count-persistent]") == "3"
    assert b.text("[data-testid=count-severe]") == "2"
    everyone = b.text("[data-testid=pupils]")
    assert w.upns[2] in everyone and "95.0%" in everyone and w.upns[51] not in b.page.content()
    b.shot("school-pupils")

    # Record a parent's consent for pupil 2 from the pupils table: the UPN travels in a posted form.
    b.click("[data-testid=pupils] tbody tr:has-text('Surname2') button:has-text('Consent')")
    assert b.path() == "/console/school/consents/start"
    assert b.page.input_value("#upn") == w.upns[2]
    b.page.check("input[name=purpose][value=mentoring-referral]")
    b.page.check("input[name=decision][value=granted]")
    b.page.fill("#evidence", "Signed form, 10 October 2025")
    b.click("button:has-text('Record decision')")
    assert "Decision recorded" in b.text("[data-testid=receipt]")
    assert re.search(r"cr_[0-9a-f]{32}", b.text("[data-testid=receipt]"))
    assert b.text("[data-testid=receipt-decision]") == "Consent granted"
    b.shot("school-consent-receipt")

    b.click("nav a:has-text('Consent')")
    consents = b.page.locator("[data-testid=consents] tbody tr").all_inner_texts()
    assert any("Surname2" in row and "Granted" in row for row in consents)
    assert any("Surname1" in row and "Granted" in row for row in consents)
    # A mistake is named on its field, GOV.UK style, and nothing is recorded.
    b.click("button:has-text('Record decision')")
    summary = b.text(".govuk-error-summary")
    assert (
        "Enter the pupil's UPN" in summary
        and "Choose the purpose" in summary
        and "Choose what the parent" in summary
    )
    b.shot("school-consents")


def test_the_statistician_charts_a_measure_with_intervals_and_downloads_the_release(browse: Any) -> None:
    b = browse()
    b.sign_in(STATISTICIAN)
    b.click("nav a:has-text('Statistics')")
    assert b.heading() == "Statistics"
    spent_before = b.text("[data-testid=budget-spent]")
    # Enrolments by phase: counts are always published (a rate over so few pupils may be "x").
    b.page.select_option("#measure", "enrolments")
    b.page.check("input[name=by][value=phase]")
    for name, (day, month, year) in (("from", ("6", "10", "2025")), ("to", ("17", "10", "2025"))):
        b.page.fill(f"#{name}-day", day)
        b.page.fill(f"#{name}-month", month)
        b.page.fill(f"#{name}-year", year)
    with b.page.expect_response(lambda r: r.request.method == "POST") as posted:
        b.click("button:has-text('Show statistics')")
    csp = posted.value.headers["content-security-policy"]
    # Scripts from our own files only; nothing inline; everything else as strict as on every page.
    assert "script-src 'self'" in csp and "unsafe" not in csp and "default-src 'none'" in csp
    assert b.text("[data-testid=answer-title]") == "Enrolments by phase"
    assert "This answer spent" in b.text("[data-testid=spend]")
    labels = b.page.locator("[data-testid=stats-table] tbody th").all_inner_texts()
    assert labels == ["Primary", "Secondary", "Special"]
    values = b.page.locator("[data-testid=stats-table] tbody td:nth-child(2)").all_inner_texts()
    intervals = b.page.locator("[data-testid=stats-table] tbody td:nth-child(3)").all_inner_texts()
    assert all(" to " in cell for cell in intervals)
    assert b.text("[data-testid=budget-spent]") != spent_before

    # The chart: drawn in the browser by the vendored Chart.js, one bar per row of the table, each
    # with the table's value and 95% interval; the server's SVG is only the no-script fallback.
    b.page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('stats-chart'))")
    drawn = b.page.evaluate(DRAWN_CHART)
    assert drawn["type"] == "barWithErrorBars" and drawn["labels"] == labels and drawn["bars"] == 3
    assert [_number(p["x"]) for p in drawn["points"]] == [v.removesuffix(" u") for v in values]
    assert [f"{_number(p['xMin'])} to {_number(p['xMax'])}" for p in drawn["points"]] == intervals
    assert all(p["xMin"] <= p["x"] <= p["xMax"] for p in drawn["points"])
    assert drawn["title"] == "Enrolments, 2025-10-06 to 2025-10-17"
    assert drawn["valueAxis"].startswith("Enrolments (noisy count)") and drawn["groupAxis"] == "Phase"
    assert drawn["width"] > 300 and drawn["height"] > 150 and drawn["painted"] > 1000
    assert b.page.locator("[data-testid=chart] svg").count() == 0  # inside <noscript>: not drawn
    assert b.page.get_attribute("#stats-chart", "role") == "img"

    # Its scripts came from the gateway's own static files, and nothing went anywhere else.
    scripts = [re.sub(r"\?v=[0-9a-f]+$", "", u) for u in b.requested if u.endswith(".js") or ".js?" in u]
    # Every page starts GOV.UK Frontend (init.js imports its module); the dashboard adds the chart's.
    govuk = {f"{b.served.base_url}/console/static/init.js",
             f"{b.served.base_url}/console/static/vendor/govuk-frontend-5.14.0/govuk-frontend.min.js"}
    assert govuk <= set(scripts)
    assert [u for u in scripts if u not in govuk] == [
        f"{b.served.base_url}/console/static/vendor/chart.js-4.5.1/chart.umd.min.js",
        f"{b.served.base_url}/console/static/vendor/chartjs-chart-error-bars-4.4.5/index.umd.min.js",
        f"{b.served.base_url}/console/static/dashboard.js",
    ]
    assert all(u.startswith(b.served.base_url + "/") for u in b.requested)
    assert b.console == [] and b.page_errors == []
    b.shot("dfe-statistics")
    b.page.locator("[data-testid=chart]").screenshot(path=str(SCREENSHOTS / "dfe-statistics-chart.png"))

    # The numbers the page gave the chart are the statistics API's answer to the same question (the
    # stored answer: asking again through the API spends nothing).
    data = b.page.evaluate("JSON.parse(document.getElementById('stats-chart-data').textContent)")
    api = httpx.get(
        f"{b.served.base_url}/v1/stats",
        params={"measure": "enrolments", "by": "phase", "from": "2025-10-06", "to": "2025-10-17"},
        headers={"Authorization": f"Bearer {b.served.token(*STATISTICIAN)}"},
    )
    assert api.status_code == 200 and api.json()["cached"] is True
    assert [(r["value"], r["low"], r["high"]) for r in data["rows"]] == [
        (r["value"], *r["ci95"]) for r in api.json()["rows"]
    ]
    assert [r["label"] for r in data["rows"]] == labels

    with b.page.expect_download() as download:
        b.page.click("button:has-text('Download this release as CSV')")
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("release_id,measure,period_start,period_end,phase,value,lower95,upper95")
    assert [line.split(",")[4] for line in lines[1:]] == ["primary", "secondary", "special"]
    assert download.value.suggested_filename == "enrolments-2025-10-06-2025-10-17-by-phase.csv"

    # The same question again: the stored answer, nothing spent.
    spent_after = b.text("[data-testid=budget-spent]")
    b.click("[data-testid=asked] button:has-text('Show again')")
    assert "Asked before" in b.text("[data-testid=spend]")
    assert b.text("[data-testid=budget-spent]") == spent_after

    # A rate over so few pupils: a group whose noisy denominator is not positive is "x" (no value,
    # no bar; which groups, if any, depends on the noise drawn) and the chart still has a place for
    # every row of the table, in its order, and nothing goes wrong drawing it.
    b.page.select_option("#measure", "overall_absence_rate")
    b.page.check("input[name=by][value=fsm]")
    b.click("button:has-text('Show statistics')")
    assert b.text("[data-testid=answer-title]").startswith("Overall absence rate by ")
    labels = b.page.locator("[data-testid=stats-table] tbody th").all_inner_texts()
    shown = b.page.locator("[data-testid=stats-table] tbody td:nth-child(2)").all_inner_texts()
    assert len(labels) == len(shown) == 6
    if all(v.strip() == "x" for v in shown):
        # The noise left no group a value: nothing to chart, so no chart and no chart script, and
        # the table says why for every row.
        assert b.page.locator("#stats-chart-data").count() == 0
        assert b.console == [] and b.page_errors == []
        return
    b.page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('stats-chart'))")
    drawn = b.page.evaluate(DRAWN_CHART)
    assert drawn["labels"] == labels and drawn["bars"] == len(labels) == 6
    assert [p["x"] is None for p in drawn["points"]] == [v.strip() == "x" for v in shown]
    assert drawn["valueAxis"].startswith("Overall absence rate (noisy, %)")
    assert b.console == [] and b.page_errors == []
    b.page.locator("[data-testid=chart]").screenshot(path=str(SCREENSHOTS / "dfe-statistics-chart-rate.png"))


def test_without_javascript_the_dashboard_keeps_its_table_and_shows_the_servers_chart(
    browse: Any,
) -> None:
    b = browse(java_script_enabled=False)
    b.sign_in(STATISTICIAN)
    b.goto("/console/statistics")
    b.page.select_option("#measure", "enrolments")
    b.page.check("input[name=by][value=phase]")
    for name, (day, month, year) in (("from", ("6", "10", "2025")), ("to", ("17", "10", "2025"))):
        b.page.fill(f"#{name}-day", day)
        b.page.fill(f"#{name}-month", month)
        b.page.fill(f"#{name}-year", year)
    b.click("button:has-text('Show statistics')")
    assert b.page.locator("[data-testid=stats-table] tbody tr").count() == 3
    svg = b.page.locator("[data-testid=chart] noscript svg[role=img]")
    assert svg.count() == 1 and svg.locator("g").count() == 3  # one bar, with its interval, per phase
    assert not b.page.is_visible("#stats-chart")
    b.shot("dfe-statistics-without-javascript")


def test_a_wrong_role_is_refused_in_the_browser(browse: Any) -> None:
    b = browse()
    b.sign_in(OFFICER)
    response = b.goto("/console/audit")
    assert response.status == 403 and b.heading() == "You do not have permission to do this"
    assert "wrong_role" in b.text("[data-testid=reasons]")
    b.shot("refused")
    d = browse()
    d.sign_in(DPO)
    assert d.goto("/console/school").status == 403
    s = browse()
    s.sign_in(STATISTICIAN)
    assert s.goto("/console/subject-access").status == 403
    assert s.goto("/console/audit/integrity").status == 403


def test_the_la_case_officer_asks_for_a_release_reads_downloads_and_attests_its_deletion(
    browse: Any, served: Served
) -> None:
    w = served.world
    b = browse()
    b.sign_in(CASE_OFFICER)
    # Home: the LA by its name on the register of schools, its schools and its releases.
    assert b.heading() == "Camden"
    schools = b.text("[data-testid=schools]")
    assert str(CAMDEN_PRIMARY) in schools and "100003" not in schools
    assert w.targeting_release in b.text("[data-testid=releases]")
    b.shot("la-home")

    # Ask: the purposes with what each releases, why, its basis and retention; then the form.
    b.click("nav a:has-text('Ask for a release')")
    assert b.heading() == "Ask for a release"
    assert "Acknowledgement" in b.text() and "Lawful basis" in b.text()
    b.shot("la-ask-purposes")
    b.click("a[data-purpose=la-severe-absence]")
    assert b.heading() == "Severe absence casework"
    b.page.fill("#from-day", "6")
    b.page.fill("#from-month", "10")
    b.page.fill("#from-year", "2025")
    b.page.fill("#to-day", "17")
    b.page.fill("#to-month", "10")
    b.page.fill("#to-year", "2025")
    b.page.check(f"#school-{CAMDEN_PRIMARY}")
    b.page.fill("#justification", "Casework review of severely absent pupils, autumn term")
    # Without the acknowledgement ticked nothing is asked: the box is named, what was typed is kept.
    b.click("button:has-text('Ask for the release')")
    assert "Tick the box to accept" in b.text(".govuk-error-summary")
    assert b.page.input_value("#justification").startswith("Casework review")
    b.shot("la-ask-error")
    b.page.check("#acknowledged-yes")
    b.shot("la-ask-form")
    b.click("button:has-text('Ask for the release')")

    # The release: its metadata, and the records, once, in the response that made it.
    assert b.heading() == "Release made"
    release_id = b.text("[data-testid=release-id]").strip()
    assert re.fullmatch(r"rel_[0-9a-f]{32}", release_id)
    assert b.path() == "/console/la/ask/la-severe-absence"
    assert "Casework review of severely absent pupils" in b.text("[data-testid=justification]")
    assert b.text("[data-testid=record-count]") == "2"
    assert "for lack of consent: 0" in b.text("[data-testid=withheld]")
    records = b.text("[data-testid=records]")
    assert w.upns[3] in records and w.upns[4] in records and w.upns[1] not in records
    assert "Showing records 1 to 2 of 2" in b.text("[data-testid=page-status]")
    b.shot("la-release-made")

    # The download is those same records, made in the browser: no request goes to the gateway.
    asked_before = len(b.requested)
    with b.page.expect_download() as download:
        b.page.click("button:has-text('Download these records as CSV')")
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0].split(",")[:3] == ["upn", "forename", "surname"]
    assert sorted(line.split(",")[0] for line in lines[1:]) == sorted([w.upns[3], w.upns[4]])
    assert any(",0.4" in line for line in lines[1:])  # the released rate, not the table's "40.0%"
    assert download.value.suggested_filename == f"la-severe-absence-2025-10-06-2025-10-17-{release_id}.csv"
    assert [u for u in b.requested[asked_before:] if not u.startswith("blob:")] == []

    # The LA's releases: the new one active, the seeded one overdue and highlighted.
    b.click("nav a:has-text('Releases')")
    new_row = b.page.locator(f"tr[data-release={release_id}]")
    assert new_row.get_attribute("data-stage") == "active"
    overdue_row = b.page.locator(f"tr[data-release={w.overdue_release}]")
    assert "app-row--overdue" in (overdue_row.get_attribute("class") or "")
    assert "Overdue for deletion" in overdue_row.inner_text()
    b.shot("la-releases")

    # The release's page afterwards: metadata only; then the deletion is attested.
    b.click(f"a:has-text('{release_id}')")
    assert "The gateway keeps no copy of the records" in b.text("[data-testid=records-not-kept]")
    assert b.page.locator("[data-testid=records]").count() == 0
    b.click("button:has-text('Attest deletion')")
    assert "Deletion attested" in b.text(".govuk-notification-banner")
    assert b.text("[data-testid=stage]") == "Deleted"
    b.shot("la-release-deleted")
    b.click("nav a:has-text('Releases')")
    b.click(f"tr[data-release={w.overdue_release}] button:has-text('Attest deletion')")
    assert b.text("[data-testid=stage]") == "Deleted"
    b.click("nav a:has-text('Releases')")
    assert b.page.locator("tr.app-row--overdue").count() == 0
    # The one message: Chromium's note of the form's 422 answer when the box was not ticked.
    assert [m for m in b.console if "status of 422" not in m] == [] and len(b.console) == 1
    assert b.page_errors == []


def test_a_long_release_is_paged_in_the_browser(browse: Any, served: Served) -> None:
    """More records than a page holds: the table pages without asking the gateway for anything."""
    b = browse()
    b.sign_in(CASE_OFFICER)
    b.goto("/console/la/ask/la-targeting-support")
    b.page.fill("#justification", "Termly targeting support meeting preparation")
    b.page.check("#acknowledged-yes")
    b.page.fill("#from-day", "6")
    b.page.fill("#from-month", "10")
    b.page.fill("#from-year", "2025")
    b.page.fill("#to-day", "17")
    b.page.fill("#to-month", "10")
    b.page.fill("#to-year", "2025")
    b.click("button:has-text('Ask for the release')")
    assert b.heading() == "Release made"
    # Three records: shown on pages of two to drive the pager (the page size is the table's setting).
    b.page.evaluate("""() => {
      const t = document.querySelector('table[data-paged]'); t.setAttribute('data-paged', '2');
      const s = document.createElement('script'); s.src = document.querySelector('script[src*=release]').src;
      document.body.appendChild(s);
    }""")
    b.page.wait_for_function("() => document.querySelector('[data-testid=page-number]')")
    visible = (
        "() => Array.from(document.querySelectorAll('[data-testid=records] tbody tr'))"
        ".filter(r => !r.hidden).length"
    )
    assert b.page.evaluate(visible) == 2
    asked_before = len(b.requested)
    b.page.click("button:has-text('Next')")
    assert b.page.evaluate(visible) == 1
    assert "Page 2 of 2" in b.text("[data-testid=page-number]")
    b.page.click("button:has-text('Previous')")
    assert b.page.evaluate(visible) == 2
    assert [u for u in b.requested[asked_before:] if "release.js" not in u] == []


def fill_october_window(b: Browser) -> None:
    for field, value in (("from-day", "6"), ("from-month", "10"), ("from-year", "2025"),
                         ("to-day", "17"), ("to-month", "10"), ("to-year", "2025")):
        b.page.fill(f"#{field}", value)


def test_without_javascript_the_la_sees_every_record_or_takes_the_release_as_a_csv_file(
    browse: Any, served: Served
) -> None:
    b = browse(java_script_enabled=False)
    b.sign_in(CASE_OFFICER)
    b.goto("/console/la/ask/la-severe-absence")
    fill_october_window(b)
    b.page.fill("#justification", "Casework review of severely absent pupils, autumn term")
    b.page.check("#acknowledged-yes")
    with b.page.expect_download() as download:
        b.page.click("button:has-text('Ask and download as CSV')")
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("upn,forename,surname,") and len(lines) == 3
    assert download.value.suggested_filename.startswith("la-severe-absence-")
    b.goto("/console/la/ask/la-severe-absence")
    fill_october_window(b)
    b.page.fill("#justification", "Casework review of severely absent pupils, autumn term")
    b.page.check("#acknowledged-yes")
    b.click("button:has-text('Ask for the release')")
    assert b.page.locator("[data-testid=records] tbody tr").count() == 2
    assert not b.page.is_visible("button:has-text('Download these records as CSV')")
    assert "All 2 records are shown" in b.text("[data-testid=page-status]")
    b.shot("la-release-made-without-javascript")


def test_a_school_officer_is_refused_the_la_pages_in_the_browser(browse: Any, served: Served) -> None:
    b = browse()
    b.sign_in(OFFICER)
    response = b.goto("/console/la/releases")
    assert response.status == 403 and "wrong_organisation" in b.text("[data-testid=reasons]")
    o = browse()
    o.sign_in(("la", "211", "case_officer"))
    assert o.goto(f"/console/la/releases/{served.world.targeting_release}").status == 403
    assert "not_recipient" in o.text("[data-testid=reasons]")


def test_the_api_docs_render_from_the_gateways_own_files(browse: Any, served: Served) -> None:
    """Swagger UI is vendored: /docs draws the API from /openapi.json with no other host reachable."""
    b = browse()
    b.context.route(re.compile(r"^(?!" + re.escape(served.base_url) + ").*"), lambda route: route.abort())
    b.page.goto(served.base_url + "/docs")
    b.page.wait_for_selector(".swagger-ui .info .title")
    assert "Attendance data gateway" in b.page.inner_text(".swagger-ui .info .title")
    assert b.page.locator(".opblock-summary-path").count() > 10
    assert all(u.startswith(served.base_url + "/") for u in b.requested)
    assert b.page_errors == []
    b.shot("api-docs")
    b.page.goto(served.base_url + "/")
    assert b.path() == "/console/sign-in?next=/console/"
    response = b.page.goto(served.base_url + "/console/no-such-page")
    assert response.status == 404 and b.heading() == "Page not found"
    b.shot("not-found")


def _sign_in(client: httpx.Client, served: Served, who: tuple[str, ...]) -> str:
    """Signs a plain HTTP client in through the console's form; returns its session's CSRF token."""
    form = client.get("/console/sign-in")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert form.status_code == 200 and csrf
    signed_in = client.post(
        "/console/sign-in", data={"csrf_token": csrf.group(1), "token": served.token(*who)}
    )
    session_csrf = re.search(r'name="csrf_token" value="([^"]+)"', signed_in.text)
    assert signed_in.status_code == 200 and session_csrf
    return session_csrf.group(1)


@pytest.mark.parametrize(
    ("measure", "by"), [("enrolments", ["phase"]), ("overall_absence_rate", ["phase", "fsm"])]
)
def test_the_charts_data_is_the_statistics_apis_answer_row_for_row(
    served: Served, measure: str, by: list[str]
) -> None:
    """No browser needed: the JSON block the dashboard draws from, against GET /v1/stats."""
    question = {"measure": measure, "from": "2025-10-06", "to": "2025-10-17"}
    with httpx.Client(base_url=served.base_url, follow_redirects=True) as client:
        csrf = _sign_in(client, served, STATISTICIAN)
        page = client.post("/console/statistics", data={**question, "by": by, "csrf_token": csrf})
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    block = re.search(
        r'<script type="application/json" id="stats-chart-data">(.*?)</script>', page.text, re.S
    )
    api = httpx.get(
        f"{served.base_url}/v1/stats",
        params={**question, "by": ",".join(by)},
        headers={"Authorization": f"Bearer {served.token(*STATISTICIAN)}"},
    ).json()
    assert api["cached"] is True  # the same release the page showed
    if block is None:
        # No chart only when the noise left no row a value (a rate over so few pupils can be "x").
        assert not any(isinstance(row["value"], int | float) for row in api["rows"])
        assert page.text.count('<th scope="row" class="govuk-table__header">') == len(api["rows"]) > 0
        return
    assert "<" not in block.group(1)
    data = json.loads(block.group(1))
    assert (
        len(data["rows"])
        == len(api["rows"])
        == page.text.count('<th scope="row" class="govuk-table__header">')
    )
    for drawn, row in zip(data["rows"], api["rows"], strict=True):
        numeric = isinstance(row["value"], int | float)
        assert drawn["value"] == (row["value"] if numeric else None)
        assert [drawn["low"], drawn["high"]] == (row.get("ci95") or [None, None])
        assert drawn["symbol"] == row.get("symbol")
    assert data["percent"] is (measure != "enrolments")
    assert data["title"].endswith(", 2025-10-06 to 2025-10-17")


def test_no_address_any_page_asked_for_or_linked_to_carries_a_upn(served: Served) -> None:
    """Runs last: every request of every browser above, and every href, src and action they saw."""
    assert len(served.requested) > 30 and len(served.linked) > 100
    assert all(address.startswith(served.base_url + "/") for address in served.requested)
    upns = set(served.world.upns.values())
    for address in served.requested + served.linked:
        assert not UPN_SHAPE.search(address), address
        assert not any(upn in address for upn in upns), address


def test_the_school_sorts_filters_searches_and_downloads_its_pupils(browse: Any, served: Served) -> None:
    w = served.world
    b = browse()
    b.sign_in(OFFICER)
    b.goto(f"/console/school?from={WINDOW_FROM}&to={WINDOW_TO}")
    assert "(URN 100001)" in b.text("[data-testid=school-caption]")
    names = "[data-testid=pupils] tbody th"
    # Sorting by a column header, then the same header again for the other direction.
    b.click("[data-sort=attendance]")
    assert b.page.locator(names).all_inner_texts()[0] == "Surname4, Forename4"
    b.click("[data-sort=attendance]")
    assert b.page.locator(names).all_inner_texts()[0] == "Surname2, Forename2"
    # The severe absence filter.
    b.page.select_option("#absence", "severe")
    b.click("button:has-text('Show')")
    assert len(b.page.locator(names).all_inner_texts()) == 2
    b.shot("school-pupils-severe")
    # A search by UPN is posted: neither the address nor any link on the results carries it.
    b.page.fill("#q", w.upns[3])
    b.click("button:has-text('Search')")
    assert b.path() == "/console/school/search"
    assert b.page.locator(names).all_inner_texts() == ["Surname3, Forename3"]
    hrefs = b.page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    assert not [h for h in hrefs if any(u in h for u in w.upns.values())]
    b.shot("school-pupils-search")
    b.click("a:has-text('Clear the search')")
    with b.page.expect_download() as download:
        b.page.click("[data-testid=csv]")
    content = Path(download.value.path()).read_text()
    assert content.startswith("upn,surname") and w.upns[3] in content and w.upns[51] not in content


def test_the_consent_form_confirms_the_pupils_name_and_receipts_are_links(
    browse: Any, served: Served
) -> None:
    w = served.world
    b = browse()
    b.sign_in(OFFICER)
    b.goto("/console/school/consents")
    assert "A pupil is included only if a parent has given consent" in b.text()
    b.page.fill("#upn", w.upns[4])
    b.click("[data-testid=find-pupil]")
    assert b.path() == "/console/school/consents/start"
    assert "Forename4 Surname4" in b.text("[data-testid=pupil-name]")
    b.shot("school-consent-confirm-name")
    b.page.check("input[name=purpose][value=mentoring-referral]")
    b.page.check("input[name=decision][value=granted]")
    b.click("button:has-text('Record decision')")
    receipt_id = b.text("[data-testid=receipt-id]").strip()
    b.click("nav a:has-text('Consent')")
    b.click(f"a:has-text('{receipt_id}')")
    assert b.path() == f"/console/school/consents/receipts/{receipt_id}"
    assert b.heading() == "Consent receipt"
    b.click("[data-testid=printable]")
    assert receipt_id in b.text("[data-testid=printable-receipt]")
    assert b.page.locator("nav").count() == 0
    b.shot("school-consent-receipt-printable")
