"""The three protocols, each driven by a real client.

* MLflow scoring: mlflow's own ScoringServerClient, and every payload
  format compared with what `mlflow models serve` answers for the same
  model.
* TF Serving REST: status, metadata, versions, labels (registry aliases),
  row and columnar predict, classify and regress, error bodies.
* KServe V2: tritonclient[http], with binary and JSON tensors.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import requests
import tritonclient.http as triton
from mlflow import MlflowClient

from conftest import WINE_COLUMNS, free_port, lode_serve, stop


@pytest.fixture(scope="module")
def wine_pyfunc(workdir, tracking, wine):
    with lode_serve(workdir, tracking.url, wine.sklearn_uri, "--name", "wine") as srv:
        yield srv


@pytest.fixture(scope="module")
def wine_onnx(workdir, tracking, wine):
    with lode_serve(workdir, tracking.url, wine.onnx_uri, "--name", "wine") as srv:
        yield srv


@contextlib.contextmanager
def mlflow_models_serve(tracking_url: str, model_uri: str):
    """The reference: `mlflow models serve` on the same model."""
    port = free_port()
    # mlflow execs `uvicorn` by name: the venv's bin must be on PATH.
    env = dict(os.environ, MLFLOW_TRACKING_URI=tracking_url,
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri, "-p", str(port),
                             "--env-manager", "local", "-h", "127.0.0.1"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, "mlflow models serve exited"
            with contextlib.suppress(requests.RequestException):
                if requests.get(url + "/ping", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, "mlflow models serve did not start"
            time.sleep(0.25)
        yield url
    finally:
        stop(proc)


def payloads(wine):
    x = wine.x.head(3)
    split = json.loads(x.to_json(orient="split"))
    records = json.loads(x.to_json(orient="records"))
    return {
        "dataframe_split": ({"dataframe_split": {"columns": split["columns"], "data": split["data"]}}, "application/json"),
        "dataframe_records": ({"dataframe_records": records}, "application/json"),
        "instances": ({"instances": records}, "application/json"),
        "inputs": ({"inputs": {c: x[c].tolist() for c in WINE_COLUMNS}}, "application/json"),
        "csv": (x.to_csv(index=False), "text/csv"),
        "with params": ({"dataframe_records": records, "params": {}}, "application/json"),
    }


def post(url, body, ctype):
    data = body if isinstance(body, str) else json.dumps(body)
    return requests.post(url + "/invocations", data=data, headers={"Content-Type": ctype}, timeout=30)


def test_invocations_match_mlflow_models_serve(tracking, wine, wine_pyfunc):
    with mlflow_models_serve(tracking.url, wine.sklearn_uri) as ref:
        for name, (body, ctype) in payloads(wine).items():
            a, b = post(wine_pyfunc.url, body, ctype), post(ref, body, ctype)
            assert a.status_code == b.status_code == 200, (name, a.text, b.text)
            np.testing.assert_allclose(np.array(a.json()["predictions"], dtype=float),
                                       np.array(b.json()["predictions"], dtype=float), rtol=1e-12, err_msg=name)
        # Errors: same status and error code as MLflow.
        for name, body, ctype in [
            ("not json", "{", "application/json"),
            ("unknown format", {"rows": []}, "application/json"),
            ("wrong content type", "x", "text/plain"),
        ]:
            a, b = post(wine_pyfunc.url, body, ctype), post(ref, body, ctype)
            assert a.status_code == b.status_code, (name, a.status_code, b.status_code, a.text, b.text)
            if b.headers.get("Content-Type", "").startswith("application/json"):
                assert a.json()["error_code"] == b.json()["error_code"], (name, a.text, b.text)


def test_scoring_server_client(wine, wine_pyfunc, wine_onnx):
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    want = wine.sklearn_model.predict(wine.x.head(5))
    for srv in (wine_pyfunc, wine_onnx):
        port = int(srv.url.rsplit(":", 1)[1])
        client = ScoringServerClient("127.0.0.1", port)
        assert client.ping() is None or True
        out = client.invoke(wine.x.head(5)).get_predictions()
        vals = out.to_numpy(dtype=float).reshape(-1) if hasattr(out, "to_numpy") else np.asarray(out, dtype=float)
        np.testing.assert_allclose(vals, want, rtol=1e-5, atol=1e-5)
    assert requests.get(wine_pyfunc.url + "/health", timeout=5).status_code == 200
    assert requests.get(wine_pyfunc.url + "/version", timeout=5).text


def test_signature_errors_name_the_field(wine_pyfunc, wine_onnx):
    bad = {"dataframe_records": [{c: 1.0 for c in WINE_COLUMNS if c != "pH"}]}
    for srv in (wine_pyfunc, wine_onnx):
        r = requests.post(srv.url + "/invocations", json=bad, timeout=10)
        assert r.status_code == 400 and r.json()["error_code"] == "BAD_REQUEST", r.text
        assert "pH" in r.json()["message"]
        typed = {"dataframe_records": [{**{c: 1.0 for c in WINE_COLUMNS}, "alcohol": "strong"}]}
        r = requests.post(srv.url + "/invocations", json=typed, timeout=10)
        assert r.status_code == 400 and "alcohol" in r.json()["message"], r.text


def test_tf_serving_rest(tracking, wine, wine_onnx):
    u = wine_onnx.url + "/v1/models/wine"
    status = requests.get(u, timeout=10).json()
    assert status == {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    meta = requests.get(u + "/metadata", timeout=10).json()
    assert meta["model_spec"]["name"] == "wine" and meta["model_spec"]["version"] == "1"
    assert "signature_def" in meta["metadata"]
    x = wine.x.head(4)
    want = wine.sklearn_model.predict(x)
    rows = json.loads(x.to_json(orient="records"))
    r = requests.post(u + ":predict", json={"instances": rows}, timeout=10)
    assert r.status_code == 200, r.text
    got = [float(next(iter(p.values()))) if isinstance(p, dict) else float(np.ravel(p)[0]) for p in r.json()["predictions"]]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # Columnar: one list per input, answered under "outputs".
    r = requests.post(u + ":predict", json={"inputs": {c: x[c].tolist() for c in WINE_COLUMNS}}, timeout=10)
    assert r.status_code == 200 and "outputs" in r.json(), r.text
    # regress: one value per example.
    r = requests.post(u + ":regress", json={"examples": rows}, timeout=10)
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(np.array(r.json()["results"], dtype=float).reshape(-1), want, rtol=1e-5, atol=1e-5)
    # Versions and labels: version 1 is served; the alias "prod" names it.
    MlflowClient().set_registered_model_alias("wine-onnx", "prod", "1")
    assert requests.get(u + "/versions/1", timeout=10).status_code == 200
    r = requests.post(u + "/versions/1:predict", json={"instances": rows[:1]}, timeout=10)
    assert r.status_code == 200, r.text
    r = requests.post(u + "/versions/7:predict", json={"instances": rows[:1]}, timeout=10)
    assert r.status_code == 404 and "error" in r.json(), r.text
    # Errors in TF Serving's shape.
    r = requests.post(u + ":predict", data="{", headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 400 and set(r.json()) == {"error"}, r.text
    r = requests.post(wine_onnx.url + "/v1/models/nope:predict", json={"instances": [1]}, timeout=10)
    assert r.status_code == 404 and set(r.json()) == {"error"}, r.text


def test_tf_serving_labels_are_aliases(workdir, tracking, wine):
    c = MlflowClient()
    c.set_registered_model_alias("wine-onnx", "stable", "1")
    with lode_serve(workdir, tracking.url, "models:/wine-onnx@stable", "--name", "wine") as srv:
        rows = json.loads(wine.x.head(1).to_json(orient="records"))
        r = requests.post(srv.url + "/v1/models/wine/labels/stable:predict", json={"instances": rows}, timeout=10)
        assert r.status_code == 200, r.text
        r = requests.get(srv.url + "/v1/models/wine/labels/missing", timeout=10)
        assert r.status_code == 404, r.text


def test_kserve_v2_with_tritonclient(half_plus_two, workdir, tracking, wine, wine_onnx):
    client = triton.InferenceServerClient(url=wine_onnx.url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("wine")
    meta = client.get_model_metadata("wine")
    assert meta["name"] == "wine" and meta["platform"] == "onnxruntime_onnx"
    inp = meta["inputs"][0]
    assert inp["datatype"] == "FP32" and inp["shape"][-1] == 11
    x = wine.x.head(6).to_numpy(dtype=np.float32)
    want = wine.sklearn_model.predict(wine.x.head(6))
    for binary in (True, False):
        t = triton.InferInput(inp["name"], list(x.shape), "FP32")
        t.set_data_from_numpy(x, binary_data=binary)
        out_name = meta["outputs"][0]["name"]
        res = client.infer("wine", [t], outputs=[triton.InferRequestedOutput(out_name, binary_data=binary)])
        np.testing.assert_allclose(res.as_numpy(out_name).reshape(-1), want, rtol=1e-5, atol=1e-5)
        assert res.get_response()["model_name"] == "wine"
    with pytest.raises(triton.InferenceServerException):
        client.get_model_metadata("nope")
    with lode_serve(workdir, tracking.url, half_plus_two, "--name", "half_plus_two") as srv:
        c = triton.InferenceServerClient(url=srv.url.removeprefix("http://"))
        t = triton.InferInput("x", [3], "FP32")
        t.set_data_from_numpy(np.array([1.0, 2.0, 5.0], dtype=np.float32))
        res = c.infer("half_plus_two", [t])
        np.testing.assert_allclose(res.as_numpy("y"), [2.5, 3.0, 4.5])
        with pytest.raises(triton.InferenceServerException, match="shape|x"):
            bad = triton.InferInput("x", [1, 3], "FP32")
            bad.set_data_from_numpy(np.ones((1, 3), dtype=np.float32))
            c.infer("half_plus_two", [bad])


def test_kserve_v2_with_a_python_model(wine, wine_pyfunc):
    client = triton.InferenceServerClient(url=wine_pyfunc.url.removeprefix("http://"))
    assert client.is_model_ready("wine")
    meta = client.get_model_metadata("wine")
    assert meta["platform"] == "mlflow_pyfunc"
    assert [i["name"] for i in meta["inputs"]] == WINE_COLUMNS
    x = wine.x.head(3)
    inputs = []
    for c in WINE_COLUMNS:
        t = triton.InferInput(c, [3], "FP64")
        t.set_data_from_numpy(x[c].to_numpy(dtype=np.float64), binary_data=False)
        inputs.append(t)
    res = client.infer("wine", inputs)
    out = res.get_response()["outputs"][0]
    np.testing.assert_allclose(res.as_numpy(out["name"]).reshape(-1), wine.sklearn_model.predict(x), rtol=1e-9)
