/* The DfE trend view's chart: each rate's noisy value by school week with its 95% interval bars,
 * drawn by Chart.js and its error-bars plugin (both vendored under vendor/).
 *
 * The numbers come from the page's <script type="application/json" id="trend-chart-data"> block,
 * written by gateway/console/trend.py (trend_chart). Nothing here is inline, evaluated or fetched,
 * so the page's Content-Security-Policy stays `script-src 'self'`. The table is the source of truth.
 */
(function () {
  "use strict";

  var COLOURS = ["#1d70b8", "#d4351c"]; // GOV.UK blue and red, one per rate
  var INK = "#0b0c0c";
  var GRID = "#b1b4b6";

  function percent(value) {
    return value === null || value === undefined ? "–" : (value * 100).toFixed(1) + "%";
  }

  function draw() {
    var source = document.getElementById("trend-chart-data");
    var canvas = document.getElementById("trend-chart");
    var box = document.getElementById("trend-chart-box");
    var area = document.getElementById("trend-chart-area");
    if (!source || !canvas || !box || !area || typeof window.Chart !== "function") return;
    var data = JSON.parse(source.textContent);
    box.hidden = false;
    area.style.height = "420px";

    new window.Chart(canvas, {
      type: "lineWithErrorBars",
      data: {
        labels: data.weeks,
        datasets: data.series.map(function (s, i) {
          return {
            label: s.label,
            data: s.points.map(function (p) {
              return p.value === null ? { y: null } : { y: p.value, yMin: p.low, yMax: p.high };
            }),
            borderColor: COLOURS[i % COLOURS.length],
            backgroundColor: COLOURS[i % COLOURS.length],
            errorBarColor: COLOURS[i % COLOURS.length],
            errorBarWhiskerColor: COLOURS[i % COLOURS.length],
            errorBarLineWidth: 1.5,
            spanGaps: false,
          };
        }),
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        font: { family: "Arial, sans-serif" },
        color: INK,
        scales: {
          x: {
            title: { display: true, text: "Week commencing", color: INK },
            ticks: { color: INK },
            grid: { display: false },
          },
          y: {
            beginAtZero: true,
            title: { display: true, text: data.value_axis, color: INK },
            ticks: { callback: function (value) { return percent(value); }, color: INK },
            grid: { color: GRID },
          },
        },
        plugins: {
          title: { display: true, text: data.title, color: INK, font: { size: 16, weight: "bold" } },
          legend: { display: true, labels: { color: INK } },
          tooltip: {
            callbacks: {
              label: function (item) {
                var p = data.series[item.datasetIndex].points[item.dataIndex];
                var text = item.dataset.label + ": " + percent(p.value);
                if (p.low !== null && p.high !== null) {
                  text += " (95% interval " + percent(p.low) + " to " + percent(p.high) + ")";
                }
                return p.symbol === "u" ? text + ", low reliability" : text;
              },
            },
          },
        },
      },
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
