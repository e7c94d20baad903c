"""Params, metrics, tags, log_batch and metric history (brief items 3 and 4)."""

import math
import sys
import time

import mlflow
import pytest
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

# MLflow's SQL store clamps +/-inf to +/-sys.float_info.max when it stores a
# metric (NaN is kept, and is sent as the JSON string "NaN").
FLOAT_MAX = sys.float_info.max


def test_log_param_and_immutability(client, experiment_id):
    rid = client.create_run(experiment_id).info.run_id
    client.log_param(rid, "lr", "0.01")
    client.log_param(rid, "layers", 3)  # non-str values are stringified by the client
    client.log_param(rid, "empty", "")
    client.log_param(rid, "with space/and:colon.dot-dash_underscore", "ok")

    # re-logging the same value is fine
    client.log_param(rid, "lr", "0.01")
    client.log_batch(rid, params=[Param("lr", "0.01")])

    with pytest.raises(MlflowException) as ei:
        client.log_param(rid, "lr", "0.02")
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "Changing param values is not allowed" in str(ei.value)

    with pytest.raises(MlflowException) as ei:
        client.log_batch(rid, params=[Param("lr", "0.03")])
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"

    assert client.get_run(rid).data.params == {
        "lr": "0.01",
        "layers": "3",
        "empty": "",
        "with space/and:colon.dot-dash_underscore": "ok",
    }


def test_fluent_log_params_metrics_tags(client, experiment_id):
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_param("a", 1)
        mlflow.log_params({"b": "two", "c": 3.5})
        mlflow.log_metric("acc", 0.9)
        mlflow.log_metrics({"f1": 0.8, "auc": 0.7}, step=2)
        mlflow.set_tag("t1", "v1")
        mlflow.set_tags({"t2": "v2", "t3": 3})
    got = client.get_run(run.info.run_id)
    assert got.data.params == {"a": "1", "b": "two", "c": "3.5"}
    assert got.data.metrics == {"acc": 0.9, "f1": 0.8, "auc": 0.7}
    assert {k: got.data.tags[k] for k in ("t1", "t2", "t3")} == {"t1": "v1", "t2": "v2", "t3": "3"}
    assert [m.step for m in client.get_metric_history(run.info.run_id, "f1")] == [2]


def test_log_metric_steps_timestamps_and_special_values(client, experiment_id):
    rid = client.create_run(experiment_id).info.run_id
    client.log_metric(rid, "loss", 3.0, timestamp=1_000, step=0)
    client.log_metric(rid, "loss", 2.0, timestamp=2_000, step=1)
    client.log_metric(rid, "loss", 1.0, timestamp=3_000, step=2)
    client.log_metric(rid, "neg_step", 5.0, timestamp=10, step=-3)
    client.log_metric(rid, "big_step", 6.0, timestamp=10, step=2**40)
    client.log_metric(rid, "nan", float("nan"), timestamp=10)
    client.log_metric(rid, "inf", float("inf"), timestamp=10)
    client.log_metric(rid, "ninf", float("-inf"), timestamp=10)
    client.log_metric(rid, "int", 7, timestamp=10)
    client.log_metric(rid, "tiny", 1e-300, timestamp=10)
    client.log_metric(rid, "precise", 0.1 + 0.2, timestamp=10)

    before = int(time.time() * 1000)
    client.log_metric(rid, "auto_ts", 1.0)  # timestamp defaults to now
    after = int(time.time() * 1000)

    m = client.get_run(rid).data.metrics
    assert m["loss"] == 1.0
    assert m["neg_step"] == 5.0
    assert m["big_step"] == 6.0
    assert math.isnan(m["nan"])
    assert m["inf"] == FLOAT_MAX
    assert m["ninf"] == -FLOAT_MAX
    assert m["int"] == 7.0
    assert m["tiny"] == 1e-300
    assert m["precise"] == 0.1 + 0.2  # doubles round-trip exactly

    (auto,) = client.get_metric_history(rid, "auto_ts")
    assert before - 1000 <= auto.timestamp <= after + 1000
    assert auto.step == 0
    (big,) = client.get_metric_history(rid, "big_step")
    assert big.step == 2**40
    (neg,) = client.get_metric_history(rid, "neg_step")
    assert neg.step == -3
    (nan,) = client.get_metric_history(rid, "nan")
    assert math.isnan(nan.value)
    (inf,) = client.get_metric_history(rid, "inf")
    assert inf.value == FLOAT_MAX


def test_latest_metric_is_max_step_then_max_timestamp(client, experiment_id):
    """run.data.metrics shows the value at the highest step; ties go to the newest timestamp."""
    rid = client.create_run(experiment_id).info.run_id
    client.log_metric(rid, "m", 10.0, timestamp=5_000, step=5)
    client.log_metric(rid, "m", 20.0, timestamp=9_000, step=1)  # newer but lower step
    assert client.get_run(rid).data.metrics["m"] == 10.0
    client.log_metric(rid, "m", 30.0, timestamp=6_000, step=5)  # same step, newer
    assert client.get_run(rid).data.metrics["m"] == 30.0
    client.log_metric(rid, "m", 40.0, timestamp=1_000, step=5)  # same step, older
    assert client.get_run(rid).data.metrics["m"] == 30.0


def test_log_batch_metrics_params_tags(client, experiment_id):
    rid = client.create_run(experiment_id).info.run_id
    ts = int(time.time() * 1000)
    metrics = [Metric("bm", float(i), ts + i, i) for i in range(50)]
    metrics += [Metric("other", 1.5, ts, 0)]
    params = [Param(f"p{i}", str(i)) for i in range(100)]  # 100 is the per-request max
    tags = [RunTag(f"t{i}", f"v{i}") for i in range(20)]
    client.log_batch(rid, metrics=metrics, params=params, tags=tags)

    got = client.get_run(rid)
    assert got.data.metrics == {"bm": 49.0, "other": 1.5}
    assert got.data.params == {f"p{i}": str(i) for i in range(100)}
    for i in range(20):
        assert got.data.tags[f"t{i}"] == f"v{i}"
    hist = client.get_metric_history(rid, "bm")
    assert [(m.value, m.step, m.timestamp) for m in hist] == [
        (float(i), i, ts + i) for i in range(50)
    ]

    # an empty batch is a no-op
    client.log_batch(rid)

    # more than 1000 metrics: the client splits the batch itself
    many = [Metric(f"k{i}", float(i), ts, 0) for i in range(1500)]
    client.log_batch(rid, metrics=many)
    assert len(client.get_run(rid).data.metrics) == 2 + 1500


def test_log_batch_duplicate_param_keys_in_one_request(api, client, experiment_id):
    rid = client.create_run(experiment_id).info.run_id
    # MLflow rejects a batch that names a param key twice -- even with the same value
    for values in (("1", "1"), ("1", "2")):
        r = api.post("runs/log-batch", json={"run_id": rid, "params": [
            {"key": "dup", "value": values[0]}, {"key": "dup", "value": values[1]}]})
        assert r.status_code == 400, r.text
        assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert client.get_run(rid).data.params == {}


def test_set_tags_overwrite_and_delete_tag(client, experiment_id):
    rid = client.create_run(experiment_id).info.run_id
    client.set_tag(rid, "color", "red")
    client.set_tag(rid, "color", "blue")  # tags are mutable
    client.set_tag(rid, "shape", "round")
    client.set_tag(rid, "long", "x" * 5000)
    tags = client.get_run(rid).data.tags
    assert tags["color"] == "blue"
    assert tags["shape"] == "round"
    assert tags["long"] == "x" * 5000

    client.delete_tag(rid, "color")
    tags = client.get_run(rid).data.tags
    assert "color" not in tags
    assert tags["shape"] == "round"

    with pytest.raises(MlflowException) as ei:
        client.delete_tag(rid, "color")
    assert ei.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_long_param_value_is_truncated_not_rejected(api, client, experiment_id):
    """MLflow (client *and* server, MLFLOW_TRUNCATE_LONG_VALUES defaults to on)
    truncates param values to 6000 chars instead of rejecting them."""
    rid = client.create_run(experiment_id).info.run_id
    client.log_param(rid, "via_client", "a" * 6001)
    r = api.post("runs/log-parameter", json={"run_id": rid, "key": "via_rest", "value": "b" * 7000})
    assert r.status_code == 200, r.text
    r = api.post("runs/log-batch", json={"run_id": rid, "params": [{"key": "via_batch", "value": "c" * 6001}]})
    assert r.status_code == 200, r.text
    r = api.post("runs/log-parameter", json={"run_id": rid, "key": "exact", "value": "d" * 6000})
    assert r.status_code == 200, r.text
    params = client.get_run(rid).data.params
    assert params == {
        "via_client": "a" * 6000,
        "via_rest": "b" * 6000,
        "via_batch": "c" * 6000,
        "exact": "d" * 6000,
    }


def test_get_metric_history_order_steps_timestamps(client, experiment_id):
    rid = client.create_run(experiment_id).info.run_id
    # logged out of order, including two values at one step
    points = [
        (0.5, 1_000, 0),
        (0.4, 2_000, 1),
        (0.3, 3_000, 2),
        (0.35, 2_500, 2),
        (0.2, 5_000, 4),
        (0.25, 4_000, 3),
    ]
    for v, ts, step in points:
        client.log_metric(rid, "h", v, timestamp=ts, step=step)
    hist = client.get_metric_history(rid, "h")
    got = sorted((m.step, m.timestamp, m.value) for m in hist)
    assert got == sorted((s, t, v) for v, t, s in points)
    for m in hist:
        assert m.key == "h"
    # the latest (max step, then max timestamp) is what the run reports
    assert client.get_run(rid).data.metrics["h"] == 0.2

    # An exact duplicate (same key, value, timestamp, step) is stored once by
    # MLflow's SQL store.
    client.log_metric(rid, "h", 0.5, timestamp=1_000, step=0)
    assert len(client.get_metric_history(rid, "h")) == len(points)

    assert client.get_metric_history(rid, "never-logged") == []


def test_metric_history_many_points(client, experiment_id):
    rid = client.create_run(experiment_id).info.run_id
    n = 2500
    metrics = [Metric("curve", float(i) / 10, 1_000_000 + i, i) for i in range(n)]
    client.log_batch(rid, metrics=metrics)  # split into 1000-metric requests by the client
    hist = client.get_metric_history(rid, "curve")
    assert len(hist) == n
    assert sorted(m.step for m in hist) == list(range(n))
    by_step = {m.step: m for m in hist}
    assert by_step[1234].value == 123.4
    assert by_step[1234].timestamp == 1_001_234


def test_metric_history_rest_shape(api, client, experiment_id):
    rid = client.create_run(experiment_id).info.run_id
    client.log_metric(rid, "x", 1.0, timestamp=111, step=3)
    client.log_metric(rid, "x", float("nan"), timestamp=222, step=4)
    r = api.get("metrics/get-history", params={"run_id": rid, "metric_key": "x"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert sorted(body) == ["metrics"]
    ms = sorted(body["metrics"], key=lambda m: m["step"])
    assert ms[0] == {"key": "x", "value": 1.0, "timestamp": 111, "step": 3}
    # NaN crosses the wire as the JSON string "NaN"
    assert ms[1] == {"key": "x", "value": "NaN", "timestamp": 222, "step": 4}
