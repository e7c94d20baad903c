// Metric histories of many runs: a chart per metric, a line per run in
// the run's colour, from get-history-bulk-interval (each history sampled
// by the server). The compare view and an experiment's chart view share
// it. Its controls (metric, x axis, log scale, smoothing) are the page's
// #metric, #xaxis, #logy and #smooth, and live in the URL: metric, x,
// log, smooth.
"use strict";
const LodeHistory = (() => {
  // mount wires the controls and returns {draw, resize}. runs are
  // {id, name, start, color}, at most 100 (one request per chart);
  // metricKeys the metrics to chart; state receives charts (key → uPlot,
  // null where there is nothing to draw) and chartsReady, for the tests;
  // maxCharts bounds the charts drawn when no metric is chosen.
  function mount({ runs, metricKeys, state, chartsBox, maxCharts = 24, perRunPoints }) {
    const metricSel = document.getElementById("metric");
    const xSel = document.getElementById("xaxis"), logBox = document.getElementById("logy");
    const smoothIn = document.getElementById("smooth"), smoothOut = document.getElementById("smooth-value");
    const opts = { metric: "", x: "step", log: false, smooth: 0 };
    if (metricSel) {
      const q = Lode.query();
      opts.metric = metricKeys.includes(q.get("metric")) ? q.get("metric") : "";
      opts.x = ["step", "relative", "wall"].includes(q.get("x")) ? q.get("x") : "step";
      opts.log = q.get("log") === "1";
      const sm = parseFloat(q.get("smooth"));
      opts.smooth = isFinite(sm) ? Math.min(0.99, Math.max(0, sm)) : 0;
      metricSel.value = opts.metric;
      xSel.value = opts.x;
      logBox.checked = opts.log;
      smoothIn.value = opts.smooth;
      smoothOut.textContent = opts.smooth;
      metricSel.addEventListener("change", () => {
        opts.metric = metricSel.value;
        Lode.setQuery({ metric: opts.metric });
        drawCharts();
      });
      xSel.addEventListener("change", () => {
        opts.x = xSel.value;
        Lode.setQuery({ x: opts.x === "step" ? null : opts.x });
        drawCharts();
      });
      logBox.addEventListener("change", () => {
        opts.log = logBox.checked;
        Lode.setQuery({ log: opts.log ? "1" : null });
        drawCharts();
      });
      smoothIn.addEventListener("input", () => { smoothOut.textContent = smoothIn.value; });
      smoothIn.addEventListener("change", () => {
        opts.smooth = parseFloat(smoothIn.value) || 0;
        Lode.setQuery({ smooth: opts.smooth || null });
        drawCharts();
      });
    }

    // Enough points per run for a smooth line, fewer when many runs share a
    // chart (the server caps one request at 2500 per run).
    const perRun = perRunPoints || Math.max(100, Math.min(1000, Math.floor(20000 / Math.max(1, runs.length))));
    const histories = new Map(); // metric key → Promise of its metrics
    function history(key) {
      if (!histories.has(key)) {
        const p = Lode.api("GET", "mlflow/metrics/get-history-bulk-interval", {
          run_ids: runs.map((r) => r.id), metric_key: key, max_results: perRun,
        }).then((d) => d.metrics || []);
        p.catch(() => histories.delete(key)); // a failure is retried next draw
        histories.set(key, p);
      }
      return histories.get(key);
    }

    // seriesFor turns a metric's points into one chart series per run, on the
    // chosen x axis. Runs sampled at different steps or times make a long
    // union of x values (uPlot aligns every series on it): past 4000, x is
    // snapped to a grid of 2000 so that a 100-run chart stays light.
    function seriesFor(metrics) {
      const byRun = new Map();
      for (const m of metrics) {
        if (!byRun.has(m.run_id)) byRun.set(m.run_id, []);
        byRun.get(m.run_id).push(m);
      }
      let scale = 1, xLabel = "Step";
      if (opts.x === "relative") {
        let maxS = 0;
        for (const r of runs) for (const m of byRun.get(r.id) || []) maxS = Math.max(maxS, (m.timestamp - r.start) / 1000);
        [scale, xLabel] = maxS > 7200 ? [3600, "Relative time (h)"] : maxS > 120 ? [60, "Relative time (min)"] : [1, "Relative time (s)"];
      } else if (opts.x === "wall") {
        xLabel = "Time";
      }
      const xOf = (m, r) => (opts.x === "step" ? m.step : opts.x === "wall" ? m.timestamp / 1000 : (m.timestamp - r.start) / 1000 / scale);
      const yOf = (v) => (typeof v === "number" && (!opts.log || v > 0) ? v : null); // "NaN", "Infinity" arrive as strings
      let series = [];
      runs.forEach((r) => {
        const ms = byRun.get(r.id);
        if (!ms) return;
        const pts = ms.map((m) => [xOf(m, r), yOf(m.value)]).sort((a, b) => a[0] - b[0]);
        series.push({ label: r.name, color: r.color, pts });
      });
      const all = new Set();
      series.forEach((s) => s.pts.forEach((p) => all.add(p[0])));
      if (all.size > 4000) {
        const xs = [...all];
        let q = (Math.max(...xs) - Math.min(...xs)) / 2000;
        if (opts.x === "step") q = Math.max(1, Math.ceil(q));
        series.forEach((s) => s.pts.forEach((p) => { p[0] = Math.round(p[0] / q) * q; }));
      }
      series = series.map((s) => {
        // One value per x (the last), as uPlot's aligned data holds one.
        const x = [], y = [];
        for (const [px, py] of s.pts) {
          if (x.length && x[x.length - 1] === px) y[y.length - 1] = py;
          else { x.push(px); y.push(py); }
        }
        return { label: s.label, color: s.color, x, y: Lode.ema(y, opts.smooth) };
      });
      return { series, xLabel };
    }

    let chartGen = 0;
    async function drawCharts() {
      if (!chartsBox) { state.chartsReady = true; return; } // no metrics at all
      const gen = ++chartGen, began = performance.now();
      state.chartsReady = false;
      for (const u of Object.values(state.charts)) if (u) u.destroy();
      state.charts = {};
      chartsBox.textContent = "";
      const keys = opts.metric ? [opts.metric] : metricKeys.slice(0, maxCharts);
      if (!opts.metric && metricKeys.length > maxCharts) {
        const note = document.createElement("p");
        note.className = "muted";
        note.style.gridColumn = "1 / -1";
        note.textContent = `Showing the first ${maxCharts} of ${metricKeys.length} metrics: choose one above to see another.`;
        chartsBox.append(note);
      }
      const cards = new Map();
      for (const key of keys) {
        const card = document.createElement("div");
        card.className = "chart";
        card.dataset.metric = key;
        const h = document.createElement("h3");
        h.textContent = key;
        const plot = document.createElement("div");
        plot.className = "plot";
        plot.innerHTML = '<div class="empty">Loading…</div>';
        card.append(h, plot);
        chartsBox.append(card);
        cards.set(key, plot);
      }
      // A few requests at a time: many metrics must not flood the server.
      let next = 0;
      const worker = async () => {
        while (next < keys.length && gen === chartGen) {
          const key = keys[next++];
          const plot = cards.get(key);
          try {
            const metrics = await history(key);
            if (gen !== chartGen) return;
            const { series, xLabel } = seriesFor(metrics);
            if (series.length && series.every((sr) => sr.y.every((v) => v === null))) {
              plot.innerHTML = `<div class="empty">No ${opts.log ? "positive" : "finite"} values to draw.</div>`;
              state.charts[key] = null;
              continue;
            }
            state.charts[key] = Lode.chart(plot, series, { xLabel, time: opts.x === "wall", log: opts.log, height: 240, legend: true });
          } catch (e) {
            plot.innerHTML = "";
            const msg = document.createElement("div");
            msg.className = "empty error-message";
            msg.textContent = e.message;
            plot.append(msg);
          }
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
      if (gen === chartGen) {
        state.chartsMs = Math.round(performance.now() - began); // fetches and drawing, for the tests' figures
        state.chartsReady = true;
      }
    }

    function resize() {
      for (const [key, u] of Object.entries(state.charts)) {
        const el = chartsBox && chartsBox.querySelector(`.chart[data-metric="${CSS.escape(key)}"] .plot`);
        if (u && el) u.setSize({ width: Math.max(280, el.clientWidth - 8), height: 240 });
      }
    }

    return { draw: drawCharts, resize };
  }

  // colorOf is run i's colour: the shared palette, then hues spread by the
  // golden angle for long comparisons.
  const colorOf = (i) => (i < Lode.palette.length ? Lode.palette[i] : `hsl(${Math.round((i * 137.508) % 360)}, 55%, 42%)`);

  return { mount, colorOf };
})();
