"""The server-drawn SVG chart: scales, ticks, intervals and the text a screen reader gets."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from gateway.console.charts import Bar, bar_chart, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"


def test_ticks_are_round_numbers_that_cover_the_range() -> None:
    assert nice_ticks(0, 0.23) == [0, 0.05, 0.1, 0.15, 0.2, 0.25]
    assert nice_ticks(-32, 25) == [-40, -20, 0, 20, 40]
    assert nice_ticks(0, 0) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]


def test_each_bar_has_its_interval_and_its_own_text() -> None:
    bars = [
        Bar("Camden (202)", 0.12, 0.10, 0.14),
        Bar("Tower Hamlets (211)", 0.05, 0.0, 0.11, low_reliability=True),
    ]
    svg = bar_chart(bars, title="Overall absence rate", description="Two local authorities", percent=True)
    root = ET.fromstring(svg)  # noqa: S314 (our own SVG)
    assert root.get("role") == "img" and root.get("aria-labelledby") == "chart-title chart-desc"
    assert root.find(f"{SVG}title").text == "Overall absence rate"
    groups = root.findall(f"{SVG}g")
    assert [g.find(f"{SVG}title").text for g in groups] == [
        "Camden (202): 12.0% (95% interval 10.0% to 14.0%)",
        "Tower Hamlets (211): 5.0% (95% interval 0.0% to 11.0%), low reliability",
    ]
    for g in groups:
        assert len(g.findall(f"{SVG}line")) == 3  # the interval and its two caps
    fills = [g.find(f"{SVG}rect").get("fill") for g in groups]
    assert fills[0] != fills[1]


def test_a_bar_is_as_long_as_its_value_on_the_axis() -> None:
    svg = bar_chart(
        [Bar("A", 0.5, None, None), Bar("B", 0.25, None, None)], title="t", description="d", percent=True
    )
    root = ET.fromstring(svg)  # noqa: S314 (our own SVG)
    widths = [float(g.find(f"{SVG}rect").get("width")) for g in root.findall(f"{SVG}g")]
    assert abs(widths[0] - 2 * widths[1]) < 0.05


def test_negative_noisy_counts_are_drawn_left_of_zero_and_labels_are_escaped() -> None:
    svg = bar_chart([Bar("<script>", -5, -25, 15)], title="a & b", description="d", percent=False)
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "a &amp; b" in svg
    root = ET.fromstring(svg)  # noqa: S314 (our own SVG)
    rect = root.find(f"{SVG}g/{SVG}rect")
    zero_line = [line for line in root.findall(f"{SVG}line")][-2]
    assert float(rect.get("x")) + float(rect.get("width")) <= float(zero_line.get("x1")) + 0.01
    assert re.search(r">-20<", svg)
