// An experiment's chart view: a chart per metric, a line per run, for the
// runs the run table's filter selects (the server chose them and their
// metrics). The charts and their controls are history.js's.
"use strict";
(() => {
  const el = document.getElementById("runcharts-data");
  if (!el) return; // a refused filter, or no runs
  const data = JSON.parse(el.textContent);
  const runs = data.runs || [];
  // One colour per run, as in the compare view.
  runs.forEach((r, i) => { r.color = LodeHistory.colorOf(i); });
  const state = (window.LodeRunCharts = { charts: {}, chartsReady: false, runs: runs.length, points: data.points });
  const charts = LodeHistory.mount({
    runs, metricKeys: data.metrics || [], state, chartsBox: document.getElementById("metric-charts"), perRunPoints: data.points,
  });
  let resizeTimer;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(charts.resize, 150);
  });
  charts.draw();
})();
