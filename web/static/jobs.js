// The job queue and a job's page. Both are rendered by the server; while
// jobs are active the script fetches a fresh copy of the page and swaps in
// the part that changes (so the server alone formats states, times and
// resources, and the URL keeps naming the view). A job's page also streams
// the chosen replica's log and cancels the job.
"use strict";
(() => {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  // swap replaces the element with this id by its copy in a fresh render of
  // the page's own URL; it keeps the scroll of the tables inside it.
  async function swap(id) {
    const res = await fetch(location.href, { headers: { Accept: "text/html" }, cache: "no-store" });
    if (!res.ok) return null;
    const doc = new DOMParser().parseFromString(await res.text(), "text/html");
    const fresh = doc.getElementById(id);
    const old = document.getElementById(id);
    if (!fresh || !old) return null;
    const scrolls = [...old.querySelectorAll(".table-wrap")].map((el) => el.scrollTop);
    old.replaceWith(fresh);
    fresh.querySelectorAll(".table-wrap").forEach((el, i) => { el.scrollTop = scrolls[i] || 0; });
    return fresh;
  }

  // The queue: refresh every 2 s while it shows (or the server has) an
  // active job, not while the tab is hidden.
  function listPage() {
    const note = document.getElementById("refresh-note");
    const active = () => document.getElementById("jobs-live")?.dataset.active === "true";
    if (!note || !active()) return;
    note.hidden = false;
    (async () => {
      while (active()) {
        await sleep(2000);
        if (document.hidden) continue;
        try { await swap("jobs-live"); } catch (e) { /* the server is away: try again next time */ }
      }
      note.hidden = true;
    })();
  }

  function jobPage() {
    const live = () => document.getElementById("job-live");
    const id = live().dataset.id;
    const job = () => {
      const d = live().dataset;
      return { state: d.state, attempt: Number(d.attempt), active: d.active === "true" };
    };
    const pre = document.getElementById("log");
    const status = document.getElementById("log-status");
    const rankSel = document.getElementById("log-rank");
    const attemptSel = document.getElementById("log-attempt");
    const raw = document.getElementById("log-raw");
    const setStatus = (s) => { status.textContent = s; };

    // The attempt menu grows when the job is retried.
    function syncAttempts() {
      const n = job().attempt;
      const have = attemptSel.options.length - 1; // less "latest"
      for (let a = have + 1; a <= n; a++) attemptSel.add(new Option(String(a), String(a)), 1);
    }

    // Follow the job: swap in its state every 1.5 s until it ends.
    (async () => {
      while (job().active) {
        await sleep(1500);
        if (document.hidden) continue;
        try { await swap("job-live"); } catch (e) { continue; }
        syncAttempts();
      }
    })();

    document.addEventListener("click", (ev) => {
      const btn = ev.target.closest("#cancel-job");
      if (!btn) return;
      Lode.run(async () => {
        if (!confirm("Cancel this job? Its processes are killed.")) return;
        btn.disabled = true;
        try {
          await Lode.api("POST", "lode/jobs/cancel", { id });
        } finally {
          btn.disabled = false;
        }
        Lode.toast("Cancelling the job");
        await swap("job-live");
      });
    });

    // The log is kept to about 2 M characters in the page: beyond that the
    // oldest output goes (the Raw link has it all), so that a chatty job
    // does not slow the tab down.
    const MAX_CHARS = 2e6, KEEP_CHARS = 1.5e6;
    let shown = 0;
    function clear() { pre.textContent = ""; shown = 0; }
    function append(text) {
      if (!text) return;
      // Stay at the bottom only if the reader was there: scrolling up to
      // read something stops the autoscroll.
      const stick = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 24;
      pre.appendChild(document.createTextNode(text));
      shown += text.length;
      if (shown > MAX_CHARS) trim();
      if (stick) pre.scrollTop = pre.scrollHeight;
    }
    function trim() {
      let note = pre.querySelector(".trimmed");
      if (!note) {
        note = document.createElement("span");
        note.className = "trimmed";
        note.textContent = "… earlier output trimmed here: the Raw link has the whole log\n";
        pre.prepend(note);
      }
      while (shown > KEEP_CHARS && note.nextSibling) {
        shown -= note.nextSibling.textContent.length;
        note.nextSibling.remove();
      }
    }

    function logURL(attempt, rank, offset, follow) {
      const u = new URL("/ajax-api/2.0/lode/jobs/logs", location.origin);
      u.searchParams.set("id", id);
      u.searchParams.set("attempt", attempt);
      u.searchParams.set("rank", rank);
      if (offset) u.searchParams.set("offset", offset);
      if (follow) u.searchParams.set("follow", "true");
      return u;
    }

    // follow streams one replica's log into the <pre>: from the start, then,
    // while the replica runs, as it writes (the server holds the answer open
    // and flushes each write). A broken stream resumes at the byte offset it
    // reached. gen tells a superseded loop (another rank or attempt chosen)
    // to stop.
    let gen = 0, ctrl = null;
    async function follow(g) {
      const rank = Number(rankSel.value), want = Number(attemptSel.value);
      let attempt = 0, offset = 0, opened = false;
      while (g === gen) {
        const j = job();
        if (j.attempt === 0 && !j.active) { setStatus("The job never ran."); return; }
        const a = want || j.attempt;
        if (a !== attempt) {
          if (attempt) clear(); // "latest" moved on to a retry
          attempt = a;
          offset = 0;
          opened = false;
          if (a) raw.href = logURL(a, rank, 0, false);
        }
        // Only a replica that has started has a log: asking sooner would
        // be answered 404 or 409.
        if (j.attempt === 0 || (j.active && a === j.attempt && j.state !== "RUNNING" && !opened)) {
          setStatus(j.attempt === 0 ? "Waiting for the job to start…" : "Waiting for the attempt to start…");
          await sleep(300);
          continue;
        }
        // An earlier attempt, or a job that has ended, has written all its
        // log: read it once.
        const ended = !j.active || a < j.attempt;
        ctrl = new AbortController();
        let res;
        try {
          res = await fetch(logURL(a, rank, offset, !ended), { signal: ctrl.signal, cache: "no-store" });
        } catch (e) {
          if (g !== gen) return;
          setStatus("Reconnecting…");
          await sleep(1000);
          continue;
        }
        if (!res.ok) {
          let msg = res.statusText;
          try { msg = (await res.json()).message || msg; } catch (e) { /* not JSON */ }
          if (ended) { setStatus(msg); return; }
          setStatus("Waiting for output…");
          await sleep(1000);
          continue;
        }
        opened = true;
        setStatus(ended ? "" : "Following…");
        const reader = res.body.getReader();
        const dec = new TextDecoder();
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            if (g !== gen) return;
            offset += value.length;
            append(dec.decode(value, { stream: true }));
          }
          append(dec.decode());
        } catch (e) {
          if (g !== gen) return;
          setStatus("Reconnecting…");
          await sleep(500);
          continue;
        }
        if (ended) {
          setStatus(shown ? "End of log" : "The log is empty.");
          return;
        }
        // The replica has ended. Wait for the job to end or move on to
        // another attempt; after a while, follow again all the same (the
        // stream may have ended with a server that went away).
        setStatus("Replica ended");
        for (let i = 0; i < 25 && g === gen; i++) {
          const now = job();
          if (!now.active || now.attempt !== j.attempt) break;
          await sleep(200);
        }
      }
    }
    function restart() {
      gen++;
      if (ctrl) ctrl.abort();
      clear();
      // The status of the log shown before (say "End of log") must not
      // stand for the one being loaded.
      setStatus("Loading…");
      follow(gen);
    }
    rankSel.addEventListener("change", () => { Lode.setQuery({ rank: rankSel.value === "0" ? null : rankSel.value }); restart(); });
    attemptSel.addEventListener("change", () => { Lode.setQuery({ attempt: attemptSel.value === "0" ? null : attemptSel.value }); restart(); });
    restart();
  }

  const page = document.body.dataset.page;
  if (page === "jobs") listPage();
  if (page === "job") jobPage();
})();
