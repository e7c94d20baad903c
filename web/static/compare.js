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

  const fmt = (v) => {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
    return String(parseFloat(v.toPrecision(5)));
  };

  const tip = document.getElementById("compare-tip");
  function showTip(ev, text) {
    tip.textContent = text;
    tip.hidden = false;
    const x = Math.min(ev.clientX + 14, window.innerWidth - tip.offsetWidth - 8);
    tip.style.left = x + "px";
    tip.style.top = ev.clientY + 14 + "px";
  }
  const hideTip = () => { tip.hidden = true; };

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
  // valueText is a run's value on a column as the reader knows it: the
  // category itself for a categorical param.
  const valueText = (c, v) => (v === null || v === undefined ? "–" : c.cats ? c.cats[v] : fmt(v));
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

  // A three-stop ramp in the page's colours: low values blue, high red.
  const rampStops = [[47, 111, 143], [224, 160, 48], [179, 38, 30]];
  function ramp(t) {
    t = Math.min(1, Math.max(0, t));
    const s = t * (rampStops.length - 1);
    const i = Math.min(rampStops.length - 2, Math.floor(s)), f = s - i;
    const c = rampStops[i].map((v, k) => Math.round(v + (rampStops[i + 1][k] - v) * f));
    return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
  }

  const pcBox = document.getElementById("parallel");
  const pcCanvas = pcBox.querySelector("canvas");
  const PC_HEIGHT = 340;
  let pcLines = []; // per run: its points, [x, y] or null where it has no value
  let pcHover = -1;

  // fitText shortens s with an ellipsis until it is at most w pixels wide.
  function fitText(ctx, s, w) {
    if (ctx.measureText(s).width <= w) return s;
    while (s.length > 1 && ctx.measureText(s + "…").width > w) s = s.slice(0, -1);
    return s + "…";
  }

  function drawParallel() {
    const axes = state.axes.map((id) => byId.get(id)).filter(Boolean);
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(280, pcBox.clientWidth), h = PC_HEIGHT;
    pcCanvas.width = Math.round(w * dpr);
    pcCanvas.height = Math.round(h * dpr);
    const ctx = pcCanvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    ctx.font = "12px system-ui, sans-serif";
    pcLines = [];
    if (axes.length < 2) {
      ctx.fillStyle = "#5f6b76";
      ctx.textAlign = "center";
      ctx.fillText(columns.length < 2 ? "These runs have fewer than two params or metrics." : "Choose at least two axes.", w / 2, h / 2);
      return;
    }
    const top = 50, bottom = h - 26, left = 56, right = w - 56;
    const gap = (right - left) / (axes.length - 1);
    const xs = axes.map((_, i) => left + i * gap);
    const ranges = axes.map((a) => {
      // A categorical axis spans its categories, each in the middle of its
      // own band: the first at the bottom, the last at the top.
      if (a.cats) return { lo: -0.5, hi: a.cats.length - 0.5, flat: false };
      const vs = a.values.filter((v) => v !== null);
      let lo = Math.min(...vs), hi = Math.max(...vs);
      return { lo, hi, flat: lo === hi };
    });
    const yOf = (k, v) => {
      const r = ranges[k];
      if (r.flat) return (top + bottom) / 2; // one value: the middle
      return bottom - ((v - r.lo) / (r.hi - r.lo)) * (bottom - top);
    };
    const last = axes.length - 1;
    state.parallelTicks = {};
    const colorOfRun = (i) => {
      const v = axes[last].values[i];
      if (v === null) return "#9aa5ae";
      const a = axes[last], r = ranges[last];
      if (a.cats) return ramp(a.cats.length < 2 ? 0.5 : v / (a.cats.length - 1));
      return ramp(r.flat ? 0.5 : (v - r.lo) / (r.hi - r.lo));
    };
    pcLines = runs.map((_, i) => axes.map((a, k) => (a.values[i] === null ? null : [xs[k], yOf(k, a.values[i])])));
    state.parallelLines = pcLines;

    // The lines, the hovered one last and thickest.
    const strokeRun = (i, width, alpha) => {
      const pts = pcLines[i];
      ctx.strokeStyle = colorOfRun(i);
      ctx.globalAlpha = alpha;
      ctx.lineWidth = width;
      ctx.beginPath();
      for (let k = 0; k < pts.length; k++) {
        // A missing value breaks the line rather than inventing one.
        if (!pts[k]) continue;
        if (k > 0 && pts[k - 1]) ctx.lineTo(pts[k][0], pts[k][1]);
        else ctx.moveTo(pts[k][0], pts[k][1]);
      }
      ctx.stroke();
      // Dots where a value has no neighbour to join.
      pts.forEach((p, k) => {
        if (p && !pts[k - 1] && !pts[k + 1]) {
          ctx.fillStyle = ctx.strokeStyle;
          ctx.beginPath();
          ctx.arc(p[0], p[1], 2.5, 0, 2 * Math.PI);
          ctx.fill();
        }
      });
    };
    ctx.lineJoin = "round";
    const faded = pcHover >= 0 ? 0.25 : runs.length > 40 ? 0.55 : 0.85;
    runs.forEach((_, i) => { if (i !== pcHover) strokeRun(i, 1.5, faded); });
    if (pcHover >= 0) strokeRun(pcHover, 3, 1);
    ctx.globalAlpha = 1;

    // The axes: a line each (the colour axis drawn as the ramp), the name
    // and kind above, the max at the top and the min at the bottom.
    axes.forEach((a, k) => {
      const x = xs[k];
      if (k === last) {
        const g = ctx.createLinearGradient(0, bottom, 0, top);
        g.addColorStop(0, ramp(0)); g.addColorStop(0.5, ramp(0.5)); g.addColorStop(1, ramp(1));
        ctx.fillStyle = g;
        ctx.fillRect(x - 3, top, 6, bottom - top);
      } else {
        ctx.strokeStyle = "#5f6b76";
        ctx.lineWidth = 1;
        ctx.beginPath();
        ctx.moveTo(x + 0.5, top);
        ctx.lineTo(x + 0.5, bottom);
        ctx.stroke();
      }
      ctx.strokeStyle = "#5f6b76";
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(x - 5, top + 0.5); ctx.lineTo(x + 5, top + 0.5);
      ctx.moveTo(x - 5, bottom + 0.5); ctx.lineTo(x + 5, bottom + 0.5);
      ctx.stroke();
      const room = Math.max(40, gap - 8);
      ctx.textAlign = k === 0 ? "left" : k === last ? "right" : "center";
      const tx = k === 0 ? x - 8 : k === last ? x + 8 : x;
      ctx.fillStyle = "#1d2730";
      ctx.font = "600 12px system-ui, sans-serif";
      ctx.fillText(fitText(ctx, a.key, room), tx, 14);
      ctx.font = "11px system-ui, sans-serif";
      ctx.fillStyle = "#5f6b76";
      ctx.fillText(a.cats ? a.kind + " · categories" : a.kind, tx, 27);
      ctx.font = "11px system-ui, sans-serif";
      ctx.fillStyle = "#1d2730";
      const r = ranges[k];
      if (a.cats) {
        drawCategoryTicks(ctx, a, k, x, k === last, Math.max(40, gap / 2 - 10), (v) => yOf(k, v));
        return;
      }
      ctx.fillText(fmt(r.hi), tx, top - 7);
      if (!r.flat) ctx.fillText(fmt(r.lo), tx, bottom + 15);
    });
  }

  // drawCategoryTicks marks a categorical axis's categories: a tick and the
  // category beside it (left of the last axis, right of the others), every
  // one when they have room (14px each), else every n-th, first and last
  // always. The labels drawn are kept for the tests in state.parallelTicks.
  function drawCategoryTicks(ctx, a, k, x, onLeft, room, y) {
    const n = a.cats.length;
    const band = n > 1 ? Math.abs(y(0) - y(1)) : Infinity;
    const every = Math.max(1, Math.ceil(14 / band));
    const shown = [];
    ctx.textAlign = onLeft ? "right" : "left";
    ctx.textBaseline = "middle";
    ctx.lineJoin = "round";
    for (let i = 0; i < n; i++) {
      if (i % every !== 0 && i !== n - 1) continue;
      if (i === n - 1 && i % every !== 0 && n > 1 && Math.abs(y(i) - y(i - (i % every))) < 14) continue;
      const yy = y(i);
      ctx.strokeStyle = "#5f6b76";
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(x - 4, yy + 0.5);
      ctx.lineTo(x + 4, yy + 0.5);
      ctx.stroke();
      const label = fitText(ctx, a.cats[i] === "" ? "(empty)" : a.cats[i], room);
      const lx = onLeft ? x - 7 : x + 7;
      // A white halo keeps the label readable over the lines.
      ctx.strokeStyle = "rgba(255,255,255,0.9)";
      ctx.lineWidth = 3;
      ctx.strokeText(label, lx, yy);
      ctx.fillStyle = "#1d2730";
      ctx.fillText(label, lx, yy);
      shown.push(a.cats[i]);
    }
    ctx.textBaseline = "alphabetic";
    state.parallelTicks[a.id] = shown;
  }

  // distToSegment is how far (px) point p is from the segment a-b.
  function distToSegment(p, a, b) {
    const dx = b[0] - a[0], dy = b[1] - a[1];
    const len = dx * dx + dy * dy;
    let t = len ? ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len : 0;
    t = Math.max(0, Math.min(1, t));
    return Math.hypot(p[0] - (a[0] + t * dx), p[1] - (a[1] + t * dy));
  }
  function nearestLine(p) {
    let best = -1, bestD = 6;
    pcLines.forEach((pts, i) => {
      for (let k = 0; k < pts.length; k++) {
        if (!pts[k]) continue;
        const d = pts[k + 1] ? distToSegment(p, pts[k], pts[k + 1]) : Math.hypot(p[0] - pts[k][0], p[1] - pts[k][1]);
        if (d < bestD) { bestD = d; best = i; }
      }
    });
    return best;
  }
  pcCanvas.addEventListener("mousemove", (ev) => {
    const rect = pcCanvas.getBoundingClientRect();
    const i = nearestLine([ev.clientX - rect.left, ev.clientY - rect.top]);
    if (i !== pcHover) { pcHover = i; drawParallel(); }
    if (i < 0) { hideTip(); pcCanvas.style.cursor = "crosshair"; return; }
    pcCanvas.style.cursor = "pointer";
    const lines = state.axes.map((id) => byId.get(id)).filter(Boolean).map((a) => `${a.key}: ${valueText(a, a.values[i])}`);
    showTip(ev, runs[i].name + "\n" + lines.join("\n"));
  });
  pcCanvas.addEventListener("mouseleave", () => {
    hideTip();
    if (pcHover >= 0) { pcHover = -1; drawParallel(); }
  });
  pcCanvas.addEventListener("click", () => {
    if (pcHover >= 0) location.href = "/runs/" + encodeURIComponent(runs[pcHover].id);
  });

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
    const xs = pts.map((p) => p.x), ys = pts.map((p) => p.y);
    const padLin = (u, lo, hi) => uPlot.rangeNum(lo, hi, 0.1, true);
    // On a log scale, a margin of 6% of the decades shown on either side
    // (a decade either side of a single value), so no dot sits on the edge.
    const padLog = (u, lo, hi) => {
      if (lo === hi) return [lo / 10, hi * 10];
      const m = Math.pow(10, 0.06 * Math.log10(hi / lo));
      return [lo / m, hi * m];
    };
    // A log axis labels its decades (uPlot passes null for the others).
    const logTicks = (u, splits) => splits.map((v) => (v == null ? "" : Math.abs(v) >= 1e5 || Math.abs(v) < 1e-3 ? v.toExponential(0) : String(parseFloat(v.toPrecision(3)))));
    const axisOf = (label, log) => (log ? { label: label + ", log", values: logTicks } : { label });
    // The dot nearest the pointer (within 24px), for the hover.
    const nearest = (u, si, closest) => {
      if (si === 0) return closest;
      const l = u.cursor.left, t = u.cursor.top;
      if (l == null || l < 0) return null;
      let best = null, bestD = 24;
      for (let k = 0; k < xs.length; k++) {
        const d = Math.hypot(u.valToPos(xs[k], "x") - l, u.valToPos(ys[k], "y") - t);
        if (d < bestD) { bestD = d; best = k; }
      }
      return best;
    };
    const u = new uPlot({
      width: Math.max(280, scatterBox.clientWidth), height: 320,
      scales: {
        x: { time: false, distr: logX ? 3 : 1, log: 10, range: logX ? padLog : padLin },
        y: { distr: logY ? 3 : 1, log: 10, range: logY ? padLog : padLin },
      },
      axes: [axisOf(columnLabel(cx), logX), axisOf(columnLabel(cy), logY)],
      legend: { show: false },
      cursor: { dataIdx: nearest, drag: { x: false, y: false }, points: { size: 14, width: 2, fill: "transparent" } },
      series: [{}, {
        label: columnLabel(cy), stroke: "#17324a",
        // Points only: no path, and the dots drawn in the runs' colours below.
        paths: () => null, points: { show: false },
      }],
      hooks: {
        draw: [(u) => {
          const ctx = u.ctx, r = 5 * uPlot.pxRatio;
          ctx.save();
          ctx.beginPath();
          ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
          ctx.clip();
          pts.forEach((p, k) => {
            ctx.beginPath();
            ctx.arc(u.valToPos(xs[k], "x", true), u.valToPos(ys[k], "y", true), r, 0, 2 * Math.PI);
            ctx.fillStyle = runs[p.i].color;
            ctx.globalAlpha = 0.85;
            ctx.fill();
            ctx.globalAlpha = 1;
            ctx.lineWidth = uPlot.pxRatio;
            ctx.strokeStyle = "#fff";
            ctx.stroke();
          });
          ctx.restore();
        }],
        setCursor: [(u) => {
          const k = u.cursor.idxs ? u.cursor.idxs[1] : null;
          if (k == null || !lastMouse) { hideTip(); return; }
          const p = pts[k];
          showTip(lastMouse, `${runs[p.i].name}\n${cx.key}: ${fmt(p.x)}\n${cy.key}: ${fmt(p.y)}`);
        }],
      },
    }, [xs, ys], scatterBox);
    state.scatter = u;
    u.over.addEventListener("click", () => {
      const k = u.cursor.idxs ? u.cursor.idxs[1] : null;
      if (k != null) location.href = "/runs/" + encodeURIComponent(runs[pts[k].i].id);
    });
    u.over.addEventListener("mouseleave", hideTip);
  }
  let lastMouse = null;
  // Capture: the pointer is known before uPlot moves its cursor.
  scatterBox.addEventListener("mousemove", (ev) => { lastMouse = ev; }, true);

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
