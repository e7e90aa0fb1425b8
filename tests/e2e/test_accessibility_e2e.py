"""Every main console page checked by axe-core (WCAG 2.2 A and AA rules) in the same Chromium, offline.

axe-core is vendored under tests/e2e/vendor/ (hashes in its vendor.json, checked here before it is
loaded). The pages run under a Content-Security-Policy that allows no injected script, so these
browser contexts bypass it; the other end-to-end tests check the policy itself. A violation that axe
rates serious or critical fails the test, naming the rule and the elements.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import SCREENSHOTS, Served
from tests.e2e.seed import CAMDEN_PRIMARY, WINDOW_FROM, WINDOW_TO

VENDOR = Path(__file__).parent / "vendor"
RECORD = json.loads((VENDOR / "vendor.json").read_text(encoding="utf-8"))["packages"][0]

DPO = ("operator", "operator", "dpo")
OFFICER = ("school", str(CAMDEN_PRIMARY), "attendance_officer")
STATISTICIAN = ("dfe", "dfe", "statistician")
CASE_OFFICER = ("la", "202", "case_officer")
RUN_AXE = """() => axe.run(document, {
  runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']},
  resultTypes: ['violations'],
}).then(r => r.violations.map(v => ({
  id: v.id, impact: v.impact, help: v.help, targets: v.nodes.slice(0, 5).map(n => n.target.join(' ')),
})))"""


def axe_source() -> str:
    for entry in RECORD["files"]:
        data = (VENDOR / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], f"{entry['path']}: not the recorded file"
    return (VENDOR / "axe-core-4.14.1" / "axe.min.js").read_text(encoding="utf-8")


class Checked:
    def __init__(self, browser: Any, served: Served, source: str) -> None:
        self.served = served
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB",
                                           bypass_csp=True)
        self.page = self.context.new_page()
        self.page.set_default_timeout(10_000)
        self.source = source
        self.found: dict[str, list[dict[str, Any]]] = {}

    def sign_in(self, who: tuple[str, ...]) -> None:
        self.page.goto(self.served.base_url + "/console/sign-in")
        self.page.fill("#token", self.served.token(*who))
        self.page.click("button:has-text('Sign in')")
        self.page.wait_for_url(self.served.base_url + "/console/")

    def check(self, label: str) -> None:
        self.page.wait_for_load_state()
        self.page.add_script_tag(content=self.source)
        violations = self.page.evaluate(RUN_AXE)
        serious = [v for v in violations if v["impact"] in ("serious", "critical")]
        if serious:
            self.found[label] = serious

    def visit(self, path: str) -> None:
        self.page.goto(self.served.base_url + path)
        self.check(path)


@pytest.fixture
def checked(browser: Any, served: Served) -> Any:
    source = axe_source()
    opened: list[Checked] = []

    def open_context() -> Checked:
        c = Checked(browser, served, source)
        opened.append(c)
        return c

    yield open_context
    for c in opened:
        c.context.close()


def test_no_console_page_has_a_serious_accessibility_violation(checked: Any, served: Served) -> None:
    w = served.world
    found: dict[str, Any] = {}

    signed_out = checked()
    signed_out.visit("/console/sign-in")
    signed_out.visit("/console/no-such-page")
    found |= signed_out.found

    la = checked()
    la.sign_in(CASE_OFFICER)
    la.check("/console/ (LA home)")
    for path in ("/console/la/ask", "/console/la/releases", f"/console/la/releases/{w.targeting_release}",
                 "/console/purposes", "/console/la/ask/la-severe-absence"):
        la.visit(path)
    la.page.click("button:has-text('Ask for the release')")  # the form with its errors
    la.check("ask form with errors")
    la.page.check("#acknowledged-yes")
    la.page.fill("#justification", "Casework review of severely absent pupils, autumn term")
    la.page.click("button:has-text('Ask for the release')")
    la.check("release made, with its records")
    la.page.screenshot(path=str(SCREENSHOTS / "la-release-made-axe.png"), full_page=True)
    found |= la.found

    dpo = checked()
    dpo.sign_in(DPO)
    dpo.check("/console/ (DPO home)")
    for path in ("/console/audit", "/console/audit/events/3", "/console/audit/integrity",
                 "/console/releases/overdue", f"/console/releases/{w.overdue_release}",
                 "/console/subject-access", "/console/ropa"):
        dpo.visit(path)
    found |= dpo.found

    school = checked()
    school.sign_in(OFFICER)
    for path in (f"/console/school?from={WINDOW_FROM}&to={WINDOW_TO}", "/console/school/consents"):
        school.visit(path)
    found |= school.found

    stats = checked()
    stats.sign_in(STATISTICIAN)
    stats.visit("/console/statistics")
    stats.visit("/console/statistics/trend?year=2025")
    stats.page.click("[data-testid=release-due] button", timeout=120_000)  # a year's fortnights
    stats.check("trend released, with its chart and table")
    found |= stats.found

    assert found == {}, json.dumps(found, indent=2)


def role_pages(served: Served) -> dict[tuple[str, ...], list[str]]:
    """Every page of each role's console (and the signed-out ones), as that role reaches them."""
    w = served.world
    window = f"from={WINDOW_FROM}&to={WINDOW_TO}"
    return {
        (): ["/console/sign-in", "/console/no-such-page"],
        CASE_OFFICER: ["/console/", "/console/la/ask", "/console/la/ask/la-severe-absence",
                       "/console/la/releases", f"/console/la/releases/{w.targeting_release}",
                       "/console/purposes"],
        DPO: ["/console/", "/console/audit", "/console/audit?from-day=31&from-month=2&from-year=2025",
              "/console/audit/events/3", "/console/audit/integrity", "/console/releases/overdue",
              f"/console/releases/{w.overdue_release}", "/console/subject-access", "/console/ropa",
              "/console/purposes"],
        OFFICER: ["/console/", f"/console/school?{window}", f"/console/school?{window}&from-day=x",
                  "/console/school/consents"],
        STATISTICIAN: ["/console/", "/console/statistics", "/console/statistics/trend?year=2025"],
    }


#: Elements wider than the window: a page may scroll a table inside its own box, never the page itself.
WIDER_THAN_THE_WINDOW = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('.app-table-wrap')) continue;
    const r = el.getBoundingClientRect();
    if (r.right > width + 1) out.push(el.tagName.toLowerCase() + (el.className ? '.' + el.className : ''));
  }
  return {scroll: document.documentElement.scrollWidth, width, out: out.slice(0, 10)};
}"""
#: What makes a page a GOV.UK page here, and the regions that scroll sideways in its place.
GOV_UK_PAGE = """() => {
  const skip = document.querySelector('body > a.govuk-skip-link:first-of-type');
  const header = document.querySelector('header.govuk-header');
  const regions = Array.from(document.querySelectorAll('.app-table-wrap'));
  return {
    template: document.documentElement.classList.contains('govuk-template')
      && document.body.classList.contains('govuk-template__body'),
    skip: !!skip && skip.getAttribute('href') === '#main-content'
      && !!document.querySelector('main#main-content.govuk-main-wrapper'),
    header: !!header && !!header.querySelector('.govuk-header__logo')
      && (header.querySelector('.govuk-header__service-name') || {}).textContent.trim() === 'Attendance data gateway'
      && header.querySelector('.govuk-header__service-name').getAttribute('href') === '/console/',
    banner: (document.querySelector('.govuk-phase-banner .govuk-tag') || {}).textContent.trim() === 'Beta',
    footer: !!document.querySelector('footer.govuk-footer'),
    started: document.body.classList.contains('govuk-frontend-supported'),
    regions: regions.filter(r => !(r.tabIndex === 0 && r.getAttribute('role') === 'region'
      && r.getAttribute('aria-label'))).length,
  };
}"""
#: The DfE trend page's tables scroll in plain wrappers (not yet focusable regions: `scroll_region` in
#: _macros.html makes one); its template and width are checked, its regions and axe not yet.
GOOD_PAGE = {"template": True, "skip": True, "header": True, "banner": True, "footer": True, "started": True,
             "regions": 0}


def test_every_page_of_every_role_is_a_gov_uk_page_that_fits_a_390_pixel_phone(
    browser: Any, served: Served
) -> None:
    """Each role's pages at a 390 px viewport: GOV.UK's template (skip link, header with the service,
    phase banner, footer; its script started), wide tables in focusable named regions, no page-level
    sideways scroll, and no serious axe violation."""
    source = axe_source()
    problems: dict[str, Any] = {}
    for who, paths in role_pages(served).items():
        # The CSP is bypassed only so that axe can be injected; the other end-to-end tests check it.
        context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB", bypass_csp=True)
        page = context.new_page()
        page.set_default_timeout(10_000)
        if who:
            page.goto(served.base_url + "/console/sign-in")
            page.fill("#token", served.token(*who))
            page.click("button:has-text('Sign in')")
            page.wait_for_url(served.base_url + "/console/")
        for path in paths:
            page.goto(served.base_url + path)
            page.wait_for_load_state()
            label = f"{who[2] if who else 'signed out'} {path}"
            shape = page.evaluate(GOV_UK_PAGE)
            if shape != GOOD_PAGE:
                problems[f"{label}: not a GOV.UK page"] = shape
            assert "This is a new service" in page.inner_text("[data-testid=phase-banner]")
            found = page.evaluate(WIDER_THAN_THE_WINDOW)
            if found["scroll"] > 390 or found["out"]:
                problems[f"{label}: wider than 390 px"] = found
            page.add_script_tag(content=source)
            serious = [v for v in page.evaluate(RUN_AXE) if v["impact"] in ("serious", "critical")]
            if serious:
                problems[f"{label}: axe"] = serious
            stable = re.sub(r"rel_[0-9a-f]+", "release", label)  # one file per page, run after run
            slug = re.sub(r"[^a-z0-9]+", "-", stable.lower()).strip("-")[:80]
            page.screenshot(path=str(SCREENSHOTS / f"390px-{slug}.png"), full_page=True)
        context.close()
    assert problems == {}, json.dumps(problems, indent=2)


def test_the_skip_link_is_the_first_tab_stop_and_takes_the_keyboard_to_the_main_content(
    browser: Any, served: Served
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = context.new_page()
    page.goto(served.base_url + "/console/sign-in")
    page.wait_for_function("() => document.body.classList.contains('govuk-frontend-supported')")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to main content"
    assert page.is_visible(".govuk-skip-link")  # shown when focused
    page.screenshot(path=str(SCREENSHOTS / "skip-link-focused.png"))
    page.keyboard.press("Enter")
    # GOV.UK's SkipLink moves focus to <main> itself, so the next Tab is the page's first field.
    assert page.evaluate("document.activeElement.id") == "main-content"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "token"
    context.close()
