"""Model logging/loading and sklearn autologging (brief items 7 and 8).

MLflow 2.x stores a model as run artifacts (runs:/<run>/<path>) and records
it with POST runs/log-model. MLflow 3.x creates a *logged model*
(models:/m-<id>) through the logged-models API, writes its files under
mlflow-artifacts:/<exp>/models/<model_id>/artifacts, links it to the run
with POST runs/outputs, and resolves runs:/<run>/<name> by searching logged
models when the run has no such artifact.
"""

import json

import mlflow
import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from conftest import IS_MLFLOW3, requires_mlflow2, requires_mlflow3


@pytest.fixture(scope="module")
def iris():
    data = load_iris(as_frame=True)
    X = data.data
    y = data.target
    return X, y


@pytest.fixture(scope="module")
def fitted(iris):
    X, y = iris
    return LogisticRegression(max_iter=500).fit(X, y)


@requires_mlflow2
def test_log_model_and_load_runs_uri_mlflow2(client, experiment_id, iris, fitted):
    X, _ = iris
    with mlflow.start_run(experiment_id=experiment_id) as run:
        info = mlflow.sklearn.log_model(fitted, artifact_path="model")
    run_id = run.info.run_id
    assert info.model_uri == f"runs:/{run_id}/model"

    files = {a.path for a in client.list_artifacts(run_id, "model")}
    assert {"model/MLmodel", "model/model.pkl", "model/requirements.txt"} <= files

    # runs/log-model records the model in the mlflow.log-model.history tag
    history = json.loads(client.get_run(run_id).data.tags["mlflow.log-model.history"])
    assert [h["artifact_path"] for h in history] == ["model"]
    assert history[0]["run_id"] == run_id
    assert "sklearn" in history[0]["flavors"]

    loaded = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))
    sk = mlflow.sklearn.load_model(f"runs:/{run_id}/model")
    np.testing.assert_array_equal(sk.predict_proba(X), fitted.predict_proba(X))


@requires_mlflow3
def test_log_model_and_load_mlflow3(client, experiment_id, iris, fitted):
    X, _ = iris
    with mlflow.start_run(experiment_id=experiment_id) as run:
        info = mlflow.sklearn.log_model(fitted, name="model", input_example=X.iloc[:3])
    run_id = run.info.run_id
    model_id = info.model_id
    assert model_id.startswith("m-")
    assert info.model_uri == f"models:/{model_id}"
    assert info.run_id == run_id

    lm = client.get_logged_model(model_id)
    assert lm.model_id == model_id
    assert lm.name == "model"
    assert lm.experiment_id == experiment_id
    assert lm.source_run_id == run_id
    assert str(lm.status) in ("READY", "LoggedModelStatus.READY")
    assert lm.artifact_location == f"mlflow-artifacts:/{experiment_id}/models/{model_id}/artifacts"

    # the run lists the model among its outputs (POST runs/outputs)
    outputs = client.get_run(run_id).outputs
    assert [o.model_id for o in outputs.model_outputs] == [model_id]

    # files live with the logged model, not in the run's artifact root
    files = {a.path for a in client.list_logged_model_artifacts(model_id)}
    assert {"MLmodel", "requirements.txt"} <= files
    assert client.list_artifacts(run_id) == []

    by_model_uri = mlflow.pyfunc.load_model(info.model_uri)
    np.testing.assert_array_equal(by_model_uri.predict(X), fitted.predict(X))

    # runs:/<run>/<name> still resolves in mlflow 3 (via logged-models/search)
    by_run_uri = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    np.testing.assert_array_equal(by_run_uri.predict(X), fitted.predict(X))

    sk = mlflow.sklearn.load_model(info.model_uri)
    np.testing.assert_array_equal(sk.predict_proba(X), fitted.predict_proba(X))


@requires_mlflow3
def test_log_model_outside_a_run_mlflow3(client, experiment_id, iris, fitted):
    """mlflow 3 can log a model with no active run: the logged model has no source run."""
    X, _ = iris
    mlflow.set_experiment(experiment_id=experiment_id)
    info = mlflow.sklearn.log_model(fitted, name="standalone")
    lm = client.get_logged_model(info.model_id)
    assert not lm.source_run_id  # MLflow sends "" (proto default)
    assert lm.experiment_id == experiment_id
    assert mlflow.active_run() is None
    loaded = mlflow.pyfunc.load_model(info.model_uri)
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))


def test_pyfunc_predictions_on_dataframe(experiment_id, iris):
    X, y = iris
    # (a pipeline, not a tree: mlflow 3 saves with skops, which distrusts trees)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(C=2.0, max_iter=500)).fit(X, y)
    with mlflow.start_run(experiment_id=experiment_id):
        if IS_MLFLOW3:
            info = mlflow.sklearn.log_model(pipe, name="pipe")
        else:
            info = mlflow.sklearn.log_model(pipe, artifact_path="pipe")
    loaded = mlflow.pyfunc.load_model(info.model_uri)
    pred = loaded.predict(pd.DataFrame(X))
    np.testing.assert_array_equal(np.asarray(pred), pipe.predict(X))


@pytest.fixture
def sklearn_autolog():
    mlflow.sklearn.autolog(log_input_examples=False, silent=True)
    yield
    mlflow.sklearn.autolog(disable=True)


def test_sklearn_autolog(client, experiment_id, iris, sklearn_autolog):
    X, y = iris
    with mlflow.start_run(experiment_id=experiment_id) as run:
        model = LogisticRegression(C=0.5, max_iter=300).fit(X, y)
    run_id = run.info.run_id
    data = client.get_run(run_id).data

    assert data.params["C"] == "0.5"
    assert data.params["max_iter"] == "300"
    assert "solver" in data.params
    assert data.tags["estimator_name"] == "LogisticRegression"
    assert data.tags["estimator_class"] == "sklearn.linear_model._logistic.LogisticRegression"
    for m in ("training_accuracy_score", "training_f1_score", "training_score"):
        assert m in data.metrics, sorted(data.metrics)
    assert data.metrics["training_accuracy_score"] == pytest.approx(model.score(X, y))

    if IS_MLFLOW3:
        models = client.search_logged_models(
            experiment_ids=[experiment_id], filter_string=f"source_run_id = '{run_id}'"
        )
        assert len(models) == 1
        uri = f"models:/{models[0].model_id}"
        # autolog also records the training metrics on the logged model
        assert {m.key for m in models[0].metrics} >= {"training_accuracy_score"}
    else:
        assert "model" in {a.path for a in client.list_artifacts(run_id)}
        uri = f"runs:/{run_id}/model"
    loaded = mlflow.pyfunc.load_model(uri)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
