"""Raw REST checks for what the Python client does not exercise (brief item 10)."""

import math
import re
import time
import uuid

import mlflow
import pytest
import requests

from conftest import reference_behaviour, unique

PREFIXES = ["/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/"]


def assert_error_body(resp, status, code):
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    # MLflow 3 adds "sqlstate" and "error_class"; these two are what clients read
    assert {"error_code", "message"} <= set(body), body
    assert body["error_code"] == code, body
    assert isinstance(body["message"], str)
    return body


def test_health(server):
    r = requests.get(server.url + "/health", timeout=10)
    assert r.status_code == 200
    assert r.text == "OK"


def test_version(server):
    """The mlflow 3 client parses GET /version with packaging.version.Version
    (RestStore._get_server_version) and, e.g., refuses log_spans when it is
    unparsable or below 3.4 -- so it must be a PEP 440 version."""
    from packaging.version import Version

    r = requests.get(server.url + "/version", timeout=10)
    assert r.status_code == 200
    Version(r.text)  # raises InvalidVersion if not parsable
    if server.kind == "mlflow":
        assert r.text == mlflow.__version__


def test_default_experiment_exists(api):
    r = api.get("experiments/get", params={"experiment_id": "0"})
    assert r.status_code == 200, r.text
    exp = r.json()["experiment"]
    assert exp["experiment_id"] == "0"
    assert exp["name"] == "Default"
    assert exp["lifecycle_stage"] == "active"
    assert exp["artifact_location"] == "mlflow-artifacts:/0"
    assert isinstance(exp["creation_time"], int)
    assert isinstance(exp["last_update_time"], int)
    r = api.get("experiments/get-by-name", params={"experiment_name": "Default"})
    assert r.status_code == 200
    assert r.json()["experiment"]["experiment_id"] == "0"


@pytest.mark.parametrize("prefix", PREFIXES, ids=["api", "ajax-api"])
def test_run_roundtrip_under_prefix(api, prefix):
    """The same handlers answer under /api/2.0/mlflow/ and /ajax-api/2.0/mlflow/."""
    name = unique("rest")
    r = api.post("experiments/create", prefix=prefix,
                 json={"name": name, "tags": [{"key": "a", "value": "b"}]})
    assert r.status_code == 200, r.text
    exp_id = r.json()["experiment_id"]
    assert r.json() == {"experiment_id": exp_id}

    r = api.get("experiments/get", prefix=prefix, params={"experiment_id": exp_id})
    assert r.status_code == 200
    exp = r.json()["experiment"]
    assert exp["name"] == name
    assert exp["tags"] == [{"key": "a", "value": "b"}]
    assert exp["artifact_location"] == f"mlflow-artifacts:/{exp_id}"

    r = api.get("experiments/get-by-name", prefix=prefix, params={"experiment_name": name})
    assert r.json()["experiment"]["experiment_id"] == exp_id

    r = api.post("runs/create", prefix=prefix, json={
        "experiment_id": exp_id, "start_time": 1_000, "run_name": "raw",
        "tags": [{"key": "t", "value": "v"}],
    })
    assert r.status_code == 200, r.text
    run = r.json()["run"]
    info = run["info"]
    run_id = info["run_id"]
    assert re.match(r"^[0-9a-f]{32}$", run_id)
    assert info["run_uuid"] == run_id  # the deprecated alias is still sent
    assert info["experiment_id"] == exp_id
    assert info["run_name"] == "raw"
    assert info["status"] == "RUNNING"
    assert info["start_time"] == 1_000
    assert info["lifecycle_stage"] == "active"
    assert info["artifact_uri"] == f"mlflow-artifacts:/{exp_id}/{run_id}/artifacts"
    assert "end_time" not in info  # unset fields are omitted
    assert {"key": "t", "value": "v"} in run["data"]["tags"]
    assert {"key": "mlflow.runName", "value": "raw"} in run["data"]["tags"]

    # write endpoints answer an empty object
    for path, body in [
        ("runs/log-metric", {"run_id": run_id, "key": "m", "value": 0.5, "timestamp": 2_000, "step": 3}),
        ("runs/log-parameter", {"run_id": run_id, "key": "p", "value": "1"}),
        ("runs/set-tag", {"run_id": run_id, "key": "k", "value": "v"}),
        ("runs/log-batch", {"run_id": run_id, "metrics": [
            {"key": "m", "value": 0.25, "timestamp": 3_000, "step": 4}]}),
        ("experiments/set-experiment-tag", {"experiment_id": exp_id, "key": "x", "value": "y"}),
    ]:
        r = api.post(path, prefix=prefix, json=body)
        assert r.status_code == 200, (path, r.text)
        assert r.json() == {}, path

    # GET forms
    r = api.get("runs/get", prefix=prefix, params={"run_id": run_id})
    assert r.status_code == 200
    data = r.json()["run"]["data"]
    assert data["metrics"] == [{"key": "m", "value": 0.25, "timestamp": 3_000, "step": 4}]
    assert data["params"] == [{"key": "p", "value": "1"}]
    assert {"key": "k", "value": "v"} in data["tags"]

    r = api.get("metrics/get-history", prefix=prefix, params={"run_id": run_id, "metric_key": "m"})
    assert r.status_code == 200
    hist = sorted(r.json()["metrics"], key=lambda m: m["step"])
    assert hist == [
        {"key": "m", "value": 0.5, "timestamp": 2_000, "step": 3},
        {"key": "m", "value": 0.25, "timestamp": 3_000, "step": 4},
    ]

    r = api.get("experiments/search", prefix=prefix,
                params={"max_results": 10, "filter": f"name = '{name}'"})
    assert r.status_code == 200
    assert [e["experiment_id"] for e in r.json()["experiments"]] == [exp_id]

    r = api.post("runs/search", prefix=prefix, json={"experiment_ids": [exp_id], "filter": "metrics.m < 1"})
    assert r.status_code == 200
    assert [x["info"]["run_id"] for x in r.json()["runs"]] == [run_id]

    r = api.post("runs/update", prefix=prefix, json={"run_id": run_id, "status": "FINISHED", "end_time": 5_000})
    assert r.status_code == 200
    ri = r.json()["run_info"]
    assert ri["status"] == "FINISHED" and ri["end_time"] == 5_000 and ri["run_id"] == run_id

    r = api.get("artifacts/list", prefix=prefix, params={"run_id": run_id})
    assert r.status_code == 200
    assert r.json() == {"root_uri": f"mlflow-artifacts:/{exp_id}/{run_id}/artifacts"}

    for path in ("runs/delete", "runs/restore"):
        r = api.post(path, prefix=prefix, json={"run_id": run_id})
        assert r.status_code == 200 and r.json() == {}
    for path in ("experiments/delete", "experiments/restore"):
        r = api.post(path, prefix=prefix, json={"experiment_id": exp_id})
        assert r.status_code == 200 and r.json() == {}


def test_int64_fields_accept_json_strings(api, experiment_id):
    """proto3 JSON: int64 may arrive as a string; responses carry numbers."""
    r = api.post("runs/create", json={"experiment_id": experiment_id, "start_time": "1234"})
    assert r.status_code == 200, r.text
    run_id = r.json()["run"]["info"]["run_id"]
    assert r.json()["run"]["info"]["start_time"] == 1234
    r = api.post("runs/log-metric", json={"run_id": run_id, "key": "m", "value": "2.5",
                                         "timestamp": "77", "step": "9"})
    assert r.status_code == 200, r.text
    (m,) = api.get("metrics/get-history", params={"run_id": run_id, "metric_key": "m"}).json()["metrics"]
    assert m == {"key": "m", "value": 2.5, "timestamp": 77, "step": 9}


def test_special_float_values_on_the_wire(api, experiment_id):
    run_id = api.post("runs/create", json={"experiment_id": experiment_id}).json()["run"]["info"]["run_id"]
    for key, value in [("nan", "NaN"), ("inf", "Infinity"), ("ninf", "-Infinity")]:
        r = api.post("runs/log-metric", json={"run_id": run_id, "key": key, "value": value, "timestamp": 1})
        assert r.status_code == 200, r.text
    got = {m["key"]: m["value"] for m in
           api.get("runs/get", params={"run_id": run_id}).json()["run"]["data"]["metrics"]}
    # NaN is sent back as the string "NaN"; +/-inf are clamped by MLflow's SQL store
    assert got == {"nan": "NaN", "inf": 1.7976931348623157e308, "ninf": -1.7976931348623157e308}


def test_search_pagination_tokens_raw(server, api, experiment_id):
    ids = set()
    for i in range(3):
        r = api.post("runs/create", json={"experiment_id": experiment_id, "start_time": 1000 + i})
        ids.add(r.json()["run"]["info"]["run_id"])
    r = api.post("runs/search", json={"experiment_ids": [experiment_id], "max_results": 2})
    body = r.json()
    assert len(body["runs"]) == 2
    token = body["next_page_token"]
    assert isinstance(token, str) and token
    r = api.post("runs/search", json={"experiment_ids": [experiment_id], "max_results": 2, "page_token": token})
    body = r.json()
    assert len(body["runs"]) == 1
    assert "next_page_token" not in body
    # a page that is exactly full: MLflow 2.x still sends a token, 3.x does not
    r = api.post("runs/search", json={"experiment_ids": [experiment_id], "max_results": 3})
    body = r.json()
    assert {x["info"]["run_id"] for x in body["runs"]} == ids
    assert ("next_page_token" in body) in reference_behaviour(server, mlflow2=True, mlflow3=False)

    r = api.get("experiments/search", params={"max_results": 1})
    assert r.status_code == 200
    assert len(r.json()["experiments"]) == 1
    assert r.json()["next_page_token"]


def test_malformed_json_body(api):
    """MLflow reads an unparsable body as empty, so the request fails its
    required-field check: 400 INVALID_PARAMETER_VALUE."""
    r = api.session.post(api.url("experiments/create"), data="{not json",
                         headers={"Content-Type": "application/json"}, timeout=30)
    assert_error_body(r, 400, "INVALID_PARAMETER_VALUE")
    r = api.session.post(api.url("runs/log-metric"), data='{"run_id": ',
                         headers={"Content-Type": "application/json"}, timeout=30)
    assert_error_body(r, 400, "INVALID_PARAMETER_VALUE")


def test_post_without_json_content_type(api):
    """MLflow insists on Content-Type: application/json for POST bodies."""
    r = api.session.post(api.url("experiments/create"), data='{"name": "x"}', timeout=30)
    assert_error_body(r, 400, "INVALID_PARAMETER_VALUE")
    r = api.session.post(api.url("experiments/create"), data='{"name": "x"}',
                         headers={"Content-Type": "text/plain"}, timeout=30)
    assert_error_body(r, 400, "INVALID_PARAMETER_VALUE")


def test_unknown_fields_are_ignored(api):
    name = unique("unknown-field")
    r = api.post("experiments/create", json={"name": name, "no_such_field": 1})
    assert r.status_code == 200, r.text


def test_error_body_shape(api):
    body = assert_error_body(api.get("runs/get", params={"run_id": "0" * 32}), 404, "RESOURCE_DOES_NOT_EXIST")
    assert "0" * 32 in body["message"]


def test_unknown_endpoint_is_404(api):
    assert api.get("no/such/endpoint").status_code == 404
    assert api.post("no/such/endpoint", json={}).status_code == 404


# ---------------------------------------------------------------------------
# the proxied artifact service the client uses for mlflow-artifacts:/ URIs


def test_mlflow_artifacts_service_raw(server, api, experiment_id):
    run = api.post("runs/create", json={"experiment_id": experiment_id}).json()["run"]["info"]
    run_id = run["run_id"]
    base = server.url + "/api/2.0/mlflow-artifacts/artifacts"
    root = f"{experiment_id}/{run_id}/artifacts"
    payload = bytes(range(256)) * 10

    r = requests.put(f"{base}/{root}/dir/blob.bin", data=payload, timeout=30)
    assert r.status_code == 200, r.text
    r = requests.put(f"{base}/{root}/top.txt", data=b"top", timeout=30)
    assert r.status_code == 200
    r = requests.put(f"{base}/{root}/empty.txt", data=b"", timeout=30)
    assert r.status_code == 200

    r = requests.get(f"{base}/{root}/dir/blob.bin", timeout=30)
    assert r.status_code == 200
    assert r.content == payload

    # listing: paths relative to the listed directory, sorted; file_size is
    # omitted for directories and for empty files (proto3 zero value)
    r = requests.get(base, params={"path": root}, timeout=30)
    assert r.status_code == 200
    assert r.json() == {"files": [
        {"path": "dir", "is_dir": True},
        {"path": "empty.txt", "is_dir": False},
        {"path": "top.txt", "is_dir": False, "file_size": 3},
    ]}
    r = requests.get(base, params={"path": f"{root}/dir"}, timeout=30)
    assert r.json() == {"files": [{"path": "blob.bin", "is_dir": False, "file_size": len(payload)}]}
    # a missing directory, or a file, lists as empty
    assert requests.get(base, params={"path": f"{root}/nope"}, timeout=30).json() == {}
    assert requests.get(base, params={"path": f"{root}/top.txt"}, timeout=30).json() == {}

    # the tracking API's listing of the same run: paths relative to the run root
    r = api.get("artifacts/list", params={"run_id": run_id, "path": "dir"})
    assert r.json() == {
        "root_uri": f"mlflow-artifacts:/{root}",
        "files": [{"path": "dir/blob.bin", "is_dir": False, "file_size": len(payload)}],
    }

    # downloading a missing file: MLflow 2.x fails with 500 INTERNAL_ERROR, 3.x says 404
    r = requests.get(f"{base}/{root}/missing.bin", timeout=30)
    assert (r.status_code, r.json()["error_code"]) in reference_behaviour(
        server, mlflow2=(500, "INTERNAL_ERROR"), mlflow3=(404, "RESOURCE_DOES_NOT_EXIST"))

    # path traversal is refused
    r = requests.get(base, params={"path": "../"}, timeout=30)
    assert_error_body(r, 400, "INVALID_PARAMETER_VALUE")

    r = requests.delete(f"{base}/{root}/top.txt", timeout=30)
    assert r.status_code == 200
    r = requests.get(base, params={"path": root}, timeout=30)
    assert [f["path"] for f in r.json()["files"]] == ["dir", "empty.txt"]
