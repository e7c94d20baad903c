// Lode's shared page helpers: the REST API, URL state, toasts, charts.
"use strict";
const Lode = (() => {
  // api calls the MLflow or Lode REST API ("mlflow/runs/get", "lode/jobs/list")
  // and returns the decoded answer; a failure throws an Error with the
  // server's message.
  // A path starting with "/" is taken as it is ("/ajax-api/3.0/mlflow/..."). Changes carry the
  // page's CSRF token, which a signed-in session needs.
  async function api(method, path, body) {
    const url = new URL(path.startsWith("/") ? path : "/ajax-api/2.0/" + path, location.origin);
    const init = { method, headers: {} };
    const csrf = document.querySelector('meta[name="csrf-token"]');
    if (csrf && method !== "GET") init.headers["X-CSRF-Token"] = csrf.content;
    if (body !== undefined && method === "GET") {
      for (const [k, v] of Object.entries(body)) {
        if (Array.isArray(v)) v.forEach((x) => url.searchParams.append(k, x));
        else if (v !== undefined && v !== null) url.searchParams.set(k, v);
      }
    } else if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(url, init);
    if (res.status === 401 && csrf) {
      // The session ended (signed out elsewhere, expired): sign in again
      // and come back. The promise never settles; the page is leaving.
      location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
      return new Promise(() => {});
    }
    const text = await res.text();
    let data = {};
    try { data = text ? JSON.parse(text) : {}; } catch (e) { data = { message: text }; }
    if (!res.ok) {
      const err = new Error(data.message || res.statusText);
      err.code = data.error_code;
      throw err;
    }
    return data;
  }

  // query reads the page's URL parameters; setQuery changes some (null or ""
  // removes one) without a reload, so the URL always names the view.
  function query() { return new URLSearchParams(location.search); }
  function setQuery(changes) {
    const q = query();
    for (const [k, v] of Object.entries(changes)) {
      if (v === null || v === undefined || v === "" || (Array.isArray(v) && v.length === 0)) q.delete(k);
      else q.set(k, Array.isArray(v) ? v.join(",") : String(v));
    }
    const s = q.toString();
    history.replaceState(null, "", location.pathname + (s ? "?" + s : ""));
  }

  let toastTimer;
  function toast(msg, isError) {
    const el = document.getElementById("toast");
    el.textContent = msg;
    el.className = isError ? "error" : "";
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.hidden = true; }, isError ? 8000 : 3000);
  }

  // run wraps an action: its error becomes a toast rather than an uncaught
  // rejection.
  async function run(fn) {
    try { return await fn(); } catch (e) { toast(e.message, true); return undefined; }
  }

  // ema smooths values as TensorBoard does (an exponential moving average
  // with debiasing); weight 0 leaves them as they are.
  function ema(values, weight) {
    if (!weight) return values;
    let last = 0, n = 0;
    return values.map((v) => {
      if (v === null || !isFinite(v)) return v;
      last = last * weight + (1 - weight) * v;
      n++;
      return last / (1 - Math.pow(weight, n));
    });
  }

  const palette = ["#2f6f8f", "#e0a030", "#b3261e", "#1e7a3c", "#7b4fa0", "#0f8a8a", "#c2185b", "#5d6d7e", "#8d6e63", "#3949ab"];

  // chart draws line series on a shared x axis with uPlot. series is a list
  // of {label, x: [...], y: [...]} with x increasing; opts: {xLabel, time
  // (x is seconds since the epoch), log (log scale y), height, legend
  // (shown by default when there are several series)}.
  function chart(el, series, opts) {
    opts = opts || {};
    el.textContent = "";
    if (!series.length || series.every((s) => !s.x.length)) {
      el.innerHTML = '<div class="empty">No data</div>';
      return null;
    }
    const data = uPlot.join(series.map((s) => [s.x, s.y]));
    const width = Math.max(280, el.clientWidth - 8);
    // Every point at one x (a metric logged once per run, at one step):
    // uPlot would make up a 0-100 axis; centre the points instead.
    const xs = data[0];
    const x = { time: !!opts.time };
    if (xs.length === 1) {
      const pad = opts.time ? 60 : Math.max(1, Math.abs(xs[0]) * 0.1);
      x.range = [xs[0] - pad, xs[0] + pad];
    }
    const u = new uPlot({
      width, height: opts.height || 220,
      scales: { x, y: { distr: opts.log ? 3 : 1 } },
      axes: [{ label: opts.xLabel || "" }, {}],
      legend: { show: opts.legend === undefined ? series.length > 1 : !!opts.legend },
      cursor: { drag: { x: true, y: false } },
      series: [{ label: opts.xLabel || "x" }].concat(series.map((s, i) => ({
        label: s.label, stroke: s.color || palette[i % palette.length], width: 1.5, spanGaps: true,
        points: { show: s.x.length < 60 },
      }))),
    }, data, el);
    return u;
  }

  // mlflowRoute maps a route of MLflow's own UI, which lives in the URL's
  // fragment ("#/experiments/1/runs/<id>", as the mlflow client prints in
  // "View run … at: …"), to Lode's page of the same thing; null when the
  // fragment is not one (Lode's pages use fragments only as anchors, #v2,
  // #charts, never starting with "/").
  function mlflowRoute(hash) {
    if (!hash.startsWith("#/")) return null;
    let u, seg;
    try {
      u = new URL(hash.slice(1), location.origin);
      seg = u.pathname.split("/").filter(Boolean).map(decodeURIComponent);
    } catch (e) {
      return null;
    }
    const p = encodeURIComponent;
    // MLflow's compare and metric pages name runs as a JSON list.
    const runsOf = () => {
      try {
        const ids = JSON.parse(u.searchParams.get("runs") || "[]");
        return Array.isArray(ids) ? ids.filter((id) => typeof id === "string" && id) : [];
      } catch (e) {
        return [];
      }
    };
    const [top, a, b, c] = seg;
    switch (top) {
      case undefined:
      case "compare-experiments":
        return "/experiments";
      case "experiments":
        if (a === undefined) return "/experiments";
        if ((b === "runs" || b === "evaluation-runs") && c) {
          // A run's tab: its artifacts ("artifacts/<path>", or the older
          // "artifactPath/<path>"), its charts, its system metrics.
          const rest = seg.slice(4);
          if ((rest[0] === "artifacts" || rest[0] === "artifactPath") && rest.length > 1) {
            return "/runs/" + p(c) + "?artifact=" + p(rest.slice(1).join("/"));
          }
          const anchor = { "model-metrics": "#charts", "system-metrics": "#system", artifacts: "#artifacts" }[rest[0]] || "";
          return "/runs/" + p(c) + anchor;
        }
        return "/experiments/" + p(a);
      case "runs":
        return a ? "/runs/" + p(a) : "/experiments";
      case "models":
        if (a === undefined) return "/models";
        if (b === "versions" && c) return "/models/" + p(a) + "/versions/" + p(c);
        return "/models/" + p(a);
      case "compare-runs": {
        const ids = runsOf();
        return ids.length ? "/compare?runs=" + ids.map(p).join(",") : "/experiments";
      }
      case "metric": {
        const ids = runsOf();
        let key = "";
        try { key = JSON.parse(u.searchParams.get("metric") || '""'); } catch (e) { key = ""; }
        if (ids.length === 1) return "/runs/" + p(ids[0]) + (typeof key === "string" && key ? "?metric=" + p(key) + "#charts" : "#charts");
        return ids.length ? "/compare?runs=" + ids.map(p).join(",") : "/experiments";
      }
    }
    return null;
  }

  // A page opened with one of MLflow's routes in its fragment goes to
  // Lode's page for it at once (/ leads to /experiments, which keeps the
  // fragment; so does the sign-in page, which then signs in for it).
  const mlflowTarget = mlflowRoute(location.hash);
  if (mlflowTarget) location.replace(mlflowTarget);

  return { api, query, setQuery, toast, run, ema, chart, palette };
})();
