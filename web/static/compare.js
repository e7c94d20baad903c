// The compare view's script: the "only differences" toggle, a parallel
// coordinates plot (drawn here on a canvas), a scatter plot of two columns
// and the runs' metric histories overlaid (history.js; uPlot). Every choice
// is kept in the URL: diff, axes, sx, sy, slogx, slogy, metric, x, log,
// smooth. Parallel coordinates take categorical params too (the
// categories are an axis's ticks); the scatter plots numbers.
"use strict";
(() => {
  const data = JSON.parse(document.getElementById("compare-data").textContent);
  const runs = data.runs || [];
  const paramKeys = data.params || [], metricKeys = data.metrics || [];

  // Each run keeps one colour everywhere on the page.
  runs.forEach((r, i) => { r.color = LodeHistory.colorOf(i); });
  document.querySelectorAll(".swatch[data-run]").forEach((el) => {
    const r = runs[+el.dataset.run];
    if (r) el.style.background = r.color;
  });

  // What the tests (and a curious user's console) can inspect.
  const state = (window.LodeCompare = { charts: {}, chartsReady: false, axes: [], scatter: null, columns: [] });

  const fmt = LodePlots.fmt;
  const tooltip = LodePlots.tooltip(document.getElementById("compare-tip"));

  // ---- Only differences: the server rendered every row with "same" or
  // "differ"; the toggle only hides the same ones.
  const onlyDiff = document.getElementById("only-diff");
  onlyDiff.addEventListener("change", () => {
    document.getElementById("kv-tables").classList.toggle("only-diff", onlyDiff.checked);
    Lode.setQuery({ diff: onlyDiff.checked ? "1" : null });
  });

  // ---- Columns: a param is numeric when every run that has it logged a
  // number, categorical otherwise (its distinct values, in natural order,
  // are its ticks; a run's value is its category's index); latest metric
  // values are numbers already. A param with more distinct values than
  // MAX_CATEGORIES (an id, a path) makes no readable axis and is left out.
  const MAX_CATEGORIES = 50;
  const isNum = (s) => typeof s === "string" && s.trim() !== "" && isFinite(Number(s));
  const natural = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });
  const columns = state.columns;
  state.skippedParams = [];
  for (const key of paramKeys) {
    const vals = runs.map((r) => (key in r.params ? r.params[key] : null));
    const present = vals.filter((v) => v !== null);
    if (!present.length) continue;
    if (present.every(isNum)) {
      columns.push({ id: "params." + key, kind: "param", key, values: vals.map((v) => (v === null ? null : Number(v))) });
      continue;
    }
    const cats = [...new Set(present)].sort(natural.compare);
    if (cats.length > MAX_CATEGORIES) {
      state.skippedParams.push(key);
      continue;
    }
    const index = new Map(cats.map((c, i) => [c, i]));
    columns.push({ id: "params." + key, kind: "param", key, cats, values: vals.map((v) => (v === null ? null : index.get(v))) });
  }
  for (const key of metricKeys) {
    const vals = runs.map((r) => (key in r.metrics ? r.metrics[key] : null));
    if (vals.some((v) => v !== null)) columns.push({ id: "metrics." + key, kind: "metric", key, values: vals });
  }
  const byId = new Map(columns.map((c) => [c.id, c]));
  const columnLabel = (c) => `${c.key} (${c.kind})`;
  // The scatter plots numbers: categorical params are for the parallel
  // coordinates only.
  const numericColumns = columns.filter((c) => !c.cats);
  const numericById = new Map(numericColumns.map((c) => [c.id, c]));

  // ---- Parallel coordinates.
  const MAX_DEFAULT_AXES = 8;
  function defaultAxes() {
    // A categorical param that is the same in every run shows nothing: it
    // is offered in the picker, not drawn by default.
    const ps = columns.filter((c) => c.kind === "param" && !(c.cats && c.cats.length < 2)), ms = columns.filter((c) => c.kind === "metric");
    // Params first, then metrics, at most 8, with at least one metric (the
    // last axis colours the lines, and a metric is what one colours by).
    const nm = Math.min(ms.length, Math.max(1, MAX_DEFAULT_AXES - ps.length));
    const np = Math.min(ps.length, MAX_DEFAULT_AXES - nm);
    return ps.slice(0, np).concat(ms.slice(0, nm)).map((c) => c.id);
  }
  {
    const asked = (Lode.query().get("axes") || "").split(",").filter((id, i, all) => byId.has(id) && all.indexOf(id) === i);
    state.axes = asked.length ? asked : defaultAxes();
  }

  const axesList = document.getElementById("axes-list");
  function renderAxesPicker() {
    axesList.textContent = "";
    if (!columns.length) {
      axesList.textContent = "No params or metrics.";
      return;
    }
    for (const c of columns) {
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.value = c.id;
      box.checked = state.axes.includes(c.id);
      const kind = document.createElement("span");
      kind.className = "kind";
      kind.textContent = " " + c.kind + (c.cats ? ", categorical" : "");
      label.append(box, " " + c.key, kind);
      axesList.append(label);
    }
    if (state.skippedParams.length) {
      const note = document.createElement("p");
      note.className = "muted";
      note.id = "axes-skipped";
      note.textContent = `Left out, with more than ${MAX_CATEGORIES} distinct values: ${state.skippedParams.join(", ")}.`;
      axesList.append(note);
    }
  }
  axesList.addEventListener("change", (ev) => {
    const id = ev.target.value;
    // A new axis goes last (the colour axis): that is usually the metric
    // one just picked to look at.
    state.axes = ev.target.checked ? state.axes.filter((a) => a !== id).concat(id) : state.axes.filter((a) => a !== id);
    Lode.setQuery({ axes: state.axes });
    drawParallel();
  });

  // The picker closes on a click elsewhere, as a menu does.
  const picker = document.querySelector(".axes-picker");
  document.addEventListener("click", (ev) => {
    if (picker.open && !picker.contains(ev.target)) picker.open = false;
  });

  // The lines are the runs; a click opens one.
  const parallel = LodePlots.parallel({
    box: document.getElementById("parallel"), state, tip: tooltip,
    label: (i) => runs[i].name,
    onClick: (i) => { location.href = "/runs/" + encodeURIComponent(runs[i].id); },
  });
  function drawParallel() {
    const axes = state.axes.map((id) => byId.get(id)).filter(Boolean);
    parallel.draw(axes, columns.length < 2 ? "These runs have fewer than two params or metrics." : "Choose at least two axes.");
  }

  // ---- Scatter: one column against another, one dot per run in its colour.
  // Either axis may be on a log scale (slogx=1, slogy=1 in the URL); a log
  // scale cannot place zero or less, so those runs are left out, and a
  // note under the plot says how many.
  const sxSel = document.getElementById("sx"), sySel = document.getElementById("sy");
  const slogx = document.getElementById("slogx"), slogy = document.getElementById("slogy");
  const scatterBox = document.getElementById("scatter");
  const scatterNote = document.getElementById("scatter-note");
  for (const sel of [sxSel, sySel]) {
    for (const c of numericColumns) sel.add(new Option(columnLabel(c), c.id));
    sel.disabled = !numericColumns.length;
  }
  {
    const q = Lode.query();
    const firstParam = numericColumns.find((c) => c.kind === "param"), firstMetric = numericColumns.find((c) => c.kind === "metric");
    let sx = q.get("sx"), sy = q.get("sy");
    if (!numericById.has(sx)) sx = (firstParam || numericColumns[0] || {}).id;
    if (!numericById.has(sy)) sy = (firstMetric && firstMetric.id !== sx ? firstMetric : numericColumns.find((c) => c.id !== sx) || {}).id;
    if (sx) sxSel.value = sx;
    if (sy) sySel.value = sy;
    slogx.checked = q.get("slogx") === "1";
    slogy.checked = q.get("slogy") === "1";
  }
  for (const el of [sxSel, sySel, slogx, slogy]) {
    el.addEventListener("change", () => {
      Lode.setQuery({ sx: sxSel.value, sy: sySel.value, slogx: slogx.checked ? "1" : null, slogy: slogy.checked ? "1" : null });
      drawScatter();
    });
  }

  function drawScatter() {
    if (state.scatter) { state.scatter.destroy(); state.scatter = null; }
    scatterBox.textContent = "";
    scatterNote.hidden = true;
    state.scatterLeftOut = 0;
    const cx = numericById.get(sxSel.value), cy = numericById.get(sySel.value);
    if (!cx || !cy) {
      scatterBox.innerHTML = '<div class="empty">These runs have no numeric params or metrics to plot.</div>';
      return;
    }
    const logX = slogx.checked, logY = slogy.checked;
    // uPlot wants x ascending; each point remembers its run.
    const both = runs.map((r, i) => ({ i, x: cx.values[i], y: cy.values[i] }))
      .filter((p) => p.x !== null && p.y !== null);
    const pts = both.filter((p) => (!logX || p.x > 0) && (!logY || p.y > 0)).sort((a, b) => a.x - b.x);
    const leftOut = both.length - pts.length;
    state.scatterLeftOut = leftOut;
    if (leftOut > 0) {
      const axes = [logX && "x", logY && "y"].filter(Boolean).join(" or ");
      scatterNote.textContent = `${leftOut} run${leftOut === 1 ? "" : "s"} with a value of zero or less on the log ${axes} axis ${leftOut === 1 ? "is" : "are"} left out.`;
      scatterNote.hidden = false;
    }
    if (!pts.length) {
      scatterBox.innerHTML = both.length
        ? '<div class="empty">No run has values above zero to place on the log scale.</div>'
        : `<div class="empty">No run has both ${columnLabel(cx)} and ${columnLabel(cy)}.</div>`;
      return;
    }
    state.scatter = LodePlots.scatter(scatterBox, {
      points: pts.map((p) => ({ x: p.x, y: p.y, color: runs[p.i].color, i: p.i })),
      xLabel: columnLabel(cx), yLabel: columnLabel(cy), logX, logY, tip: tooltip,
      tipText: (p) => `${runs[p.i].name}\n${cx.key}: ${fmt(p.x)}\n${cy.key}: ${fmt(p.y)}`,
      onClick: (p) => { location.href = "/runs/" + encodeURIComponent(runs[p.i].id); },
    });
  }

  // ---- Metric histories: a chart per metric (or the one chosen), a line
  // per run (history.js, shared with an experiment's chart view).
  const charts = LodeHistory.mount({ runs, metricKeys, state, chartsBox: document.getElementById("metric-charts") });

  // Charts are drawn at the width they had: redraw after a resize.
  let resizeTimer;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      drawParallel();
      if (state.scatter) state.scatter.setSize({ width: Math.max(280, scatterBox.clientWidth), height: 320 });
      charts.resize();
    }, 150);
  });

  renderAxesPicker();
  drawParallel();
  drawScatter();
  charts.draw();
})();
