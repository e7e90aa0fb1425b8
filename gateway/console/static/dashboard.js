/* The DfE dashboard's chart: the noisy statistics with their 95% interval bars, one bar per row of
 * the table beside it, drawn by Chart.js and its error-bars plugin (both vendored under vendor/).
 *
 * The numbers come from the page's <script type="application/json" id="stats-chart-data"> block,
 * written by gateway/console/statistics.py (chart_data). Nothing here is inline, evaluated or
 * fetched, so the page's Content-Security-Policy stays `script-src 'self'`. The table stays the
 * accessible source of truth; the canvas only repeats it.
 */
(function () {
  "use strict";

  var BAR = "#1d70b8"; // GOV.UK blue, as in the server's SVG (charts.py)
  var BAR_LOW_RELIABILITY = "#8eb8dc";
  var INK = "#0b0c0c";
  var GRID = "#b1b4b6";
  var ROW_HEIGHT = 32;
  var FRAME_HEIGHT = 120; // title, axis titles and ticks

  // The same formatting as the table (web.py's `percent` and `number` filters).
  function formatter(percent) {
    var count = new Intl.NumberFormat("en-GB", { maximumFractionDigits: 0 });
    var decimal = new Intl.NumberFormat("en-GB", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    return function (value) {
      if (value === null || value === undefined) return "–";
      if (percent) return (value * 100).toFixed(1) + "%";
      return Number.isInteger(value) ? count.format(value) : decimal.format(value);
    };
  }

  function draw() {
    var source = document.getElementById("stats-chart-data");
    var canvas = document.getElementById("stats-chart");
    var box = document.getElementById("stats-chart-box");
    var area = document.getElementById("stats-chart-area");
    if (!source || !canvas || !box || !area || typeof window.Chart !== "function") return;
    var data = JSON.parse(source.textContent);
    var format = formatter(data.percent);
    var rows = data.rows;

    box.hidden = false;
    area.style.height = FRAME_HEIGHT + ROW_HEIGHT * Math.max(rows.length, 1) + "px";

    new window.Chart(canvas, {
      type: "barWithErrorBars",
      data: {
        labels: rows.map(function (r) { return r.label; }),
        datasets: [
          {
            label: "Noisy value",
            data: rows.map(function (r) {
              return { y: r.label, x: r.value, xMin: r.low, xMax: r.high };
            }),
            backgroundColor: rows.map(function (r) {
              return r.symbol === "u" ? BAR_LOW_RELIABILITY : BAR;
            }),
            errorBarColor: INK,
            errorBarWhiskerColor: INK,
            errorBarLineWidth: 1.5,
            errorBarWhiskerLineWidth: 1.5,
          },
        ],
      },
      options: {
        indexAxis: "y",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        font: { family: "Arial, sans-serif" },
        color: INK,
        scales: {
          x: {
            beginAtZero: true,
            title: { display: true, text: data.value_axis, color: INK },
            ticks: { callback: function (value) { return format(value); }, color: INK },
            grid: { color: GRID },
          },
          y: {
            title: { display: true, text: data.group_axis, color: INK },
            ticks: { color: INK },
            grid: { display: false },
          },
        },
        plugins: {
          title: { display: true, text: data.title, color: INK, font: { size: 16, weight: "bold" } },
          legend: { display: false },
          tooltip: {
            callbacks: {
              label: function (item) {
                var r = rows[item.dataIndex];
                var text = format(r.value);
                if (r.low !== null && r.high !== null) {
                  text += " (95% interval " + format(r.low) + " to " + format(r.high) + ")";
                }
                return r.symbol === "u" ? text + ", low reliability" : text;
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
