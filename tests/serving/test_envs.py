"""The virtualenv environment manager: a Python model runs in an
environment built from its own requirements with pip, cached by their
hash, so a second server starts without building it again."""

from __future__ import annotations

import sys
import time
from importlib.metadata import version

import cloudpickle
import mlflow
import requests

from conftest import REPO_ROOT, free_port, start


class AddOne(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        import sys

        return [float(v) + 1 for v in model_input["x"]] + [sys.prefix]


cloudpickle.register_pickle_by_value(sys.modules[__name__])


def test_model_runs_in_its_own_cached_virtualenv(workdir, tracking):
    # A small environment (pip's cache makes the build quick): the worker
    # needs mlflow's pyfunc, pandas and numpy, nothing else.
    reqs = [f"mlflow-skinny=={version('mlflow-skinny')}", f"pandas=={version('pandas')}",
            f"numpy=={version('numpy')}", f"cloudpickle=={version('cloudpickle')}"]
    mlflow.set_experiment("serving-envs")
    with mlflow.start_run():
        mlflow.pyfunc.log_model(name="model", python_model=AddOne(), pip_requirements=reqs,
                                registered_model_name="add-one")
    cache = REPO_ROOT / ".venv" / "lode-envs"
    timings = []
    for _ in range(2):
        port = free_port()
        t = time.monotonic()
        srv = start(["serve", "-m", "models:/add-one/1", "-p", str(port), "--tracking-uri", tracking.url,
                     "--python", sys.executable, "--env-cache", str(cache)], "/ping", workdir, timeout=600)
        timings.append(time.monotonic() - t)
        try:
            r = requests.post(srv.url + "/invocations", json={"dataframe_records": [{"x": 1}, {"x": 2}]}, timeout=30)
            assert r.status_code == 200, r.text
            preds = r.json()["predictions"]
            assert preds[:2] == [2.0, 3.0]
            prefix = preds[2]
            assert prefix.startswith(str(cache)), prefix  # not this interpreter's environment
        finally:
            srv.stop()
    print(f"\nfirst start {timings[0]:.1f}s (may build the environment), second {timings[1]:.1f}s (cached)")
    assert timings[1] < 30
