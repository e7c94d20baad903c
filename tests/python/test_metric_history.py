"""A metric history longer than the client's page (25,000 values).

MlflowClient.get_metric_history asks for pages of 25,000 (max_results) and
follows next_page_token (mlflow 2.x and 3.x alike). Without max_results,
MLflow 3's server answers every value at once; MLflow 2's ignores
max_results and page_token altogether. Lode answers as MLflow 3 does.
"""

from __future__ import annotations

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric

from conftest import IS_MLFLOW3, RestApi, unique

PAGE = 25_000
N = 2 * PAGE + 1234


@pytest.fixture(scope="module")
def long_run(server) -> str:
    """A run with N values of metric "loss": step i at timestamp T0 + i."""
    c = MlflowClient(tracking_uri=server.url)
    rid = c.create_run(c.create_experiment(unique("history"))).info.run_id
    c.log_batch(rid, metrics=[Metric("loss", i / 8, T0 + i, i) for i in range(N)])
    return rid


T0 = 1_700_000_000_000


def check(points, start: int, count: int) -> None:
    assert len(points) == count
    for i, m in enumerate(points):
        step = start + i
        got = (m["key"], m["value"], int(m["timestamp"]), int(m["step"])) if isinstance(m, dict) \
            else (m.key, m.value, m.timestamp, m.step)
        assert got == ("loss", step / 8, T0 + step, step), f"value {i}"


def pages_honoured(server) -> bool:
    # MLflow 2's server ignores max_results and page_token.
    return server.kind != "mlflow" or IS_MLFLOW3


def test_client_reads_every_page(client, long_run):
    check(client.get_metric_history(long_run, "loss"), 0, N)


@pytest.mark.parametrize("prefix", ["/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/"])
def test_without_max_results_every_value(api, long_run, prefix):
    r = api.get("metrics/get-history", prefix=prefix, params={"run_id": long_run, "metric_key": "loss"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert "next_page_token" not in body
    check(body["metrics"], 0, N)


@pytest.mark.parametrize("prefix", ["/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/"])
def test_pages_of_max_results(api, server, long_run, prefix):
    params = {"run_id": long_run, "metric_key": "loss", "max_results": PAGE}
    seen, pages = [], 0
    while True:
        r = api.get("metrics/get-history", prefix=prefix, params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        pages += 1
        seen += body["metrics"]
        if "next_page_token" not in body:
            break
        assert len(body["metrics"]) == PAGE
        params["page_token"] = body["next_page_token"]
        assert pages < 10
    check(seen, 0, N)
    assert pages == (3 if pages_honoured(server) else 1)


def test_rest_after_a_token(api, server, long_run):
    """A page token followed without max_results gives all that is left."""
    if not pages_honoured(server):
        pytest.skip("mlflow 2.x's server gives no page tokens")
    params = {"run_id": long_run, "metric_key": "loss", "max_results": 1000}
    first = api.get("metrics/get-history", params=params).json()
    check(first["metrics"], 0, 1000)
    rest = api.get("metrics/get-history", params={
        "run_id": long_run, "metric_key": "loss", "page_token": first["next_page_token"]}).json()
    assert "next_page_token" not in rest
    check(rest["metrics"], 1000, N - 1000)


@pytest.mark.parametrize("max_results", [0, -1])
def test_max_results_not_positive(api, server, long_run, max_results):
    r = api.get("metrics/get-history", params={"run_id": long_run, "metric_key": "loss", "max_results": max_results})
    if pages_honoured(server):
        assert r.status_code == 400, r.text
        assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    else:
        assert r.status_code == 200, r.text
