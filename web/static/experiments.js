// The experiment list: create, rename, delete and restore through the
// MLflow API, then reload (the list is rendered by the server).
"use strict";
(() => {
  const reload = () => location.reload();
  document.getElementById("new-experiment").addEventListener("click", () => Lode.run(async () => {
    const name = prompt("Name of the new experiment");
    if (!name) return;
    const res = await Lode.api("POST", "mlflow/experiments/create", { name });
    location.href = "/experiments/" + encodeURIComponent(res.experiment_id);
  }));
  const table = document.getElementById("experiments");
  if (!table) return;
  table.addEventListener("click", (ev) => {
    const btn = ev.target.closest("button");
    if (!btn) return;
    const row = btn.closest("tr");
    const id = row.dataset.id;
    Lode.run(async () => {
      if (btn.classList.contains("rename")) {
        const name = prompt("New name", row.dataset.name);
        if (!name || name === row.dataset.name) return;
        await Lode.api("POST", "mlflow/experiments/update", { experiment_id: id, new_name: name });
      } else if (btn.classList.contains("delete")) {
        if (!confirm(`Delete experiment “${row.dataset.name}”? It can be restored from the Deleted view.`)) return;
        await Lode.api("POST", "mlflow/experiments/delete", { experiment_id: id });
      } else if (btn.classList.contains("restore")) {
        await Lode.api("POST", "mlflow/experiments/restore", { experiment_id: id });
      } else {
        return;
      }
      reload();
    });
  });
})();
