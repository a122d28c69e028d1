// Overview charts (Chart.js, vendored). The series come inline with the page; colours follow the theme.
(function () {
  const data = JSON.parse(document.getElementById("overview-data").textContent);
  const charts = [];

  function colour(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function draw() {
    charts.splice(0).forEach((chart) => chart.destroy());
    const text = colour("--muted");
    const grid = colour("--border");
    const accent = colour("--accent");
    const ok = colour("--ok");
    const warn = colour("--warn");
    const labels = data.days.map((d) => d.slice(5));
    const scales = {
      x: { ticks: { color: text, maxRotation: 0, autoSkipPadding: 12 }, grid: { color: grid } },
      y: { beginAtZero: true, ticks: { color: text }, grid: { color: grid } },
    };
    const options = { responsive: true, maintainAspectRatio: false, animation: false, scales, plugins: { legend: { labels: { color: text } } } };
    const make = (id, type, datasets, extra = {}) => {
      const canvas = document.getElementById(id);
      if (canvas) charts.push(new Chart(canvas, { type, data: { labels, datasets }, options: { ...options, ...extra } }));
    };
    make("chart-calls", "bar", [{ label: "Calls", data: data.calls, backgroundColor: accent }]);
    make("chart-minutes", "bar", [{ label: "Minutes", data: data.minutes, backgroundColor: ok }]);
    make("chart-success", "line", [{ label: "Completed %", data: data.success_rate, borderColor: ok, backgroundColor: ok, spanGaps: true }], {
      scales: { ...scales, y: { ...scales.y, max: 100 } },
    });
    make("chart-latency", "line", [
      { label: "p50", data: data.latency_p50_ms, borderColor: accent, backgroundColor: accent, spanGaps: true },
      { label: "p90", data: data.latency_p90_ms, borderColor: warn, backgroundColor: warn, spanGaps: true },
    ]);
  }

  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("bvrai:theme", draw);
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", draw);
})();
