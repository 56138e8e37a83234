/* Report pages (统计报表): charts and sortable tables; the tables work without this script.
 *
 * - #report-charts carries the report's chart data as JSON in data-report; with the vendored
 *   Chart.js loaded, three charts are drawn: rates per window (bar), tickets per hour of day
 *   (bar) and waits over time (line: average and 90th percentile). The charts are kept in
 *   window.hallReportCharts.
 * - tables marked data-sortable sort by any column when its heading is clicked (a link in the
 *   staff view, which also sorts on the server without script); rows without a value go last;
 *   the total row (tfoot) stays where it is.
 */
(function () {
  "use strict";

  var BLUE = "#1d4ed8", GREEN = "#15803d", ORANGE = "#c2410c", PURPLE = "#7e22ce", GREY = "#374151";

  function drawCharts() {
    var box = document.getElementById("report-charts");
    if (!box || typeof window.Chart === "undefined") return;
    var data;
    try { data = JSON.parse(box.dataset.report); } catch (err) { return; }
    var nojs = document.getElementById("charts-nojs");
    if (nojs) nojs.hidden = true;
    var Chart = window.Chart;
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.color = GREY;
    Chart.defaults.animation = false;
    var charts = [];
    var colours = [BLUE, GREEN, ORANGE, PURPLE];

    var windows = document.getElementById("chart-windows");
    if (windows) {
      charts.push(new Chart(windows, {
        type: "bar",
        data: {
          labels: data.windows.labels,
          datasets: data.windows.series.map(function (series, index) {
            return { label: series.label, data: series.values, backgroundColor: colours[index % colours.length] };
          })
        },
        options: {
          responsive: true, maintainAspectRatio: false,
          scales: { y: { beginAtZero: true, max: 100, title: { display: true, text: data.text.percent } } },
          plugins: { tooltip: { callbacks: { label: function (ctx) {
            return ctx.dataset.label + ": " + (ctx.raw === null ? "—" : ctx.raw + "%");
          } } } }
        }
      }));
    }

    var hours = document.getElementById("chart-hours");
    if (hours) {
      charts.push(new Chart(hours, {
        type: "bar",
        data: {
          labels: data.hourly.labels,
          datasets: [{ label: data.hourly.label, data: data.hourly.values, backgroundColor: BLUE }]
        },
        options: {
          responsive: true, maintainAspectRatio: false,
          scales: { y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: data.text.tickets } } }
        }
      }));
    }

    var waits = document.getElementById("chart-waits");
    if (waits) {
      charts.push(new Chart(waits, {
        type: "line",
        data: {
          labels: data.waits.labels,
          datasets: [
            { label: data.waits.avg_label, data: data.waits.avg, borderColor: BLUE, backgroundColor: BLUE, spanGaps: true, tension: 0.2 },
            { label: data.waits.p90_label, data: data.waits.p90, borderColor: ORANGE, backgroundColor: ORANGE, borderDash: [6, 4], spanGaps: true, tension: 0.2 }
          ]
        },
        options: {
          responsive: true, maintainAspectRatio: false,
          scales: { y: { beginAtZero: true, title: { display: true, text: data.text.minutes } } }
        }
      }));
    }
    window.hallReportCharts = charts;
  }

  function cellValue(row, index, type) {
    var cell = row.children[index];
    if (!cell) return null;
    var raw = cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent.trim();
    if (type === "text") return raw;
    if (raw === "" || raw === "—") return null;
    var number = parseFloat(raw);
    return isNaN(number) ? null : number;
  }

  function sortTable(table, heading) {
    var headings = Array.prototype.slice.call(heading.parentNode.children);
    var index = headings.indexOf(heading);
    var type = heading.dataset.sortType || "number";
    var current = heading.getAttribute("aria-sort");
    var direction = current === "descending" ? "ascending"
      : current === "ascending" ? "descending"
      : (type === "text" ? "ascending" : "descending");
    headings.forEach(function (h) { h.removeAttribute("aria-sort"); });
    heading.setAttribute("aria-sort", direction);
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows).filter(function (r) { return !r.classList.contains("rp-empty"); });
    rows.sort(function (a, b) {
      var x = cellValue(a, index, type), y = cellValue(b, index, type);
      if (x === null && y === null) return 0;
      if (x === null) return 1;  // no value: last either way
      if (y === null) return -1;
      var order = type === "text" ? String(x).localeCompare(String(y), "zh-CN") : x - y;
      return direction === "ascending" ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }

  function sortableTables() {
    document.querySelectorAll("table[data-sortable]").forEach(function (table) {
      var head = table.tHead && table.tHead.rows[0];
      if (!head) return;
      Array.prototype.forEach.call(head.cells, function (heading) {
        if (heading.dataset.key === "satisfaction") return;  // no values yet
        var link = heading.querySelector("a.rp-sort");
        if (!link) {
          var button = document.createElement("button");
          button.type = "button";
          button.className = "rp-sort";
          while (heading.firstChild) button.appendChild(heading.firstChild);
          heading.appendChild(button);
          link = button;
        }
        link.addEventListener("click", function (event) {
          event.preventDefault();
          sortTable(table, heading);
        });
      });
    });
  }

  function ready() {
    sortableTables();
    drawCharts();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
