// Plots the compare view and the study page share, drawn with no page of
// their own in mind: parallel coordinates on a canvas (numeric and
// categorical axes, lines coloured by the last axis) and a scatter plot
// (uPlot, either axis on a log scale).
"use strict";
const LodePlots = (() => {
  const fmt = (v) => {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
    return String(parseFloat(v.toPrecision(5)));
  };

  // tooltip shows text by the pointer in el (position: fixed).
  function tooltip(el) {
    return {
      show(ev, text) {
        el.textContent = text;
        el.hidden = false;
        const x = Math.min(ev.clientX + 14, window.innerWidth - el.offsetWidth - 8);
        el.style.left = x + "px";
        el.style.top = ev.clientY + 14 + "px";
      },
      hide() { el.hidden = true; },
    };
  }

  // A three-stop ramp in the page's colours: low values blue, high red.
  const rampStops = [[47, 111, 143], [224, 160, 48], [179, 38, 30]];
  function ramp(t) {
    t = Math.min(1, Math.max(0, t));
    const s = t * (rampStops.length - 1);
    const i = Math.min(rampStops.length - 2, Math.floor(s)), f = s - i;
    const c = rampStops[i].map((v, k) => Math.round(v + (rampStops[i + 1][k] - v) * f));
    return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
  }

  // fitText shortens s with an ellipsis until it is at most w pixels wide.
  function fitText(ctx, s, w) {
    if (ctx.measureText(s).width <= w) return s;
    while (s.length > 1 && ctx.measureText(s + "…").width > w) s = s.slice(0, -1);
    return s + "…";
  }

  // parallel draws parallel coordinates in box's canvas. Each axis is
  // {id, key, kind, values, cats?} with one value per line (null where
  // the line has none; a categorical axis's value is its category's
  // index in cats); the last axis colours the lines, reversed (low red)
  // when the caller says lower is better. state receives parallelLines
  // and parallelTicks, for the tests. Returns {draw(axes, empty),
  // options} (options.lowIsGood may change between draws).
  function parallel({ box, state, height = 340, tip, label, onClick, lowIsGood = false }) {
    const options = { lowIsGood };
    const canvas = box.querySelector("canvas");
    let lines = [], hover = -1, axes = [], emptyText = "";

    function draw(newAxes, empty) {
      if (newAxes) axes = newAxes;
      if (empty !== undefined) emptyText = empty;
      const dpr = window.devicePixelRatio || 1;
      const w = Math.max(280, box.clientWidth), h = height;
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
      const ctx = canvas.getContext("2d");
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, w, h);
      ctx.font = "12px system-ui, sans-serif";
      lines = [];
      state.parallelLines = lines;
      if (axes.length < 2) {
        ctx.fillStyle = "#5f6b76";
        ctx.textAlign = "center";
        ctx.fillText(emptyText || "Choose at least two axes.", w / 2, h / 2);
        return;
      }
      const count = axes[0].values.length;
      const top = 50, bottom = h - 26, left = 56, right = w - 56;
      const gap = (right - left) / (axes.length - 1);
      const xs = axes.map((_, i) => left + i * gap);
      const ranges = axes.map((a) => {
        // A categorical axis spans its categories, each in the middle of its
        // own band: the first at the bottom, the last at the top.
        if (a.cats) return { lo: -0.5, hi: a.cats.length - 0.5, flat: false };
        const vs = a.values.filter((v) => v !== null);
        const lo = Math.min(...vs), hi = Math.max(...vs);
        return { lo, hi, flat: lo === hi };
      });
      const yOf = (k, v) => {
        const r = ranges[k];
        if (r.flat) return (top + bottom) / 2; // one value: the middle
        return bottom - ((v - r.lo) / (r.hi - r.lo)) * (bottom - top);
      };
      const last = axes.length - 1;
      const shade = (t) => ramp(options.lowIsGood ? 1 - t : t);
      state.parallelTicks = {};
      const colorOf = (i) => {
        const v = axes[last].values[i];
        if (v === null) return "#9aa5ae";
        const a = axes[last], r = ranges[last];
        if (a.cats) return shade(a.cats.length < 2 ? 0.5 : v / (a.cats.length - 1));
        return shade(r.flat ? 0.5 : (v - r.lo) / (r.hi - r.lo));
      };
      for (let i = 0; i < count; i++) lines.push(axes.map((a, k) => (a.values[i] === null ? null : [xs[k], yOf(k, a.values[i])])));

      // The lines, the hovered one last and thickest.
      const stroke = (i, width, alpha) => {
        const pts = lines[i];
        ctx.strokeStyle = colorOf(i);
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
      const faded = hover >= 0 ? 0.25 : count > 40 ? 0.55 : 0.85;
      for (let i = 0; i < count; i++) if (i !== hover) stroke(i, 1.5, faded);
      if (hover >= 0 && hover < count) stroke(hover, 3, 1);
      ctx.globalAlpha = 1;

      // The axes: a line each (the colour axis drawn as the ramp), the name
      // and kind above, the max at the top and the min at the bottom.
      axes.forEach((a, k) => {
        const x = xs[k];
        if (k === last) {
          const g = ctx.createLinearGradient(0, bottom, 0, top);
          g.addColorStop(0, shade(0)); g.addColorStop(0.5, shade(0.5)); g.addColorStop(1, shade(1));
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
          drawCategoryTicks(ctx, a, x, k === last, Math.max(40, gap / 2 - 10), (v) => yOf(k, v));
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
    function drawCategoryTicks(ctx, a, x, onLeft, room, y) {
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
        const text = fitText(ctx, a.cats[i] === "" ? "(empty)" : a.cats[i], room);
        const lx = onLeft ? x - 7 : x + 7;
        // A white halo keeps the label readable over the lines.
        ctx.strokeStyle = "rgba(255,255,255,0.9)";
        ctx.lineWidth = 3;
        ctx.strokeText(text, lx, yy);
        ctx.fillStyle = "#1d2730";
        ctx.fillText(text, lx, yy);
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
      lines.forEach((pts, i) => {
        for (let k = 0; k < pts.length; k++) {
          if (!pts[k]) continue;
          const d = pts[k + 1] ? distToSegment(p, pts[k], pts[k + 1]) : Math.hypot(p[0] - pts[k][0], p[1] - pts[k][1]);
          if (d < bestD) { bestD = d; best = i; }
        }
      });
      return best;
    }
    canvas.addEventListener("mousemove", (ev) => {
      const rect = canvas.getBoundingClientRect();
      const i = nearestLine([ev.clientX - rect.left, ev.clientY - rect.top]);
      if (i !== hover) { hover = i; draw(); }
      if (i < 0) { tip.hide(); canvas.style.cursor = "crosshair"; return; }
      canvas.style.cursor = onClick ? "pointer" : "default";
      const valueText = (a, v) => (v === null || v === undefined ? "–" : a.cats ? a.cats[v] : fmt(v));
      tip.show(ev, label(i) + "\n" + axes.map((a) => `${a.key}: ${valueText(a, a.values[i])}`).join("\n"));
    });
    canvas.addEventListener("mouseleave", () => {
      tip.hide();
      if (hover >= 0) { hover = -1; draw(); }
    });
    canvas.addEventListener("click", () => {
      if (hover >= 0 && onClick) onClick(hover);
    });
    return { draw, options };
  }

  // scatter plots points {x, y, color} in box with uPlot; either axis may
  // be on a log scale (the caller leaves out what a log axis cannot
  // place); xCats makes x categorical (a point's x is its category's
  // index, and the ticks are the categories). tipText(p) is the hover
  // text of point p, onClick(p) follows it. Returns the uPlot.
  function scatter(box, { points, xLabel, yLabel, logX, logY, xCats, height = 320, tip, tipText, onClick, width }) {
    const pts = points.slice().sort((a, b) => a.x - b.x); // uPlot wants x ascending
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
    const xAxis = xCats
      ? { label: xLabel, splits: () => xCats.map((_, i) => i), values: (u, splits) => splits.map((v) => (xCats[v] === undefined ? "" : xCats[v])) }
      : axisOf(xLabel, logX);
    const xRange = xCats ? () => [-0.5, xCats.length - 0.5] : logX ? padLog : padLin;
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
    let lastMouse = null;
    const u = new uPlot({
      width: width || Math.max(280, box.clientWidth), height,
      scales: {
        x: { time: false, distr: logX && !xCats ? 3 : 1, log: 10, range: xRange },
        y: { distr: logY ? 3 : 1, log: 10, range: logY ? padLog : padLin },
      },
      axes: [xAxis, axisOf(yLabel, logY)],
      legend: { show: false },
      cursor: { dataIdx: nearest, drag: { x: false, y: false }, points: { size: 14, width: 2, fill: "transparent" } },
      series: [{}, {
        label: yLabel, stroke: "#17324a",
        // Points only: no path, and the dots drawn in their own colours below.
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
            ctx.fillStyle = p.color;
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
          if (k == null || !lastMouse) { tip.hide(); return; }
          tip.show(lastMouse, tipText(pts[k]));
        }],
      },
    }, [xs, ys], box);
    // Capture: the pointer is known before uPlot moves its cursor.
    u.root.addEventListener("mousemove", (ev) => { lastMouse = ev; }, true);
    u.over.addEventListener("click", () => {
      const k = u.cursor.idxs ? u.cursor.idxs[1] : null;
      if (k != null && onClick) onClick(pts[k]);
    });
    u.over.addEventListener("mouseleave", () => tip.hide());
    return u;
  }

  return { fmt, tooltip, ramp, parallel, scatter };
})();
