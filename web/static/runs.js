// The run table of an experiment. The server renders the rows; this script
// keeps the selection (sel= in the URL, across pages) in step with the
// checkboxes and with every link that keeps the view, applies the column
// picker, and deletes or restores the selected runs through the MLflow API.
"use strict";
(() => {
  const page = document.getElementById("runs-page");
  if (!page) return;
  const table = document.getElementById("runs");
  const selected = new Set((Lode.query().get("sel") || "").split(",").filter(Boolean));
  const $ = (id) => document.getElementById(id);

  // The parent runs whose child runs are shown (expand= in the URL).
  const expanded = new Set((Lode.query().get("expand") || "").split(",").filter(Boolean));

  // withSel is href with sel= set to the selection and expand= to the
  // expanded parents (each removed when empty).
  function withSel(href, ids) {
    const u = new URL(href, location.href);
    for (const [k, v] of [["sel", ids], ["expand", [...expanded]]]) {
      if (v.length) u.searchParams.set(k, v.join(","));
      else u.searchParams.delete(k);
    }
    return u.pathname + u.search;
  }

  // sync shows the selection everywhere: the URL, the links that keep the
  // view (sorting, paging), the filter form, the rows and the toolbar.
  function sync() {
    const ids = [...selected];
    Lode.setQuery({ sel: ids, expand: [...expanded] });
    const expandInput = $("expand-input");
    expandInput.value = [...expanded].join(",");
    expandInput.disabled = expanded.size === 0;
    document.querySelectorAll("a[data-keep]").forEach((a) => { a.href = withSel(a.getAttribute("href"), ids); });
    const input = $("sel-input");
    input.value = ids.join(",");
    input.disabled = ids.length === 0;
    if ($("sel-count")) $("sel-count").textContent = `${ids.length} selected`;
    for (const id of ["sel-clear", "delete-selected", "restore-selected"]) {
      if ($(id)) $(id).disabled = ids.length === 0;
    }
    const compare = $("compare");
    if (compare) {
      compare.href = "/compare?runs=" + ids.map(encodeURIComponent).join(",");
      // Comparing needs two runs at least, as in MLflow.
      compare.classList.toggle("disabled", ids.length < 2);
      compare.setAttribute("aria-disabled", String(ids.length < 2));
    }
    if (!table) return;
    const boxes = [...table.querySelectorAll("tbody input[type=checkbox]")];
    for (const box of boxes) {
      box.checked = selected.has(box.value);
      box.closest("tr").classList.toggle("selected", box.checked);
    }
    const all = $("sel-page");
    const n = boxes.filter((b) => b.checked).length;
    all.checked = n > 0 && n === boxes.length;
    all.indeterminate = n > 0 && n < boxes.length;
  }

  // nest shows a child run when every run above it is expanded (the rows
  // come parent first).
  function nest() {
    const hidden = new Map();
    for (const tr of table.querySelectorAll("tbody tr")) {
      const parent = tr.dataset.parent;
      const hide = !!parent && (hidden.get(parent) || !expanded.has(parent));
      hidden.set(tr.dataset.id, hide);
      tr.hidden = hide;
      const toggle = tr.querySelector(".nest-toggle");
      if (toggle) {
        const open = expanded.has(tr.dataset.id);
        toggle.setAttribute("aria-expanded", String(open));
        toggle.textContent = open ? "▾" : "▸";
        toggle.title = toggle.title.replace(/^(Show|Hide)/, open ? "Hide" : "Show");
      }
    }
  }

  if (table) {
    let last = null; // the last box clicked, for shift-click ranges
    table.addEventListener("click", (ev) => {
      const toggle = ev.target.closest(".nest-toggle");
      if (toggle) {
        const id = toggle.closest("tr").dataset.id;
        if (expanded.has(id)) expanded.delete(id);
        else expanded.add(id);
        nest();
        sync();
        return;
      }
      const box = ev.target.closest("tbody input[type=checkbox]");
      if (!box) return;
      const boxes = [...table.querySelectorAll("tbody input[type=checkbox]")];
      let range = [box];
      if (ev.shiftKey && last && boxes.includes(last)) {
        const [a, b] = [boxes.indexOf(last), boxes.indexOf(box)].sort((x, y) => x - y);
        range = boxes.slice(a, b + 1);
      }
      for (const b of range) {
        if (box.checked) selected.add(b.value);
        else selected.delete(b.value);
      }
      last = box;
      sync();
    });
    $("sel-page").addEventListener("change", (ev) => {
      for (const box of table.querySelectorAll("tbody input[type=checkbox]")) {
        if (ev.target.checked) selected.add(box.value);
        else selected.delete(box.value);
      }
      sync();
    });
  }
  if ($("sel-clear")) {
    $("sel-clear").addEventListener("click", () => { selected.clear(); sync(); });
  }
  if ($("compare")) {
    $("compare").addEventListener("click", (ev) => {
      if (selected.size < 2) {
        ev.preventDefault();
        Lode.toast("Select two runs or more to compare them.");
      }
    });
  }

  // Delete or restore every selected run (those on other pages too), a
  // few requests at a time, then show the view afresh without a selection.
  async function lifecycle(op, verb) {
    const ids = [...selected];
    if (!ids.length) return;
    if (op === "delete" && !confirm(`Delete ${ids.length} run(s)? They can be restored from the Deleted view.`)) return;
    const failed = [];
    for (let i = 0; i < ids.length; i += 8) {
      const batch = ids.slice(i, i + 8);
      const results = await Promise.allSettled(batch.map((id) => Lode.api("POST", "mlflow/runs/" + op, { run_id: id })));
      results.forEach((r, j) => { if (r.status === "rejected") failed.push(`${batch[j]}: ${r.reason.message}`); });
    }
    if (failed.length) {
      Lode.toast(`${failed.length} run(s) not ${verb}: ${failed[0]}`, true);
      return;
    }
    selected.clear();
    sync();
    location.reload();
  }
  if ($("delete-selected")) $("delete-selected").addEventListener("click", () => Lode.run(() => lifecycle("delete", "deleted")));
  if ($("restore-selected")) $("restore-selected").addEventListener("click", () => Lode.run(() => lifecycle("restore", "restored")));

  // The column picker: the checked keys become cols= (an empty cols= shows
  // no param, metric or tag columns; Default removes it).
  const picker = $("col-picker");
  if (picker) {
    const boxes = () => [...picker.querySelectorAll("fieldset input[type=checkbox]")];
    $("col-search").addEventListener("input", (ev) => {
      const q = ev.target.value.toLowerCase();
      for (const label of picker.querySelectorAll("fieldset label")) {
        label.hidden = q !== "" && !label.title.toLowerCase().includes(q);
      }
    });
    $("col-none").addEventListener("click", () => boxes().forEach((b) => { b.checked = false; }));
    $("col-apply").addEventListener("click", () => {
      const q = Lode.query();
      q.set("cols", boxes().filter((b) => b.checked).map((b) => b.value).join(","));
      location.href = location.pathname + "?" + q.toString();
    });
  }

  sync();
})();
