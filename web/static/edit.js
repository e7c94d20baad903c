// The description and tag editors of a run, a registered model and a model
// version (templates/_editors.html): each change is one call of the MLflow
// REST API, as the mlflow client makes it, then the page is read again.
"use strict";
(() => {
  // The calls of each kind: its description, setting a tag, deleting one.
  const calls = {
    run: {
      note: (d, text) => ["POST", "mlflow/runs/set-tag", { run_id: d.runId, key: "mlflow.note.content", value: text }],
      set: (d, key, value) => ["POST", "mlflow/runs/set-tag", { run_id: d.runId, key, value }],
      del: (d, key) => ["POST", "mlflow/runs/delete-tag", { run_id: d.runId, key }],
    },
    model: {
      note: (d, text) => ["PATCH", "mlflow/registered-models/update", { name: d.name, description: text }],
      set: (d, key, value) => ["POST", "mlflow/registered-models/set-tag", { name: d.name, key, value }],
      del: (d, key) => ["DELETE", "mlflow/registered-models/delete-tag", { name: d.name, key }],
    },
    version: {
      note: (d, text) => ["PATCH", "mlflow/model-versions/update", { name: d.name, version: d.version, description: text }],
      set: (d, key, value) => ["POST", "mlflow/model-versions/set-tag", { name: d.name, version: d.version, key, value }],
      del: (d, key) => ["DELETE", "mlflow/model-versions/delete-tag", { name: d.name, version: d.version, key }],
    },
  };
  const call = (el, op, ...args) => {
    const d = el.closest("[data-kind]").dataset;
    const [method, path, body] = calls[d.kind][op](d, ...args);
    return Lode.api(method, path, body);
  };

  document.addEventListener("click", (ev) => {
    const edit = ev.target.closest(".note-editor .edit-note, .note-editor .cancel-note");
    if (edit) {
      const box = edit.closest(".note-editor");
      const editing = edit.classList.contains("edit-note");
      box.querySelector(".note-form").hidden = !editing;
      box.querySelector(".note-text").hidden = editing;
      box.querySelector(".edit-note").hidden = editing;
      if (editing) box.querySelector("textarea").focus();
      return;
    }
    const del = ev.target.closest(".tag-editor .delete-tag");
    if (del) {
      const key = del.closest("tr").dataset.key;
      if (!confirm(`Delete tag “${key}”?`)) return;
      Lode.run(async () => { await call(del, "del", key); location.reload(); });
    }
  });

  document.addEventListener("submit", (ev) => {
    const form = ev.target;
    if (form.matches(".note-form")) {
      ev.preventDefault();
      Lode.run(async () => { await call(form, "note", form.elements.text.value); location.reload(); });
    } else if (form.matches(".tag-form")) {
      ev.preventDefault();
      const key = form.elements.key.value.trim();
      if (!key) return;
      Lode.run(async () => { await call(form, "set", key, form.elements.value.value); location.reload(); });
    }
  });
})();
