"""Deployments managed by `lode server`: the CLI and REST API, and zero
downtime while a deployment follows an alias through 20 swaps under
continuous load."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections import Counter

import mlflow
import pytest
import requests
from mlflow import MlflowClient
from onnx import TensorProto, helper

from conftest import LODE_BIN


def linear_onnx(a: float, b: float):
    """y = a x + b over a 1-D float batch."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch"])
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "a"], ["t"]), helper.make_node("Add", ["t", "b"], ["y"])],
        "linear", [x], [y],
        initializer=[helper.make_tensor("a", TensorProto.FLOAT, [], [a]),
                     helper.make_tensor("b", TensorProto.FLOAT, [], [b])])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def lode(tracking, *args: str) -> str:
    out = subprocess.run([str(LODE_BIN), *args, "--tracking-uri", tracking.url], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture(scope="module")
def swap_model(tracking):
    """Registered model "swap" with three versions: y = v·x + v."""
    mlflow.set_experiment("serving-swap")
    for v in (1, 2, 3):
        with mlflow.start_run():
            mlflow.onnx.log_model(linear_onnx(float(v), float(v)), name="model", registered_model_name="swap")
    MlflowClient().set_registered_model_alias("swap", "champion", "1")
    return "swap"


def wait_version(tracking, name: str, version: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = json.loads(lode(tracking, "deploy", "get", name, "--json"))
        if st["state"] == "AVAILABLE" and st["version"] == version:
            return
        time.sleep(0.05)
    raise AssertionError(f"deployment {name} did not reach version {version}: {st}")


def test_deploy_cli_and_api(tracking, swap_model):
    out = lode(tracking, "deploy", "create", "swap-fixed", "-m", "models:/swap/2", "--wait")
    assert "swap-fixed" in out and "AVAILABLE" in out
    listed = json.loads(lode(tracking, "deploy", "list", "--json"))
    assert any(d["name"] == "swap-fixed" and d["version"] == "2" and d["runtime_name"] == "onnxruntime" for d in listed)
    r = requests.post(f"{tracking.url}/v1/models/swap-fixed:predict", json={"instances": [1.0, 2.0]}, timeout=10)
    assert r.json() == {"predictions": [4.0, 6.0]}, r.text
    r = requests.post(f"{tracking.url}/endpoints/swap-fixed/invocations", json={"inputs": [1.0]}, timeout=10)
    assert r.status_code == 200 and r.json()["predictions"] in ([4.0], {"y": [4.0]}), r.text
    # REST errors in MLflow's format.
    r = requests.post(f"{tracking.url}/api/2.0/lode/deployments/create", json={"name": "x", "model_uri": "models:/nope/1"},
                      timeout=10)
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST", r.text
    r = requests.post(f"{tracking.url}/api/2.0/lode/deployments/create", json={"name": "../x", "model_uri": "models:/swap/1"},
                      timeout=10)
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE", r.text
    r = requests.post(f"{tracking.url}/api/2.0/lode/deployments/create", json={"name": "y", "model_uri": "/etc"},
                      timeout=10)
    assert r.status_code == 400, r.text
    lode(tracking, "deploy", "delete", "swap-fixed")
    r = requests.post(f"{tracking.url}/v1/models/swap-fixed:predict", json={"instances": [1.0]}, timeout=10)
    assert r.status_code == 404, r.text


def test_twenty_swaps_under_load_lose_nothing(tracking, swap_model):
    lode(tracking, "deploy", "create", "swap", "-m", "models:/swap@champion", "--wait")
    url = f"{tracking.url}/v1/models/swap:predict"
    stop = threading.Event()
    statuses: Counter = Counter()
    answers: Counter = Counter()
    bad: list = []
    lock = threading.Lock()

    def load():
        s = requests.Session()
        while not stop.is_set():
            try:
                r = s.post(url, json={"instances": [1.0]}, timeout=10)
                code, body = r.status_code, r.json()
            except Exception as e:  # a dropped connection is a failure too
                code, body = repr(e), None
            with lock:
                statuses[code] += 1
                if code == 200:
                    y = body["predictions"][0]
                    answers[y] += 1
                    if y not in (2.0, 4.0, 6.0):
                        bad.append(body)
                elif len(bad) < 5:
                    bad.append((code, body))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        client = MlflowClient()
        for i in range(20):
            version = ["2", "3", "1"][i % 3]
            client.set_registered_model_alias("swap", "champion", version)
            wait_version(tracking, "swap", version)
        time.sleep(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join()
    total = sum(statuses.values())
    print(f"\n{total} requests across 20 swaps: {dict(statuses)}; answers {dict(answers)}")
    assert statuses[200] == total, (dict(statuses), bad[:5])
    assert not bad
    assert len(answers) == 3  # every version answered
    lode(tracking, "deploy", "delete", "swap")
