"""The seed's serving examples, answered by Lode.

* TF Serving's half_plus_two, queried with the seed's curl command.
* The seed's MLflow lab: a wine-quality regression (ours: synthetic data,
  scikit-learn ElasticNet, logged with mlflow, converted with skl2onnx),
  queried with the seed's /invocations request. The ONNX path and the
  Python-worker path must both match scikit-learn within 1e-5.
"""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pandas as pd
import requests

from conftest import SEED_WINE_REQUEST, lode_serve


def test_half_plus_two_with_the_seeds_curl(workdir, tracking, half_plus_two):
    with lode_serve(workdir, tracking.url, half_plus_two, "--name", "half_plus_two") as srv:
        out = subprocess.run(
            ["curl", "-sS", "-d", '{"instances": [1.0, 2.0, 5.0]}', "-X", "POST",
             f"{srv.url}/v1/models/half_plus_two:predict"],
            check=True, capture_output=True, text=True, timeout=30)
        assert json.loads(out.stdout) == {"predictions": [2.5, 3.0, 4.5]}
        assert "onnxruntime" in srv.log() or "ONNX Runtime" in srv.log()


def _seed_prediction(url: str) -> float:
    r = requests.post(f"{url}/invocations", data=json.dumps(SEED_WINE_REQUEST),
                      headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert len(preds) == 1
    p = preds[0]
    # The ONNX flavor answers a data frame with one column per output, as
    # MLflow's ONNX pyfunc does; scikit-learn answers a list of numbers.
    return float(next(iter(p.values()))) if isinstance(p, dict) else float(p)


def test_wine_seed_request_onnx_and_pyfunc_match_sklearn(workdir, tracking, wine):
    expected = float(wine.sklearn_model.predict(pd.DataFrame(SEED_WINE_REQUEST))[0])
    batch = wine.x.head(50)
    want = wine.sklearn_model.predict(batch)
    records = json.loads(batch.to_json(orient="split"))
    for uri, runtime in [(wine.onnx_uri, "onnxruntime"), (wine.sklearn_uri, "python")]:
        with lode_serve(workdir, tracking.url, uri) as srv:
            got = _seed_prediction(srv.url)
            assert abs(got - expected) <= 1e-5 * max(1.0, abs(expected)), (runtime, got, expected)
            r = requests.post(f"{srv.url}/invocations", timeout=30,
                              json={"dataframe_split": {"columns": records["columns"], "data": records["data"]}})
            assert r.status_code == 200, r.text
            preds = r.json()["predictions"]
            vals = np.array([float(next(iter(p.values()))) if isinstance(p, dict) else float(p) for p in preds])
            np.testing.assert_allclose(vals, want, rtol=1e-5, atol=1e-5)
            meta = requests.get(f"{srv.url}/v2/models/wine{'-onnx' if runtime == 'onnxruntime' else ''}", timeout=10).json()
            assert meta["platform"] == ("onnxruntime_onnx" if runtime == "onnxruntime" else "mlflow_pyfunc"), meta
