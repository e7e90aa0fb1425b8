"""Every main console page checked by axe-core (WCAG 2.2 A and AA rules) in the same Chromium, offline.

axe-core is vendored under tests/e2e/vendor/ (hashes in its vendor.json, checked here before it is
loaded). The pages run under a Content-Security-Policy that allows no injected script, so these
browser contexts bypass it; the other end-to-end tests check the policy itself. A violation that axe
rates serious or critical fails the test, naming the rule and the elements.
"""

from __future__ import annotations

import hashlib
import json
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


PHONE_PAGES = {
    CASE_OFFICER: ["/console/", "/console/la/ask", "/console/la/ask/la-severe-absence",
                   "/console/la/releases"],
    DPO: ["/console/", "/console/audit", "/console/audit/events/3", "/console/releases/overdue",
          "/console/ropa"],
    OFFICER: [f"/console/school?from={WINDOW_FROM}&to={WINDOW_TO}", "/console/school/consents"],
    STATISTICIAN: ["/console/statistics", "/console/statistics/trend?year=2025"],
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


def test_every_page_fits_a_390_pixel_phone_with_its_phase_banner(browser: Any, served: Served) -> None:
    too_wide: dict[str, Any] = {}
    for who, paths in PHONE_PAGES.items():
        context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB")
        page = context.new_page()
        page.goto(served.base_url + "/console/sign-in")
        page.fill("#token", served.token(*who))
        page.click("button:has-text('Sign in')")
        page.wait_for_url(served.base_url + "/console/")
        for path in paths:
            page.goto(served.base_url + path)
            assert "This is a new service" in page.inner_text("[data-testid=phase-banner]")
            found = page.evaluate(WIDER_THAN_THE_WINDOW)
            if found["scroll"] > found["width"] or found["out"]:
                too_wide[f"{who[0]} {path}"] = found
        if who == CASE_OFFICER:
            page.goto(served.base_url + "/console/la/releases")
            page.screenshot(path=str(SCREENSHOTS / "la-releases-390px.png"), full_page=True)
        context.close()
    assert too_wide == {}, json.dumps(too_wide, indent=2)
