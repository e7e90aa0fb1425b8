"""The DfE statistician's trend view in a real browser: from the dashboard to the trend, releasing the
fortnights that are over, the chart of each rate by school week with its interval bars (drawn by the
vendored Chart.js) beside the table, a region's own view, and a second look that spends nothing."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.conftest import SCREENSHOTS
from tests.e2e.test_console_e2e import STATISTICIAN, browse  # noqa: F401 (the fixture)

DRAWN_TREND = """() => {
  const canvas = document.getElementById('trend-chart');
  const chart = Chart.getChart(canvas);
  const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
  return {
    type: chart.config.type,
    labels: chart.data.labels,
    series: chart.data.datasets.map(d => ({label: d.label, points: d.data})),
    title: chart.options.plugins.title.text,
    painted,
  };
}"""


def _api(b: Any, path: str, **params: Any) -> Any:
    r = httpx.get(
        f"{b.served.base_url}{path}",
        params=params,
        headers={"Authorization": f"Bearer {b.served.token(*STATISTICIAN)}"},
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_the_statistician_releases_and_reads_the_trend_by_school_week(browse: Any) -> None:  # noqa: F811
    b = browse()
    b.sign_in(STATISTICIAN)
    b.goto("/console/statistics?year=2025")
    b.click("[data-testid=trend-link]")
    assert b.heading() == "Absence trend by school week"
    b.page.select_option("#year", "2025")
    b.click("button:has-text('Show')")
    spent_before = _api(b, "/v1/stats/budget", year=2025)["spent"]["units"]
    assert b.page.locator("[data-testid=no-trend]").count() == 1

    # Releasing spends once per fortnight; the page then says what it spent.
    # (A whole past year's fortnights at once: give the release more than a click's usual time.)
    b.page.click("[data-testid=release-due] button", timeout=120_000)
    b.check()
    assert "This request released the fortnights" in b.text("[data-testid=trend-spent]")
    trend = _api(b, "/v1/stats/trend", year=2025)
    spent = _api(b, "/v1/stats/budget", year=2025)["spent"]["units"]
    assert spent - spent_before == sum(f["units"] for f in trend["fortnights"]) > 0

    # The table: a row per school week for England, each rate's value and its interval.
    national = [p for p in trend["points"] if p["geography"] == "National"]
    weeks = sorted({p["week"] for p in national})
    rows = b.page.locator("[data-testid=trend-table] tbody tr")
    assert rows.count() == len(weeks) and "6 October 2025" in b.text("[data-testid=trend-table]")

    # The chart: one line per rate over the same weeks, each point with the API's value and interval.
    b.page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('trend-chart'))")
    drawn = b.page.evaluate(DRAWN_TREND)
    assert drawn["type"] == "lineWithErrorBars" and drawn["labels"] == weeks
    assert [s["label"] for s in drawn["series"]] == ["Overall absence rate", "Unauthorised absence rate"]
    for series, measure in zip(drawn["series"], trend["measures"], strict=True):
        api_points = sorted((p for p in national if p["measure"] == measure), key=lambda p: p["week"])
        for shown, point in zip(series["points"], api_points, strict=True):
            if isinstance(point["value"], str):
                assert shown["y"] is None
            else:
                assert (shown["y"], shown["yMin"], shown["yMax"]) == (point["value"], *point["ci95"])
    assert drawn["title"].startswith("England: absence by school week") and drawn["painted"] > 1000
    assert "ρ per point" in b.text("[data-testid=point-costs]")
    assert b.console == [] and b.page_errors == []
    b.shot("dfe-trend")
    b.page.locator("[data-testid=trend-chart]").screenshot(path=str(SCREENSHOTS / "dfe-trend-chart.png"))

    # A region, and a second look: nothing spent.
    b.page.select_option("#place", "E12000007")
    b.click("button:has-text('Show')")
    assert b.text("[data-testid=trend-title]") == "London"
    assert "Looking at the trend spends nothing" in b.text("[data-testid=trend-spent]")
    assert _api(b, "/v1/stats/budget", year=2025)["spent"]["units"] == spent
    b.page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('trend-chart'))")
    assert b.page.evaluate(DRAWN_TREND)["title"].startswith("London: ")
    assert b.console == [] and b.page_errors == []
    b.shot("dfe-trend-london")
