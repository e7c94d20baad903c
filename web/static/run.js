// The run page: metric charts (one per metric, drawn with uPlot from the
// server's downsampled history) with the x axis, smoothing, log scale and
// a name filter kept in the URL; and the artifact browser, whose folders
// and previews are fragments rendered by the server.
"use strict";
(() => {
  const root = document.getElementById("run");
  if (!root) return;
  const runId = root.dataset.runId;

  // ---- Charts ----

  const xAxis = document.getElementById("x-axis");
  const smoothing = document.getElementById("smoothing");
  const smoothingValue = document.getElementById("smoothing-value");
  const logY = document.getElementById("log-y");
  const filter = document.getElementById("chart-filter");

  // The view's state, from the URL (the server rendered the controls from
  // it too).
  const q = Lode.query();
  const state = {
    x: ["step", "time", "wall"].includes(q.get("x")) ? q.get("x") : "step",
    smooth: clampSmooth(parseFloat(q.get("smooth"))),
    log: q.get("log") === "1",
    filter: q.get("metric") || "",
  };
  function clampSmooth(v) { return isFinite(v) && v > 0 ? Math.min(v, 0.99) : 0; }

  const boxes = [...document.querySelectorAll(".chart[data-key]")];
  const histories = new Map(); // metric key -> [{step, ts, v}], as fetched
  const plots = new Map(); // metric key -> uPlot instance
  let draws = 0;

  // fetchHistory reads a chart's data from the URL the server gave it
  // (get-history-bulk-interval, at most 1,000 values spread over the whole
  // history), the very URL the page preloads.
  async function fetchHistory(box, fresh) {
    const res = await fetch(box.dataset.src, fresh ? { cache: "no-store" } : undefined);
    const text = await res.text();
    let data;
    try { data = JSON.parse(text); } catch (e) { data = { message: text }; }
    if (!res.ok) throw new Error(data.message || res.statusText);
    // Values may be "NaN" or "Infinity" (protobuf JSON): Number reads both.
    return (data.metrics || []).map((m) => ({ step: Number(m.step), ts: Number(m.timestamp), v: Number(m.value) }));
  }

  // series turns a history into the chart's x and y for the current state.
  function series(points) {
    let pts = points;
    if (state.x !== "step") pts = points.slice().sort((a, b) => a.ts - b.ts || a.step - b.step);
    const t0 = pts.length ? pts[0].ts : 0;
    const x = pts.map((p) => state.x === "step" ? p.step : state.x === "time" ? p.ts / 1000 : (p.ts - t0) / 1000);
    const raw = pts.map((p) => (isFinite(p.v) ? p.v : null));
    // A log scale cannot show zero or less: those points are left out.
    const visible = (v) => (state.log && v !== null && v <= 0 ? null : v);
    return { x, raw: raw.map(visible), smoothed: Lode.ema(raw, state.smooth).map(visible) };
  }

  const xLabels = { step: "Step", time: "Time", wall: "Relative time (s)" };

  function draw(box) {
    const key = box.dataset.key;
    const plotEl = box.querySelector(".plot");
    const old = plots.get(key);
    if (old) { old.destroy(); plots.delete(key); }
    const points = histories.get(key) || [];
    const s = series(points);
    box.dataset.single = points.length === 1 ? "1" : "0";
    if (points.length === 1) {
      // One value (a final accuracy, a test score): a line chart would put
      // a lone dot mid-way up an axis made up around it. Show the number.
      plotEl.textContent = "";
      plotEl.append(singleValue(points[0]));
    } else if (state.log && points.length && s.raw.every((v) => v === null)) {
      plotEl.innerHTML = '<div class="empty">No values above zero to show on a log scale.</div>';
    } else {
      const color = Lode.palette[0];
      const lines = state.smooth > 0
        // TensorBoard's look: the raw values faint behind the smoothed line.
        ? [{ label: key + " (raw)", x: s.x, y: s.raw, color: "rgba(47,111,143,0.25)" },
          { label: key, x: s.x, y: s.smoothed, color }]
        : [{ label: key, x: s.x, y: s.raw, color }];
      const u = Lode.chart(plotEl, lines, { xLabel: xLabels[state.x], time: state.x === "time", log: state.log });
      if (u) plots.set(key, u);
    }
    // What was drawn, for whoever checks (the tests do).
    box.dataset.x = state.x;
    box.dataset.smooth = String(state.smooth);
    box.dataset.log = state.log ? "1" : "0";
    box.dataset.firstX = s.x.length ? String(s.x[0]) : "";
    box.dataset.points = String(s.x.length);
  }

  // singleValue is a metric logged once, shown as its number with its
  // step and time.
  function singleValue(p) {
    const wrap = document.createElement("div");
    wrap.className = "single-value";
    const value = document.createElement("div");
    value.className = "value";
    value.textContent = formatValue(p.v);
    value.title = String(p.v);
    const where = document.createElement("div");
    where.className = "where";
    where.textContent = `logged once · step ${p.step} · ${new Date(p.ts).toLocaleString()}`;
    wrap.append(value, where);
    return wrap;
  }

  // formatValue writes a number as a reader takes it in: up to 6
  // significant digits, exponents only for the very large or small.
  function formatValue(v) {
    if (!isFinite(v)) return String(v); // NaN, Infinity, -Infinity
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e9 || a < 1e-4)) return v.toExponential(4).replace(/\.?0+e/, "e");
    return String(parseFloat(v.toPrecision(6)));
  }

  function drawAll() {
    boxes.forEach((box) => { if (histories.has(box.dataset.key)) draw(box); });
    document.body.dataset.draws = String(++draws);
  }

  // redraw draws again once per frame however many changes come (the
  // smoothing slider sends many as it moves).
  let redrawPending = false;
  function redraw() {
    if (redrawPending) return;
    redrawPending = true;
    requestAnimationFrame(() => { redrawPending = false; drawAll(); });
  }

  // load fetches every chart's history, a few at a time, drawing each as
  // it comes; document.body.dataset.chartsDrawn is the time (ms since
  // navigation start) when the last one drew.
  async function load() {
    const queue = boxes.slice();
    const worker = async () => {
      for (let box; (box = queue.shift());) {
        const key = box.dataset.key;
        try {
          histories.set(key, await fetchHistory(box));
          draw(box);
        } catch (e) {
          box.querySelector(".plot").innerHTML = "";
          const msg = document.createElement("div");
          msg.className = "empty error-message";
          msg.textContent = "Cannot load this metric: " + e.message;
          box.querySelector(".plot").append(msg);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(6, queue.length) }, worker));
    document.body.dataset.chartsDrawn = String(performance.now());
  }

  function applyFilter() {
    const f = state.filter.toLowerCase();
    boxes.forEach((box) => {
      const hide = f !== "" && !box.dataset.key.toLowerCase().includes(f);
      if (box.hidden !== hide) {
        box.hidden = hide;
        if (!hide) resize(box);
      }
    });
  }

  function resize(box) {
    const u = plots.get(box.dataset.key);
    if (u) u.setSize({ width: Math.max(280, box.querySelector(".plot").clientWidth - 8), height: u.height });
  }

  if (xAxis) {
    xAxis.addEventListener("change", () => {
      state.x = xAxis.value;
      Lode.setQuery({ x: state.x === "step" ? null : state.x });
      redraw();
    });
    // The slider redraws as it moves (charts are at most 1,000 points).
    smoothing.addEventListener("input", () => {
      state.smooth = clampSmooth(parseFloat(smoothing.value));
      smoothingValue.textContent = String(state.smooth);
      Lode.setQuery({ smooth: state.smooth > 0 ? state.smooth : null });
      redraw();
    });
    logY.addEventListener("change", () => {
      state.log = logY.checked;
      Lode.setQuery({ log: state.log ? "1" : null });
      redraw();
    });
    filter.addEventListener("input", () => {
      state.filter = filter.value.trim();
      Lode.setQuery({ metric: state.filter });
      applyFilter();
    });
  }
  let resizeTimer;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => boxes.forEach((b) => { if (!b.hidden) resize(b); }), 150);
  });

  // A running run's charts follow it, as MLflow's and TensorBoard's do:
  // every 15 s while the page is in view, the histories are read again.
  async function refresh() {
    if (document.visibilityState !== "visible") return;
    for (const box of boxes) {
      try {
        histories.set(box.dataset.key, await fetchHistory(box, true));
      } catch (e) {
        return; // the next round tries again
      }
    }
    redraw();
  }

  applyFilter();
  load().then(() => {
    if (root.dataset.status === "RUNNING") setInterval(refresh, 15000);
  });

  // ---- Artifacts ----

  const tree = document.getElementById("artifact-tree");
  const pane = document.getElementById("artifact-preview");
  const base = "/runs/" + encodeURIComponent(runId);

  // fragment fetches a piece of the page the server renders; its HTML
  // comes escaped from the server's templates.
  async function fragment(path, params) {
    const res = await fetch(base + path + "?" + new URLSearchParams(params));
    const text = await res.text();
    if (!res.ok) throw new Error(text || res.statusText);
    return text;
  }

  async function select(path) {
    document.querySelectorAll("#artifact-tree a.art.selected").forEach((a) => a.classList.remove("selected"));
    const link = tree && [...tree.querySelectorAll("a.art")].find((a) => a.dataset.path === path);
    if (link) {
      link.classList.add("selected");
      const details = link.closest("details");
      if (details && link.parentElement.tagName === "SUMMARY") details.open = true;
    }
    Lode.setQuery({ artifact: path });
    pane.setAttribute("aria-busy", "true");
    try {
      pane.innerHTML = await fragment("/preview", { path });
    } finally {
      pane.removeAttribute("aria-busy");
    }
  }

  // Links to artifacts (in the tree, in a folder's preview, in a model's
  // summary) select in place rather than reload the page and its charts.
  document.addEventListener("click", (ev) => {
    const a = ev.target.closest("a.art[data-path]");
    if (!a || !pane || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
    ev.preventDefault();
    Lode.run(() => select(a.dataset.path));
  });

  // Folders beyond what the page listed up front load when opened.
  if (tree) {
    tree.addEventListener("toggle", (ev) => {
      const d = ev.target;
      if (!(d instanceof HTMLDetailsElement) || !d.open || !d.hasAttribute("data-lazy")) return;
      d.removeAttribute("data-lazy");
      Lode.run(async () => {
        try {
          d.insertAdjacentHTML("beforeend", await fragment("/artifacts", { path: d.dataset.dir }));
        } catch (e) {
          d.setAttribute("data-lazy", "");
          throw e;
        }
      });
    }, true);
  }
})();
