"""Fixtures for the model-serving suite.

Models are built here with the real libraries (scikit-learn, skl2onnx,
onnx), logged and registered with the real mlflow client into a Lode
tracking server, and served by ``lode serve`` or by that server's
deployments. Requests go through real clients: mlflow's scoring-server
client, tritonclient[http], requests and curl.

``LODE_BIN`` names the binary (default bin/lode). Python models run with
``--env-manager local`` on this interpreter, except in the test of the
virtualenv manager, whose environments are cached under .venv/lode-envs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
for _var in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID"):
    os.environ.pop(_var, None)

import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
LODE_BIN = Path(os.environ.get("LODE_BIN", "bin/lode"))
if not LODE_BIN.is_absolute():
    LODE_BIN = REPO_ROOT / LODE_BIN

WINE_COLUMNS = [
    "fixed acidity", "volatile acidity", "citric acid", "residual sugar", "chlorides",
    "free sulfur dioxide", "total sulfur dioxide", "density", "pH", "sulphates", "alcohol",
]

# The request of the seed's MLflow lab: a bare list of records, as MLflow 1.x
# scoring servers took it.
SEED_WINE_REQUEST = [{
    "fixed acidity": 6.2, "volatile acidity": 0.66, "citric acid": 0.48, "residual sugar": 1.2,
    "chlorides": 0.029, "free sulfur dioxide": 29, "total sulfur dioxide": 75, "density": 0.98,
    "pH": 3.33, "sulphates": 0.39, "alcohol": 12.8,
}]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen, sig=signal.SIGTERM, timeout: float = 20) -> int:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)
    return proc.returncode


@dataclass
class Proc:
    url: str
    proc: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig=signal.SIGTERM) -> int:
        return stop(self.proc, sig)


def start(args: list[str], ready_path: str, workdir: Path, env: dict | None = None,
          timeout: float = 240) -> Proc:
    """Starts LODE_BIN with args (which must include the port) and waits
    until GET ready_path answers 200."""
    port = args[args.index("-p") + 1] if "-p" in args else args[args.index("--port") + 1]
    url = f"http://127.0.0.1:{port}"
    log_path = workdir / f"lode-{port}.log"
    logf = open(log_path, "wb")
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.Popen([str(LODE_BIN), *args], cwd=workdir, stdout=logf, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=full_env, start_new_session=True)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"lode {' '.join(args)} exited with {proc.returncode}:\n{log_path.read_text()}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url + ready_path, timeout=2).status_code == 200:
                return Proc(url, proc, log_path)
        if time.monotonic() > deadline:
            stop(proc)
            raise RuntimeError(f"lode {' '.join(args)} not ready in time:\n{log_path.read_text()}")
        time.sleep(0.1)


@pytest.fixture(scope="session")
def workdir():
    with tempfile.TemporaryDirectory(prefix="lode-serving-") as d:
        yield Path(d)


@pytest.fixture(scope="session")
def tracking(workdir):
    """A Lode server holding the suite's models; deployments poll aliases
    every 100 ms."""
    port = free_port()
    p = start(["server", "-p", str(port), "--backend-store-uri", f"sqlite:///{workdir / 'lode.db'}",
               "--artifacts-destination", str(workdir / "artifacts"),
               "--model-cache", str(workdir / "model-cache"), "--deployment-poll", "100ms",
               "--env-manager", "local", "--python", sys.executable],
              "/health", workdir)
    mlflow.set_tracking_uri(p.url)
    yield p
    p.stop()


@contextlib.contextmanager
def lode_serve(workdir: Path, tracking_url: str, model_uri: str, *extra: str, env_manager: str = "local"):
    """Runs `lode serve -m model_uri` until the block ends."""
    port = free_port()
    args = ["serve", "-m", model_uri, "-p", str(port), "--tracking-uri", tracking_url,
            "--env-manager", env_manager, "--python", sys.executable, *extra]
    p = start(args, "/ping", workdir)
    try:
        yield p
    finally:
        p.stop()


def wine_data(n: int = 600, seed: int = 7) -> tuple[pd.DataFrame, np.ndarray]:
    """Synthetic wine-quality data: the eleven physico-chemical columns of
    the UCI white-wine set with plausible ranges, and a quality score that
    depends on them linearly plus noise. Generated, not downloaded."""
    rng = np.random.default_rng(seed)
    lo = np.array([4.0, 0.1, 0.0, 0.6, 0.01, 2.0, 9.0, 0.987, 2.7, 0.2, 8.0])
    hi = np.array([10.0, 1.1, 1.0, 20.0, 0.3, 100.0, 300.0, 1.004, 3.8, 1.1, 14.5])
    x = lo + rng.random((n, len(lo))) * (hi - lo)
    w = np.array([0.05, -1.9, 0.2, 0.03, -2.0, 0.004, -0.001, -50.0, 0.4, 0.8, 0.35])
    y = 50.0 + x @ w + rng.normal(0, 0.3, n)
    return pd.DataFrame(x, columns=WINE_COLUMNS), y


@dataclass
class WineModels:
    sklearn_model: object
    x: pd.DataFrame
    sklearn_uri: str  # models:/wine/1 (sklearn + python_function)
    onnx_uri: str  # models:/wine-onnx/1 (onnx + python_function)


@pytest.fixture(scope="session")
def wine(tracking) -> WineModels:
    """An ElasticNet trained on the synthetic wine data, logged twice: as a
    scikit-learn model and converted to ONNX with skl2onnx."""
    from mlflow.models import infer_signature
    from skl2onnx import to_onnx
    from sklearn.linear_model import ElasticNet

    x, y = wine_data()
    model = ElasticNet(alpha=0.42, l1_ratio=0.5, random_state=42).fit(x, y)
    signature = infer_signature(x, model.predict(x))
    mlflow.set_experiment("serving-wine")
    with mlflow.start_run():
        mlflow.log_params({"alpha": 0.42, "l1_ratio": 0.5})
        mlflow.sklearn.log_model(model, name="model", signature=signature, input_example=x.head(2),
                                 registered_model_name="wine")
        onx = to_onnx(model, x.to_numpy(dtype=np.float32)[:1], target_opset=17)
        mlflow.onnx.log_model(onx, name="onnx-model", signature=signature, registered_model_name="wine-onnx")
    return WineModels(model, x, "models:/wine/1", "models:/wine-onnx/1")


def half_plus_two_onnx():
    """TF Serving's half_plus_two as an ONNX graph: y = 0.5 x + 2."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch"])
    half = helper.make_tensor("half", TensorProto.FLOAT, [], [0.5])
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "half"], ["t"]), helper.make_node("Add", ["t", "two"], ["y"])],
        "half_plus_two", [x], [y], initializer=[half, two])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


@pytest.fixture(scope="session")
def half_plus_two(tracking) -> str:
    mlflow.set_experiment("serving-half-plus-two")
    with mlflow.start_run():
        mlflow.onnx.log_model(half_plus_two_onnx(), name="model", registered_model_name="half_plus_two")
    return "models:/half_plus_two/1"
