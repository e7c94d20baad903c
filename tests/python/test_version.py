"""GET /version and the client's feature gates (issue 14, point 1).

The mlflow client reads the server's /version and turns features off below
a version (log_spans needs 3.4). Lode answers the MLflow API version it
implements there, its own version at /api/2.0/lode/version and in the
X-Lode-Version header, and MLflow's 501 NOT_IMPLEMENTED for the GenAI API
(traces, spans, assessments...) it does not serve yet: a clean
MlflowException, and traced code that keeps running.
"""

from __future__ import annotations

import logging

import mlflow
import pytest
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from conftest import IS_MLFLOW3, REPO_ROOT, unique


requires_mlflow3 = pytest.mark.skipif(
    not IS_MLFLOW3, reason=f"mlflow 3.x's span export; client is {mlflow.__version__}")


def pinned_mlflow3() -> str:
    for line in (REPO_ROOT / "tests/python/requirements-mlflow3.txt").read_text().splitlines():
        if line.startswith("mlflow=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError("requirements-mlflow3.txt pins no mlflow")


def lode_only(server):
    if server.kind != "lode":
        pytest.skip("Lode's own version and its missing GenAI API; the reference serves both")


def test_version_is_the_mlflow_api_version(server):
    r = requests.get(server.url + "/version", timeout=10)
    assert r.status_code == 200
    want = mlflow.__version__ if server.kind == "mlflow" else pinned_mlflow3()
    assert r.text == want


def test_lode_version_endpoint_and_header(server):
    lode_only(server)
    for path in ("/version", "/health", "/api/2.0/mlflow/experiments/search?max_results=1",
                 "/api/2.0/mlflow/no-such-endpoint"):
        r = requests.get(server.url + path, timeout=10)
        assert r.headers.get("X-Lode-Version"), path
    lode_version = r.headers["X-Lode-Version"]
    for prefix in ("/api/2.0/lode/", "/ajax-api/2.0/lode/"):
        r = requests.get(server.url + prefix + "version", timeout=10)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["lode_version"] == lode_version
        assert body["mlflow_api_version"] == pinned_mlflow3()
        assert body["go_version"].startswith("go")


@requires_mlflow3
def test_client_sees_a_server_new_enough_for_log_spans(server):
    """The gate itself: the client's server version check passes, so that
    log_spans asks the server instead of refusing on the version."""
    from mlflow.store.tracking.rest_store import RestStore
    from mlflow.utils.rest_utils import MlflowHostCreds
    from packaging.version import Version

    RestStore._get_server_version.cache_clear()
    v = RestStore._get_server_version(MlflowHostCreds(server.url))
    assert v is not None and v >= Version("3.4")


@requires_mlflow3
def test_log_spans_is_not_implemented(server):
    lode_only(server)
    from mlflow.tracing.client import TracingClient

    exp = mlflow.create_experiment(unique("spans"))
    span = mlflow.start_span_no_context("s", experiment_id=exp)
    span.end()
    with pytest.raises(MlflowException) as e:
        TracingClient().log_spans(exp, [span])
    assert not isinstance(e.value, NotImplementedError)
    assert e.value.error_code == "NOT_IMPLEMENTED"
    # The phrase the client's exporter reads to stop exporting spans.
    assert "REST OTLP span logging is not supported" in e.value.message


def test_search_traces_is_not_implemented(server):
    lode_only(server)
    exp = mlflow.create_experiment(unique("traces"))
    with pytest.raises(MlflowException) as e:
        if IS_MLFLOW3:
            MlflowClient().search_traces(locations=[exp])
        else:
            MlflowClient().search_traces(experiment_ids=[exp])
    assert e.value.error_code == "NOT_IMPLEMENTED"
    assert "not implemented" in e.value.message


@pytest.mark.parametrize("path", [
    "/api/3.0/mlflow/traces", "/api/2.0/mlflow/traces", "/api/3.0/mlflow/traces/tr-1/assessments",
    "/api/3.0/mlflow/datasets/create", "/ajax-api/3.0/mlflow/scorers/register", "/v1/traces",
])
def test_genai_endpoints_answer_501(server, path):
    lode_only(server)
    r = requests.post(server.url + path, json={}, timeout=10)
    assert r.status_code == 501, r.text
    assert r.json()["error_code"] == "NOT_IMPLEMENTED"


def test_traced_code_keeps_running(server, caplog):
    """@mlflow.trace against a server without traces: the function runs and
    returns its value; the client's exporter only logs that it failed."""
    mlflow.set_experiment(unique("traced"))

    @mlflow.trace
    def double(x):
        return 2 * x

    with caplog.at_level(logging.WARNING, logger="mlflow"):
        assert double(21) == 42
        with mlflow.start_span("outer") as span:
            span.set_inputs({"x": 1})
            assert double(1) == 2
        if hasattr(mlflow, "flush_trace_async_logging"):
            mlflow.flush_trace_async_logging()
    if server.kind == "lode" and IS_MLFLOW3:
        assert any("NOT_IMPLEMENTED" in r.getMessage() for r in caplog.records), \
            [r.getMessage() for r in caplog.records]
