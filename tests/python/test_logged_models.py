"""MLflow 3 logged models through the client (brief item 11).

REST surface (MLflow 3.17, /api/2.0/mlflow prefix):
  POST   logged-models                      create
  GET    logged-models/{model_id}           get
  PATCH  logged-models/{model_id}           finalize (status)
  DELETE logged-models/{model_id}           delete
  POST   logged-models/{model_id}/params    log params
  PATCH  logged-models/{model_id}/tags      set tags
  DELETE logged-models/{model_id}/tags/{key} delete tag
  POST   logged-models/search               search
  POST   runs/outputs                       link a model to a run as an output
"""

import time

import mlflow
import pytest
import requests
from mlflow.exceptions import MlflowException

from conftest import requires_mlflow3, unique

pytestmark = requires_mlflow3


def _status(lm):
    return getattr(lm.status, "value", str(lm.status)).split(".")[-1]


def test_create_get_finalize_logged_model(client, experiment_id):
    from mlflow.entities import LoggedModelStatus

    run_id = client.create_run(experiment_id).info.run_id
    before = int(time.time() * 1000)
    lm = client.create_logged_model(
        experiment_id, name="agent-a", source_run_id=run_id,
        tags={"team": "red"}, params={"lr": "0.1"}, model_type="agent",
    )
    mid = lm.model_id
    assert mid.startswith("m-") and len(mid) == 34
    assert lm.name == "agent-a"
    assert lm.experiment_id == experiment_id
    assert lm.source_run_id == run_id
    assert lm.model_type == "agent"
    assert _status(lm) == "PENDING"
    assert lm.params == {"lr": "0.1"}
    assert lm.tags["team"] == "red"
    assert lm.artifact_location == f"mlflow-artifacts:/{experiment_id}/models/{mid}/artifacts"
    assert before - 5000 <= lm.creation_timestamp <= int(time.time() * 1000) + 5000

    got = client.get_logged_model(mid)
    assert got.model_id == mid
    assert got.name == "agent-a"
    assert got.params == {"lr": "0.1"}
    assert got.tags["team"] == "red"

    client.log_model_params(mid, {"depth": "3"})
    assert client.get_logged_model(mid).params == {"lr": "0.1", "depth": "3"}

    done = client.finalize_logged_model(mid, LoggedModelStatus.READY)
    assert _status(done) == "READY"
    assert _status(client.get_logged_model(mid)) == "READY"


def test_logged_model_tags(client, experiment_id):
    lm = client.create_logged_model(experiment_id, name="tagged")
    mid = lm.model_id
    client.set_logged_model_tags(mid, {"a": "1", "b": "2"})
    client.set_logged_model_tags(mid, {"a": "3"})
    tags = client.get_logged_model(mid).tags
    assert tags["a"] == "3" and tags["b"] == "2"
    client.delete_logged_model_tag(mid, "a")
    tags = client.get_logged_model(mid).tags
    assert "a" not in tags and tags["b"] == "2"


def test_fluent_external_model_and_model_metrics(client, experiment_id):
    mlflow.set_experiment(experiment_id=experiment_id)
    with mlflow.start_run() as run:
        lm = mlflow.create_external_model(name="ext", params={"k": "v"}, tags={"t": "1"})
        mlflow.log_metric("acc", 0.75, model_id=lm.model_id)
        mlflow.log_metric("acc", 0.8, step=1, model_id=lm.model_id)
    got = client.get_logged_model(lm.model_id)
    assert got.source_run_id == run.info.run_id  # the active run
    assert got.params == {"k": "v"}
    assert got.tags["t"] == "1"
    # external models are ready immediately (nothing to upload)
    assert _status(got) == "READY"
    metrics = sorted((m.key, m.step, m.value, m.run_id) for m in got.metrics)
    assert metrics == [("acc", 0, 0.75, run.info.run_id), ("acc", 1, 0.8, run.info.run_id)]
    # the metrics are also run metrics
    assert client.get_run(run.info.run_id).data.metrics["acc"] == 0.8


def test_search_logged_models(client, experiment_id):
    from mlflow.entities import LoggedModelStatus

    other = client.create_experiment(unique("lm-other"))
    made = []
    for i in range(5):
        lm = client.create_logged_model(
            experiment_id, name=f"model-{i}", tags={"parity": "even" if i % 2 == 0 else "odd"},
            params={"i": str(i)},
        )
        if i < 3:
            client.finalize_logged_model(lm.model_id, LoggedModelStatus.READY)
        made.append(lm.model_id)
        time.sleep(0.002)  # distinct creation timestamps
    client.create_logged_model(other, name="elsewhere")

    found = client.search_logged_models(experiment_ids=[experiment_id])
    assert sorted(m.model_id for m in found) == sorted(made)
    # default order: newest first
    assert [m.model_id for m in found] == made[::-1]

    found = client.search_logged_models(experiment_ids=[experiment_id], filter_string="name = 'model-3'")
    assert [m.model_id for m in found] == [made[3]]
    found = client.search_logged_models(experiment_ids=[experiment_id], filter_string="tags.parity = 'even'")
    assert sorted(m.model_id for m in found) == sorted(made[0::2])
    found = client.search_logged_models(experiment_ids=[experiment_id], filter_string="params.i = '4'")
    assert [m.model_id for m in found] == [made[4]]
    found = client.search_logged_models(
        experiment_ids=[experiment_id],
        order_by=[{"field_name": "name", "ascending": True}],
    )
    assert [m.name for m in found] == [f"model-{i}" for i in range(5)]

    found = client.search_logged_models(experiment_ids=[experiment_id, other])
    assert len(found) == 6

    # pagination
    seen, token = [], None
    while True:
        page = client.search_logged_models(
            experiment_ids=[experiment_id], max_results=2, page_token=token,
            order_by=[{"field_name": "creation_time", "ascending": True}],
        )
        seen += [m.model_id for m in page]
        token = page.token
        if not token:
            break
    assert seen == made

    # fluent search returns a DataFrame by default
    df = mlflow.search_logged_models(experiment_ids=[experiment_id])
    assert sorted(df["model_id"]) == sorted(made)


def test_delete_logged_model(client, experiment_id):
    keep = client.create_logged_model(experiment_id, name="keep").model_id
    gone = client.create_logged_model(experiment_id, name="gone").model_id
    client.delete_logged_model(gone)
    with pytest.raises(MlflowException) as ei:
        client.get_logged_model(gone)
    assert ei.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert [m.model_id for m in client.search_logged_models(experiment_ids=[experiment_id])] == [keep]


def test_logged_model_errors(client, api, experiment_id):
    with pytest.raises(MlflowException) as ei:
        client.get_logged_model("m-" + "0" * 32)
    assert ei.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    r = api.get("logged-models/m-" + "0" * 32)
    assert r.status_code == 404
    assert r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as ei:
        client.create_logged_model("987654321", name="nowhere")
    assert ei.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_logged_models_raw_rest(api, experiment_id):
    r = api.post("logged-models", json={"experiment_id": experiment_id, "name": "raw",
                                        "tags": [{"key": "k", "value": "v"}]})
    assert r.status_code == 200, r.text
    model = r.json()["model"]
    info = model["info"]
    mid = info["model_id"]
    assert info["name"] == "raw"
    assert info["experiment_id"] == experiment_id
    assert isinstance(info["creation_timestamp_ms"], int)
    assert isinstance(info["last_updated_timestamp_ms"], int)
    assert info["status"] == "LOGGED_MODEL_PENDING"
    assert info["artifact_uri"] == f"mlflow-artifacts:/{experiment_id}/models/{mid}/artifacts"
    assert {"key": "k", "value": "v"} in info["tags"]

    # the client repeats model_id in the body, and MLflow requires it there
    r = api.post(f"logged-models/{mid}/params",
                 json={"model_id": mid, "params": [{"key": "p", "value": "1"}]})
    assert r.status_code == 200, r.text
    r = api.patch(f"logged-models/{mid}/tags", json={"tags": [{"key": "k2", "value": "v2"}]})
    assert r.status_code == 200, r.text
    r = api.delete(f"logged-models/{mid}/tags/k")
    assert r.status_code == 200, r.text
    r = api.patch(f"logged-models/{mid}", json={"model_id": mid, "status": "LOGGED_MODEL_READY"})
    assert r.status_code == 200, r.text
    assert r.json()["model"]["info"]["status"] == "LOGGED_MODEL_READY"

    r = api.get(f"logged-models/{mid}")
    model = r.json()["model"]
    info = model["info"]
    # params (and metrics) live under "data", tags under "info"
    assert model["data"]["params"] == [{"key": "p", "value": "1"}]
    assert {"key": "k2", "value": "v2"} in info["tags"]
    assert not any(t["key"] == "k" for t in info["tags"])

    r = api.post("logged-models/search", json={"experiment_ids": [experiment_id], "max_results": 10})
    assert r.status_code == 200
    assert [m["info"]["model_id"] for m in r.json()["models"]] == [mid]

    r = api.delete(f"logged-models/{mid}")
    assert r.status_code == 200
    r = api.get(f"logged-models/{mid}")
    assert r.status_code == 404


def _dataset_search_outcomes(url: str) -> dict:
    """Logs the same models and metrics on the server at url and returns,
    for each dataset search, the names of the models found (or the error)."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    c = MlflowClient(tracking_uri=url)
    exp = c.create_experiment(unique("lm-datasets"))
    run = c.create_run(exp).info.run_id
    ids = {n: c.create_logged_model(exp, name=n, source_run_id=run).model_id for n in "abcd"}
    c.log_batch(run, metrics=[
        Metric("acc", 0.9, 1000, 0, model_id=ids["a"], run_id=run),
        Metric("acc", 0.8, 1001, 0, model_id=ids["a"], dataset_name="train", dataset_digest="d1",
               run_id=run),
        Metric("acc", 0.3, 1001, 0, model_id=ids["b"], dataset_name="test", dataset_digest="d2",
               run_id=run),
        Metric("loss", 0.5, 1001, 0, model_id=ids["b"], dataset_name="train", dataset_digest="d1",
               run_id=run),
        Metric("loss", 0.2, 1001, 0, model_id=ids["c"], run_id=run),
    ])
    train = {"dataset_name": "train", "dataset_digest": "d1"}
    test = {"dataset_name": "test", "dataset_digest": "d2"}
    cases = {
        "none": ("", None),
        "train": ("", [train]),
        "test": ("", [test]),
        "train or test": ("", [train, test]),
        "name only": ("", [{"dataset_name": "train"}]),
        "wrong digest": ("", [{"dataset_name": "train", "dataset_digest": "d2"}]),
        "unknown": ("", [{"dataset_name": "nope", "dataset_digest": "d1"}]),
        "acc > 0.6": ("metrics.acc > 0.6", None),
        "acc > 0.6 on train": ("metrics.acc > 0.6", [train]),
        "acc > 0.85 on train": ("metrics.acc > 0.85", [train]),
        "acc > 0.2 on test": ("metrics.acc > 0.2", [test]),
        "acc > 0.4 on test": ("metrics.acc > 0.4", [test]),
        "loss < 1 on train": ("metrics.loss < 1", [train]),
        "name and train": ("name = 'b'", [train]),
        "name not on train": ("name = 'c'", [train]),
    }
    out = {}
    for label, (flt, datasets) in cases.items():
        found = c.search_logged_models([exp], filter_string=flt or None, datasets=datasets)
        out[label] = sorted(m.name for m in found)
    # a dataset without a name: the client does not send one (KeyError)
    for label, datasets in {"no name": [{"dataset_digest": "d1"}],
                            "empty name": [{"dataset_name": "", "dataset_digest": "d1"}]}.items():
        r = requests.post(f"{url}/api/2.0/mlflow/logged-models/search", timeout=60,
                          json={"experiment_ids": [exp], "datasets": datasets})
        out[label] = (r.status_code, r.json().get("error_code"), r.json().get("message"))
    return out


def test_search_logged_models_datasets_as_mlflow(server, reference):
    """``datasets`` narrows a logged-models search as MLflow's server does:
    models with a metric on one of the datasets (name and digest; a dataset
    given without a digest matches only metrics logged without one, since
    MLflow's handler passes the missing digest on as None, SQL ``IS NULL``),
    and metric comparisons count only metrics on them."""
    ours, theirs = _dataset_search_outcomes(server.url), _dataset_search_outcomes(reference.url)
    assert ours == theirs
    # the answers themselves, so that a change on both sides shows
    assert theirs["train"] == ["a", "b"] and theirs["name only"] == []
    assert theirs["acc > 0.6 on train"] == ["a"] and theirs["acc > 0.4 on test"] == []
    assert theirs["no name"][:2] == (400, "INVALID_PARAMETER_VALUE")
