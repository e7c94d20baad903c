"""The seed's lab (examples/tune-logreg), run as its README tells a user:
`lode tune grid.yaml --wait` runs the seed's 16-combination grid of
LogisticRegression(C, fit_intercept, penalty) as trials, child runs of the
study's run, and `python register_best.py` registers the best trial's model;
then the same space with TPE and ASHA on the epoch-wise SGD variant, where
ASHA prunes the trials that fall behind at a rung.

The trials run `python train.py`, the first python on the server's PATH:
the server here is started with this interpreter's folder first on it, as a
user starts theirs with the environment of requirements.txt active.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from conftest import LODE_BIN, REPO_ROOT, start_server, stop_process

LAB = REPO_ROOT / "examples" / "tune-logreg"
GRID = {(C, fi, p) for C in ("1e-05", "0.001", "0.1", "1") for fi in ("true", "false") for p in ("l1", "l2")}
# Each study is a few dozen short python processes; a loaded two-core
# machine needs a while for them.
STUDY_S = 240


@pytest.fixture(scope="module")
def lab_server(tmp_root):
    """A server whose jobs find this interpreter as `python`."""
    saved = os.environ["PATH"]
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + saved
    try:
        s = start_server(tmp_root / "lab-server")
    finally:
        os.environ["PATH"] = saved
    yield s
    stop_process(s.proc)


def env_for(server) -> dict:
    env = dict(os.environ)
    env["MLFLOW_TRACKING_URI"] = server.url
    return env


def tune(server, *args: str, timeout: float = STUDY_S) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([str(LODE_BIN), "tune", *args], capture_output=True, text=True, timeout=timeout,
                              env=env_for(server), stdin=subprocess.DEVNULL, cwd=REPO_ROOT)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"lode tune {' '.join(args)} did not end in {timeout} s:\n{e.stdout}\n{e.stderr}\n"
                    f"--- server log (tail)\n{server.log()[-4000:]}")


def register_best(server, study: str, model: str) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, str(LAB / "register_best.py"), study, "--model-name", model],
                         capture_output=True, text=True, timeout=120, env=env_for(server),
                         stdin=subprocess.DEVNULL, cwd=REPO_ROOT)
    assert res.returncode == 0, f"{res.stdout}\n{res.stderr}"
    return res


def failures(server, study: dict) -> str:
    """What went wrong with a study's failed trials: reasons and the first one's log."""
    failed = [t for t in study["trials"] if t["state"] == "FAIL"]
    text = f"{study['trial_counts']}: " + "; ".join(f"trial {t['number']}: {t.get('reason')}" for t in failed[:3])
    if failed:
        r = subprocess.run([str(LODE_BIN), "job", "logs", failed[0]["job_id"]], capture_output=True, text=True,
                           timeout=30, env=env_for(server), stdin=subprocess.DEVNULL)
        text += "\n--- first failed trial's log\n" + r.stdout[-3000:] + r.stderr[-1000:]
    return text


def study_trials(client: MlflowClient, study: dict) -> list:
    return client.search_runs([study["experiment_id"]], filter_string=f"tags.mlflow.parentRunId = '{study['run_id']}'",
                              max_results=1000)


def check_registered(client: MlflowClient, model: str, run_id: str, value: float):
    versions = client.search_model_versions(f"name='{model}'")
    assert [(v.version, v.run_id) for v in versions] == [("1", run_id)], versions
    loaded = mlflow.pyfunc.load_model(f"models:/{model}/1")
    from sklearn.datasets import load_breast_cancer

    x, _ = load_breast_cancer(return_X_y=True)
    assert set(loaded.predict(x[:5]).tolist()) <= {0, 1}
    assert float(versions[0].tags["val_accuracy"]) == value


def test_grid_study_registers_the_best_of_sixteen(lab_server, record_property):
    signal.alarm(STUDY_S + 120)  # longer than the suite's backstop
    started = time.monotonic()
    res = tune(lab_server, str(LAB / "grid.yaml"), "--wait", "--json")
    wall = time.monotonic() - started
    assert res.returncode == 0, f"{res.stdout}\n{res.stderr}\n{lab_server.log()[-4000:]}"
    study = json.loads(res.stdout)["study"]
    print(f"grid study: {wall:.1f} s wall")
    record_property("grid_wall_s", round(wall, 1))
    assert study["status"] == "FINISHED"
    assert study["trial_counts"] == {"COMPLETE": 16}, failures(lab_server, study)

    mlflow.set_tracking_uri(lab_server.url)
    client = MlflowClient()
    runs = study_trials(client, study)
    assert len(runs) == 16
    assert all(r.info.status == "FINISHED" and r.data.tags["lode.trial.state"] == "COMPLETE" for r in runs)
    combos = {(r.data.params["C"], r.data.params["fit_intercept"], r.data.params["penalty"]) for r in runs}
    assert combos == GRID
    scores = {r.info.run_id: r.data.metrics["val_accuracy"] for r in runs}
    best = max(scores.values())
    print(f"grid best val_accuracy: {best}")
    record_property("grid_best", best)
    assert study["best_trial"]["value"] == best
    assert scores[study["best_trial"]["run_id"]] == best
    assert best > 0.95  # the data set is easy; C near 1 does well
    study_run = client.get_run(study["run_id"])
    assert study_run.data.tags["lode.study.best_run_id"] == study["best_trial"]["run_id"]

    res = register_best(lab_server, "logreg-grid", "logreg")
    best_runs = sorted((r for r in runs if scores[r.info.run_id] == best),
                       key=lambda r: int(r.data.tags["lode.trial.number"]))
    assert f"registered logreg version 1 from run {best_runs[0].info.run_id}" in res.stdout, res.stdout
    check_registered(client, "logreg", best_runs[0].info.run_id, best)


def test_tpe_asha_study_prunes_and_registers_the_best(lab_server, record_property):
    signal.alarm(STUDY_S + 120)
    # One trial at a time, so that which trial reaches a rung first, and so
    # which ones ASHA prunes, is the same on every run.
    started = time.monotonic()
    res = tune(lab_server, str(LAB / "tpe-asha.yaml"), "--wait", "--json", "--max-trials", "8", "--max-parallel", "1")
    wall = time.monotonic() - started
    assert res.returncode == 0, f"{res.stdout}\n{res.stderr}\n{lab_server.log()[-4000:]}"
    study = json.loads(res.stdout)["study"]
    print(f"tpe+asha study: {wall:.1f} s wall, {study['trial_counts']}")
    record_property("tpe_asha_wall_s", round(wall, 1))
    assert study["status"] == "FINISHED"
    counts = study["trial_counts"]
    assert counts.get("PRUNED", 0) >= 1 and counts.get("COMPLETE", 0) >= 1, failures(lab_server, study)
    assert sum(counts.values()) == 8, counts
    pruned = [t for t in study["trials"] if t["state"] == "PRUNED"]
    assert all(t["reason"].startswith("pruned at rung") for t in pruned), pruned

    mlflow.set_tracking_uri(lab_server.url)
    client = MlflowClient()
    runs = study_trials(client, study)
    assert len(runs) == 8
    for r in runs:
        assert r.data.params["penalty"] in ("l1", "l2") and r.data.params["fit_intercept"] in ("true", "false")
        assert 1e-5 <= float(r.data.params["C"]) <= 1
    complete = [r for r in runs if r.data.tags["lode.trial.state"] == "COMPLETE"]
    # A complete trial ran its 9 epochs: its learning curve is in its history.
    for r in complete:
        hist = client.get_metric_history(r.info.run_id, "val_accuracy")
        assert sorted(m.step for m in hist) == list(range(1, 10))
    best = max(r.data.metrics["val_accuracy"] for r in complete)
    assert study["best_trial"]["value"] == best
    assert not any(math.isnan(r.data.metrics.get("val_accuracy", 0)) for r in runs)

    res = register_best(lab_server, "logreg-tpe-asha", "logreg-sgd")
    first_best = min((r for r in complete if r.data.metrics["val_accuracy"] == best),
                     key=lambda r: int(r.data.tags["lode.trial.number"]))
    assert f"registered logreg-sgd version 1 from run {first_best.info.run_id}" in res.stdout, res.stdout
    check_registered(client, "logreg-sgd", first_best.info.run_id, best)
