"""`lode run` on the shipped example project, as the README tells a user to
run it: `lode run examples/wine -P alpha=0.42` builds the project's virtual
environment with pip (from PyPI, or pip's cache), trains, logs and
registers the model; the second run finds the environment cached."""

from __future__ import annotations

import signal
import subprocess
import time

import mlflow
from mlflow import MlflowClient

from conftest import LODE_BIN, REPO_ROOT

# The first run builds an environment with mlflow-skinny, scikit-learn and
# pandas: a minute from pip's cache, more from PyPI.
ENV_BUILD_S = 480


def lode_run(server, *args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([str(LODE_BIN), "run", *args], capture_output=True, text=True, timeout=timeout,
                          env=server.cli_env(), stdin=subprocess.DEVNULL, cwd=REPO_ROOT)


def submitted_run(stderr: str) -> str:
    for line in stderr.splitlines():
        if line.startswith("lode: submitted job") and ", run " in line:
            return line.rsplit(", run ", 1)[1].strip()
    raise AssertionError(f"no run id in:\n{stderr}")


def test_wine_example_trains_logs_and_registers(lode_server):
    signal.alarm(ENV_BUILD_S + 120)  # this test may outlast the suite's backstop
    res = lode_run(lode_server, "examples/wine", "-P", "alpha=0.42", "--experiment-name", "wine-example",
                   timeout=ENV_BUILD_S)
    assert res.returncode == 0, f"{res.stdout}\n{res.stderr}\n{lode_server.log()[-3000:]}"
    assert "building Python environment" in res.stdout  # the job's log shows pip at work
    assert "ElasticNet(alpha=0.42, l1_ratio=0.1)" in res.stdout
    run_id = submitted_run(res.stderr)

    mlflow.set_tracking_uri(lode_server.url)
    client = MlflowClient()
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "wine-example"
    assert run.data.params == {"alpha": "0.42", "l1_ratio": "0.1", "model_name": "wine", "rows": "2000"}
    assert {"rmse", "mae", "r2"} <= set(run.data.metrics)
    assert 0 < run.data.metrics["rmse"] < 2 and run.data.metrics["r2"] > 0.3
    tags = run.data.tags
    assert tags["mlflow.source.type"] == "PROJECT"
    assert tags["mlflow.project.entryPoint"] == "main"
    assert tags["mlflow.project.env"] == "virtualenv"
    assert tags["mlflow.source.name"].endswith("examples/wine")
    assert len(tags.get("mlflow.source.git.commit", "")) == 40  # the repository's HEAD
    versions = client.search_model_versions("name='wine'")
    assert run_id in {v.run_id for v in versions}, versions
    model = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    assert len(model.predict(model.input_example)) == 3

    # Again, with other parameters: the environment comes from the cache.
    started = time.monotonic()
    res = lode_run(lode_server, "examples/wine", "-P", "alpha=0.1", "-P", "l1_ratio=0.9", "-P", "model_name=",
                   "--experiment-name", "wine-example", timeout=120)
    assert res.returncode == 0, f"{res.stdout}\n{res.stderr}"
    assert "building Python environment" not in res.stdout
    assert "ElasticNet(alpha=0.1, l1_ratio=0.9)" in res.stdout
    assert time.monotonic() - started < 60
    assert client.get_run(submitted_run(res.stderr)).data.params["l1_ratio"] == "0.9"
