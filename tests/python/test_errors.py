"""Error codes and HTTP statuses, exactly as MLflow's own server answers
(brief item 9). Client calls check the MlflowException error_code; raw calls
check the HTTP status and the {"error_code", "message"} body.

MLflow maps codes to statuses as: INVALID_PARAMETER_VALUE, RESOURCE_ALREADY_EXISTS,
BAD_REQUEST -> 400; RESOURCE_DOES_NOT_EXIST -> 404.
"""

import time

import pytest
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException, RestException

from conftest import reference_behaviour, unique

UNKNOWN_RUN = "f" * 32


def assert_error(resp, status, code):
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"].startswith("application/json"), resp.headers
    body = resp.json()
    assert body["error_code"] == code, body
    assert isinstance(body["message"], str) and body["message"], body
    return body


def client_error(fn, *args, **kwargs) -> MlflowException:
    with pytest.raises(MlflowException) as ei:
        fn(*args, **kwargs)
    return ei.value


@pytest.fixture
def run_id(client, experiment_id):
    return client.create_run(experiment_id).info.run_id


def test_duplicate_experiment_name(client, api):
    name = unique("dup")
    client.create_experiment(name)
    e = client_error(client.create_experiment, name)
    assert e.error_code == "RESOURCE_ALREADY_EXISTS"
    assert isinstance(e, RestException)
    assert e.get_http_status_code() == 400
    assert_error(api.post("experiments/create", json={"name": name}), 400, "RESOURCE_ALREADY_EXISTS")
    # the Default experiment's name is taken too
    assert_error(api.post("experiments/create", json={"name": "Default"}), 400, "RESOURCE_ALREADY_EXISTS")


def test_get_run_unknown(client, api):
    e = client_error(client.get_run, UNKNOWN_RUN)
    assert e.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert e.get_http_status_code() == 404
    assert_error(api.get("runs/get", params={"run_id": UNKNOWN_RUN}), 404, "RESOURCE_DOES_NOT_EXIST")
    # not even a well-formed id: still "does not exist"
    assert_error(api.get("runs/get", params={"run_id": "nope"}), 404, "RESOURCE_DOES_NOT_EXIST")


def test_get_experiment_unknown(client, api):
    e = client_error(client.get_experiment, "987654321")
    assert e.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert_error(api.get("experiments/get", params={"experiment_id": "987654321"}), 404,
                 "RESOURCE_DOES_NOT_EXIST")
    assert_error(api.get("experiments/get-by-name", params={"experiment_name": unique("nope")}),
                 404, "RESOURCE_DOES_NOT_EXIST")


def test_get_experiment_non_numeric_id(server, api):
    """MLflow 2.x: 404 RESOURCE_DOES_NOT_EXIST; MLflow 3.x: 400 INVALID_PARAMETER_VALUE
    ("Experiment ID must be a valid integer")."""
    r = api.get("experiments/get", params={"experiment_id": "abc"})
    assert (r.status_code, r.json()["error_code"]) in reference_behaviour(
        server, mlflow2=(404, "RESOURCE_DOES_NOT_EXIST"), mlflow3=(400, "INVALID_PARAMETER_VALUE")
    )


def test_unknown_run_in_write_calls(client, api):
    for fn, args in [
        (client.log_metric, (UNKNOWN_RUN, "m", 1.0)),
        (client.log_param, (UNKNOWN_RUN, "p", "1")),
        (client.set_tag, (UNKNOWN_RUN, "t", "1")),
        (client.delete_run, (UNKNOWN_RUN,)),
        (client.restore_run, (UNKNOWN_RUN,)),
    ]:
        assert client_error(fn, *args).error_code == "RESOURCE_DOES_NOT_EXIST", fn.__name__
    assert_error(api.post("runs/log-metric", json={"run_id": UNKNOWN_RUN, "key": "k", "value": 1, "timestamp": 1}),
                 404, "RESOURCE_DOES_NOT_EXIST")
    assert_error(api.post("runs/log-batch", json={"run_id": UNKNOWN_RUN, "metrics": []}),
                 404, "RESOURCE_DOES_NOT_EXIST")
    assert_error(api.post("runs/update", json={"run_id": UNKNOWN_RUN, "status": "FINISHED"}),
                 404, "RESOURCE_DOES_NOT_EXIST")
    assert_error(api.get("artifacts/list", params={"run_id": UNKNOWN_RUN}),
                 404, "RESOURCE_DOES_NOT_EXIST")


def test_unknown_experiment_in_write_calls(client, api):
    assert client_error(client.create_run, "987654321").error_code == "RESOURCE_DOES_NOT_EXIST"
    assert_error(api.post("runs/create", json={"experiment_id": "987654321"}), 404, "RESOURCE_DOES_NOT_EXIST")
    assert_error(api.post("experiments/update", json={"experiment_id": "987654321", "new_name": unique()}),
                 404, "RESOURCE_DOES_NOT_EXIST")
    assert_error(api.post("experiments/set-experiment-tag",
                          json={"experiment_id": "987654321", "key": "k", "value": "v"}),
                 404, "RESOURCE_DOES_NOT_EXIST")
    assert_error(api.post("experiments/delete", json={"experiment_id": "987654321"}),
                 404, "RESOURCE_DOES_NOT_EXIST")


def test_rename_to_existing_name(client, api):
    a = client.create_experiment(unique("a"))
    b_name = unique("b")
    client.create_experiment(b_name)
    # MLflow surfaces the database's unique-constraint failure as BAD_REQUEST
    e = client_error(client.rename_experiment, a, b_name)
    assert e.error_code == "BAD_REQUEST"
    assert_error(api.post("experiments/update", json={"experiment_id": a, "new_name": b_name}),
                 400, "BAD_REQUEST")


def test_invalid_metric_key(client, api, run_id):
    for bad in ("bad key!", "semi;colon", "../escape", "a/../../b"):
        e = client_error(client.log_metric, run_id, bad, 1.0)
        assert e.error_code == "INVALID_PARAMETER_VALUE", bad
    ts = int(time.time() * 1000)
    assert_error(api.post("runs/log-metric", json={"run_id": run_id, "key": "a!b", "value": 1, "timestamp": ts}),
                 400, "INVALID_PARAMETER_VALUE")
    assert_error(api.post("runs/log-batch", json={"run_id": run_id, "metrics": [
        {"key": "a!", "value": 1, "timestamp": ts, "step": 0}]}), 400, "INVALID_PARAMETER_VALUE")
    # valid unusual characters
    for ok in ("with space", "slash/ed", "colon:x", "dot.ted", "dash-ed", "under_score"):
        client.log_metric(run_id, ok, 1.0)


def test_key_length_limits(client, api, run_id, experiment_id):
    k251 = "k" * 251
    assert client_error(client.log_param, run_id, k251, "1").error_code == "INVALID_PARAMETER_VALUE"
    assert client_error(client.log_metric, run_id, k251, 1.0).error_code == "INVALID_PARAMETER_VALUE"
    assert client_error(client.set_tag, run_id, k251, "1").error_code == "INVALID_PARAMETER_VALUE"
    assert_error(api.post("runs/log-parameter", json={"run_id": run_id, "key": k251, "value": "1"}),
                 400, "INVALID_PARAMETER_VALUE")
    assert_error(api.post("runs/set-tag", json={"run_id": run_id, "key": k251, "value": "1"}),
                 400, "INVALID_PARAMETER_VALUE")
    assert_error(api.post("runs/log-metric", json={"run_id": run_id, "key": k251, "value": 1, "timestamp": 1}),
                 400, "INVALID_PARAMETER_VALUE")
    # exactly 250 is fine
    client.log_param(run_id, "k" * 250, "1")
    # experiment name limit is 500
    assert_error(api.post("experiments/create", json={"name": "n" * 501}), 400, "INVALID_PARAMETER_VALUE")
    # experiment tag values: 5000 chars max in MLflow 2.x, 20000 in 3.x; over both -> 400
    assert_error(api.post("experiments/set-experiment-tag",
                          json={"experiment_id": experiment_id, "key": "k", "value": "x" * 20001}),
                 400, "INVALID_PARAMETER_VALUE")
    assert_error(api.post("experiments/set-experiment-tag",
                          json={"experiment_id": experiment_id, "key": k251, "value": "x"}),
                 400, "INVALID_PARAMETER_VALUE")


def test_param_value_too_long_is_truncated(client, run_id):
    """Not an error in MLflow: values over 6000 chars are cut to 6000 (see test_logging)."""
    client.log_param(run_id, "long", "v" * 6500)
    assert client.get_run(run_id).data.params["long"] == "v" * 6000


def test_log_batch_limits(api, run_id):
    ts = int(time.time() * 1000)
    body = assert_error(api.post("runs/log-batch", json={"run_id": run_id, "metrics": [
        {"key": f"m{i}", "value": 1.0, "timestamp": ts, "step": 0} for i in range(1001)]}),
        400, "INVALID_PARAMETER_VALUE")
    assert "1000" in body["message"]
    assert_error(api.post("runs/log-batch", json={"run_id": run_id, "params": [
        {"key": f"p{i}", "value": "1"} for i in range(101)]}), 400, "INVALID_PARAMETER_VALUE")
    assert_error(api.post("runs/log-batch", json={"run_id": run_id, "tags": [
        {"key": f"t{i}", "value": "1"} for i in range(101)]}), 400, "INVALID_PARAMETER_VALUE")
    # and metrics + params + tags together may not exceed 1000 entities
    body = assert_error(api.post("runs/log-batch", json={"run_id": run_id, "metrics": [
        {"key": f"m{i}", "value": 1.0, "timestamp": ts, "step": 0} for i in range(851)],
        "params": [{"key": f"p{i}", "value": "1"} for i in range(100)],
        "tags": [{"key": f"t{i}", "value": "1"} for i in range(50)]}), 400, "INVALID_PARAMETER_VALUE")
    # nothing of a rejected batch was written
    run = api.get("runs/get", params={"run_id": run_id}).json()["run"]
    assert "metrics" not in run["data"] and "params" not in run["data"]
    # exactly at the limits is fine
    r = api.post("runs/log-batch", json={"run_id": run_id, "metrics": [
        {"key": f"m{i}", "value": 1.0, "timestamp": ts, "step": 0} for i in range(1000)]})
    assert r.status_code == 200, r.text
    assert r.json() == {}
    r = api.post("runs/log-batch", json={"run_id": run_id, "metrics": [
        {"key": f"n{i}", "value": 1.0, "timestamp": ts, "step": 0} for i in range(850)],
        "params": [{"key": f"p{i}", "value": "1"} for i in range(100)],
        "tags": [{"key": f"t{i}", "value": "1"} for i in range(50)]})
    assert r.status_code == 200, r.text


def test_log_batch_1001_metrics_via_client_is_split(client, run_id):
    """The client splits batches itself, so 1001 metrics through MlflowClient succeed."""
    ts = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(f"m{i}", 1.0, ts, 0) for i in range(1001)])
    assert len(client.get_run(run_id).data.metrics) == 1001


def test_missing_required_fields(api, run_id):
    assert_error(api.post("runs/log-metric", json={"run_id": run_id, "key": "x", "value": 1}),
                 400, "INVALID_PARAMETER_VALUE")  # no timestamp
    assert_error(api.post("runs/log-batch", json={"run_id": run_id, "metrics": [{"key": "a", "value": 1}]}),
                 400, "INVALID_PARAMETER_VALUE")
    assert_error(api.post("runs/log-batch", json={"run_id": run_id, "metrics": [{"key": "a", "timestamp": 1}]}),
                 400, "INVALID_PARAMETER_VALUE")
    assert_error(api.post("experiments/create", json={}), 400, "INVALID_PARAMETER_VALUE")
    assert_error(api.post("experiments/create", json={"name": ""}), 400, "INVALID_PARAMETER_VALUE")
    assert_error(api.get("experiments/get"), 400, "INVALID_PARAMETER_VALUE")
    assert_error(api.get("metrics/get-history", params={"run_id": run_id}), 400, "INVALID_PARAMETER_VALUE")
    assert_error(api.post("experiments/update", json={"experiment_id": "0", "new_name": ""}),
                 400, "INVALID_PARAMETER_VALUE")


def test_wrong_json_types(api):
    assert_error(api.post("experiments/create", json={"name": 123}), 400, "INVALID_PARAMETER_VALUE")
    assert_error(api.post("experiments/create", json={"name": ["a"]}), 400, "INVALID_PARAMETER_VALUE")


def test_delete_missing_tag(client, api, run_id):
    e = client_error(client.delete_tag, run_id, "never-set")
    assert e.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert_error(api.post("runs/delete-tag", json={"run_id": run_id, "key": "never-set"}),
                 404, "RESOURCE_DOES_NOT_EXIST")


def test_search_argument_errors(client, api, experiment_id):
    assert_error(api.post("runs/search", json={"experiment_ids": [experiment_id], "page_token": "garbage"}),
                 400, "INVALID_PARAMETER_VALUE")
    assert_error(api.post("runs/search", json={"experiment_ids": [experiment_id], "max_results": 50001}),
                 400, "INVALID_PARAMETER_VALUE")
    assert_error(api.post("runs/search", json={"experiment_ids": [experiment_id], "max_results": 0}),
                 400, "INVALID_PARAMETER_VALUE")
    assert_error(api.post("runs/search", json={"experiment_ids": [experiment_id], "filter": "metrics.x >"}),
                 400, "INVALID_PARAMETER_VALUE")
    assert_error(api.post("runs/search", json={"experiment_ids": [experiment_id], "order_by": ["foo.bar"]}),
                 400, "INVALID_PARAMETER_VALUE")
    assert_error(api.post("experiments/search", json={"max_results": 10, "page_token": "garbage"}),
                 400, "INVALID_PARAMETER_VALUE")
    assert_error(api.post("experiments/search", json={"max_results": 50001}), 400, "INVALID_PARAMETER_VALUE")
    assert_error(api.post("experiments/search", json={"max_results": 10, "filter": "foo = 'x'"}),
                 400, "INVALID_PARAMETER_VALUE")
    e = client_error(client.search_experiments, filter_string="name ~ 'x'")
    assert e.error_code == "INVALID_PARAMETER_VALUE"


def test_lenient_reads(api, experiment_id):
    """Reads that MLflow answers with an empty 200 rather than an error."""
    r = api.get("metrics/get-history", params={"run_id": UNKNOWN_RUN, "metric_key": "x"})
    assert r.status_code == 200 and r.json() == {}
    r = api.post("runs/search", json={"experiment_ids": ["987654321"]})
    assert r.status_code == 200 and r.json() == {}
    r = api.post("runs/search", json={"experiment_ids": [experiment_id]})
    assert r.status_code == 200 and r.json() == {}


def test_logging_to_finished_run_is_allowed(client, run_id):
    client.set_terminated(run_id)
    client.log_metric(run_id, "late", 1.0)
    client.log_param(run_id, "late", "1")
    client.set_tag(run_id, "late", "1")
    client.log_batch(run_id, metrics=[Metric("late2", 2.0, 1, 0)], params=[Param("late2", "2")],
                     tags=[RunTag("late2", "2")])
    data = client.get_run(run_id).data
    assert data.metrics == {"late": 1.0, "late2": 2.0}
    assert data.params == {"late": "1", "late2": "2"}
