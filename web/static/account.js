// The account and admin pages: passwords, tokens, users and their grants,
// each change one call of the REST API (MLflow's basic-auth API and Lode's
// tokens API), then the page is read again.
"use strict";
(() => {
  const reload = () => location.reload();
  const on = (sel, ev, fn) => document.querySelectorAll(sel).forEach((el) => el.addEventListener(ev, fn));

  const pw = document.getElementById("password-form");
  if (pw) pw.addEventListener("submit", (e) => {
    e.preventDefault();
    const f = new FormData(pw);
    Lode.run(async () => {
      await Lode.api("PATCH", "mlflow/users/update-password",
        { username: pw.dataset.user, password: f.get("new"), current_password: f.get("current") });
      pw.reset();
      Lode.toast("Password changed. Other sessions of yours have ended.");
    });
  });

  // when shows a time as the server's pages do (UTC).
  const when = (ms) => new Date(ms).toISOString().slice(0, 19).replace("T", " ");

  // A new token's secret is shown once, above the list, and its row joins
  // the list without a reload (which would lose the secret).
  const tf = document.getElementById("token-form");
  if (tf) tf.addEventListener("submit", (e) => {
    e.preventDefault();
    const f = new FormData(tf);
    Lode.run(async () => {
      const res = await Lode.api("POST", "lode/tokens/create", { name: f.get("name"), expires_in_days: Number(f.get("days")) });
      document.getElementById("new-token-secret").textContent = res.secret;
      document.getElementById("new-token").hidden = false;
      const t = res.token;
      const tr = document.createElement("tr");
      tr.dataset.id = t.id;
      tr.className = "selected";
      for (const v of [t.name, t.kind, when(t.created_ms), t.expires_ms ? when(t.expires_ms) : "never", "—"]) {
        tr.appendChild(document.createElement("td")).textContent = v;
      }
      const btn = tr.appendChild(document.createElement("td")).appendChild(document.createElement("button"));
      btn.className = "revoke danger";
      btn.textContent = "Revoke";
      const table = document.querySelector("table.tokens");
      table.tBodies[0].prepend(tr);
      table.closest(".table-wrap").hidden = false;
      document.querySelector(".no-tokens").hidden = true;
      tf.reset();
    });
  });

  document.addEventListener("click", (e) => {
    const btn = e.target.closest("table.tokens button.revoke");
    if (!btn) return;
    const id = btn.closest("tr").dataset.id;
    if (!confirm("Revoke this token? Whatever uses it stops working.")) return;
    Lode.run(async () => { await Lode.api("POST", "lode/tokens/revoke", { id }); reload(); });
  });

  const uf = document.getElementById("user-form");
  if (uf) uf.addEventListener("submit", (e) => {
    e.preventDefault();
    const f = new FormData(uf);
    Lode.run(async () => {
      await Lode.api("POST", "mlflow/users/create", { username: f.get("username"), password: f.get("password") });
      reload();
    });
  });

  const userOf = (el) => el.closest("tr").dataset.user;
  on("#users .admin-toggle", "change", (e) => {
    Lode.run(async () => {
      await Lode.api("PATCH", "mlflow/users/update-admin", { username: userOf(e.target), is_admin: e.target.checked });
      reload();
    });
  });
  on("#users .delete-user", "click", (e) => {
    const username = userOf(e.target);
    if (!confirm("Delete user " + username + "? Their grants and tokens go with them.")) return;
    Lode.run(async () => { await Lode.api("DELETE", "mlflow/users/delete", { username }); reload(); });
  });
  on("#users .grant-btn", "click", (e) => {
    const tr = e.target.closest("tr");
    const body = {
      username: tr.dataset.user,
      resource_type: tr.querySelector(".g-type").value,
      resource_id: tr.querySelector(".g-id").value.trim(),
      permission: tr.querySelector(".g-perm").value,
    };
    Lode.run(async () => {
      // Experiments are granted by id; a name is looked up (a grant on a
      // name would never match).
      if (body.resource_type === "experiment" && body.resource_id !== "*" && !/^\d+$/.test(body.resource_id)) {
        const res = await Lode.api("GET", "mlflow/experiments/get-by-name", { experiment_name: body.resource_id });
        body.resource_id = res.experiment.experiment_id;
      }
      // A grant on a resource the user has one on already changes its
      // level, in one call: the grant they had stays if the new one fails.
      const had = [...tr.querySelectorAll(".grant")].find((p) => p.dataset.type === body.resource_type && p.dataset.id === body.resource_id);
      if (had) await Lode.api("PATCH", "/ajax-api/3.0/mlflow/roles/permissions/update", { role_permission_id: had.dataset.pid, permission: body.permission });
      else await Lode.api("POST", "/ajax-api/3.0/mlflow/users/permissions/grant", body);
      reload();
    });
  });
  on("#users .ungrant", "click", (e) => {
    const pill = e.target.closest(".grant");
    Lode.run(async () => {
      await Lode.api("POST", "/ajax-api/3.0/mlflow/users/permissions/revoke",
        { username: userOf(e.target), resource_type: pill.dataset.type, resource_id: pill.dataset.id });
      reload();
    });
  });
})();
