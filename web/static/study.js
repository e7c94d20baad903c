// A study's page: its optimization history (each complete trial's value
// and the best so far), every trial's intermediate values by step,
// parallel coordinates and a slice per parameter (plots.js, shared with
// the compare view), and the parameters' importance as the server judged
// it. While a trial runs, the page asks /studies/{id}/data every 5 s and,
// when anything changed, redraws and takes the new table from the page.
"use strict";
(() => {
  let data = JSON.parse(document.getElementById("study-data").textContent);
  // What the tests (and a curious user's console) can inspect.
  const state = (window.LodeStudy = { ready: false, history: null, intermediate: null, slices: {}, polls: 0, redraws: 0 });
  const tip = LodePlots.tooltip(document.getElementById("compare-tip"));
  const fmt = LodePlots.fmt;
  const stateColor = { COMPLETE: "#2f6f8f", PRUNED: "#e0a030", FAIL: "#b3261e", RUNNING: "#1e7a3c", WAITING: "#9aa5ae" };
  const POLL_MS = 5000, MAX_POLLS = 720; // an hour of live updates, then a reload

  const value = (t) => (t.values.length ? t.values[0] : null);
  const complete = () => data.trials.filter((t) => t.state === "COMPLETE" && value(t) !== null);
  const minimize = () => data.directions[0] !== "maximize";
  const empty = (el, text) => { el.innerHTML = ""; const d = document.createElement("div"); d.className = "empty"; d.textContent = text; el.append(d); };
  const width = (el) => Math.max(280, el.clientWidth - 8);

  // ---- Optimization history: a dot per complete trial, and the best value
  // so far as a step line, by the study's (first) direction.
  function drawHistory() {
    const el = document.getElementById("history");
    if (state.history) { state.history.destroy(); state.history = null; }
    const ts = complete();
    if (!ts.length) return empty(el, "No complete trials yet.");
    el.textContent = "";
    const xs = ts.map((t) => t.number), ys = ts.map(value), best = [];
    let b = null;
    for (const y of ys) { b = b === null ? y : minimize() ? Math.min(b, y) : Math.max(b, y); best.push(b); }
    // Several objectives have a Pareto front, not a best: the first
    // objective's values alone, then.
    const multi = data.directions.length > 1;
    const series = [{ label: "Trial" },
      { label: multi ? "value 0" : "Value", stroke: "#2f6f8f", paths: () => null, points: { show: true, size: 7, fill: "#2f6f8f" } }];
    if (!multi) series.push({ label: "Best so far", stroke: "#b3261e", width: 2, paths: uPlot.paths.stepped({ align: 1 }), points: { show: false } });
    state.history = new uPlot({
      width: width(el), height: 260,
      scales: { x: { time: false } },
      axes: [{ label: "Trial" }, { label: multi ? "value 0" : "value" }],
      legend: { show: true },
      series,
    }, multi ? [xs, ys] : [xs, ys, best], el);
    state.historyBest = multi ? null : best[best.length - 1];
  }

  // ---- Intermediate values: a line per trial by step, in its state's
  // colour (pruned trials end where they were stopped), the newest 200.
  function drawIntermediate() {
    const el = document.getElementById("intermediate");
    if (state.intermediate) { state.intermediate.destroy(); state.intermediate = null; }
    const ts = data.trials.filter((t) => t.steps && t.steps.length).slice(-200);
    if (!ts.length) return empty(el, "No trial reported intermediate values.");
    const series = ts.map((t) => ({ label: `trial ${t.number} (${t.state})`, color: stateColor[t.state] || "#5f6b76", x: t.steps, y: t.inter }));
    state.intermediate = Lode.chart(el, series, { xLabel: "Step", height: 260, legend: ts.length <= 12 });
    state.intermediateLines = series.length;
  }

  // ---- Parameters as axes: a log parameter's axis is in log10, a
  // categorical one's categories are its ticks. The value is the last
  // axis, and colours the lines (the best red).
  function paramAxes(ts) {
    return data.params.map((p) => {
      if (p.kind === "categorical") return { id: p.name, key: p.name, kind: "param", cats: p.choices, values: ts.map((t) => (p.name in t.params ? t.params[p.name] : null)) };
      const v = (t) => (p.name in t.params && t.params[p.name] !== null ? t.params[p.name] : null);
      if (p.log) return { id: p.name, key: p.name + " (log10)", kind: p.kind + ", log", values: ts.map((t) => (v(t) > 0 ? Math.log10(v(t)) : null)) };
      return { id: p.name, key: p.name, kind: p.kind, values: ts.map(v) };
    });
  }
  let parallelTrials = [];
  const parallel = LodePlots.parallel({
    box: document.getElementById("parallel"), state, tip,
    label: (i) => `trial ${parallelTrials[i].number}`,
    lowIsGood: true,
  });
  function drawParallel() {
    parallelTrials = complete();
    const axes = paramAxes(parallelTrials).filter((a) => a.values.some((v) => v !== null));
    axes.push({ id: "value", key: "value", kind: data.directions[0] || "objective", values: parallelTrials.map(value) });
    // Red is best: reverse the ramp for a maximized value.
    parallel.options.lowIsGood = minimize();
    parallel.draw(axes, data.params.length ? "No complete trials yet." : "This study has no parameters.");
    state.parallelAxes = axes.map((a) => a.key);
  }

  // ---- Slices: the value against each parameter, on a log x axis where
  // the parameter's space is log; dots coloured by trial number (later
  // trials darker red), so the search's drift shows.
  function drawSlices() {
    const box = document.getElementById("slices");
    for (const u of Object.values(state.slices)) u.destroy();
    state.slices = {};
    box.textContent = "";
    const ts = complete();
    if (!data.params.length) return empty(box, "This study has no parameters.");
    if (!ts.length) return empty(box, "No complete trials yet.");
    const last = Math.max(...ts.map((t) => t.number)) || 1;
    for (const p of data.params) {
      const card = document.createElement("div");
      card.className = "slice";
      card.dataset.param = p.name;
      box.append(card);
      const pts = ts.filter((t) => p.name in t.params && t.params[p.name] !== null && (!p.log || t.params[p.name] > 0))
        .map((t) => ({ x: t.params[p.name], y: value(t), color: LodePlots.ramp(t.number / last), t }));
      if (!pts.length) { empty(card, `No complete trial has ${p.name}.`); continue; }
      const cats = p.kind === "categorical" ? p.choices : null;
      state.slices[p.name] = LodePlots.scatter(card, {
        points: pts, xLabel: p.name, yLabel: "value", logX: p.log && !cats, xCats: cats, height: 240, tip,
        tipText: (q) => `trial ${q.t.number}\n${p.name}: ${cats ? cats[q.x] : fmt(q.x)}\nvalue: ${fmt(q.y)}`,
      });
    }
  }

  // ---- Importance: a bar per parameter, as the server computed it.
  function drawImportance() {
    const box = document.getElementById("importance");
    box.textContent = "";
    const imp = data.importance || [];
    if (!imp.length) return;
    for (const { param, importance } of imp) {
      const row = document.createElement("div");
      row.className = "imp-row";
      row.dataset.param = param;
      const name = document.createElement("span");
      name.className = "imp-name";
      name.textContent = param;
      const bar = document.createElement("span");
      bar.className = "imp-bar";
      const fill = document.createElement("i");
      fill.style.width = (100 * importance).toFixed(1) + "%";
      bar.append(fill);
      const num = document.createElement("span");
      num.className = "imp-value";
      num.textContent = importance.toFixed(3);
      row.append(name, bar, num);
      box.append(row);
    }
  }

  function drawAll() {
    drawHistory();
    drawIntermediate();
    drawParallel();
    drawSlices();
    drawImportance();
    state.redraws++;
    state.ready = true;
  }

  // ---- Live updates, bounded: every 5 s while a trial runs, at most an
  // hour; a change redraws the charts and swaps in the page's new table.
  const note = document.getElementById("live-note");
  async function poll() {
    if (state.polls >= MAX_POLLS) {
      note.textContent = "Live updates stopped after an hour: reload the page to see more.";
      return;
    }
    state.polls++;
    try {
      const res = await fetch(location.pathname + "/data?version=" + encodeURIComponent(data.version), { headers: { Accept: "application/json" } });
      if (!res.ok) throw new Error(res.status);
      const next = await res.json();
      if (next.unchanged) {
        data.live = next.live;
      } else if (next.version !== data.version) {
        data = next;
        const page = await fetch(location.pathname).then((r) => r.text());
        const doc = new DOMParser().parseFromString(page, "text/html");
        for (const id of ["trials-box", "study-summary"]) {
          const fresh = doc.getElementById(id), here = document.getElementById(id);
          if (fresh && here) here.replaceWith(fresh);
        }
        drawAll();
      }
    } catch (e) {
      // A failed poll is tried again at the next tick.
    }
    if (data.live) setTimeout(poll, POLL_MS);
    else note.hidden = true;
  }

  let resizeTimer;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(drawAll, 150);
  });

  drawAll();
  if (data.live) setTimeout(poll, POLL_MS);
})();
