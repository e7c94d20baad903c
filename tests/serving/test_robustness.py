"""Robustness of `lode serve` with a Python model: overload answers 429,
timeouts answer 504 and the worker recovers, a crashed worker answers 503
and is replaced, big bodies answer 413, SIGTERM drains requests in flight;
and what operators see: Prometheus metrics and a JSON access log."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import cloudpickle
import mlflow
import pytest
import requests

from conftest import REPO_ROOT, lode_serve


class Behave(mlflow.pyfunc.PythonModel):
    """Doubles column x; sleeps `sleep` seconds; exits the process when
    crash == 1 (a segfaulting native library, say)."""

    def predict(self, context, model_input, params=None):
        import os
        import time

        if "crash" in model_input.columns and int(model_input["crash"].iloc[0]) == 1:
            os._exit(3)
        if "sleep" in model_input.columns:
            time.sleep(float(model_input["sleep"].iloc[0]))
        return (model_input["x"] * 2).tolist()


cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def behave(tracking):
    mlflow.set_experiment("serving-robustness")
    with mlflow.start_run():
        mlflow.pyfunc.log_model(name="model", python_model=Behave(), registered_model_name="behave")
    return "models:/behave/1"


def call(url, x=1.0, sleep=0.0, crash=0, timeout=30):
    return requests.post(url + "/invocations", timeout=timeout,
                         json={"dataframe_records": [{"x": x, "sleep": sleep, "crash": crash}]})


def test_overload_answers_429_and_nothing_hangs(workdir, tracking, behave):
    with lode_serve(workdir, tracking.url, behave, "--workers", "1", "--max-queue", "2", "--timeout", "20s") as srv:
        start = time.monotonic()
        with ThreadPoolExecutor(10) as pool:
            codes = Counter(r.status_code for r in pool.map(lambda _: call(srv.url, sleep=1.0), range(10)))
        elapsed = time.monotonic() - start
        assert codes[200] >= 1 and codes[429] >= 1 and codes[200] + codes[429] == 10, codes
        assert elapsed < 15, elapsed
        r = call(srv.url, x=21)
        assert r.status_code == 200 and r.json() == {"predictions": [42.0]}, r.text


def test_timeout_then_recovery(workdir, tracking, behave):
    with lode_serve(workdir, tracking.url, behave, "--workers", "1", "--timeout", "1s") as srv:
        t = time.monotonic()
        r = call(srv.url, sleep=5)
        assert r.status_code in (503, 504), r.text
        assert time.monotonic() - t < 4
        assert "error_code" in r.json()
        deadline = time.monotonic() + 30
        while (r := call(srv.url, x=2)).status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert r.json() == {"predictions": [4.0]}, r.text


def test_worker_crash_answers_503_and_is_replaced(workdir, tracking, behave):
    with lode_serve(workdir, tracking.url, behave, "--workers", "2") as srv:
        r = call(srv.url, crash=1)
        assert r.status_code == 503 and r.json()["error_code"] == "TEMPORARILY_UNAVAILABLE", r.text
        ok = [call(srv.url, x=i).status_code for i in range(6)]
        assert ok == [200] * 6, ok
        # The crashed worker comes back: crash both, then both return.
        for _ in range(2):
            call(srv.url, crash=1)
        deadline = time.monotonic() + 60
        while call(srv.url).status_code != 200:
            assert time.monotonic() < deadline, "workers did not come back"
            time.sleep(0.2)
        assert "worker" in srv.log().lower()


def test_request_size_limit(workdir, tracking, behave):
    with lode_serve(workdir, tracking.url, behave, "--max-request-bytes", "2000") as srv:
        big = {"dataframe_records": [{"x": 1.0}] * 500}
        r = requests.post(srv.url + "/invocations", json=big, timeout=10)
        assert r.status_code == 413, r.text
        assert call(srv.url).status_code == 200


def test_sigterm_drains_requests_in_flight(workdir, tracking, behave):
    with lode_serve(workdir, tracking.url, behave, "--workers", "1") as srv:
        result = {}
        t = threading.Thread(target=lambda: result.setdefault("r", call(srv.url, x=5, sleep=1.5)))
        t.start()
        time.sleep(0.5)
        srv.proc.send_signal(signal.SIGTERM)
        t.join(20)
        assert result["r"].status_code == 200 and result["r"].json() == {"predictions": [10.0]}
        assert srv.proc.wait(20) == 0


def test_metrics_and_access_log(workdir, tracking, behave):
    with lode_serve(workdir, tracking.url, behave, "--log-format", "json", "--name", "behave") as srv:
        for _ in range(3):
            assert call(srv.url).status_code == 200
        requests.post(srv.url + "/invocations", data="{", headers={"Content-Type": "application/json"}, timeout=10)
        text = requests.get(srv.url + "/metrics", timeout=10).text
        for needle in ['lode_serving_requests_total{', 'model="behave"', 'version="1"', 'protocol="mlflow"',
                       'lode_serving_request_duration_seconds_bucket{', 'lode_serving_queue_depth{',
                       'lode_serving_inflight_requests{', 'lode_serving_model_load_seconds{']:
            assert needle in text, needle
        assert any('code="200"' in line and "lode_serving_requests_total" in line and line.rstrip().endswith(" 3")
                   for line in text.splitlines()), text
        lines = [json.loads(line) for line in srv.log().splitlines() if line.startswith("{")]
        access = [e for e in lines if e.get("path") == "/invocations"]
        assert len(access) >= 4, lines[-5:]
        e = access[0]
        for key in ("method", "status", "duration_ms", "model", "version", "protocol"):
            assert key in e, e
