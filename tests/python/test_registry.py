"""Model registry: registered models, model versions, stages, aliases.

Every expectation was recorded from MLflow's own server (2.22.5 and 3.x,
sqlite backend, --serve-artifacts). Client calls check the MlflowException
error_code (and HTTP status); raw calls check status and JSON body.

Where the two reference versions differ, ``reference_behaviour`` picks the
installed version's answer against MLflow and accepts either against Lode.
How the fluent client registers a ``runs:/`` URI differs by client version
(not by server): 2.x resolves it to the run's artifact URI
(``mlflow-artifacts:/<exp>/<run>/artifacts/<path>``) before calling
``model-versions/create``; 3.x finds the logged model behind the run
(``logged-models/search``) and registers ``models:/<model_id>`` with
``model_id`` set, and the server resolves that source to the logged model's
artifact location in ``model-versions/get-download-uri``.
"""

from __future__ import annotations

import time

import mlflow
import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
import pytest
from mlflow.exceptions import MlflowException
from sklearn.linear_model import LinearRegression

from conftest import IS_MLFLOW3, reference_behaviour, unique

UNKNOWN_RUN = "f" * 32


# ---------------------------------------------------------------------------
# helpers


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


def assert_client_error(code, status, fn, *args, **kwargs):
    e = client_error(fn, *args, **kwargs)
    assert e.error_code == code, (fn.__name__, e.error_code, e.message)
    assert e.get_http_status_code() == status, (fn.__name__, e.get_http_status_code())
    return e


def now_ms() -> int:
    return int(time.time() * 1000)


def log_sklearn_model(model, path="model", **kwargs):
    """mlflow.sklearn.log_model with the name/artifact_path spelling of the client."""
    if IS_MLFLOW3:
        return mlflow.sklearn.log_model(model, name=path, **kwargs)
    return mlflow.sklearn.log_model(model, artifact_path=path, **kwargs)


@pytest.fixture(scope="module")
def data():
    X = np.array([[1.0, 0.5], [2.0, -1.0], [3.0, 2.0]])
    y = np.array([2.0, 4.5, 5.0])
    return X, y


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return LinearRegression().fit(X, y)


@pytest.fixture(scope="module")
def logged(server, fitted):
    """One run with a logged sklearn model, shared by the module (logging is slow)."""
    from mlflow.tracking import MlflowClient

    exp_id = MlflowClient(server.url).create_experiment(unique("registry"))
    with mlflow.start_run(experiment_id=exp_id) as run:
        info = log_sklearn_model(fitted)
    return {"experiment_id": exp_id, "run_id": run.info.run_id, "info": info}


@pytest.fixture
def model_name(client):
    name = unique("rm")
    client.create_registered_model(name)
    return name


# ---------------------------------------------------------------------------
# registering and loading


def test_register_model_from_runs_uri(client, logged, data, fitted):
    X, _ = data
    run_id, exp_id = logged["run_id"], logged["experiment_id"]
    name = unique("reg")
    t0 = now_ms()
    mv = mlflow.register_model(f"runs:/{run_id}/model", name)
    t1 = now_ms()

    assert mv.name == name
    assert mv.version == "1"  # versions are strings on the wire and in the client
    assert mv.run_id == run_id
    assert mv.current_stage == "None"  # the string "None", not null
    assert mv.status == "READY"
    assert mv.description == ""
    assert mv.tags == {}
    assert mv.aliases == []
    assert t0 <= mv.creation_timestamp <= t1  # milliseconds since the epoch
    assert mv.last_updated_timestamp == mv.creation_timestamp

    if IS_MLFLOW3:
        model_id = logged["info"].model_id
        # 3.x: the run holds no artifacts; the client registers the logged model
        assert mv.source == f"models:/{model_id}"
        expected_download = f"mlflow-artifacts:/{exp_id}/models/{model_id}/artifacts"
    else:
        # 2.x: the client resolves runs:/ to the run's artifact location
        assert mv.source == f"mlflow-artifacts:/{exp_id}/{run_id}/artifacts/model"
        expected_download = mv.source
    assert client.get_model_version_download_uri(name, "1") == expected_download

    rm = client.get_registered_model(name)
    assert rm.name == name
    assert rm.description == ""
    assert rm.tags == {}
    assert rm.aliases == {}
    assert t0 <= rm.creation_timestamp <= mv.creation_timestamp
    # creating a version touches the registered model
    assert rm.last_updated_timestamp == mv.creation_timestamp
    assert [(v.name, v.version, v.current_stage) for v in rm.latest_versions] == [(name, "1", "None")]

    # registering again into the existing model: version 2, same source
    mv2 = mlflow.register_model(f"runs:/{run_id}/model", name)
    assert mv2.version == "2"
    assert mv2.source == mv.source

    loaded = mlflow.pyfunc.load_model(f"models:/{name}/1")
    np.testing.assert_allclose(loaded.predict(X), fitted.predict(X))
    loaded = mlflow.pyfunc.load_model(f"models:/{name}/latest")
    np.testing.assert_allclose(loaded.predict(X), fitted.predict(X))


def test_log_model_with_registered_model_name(client, experiment_id, data, fitted):
    X, _ = data
    name = unique("logreg")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        info = log_sklearn_model(fitted, registered_model_name=name)
    assert int(info.registered_model_version) == 1

    mv = client.get_model_version(name, "1")
    assert mv.run_id == run.info.run_id
    assert mv.status == "READY"
    if IS_MLFLOW3:
        assert mv.source == f"models:/{info.model_id}"
    else:
        assert mv.source == f"mlflow-artifacts:/{experiment_id}/{run.info.run_id}/artifacts/model"

    client.set_registered_model_alias(name, "champion", "1")
    by_version = mlflow.pyfunc.load_model(f"models:/{name}/1")
    by_alias = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    by_stage = mlflow.pyfunc.load_model(f"models:/{name}/None")  # latest version in stage None
    for loaded in (by_version, by_alias, by_stage):
        np.testing.assert_allclose(loaded.predict(X), fitted.predict(X))


def test_create_model_version_from_runs_source_and_load(client, logged, data, fitted):
    """A runs:/ source is stored verbatim and get-download-uri hands it back as is."""
    X, _ = data
    run_id = logged["run_id"]
    name = unique("mv")
    client.create_registered_model(name)
    source = f"runs:/{run_id}/model"
    mv = client.create_model_version(name, source, run_id=run_id, tags={"k": "v"},
                                     description="from a run")
    assert (mv.name, mv.version, mv.source, mv.run_id) == (name, "1", source, run_id)
    assert mv.tags == {"k": "v"}
    assert mv.description == "from a run"
    assert mv.run_link == ""
    assert mv.current_stage == "None"
    assert mv.status == "READY"
    assert client.get_model_version_download_uri(name, "1") == source

    if IS_MLFLOW3:
        # The 3.x client cannot load such a version when the model is a logged
        # model (the run itself holds no artifacts): "Could not find an MLmodel".
        # The 3.x way is a models:/<model_id> source with model_id set.
        model_id = logged["info"].model_id
        mv = client.create_model_version(name, f"models:/{model_id}", run_id=run_id,
                                         model_id=model_id)
        assert (mv.version, mv.source) == ("2", f"models:/{model_id}")
        assert client.get_model_version_download_uri(name, "2") == (
            f"mlflow-artifacts:/{logged['experiment_id']}/models/{model_id}/artifacts")
        version = "2"
    else:
        version = "1"
    client.set_registered_model_alias(name, "prod", version)
    for uri in (f"models:/{name}/{version}", f"models:/{name}@prod"):
        loaded = mlflow.pyfunc.load_model(uri)
        np.testing.assert_allclose(loaded.predict(X), fitted.predict(X))


# ---------------------------------------------------------------------------
# registered models


def test_create_and_get_registered_model(client, api):
    name = unique("rm")
    t0 = now_ms()
    rm = client.create_registered_model(name, tags={"team": "ml", "k.dot": "v"},
                                        description="my model")
    t1 = now_ms()
    assert rm.name == name
    assert rm.description == "my model"
    assert rm.tags == {"team": "ml", "k.dot": "v"}
    assert rm.latest_versions == []
    assert rm.aliases == {}
    assert t0 <= rm.creation_timestamp <= t1
    assert rm.last_updated_timestamp == rm.creation_timestamp

    got = client.get_registered_model(name)
    assert (got.name, got.description, got.tags, got.creation_timestamp, got.last_updated_timestamp) == (
        name, "my model", {"team": "ml", "k.dot": "v"}, rm.creation_timestamp, rm.last_updated_timestamp
    )

    # raw: empty collections are left out of the JSON, timestamps are integers
    body = api.get("registered-models/get", params={"name": name}).json()["registered_model"]
    assert body["name"] == name
    assert body["description"] == "my model"
    assert isinstance(body["creation_timestamp"], int)
    assert sorted((t["key"], t["value"]) for t in body["tags"]) == [("k.dot", "v"), ("team", "ml")]
    assert "latest_versions" not in body
    assert "aliases" not in body


def test_duplicate_registered_model_name(client, api, model_name):
    assert_client_error("RESOURCE_ALREADY_EXISTS", 400, client.create_registered_model, model_name)
    assert_error(api.post("registered-models/create", json={"name": model_name}), 400,
                 "RESOURCE_ALREADY_EXISTS")


def test_unknown_registered_model(client, api):
    name = unique("nope")
    for fn, args, kwargs in [
        (client.get_registered_model, (name,), {}),
        (client.update_registered_model, (name,), {"description": "d"}),
        (client.rename_registered_model, (name, unique("new")), {}),
        (client.delete_registered_model, (name,), {}),
        (client.set_registered_model_tag, (name, "k", "v"), {}),
        (client.get_latest_versions, (name,), {}),
        (client.create_model_version, (name, "s3://bucket/model"), {}),
    ]:
        assert_client_error("RESOURCE_DOES_NOT_EXIST", 404, fn, *args, **kwargs)
    assert_error(api.get("registered-models/get", params={"name": name}), 404, "RESOURCE_DOES_NOT_EXIST")
    # a missing name is a parameter error, not "not found"
    assert_error(api.post("registered-models/create", json={"name": ""}), 400, "INVALID_PARAMETER_VALUE")
    assert_error(api.post("registered-models/create", json={}), 400, "INVALID_PARAMETER_VALUE")


def test_invalid_registered_model_names(server, client, api):
    """3.x refuses '/' and ':' in names (INVALID_PARAMETER_VALUE); 2.x accepts them."""
    for bad in (unique("a/b"), unique("a:b")):
        r = api.post("registered-models/create", json={"name": bad})
        outcome = (r.status_code, r.json().get("error_code"))
        assert outcome in reference_behaviour(
            server, mlflow2=(200, None), mlflow3=(400, "INVALID_PARAMETER_VALUE")
        ), r.text
    if server.kind == "mlflow" and IS_MLFLOW3:
        assert_client_error("INVALID_PARAMETER_VALUE", 400, client.create_registered_model, unique("x/y"))
    # other punctuation and spaces are fine
    for ok in (unique("a.b"), unique("with space"), unique("a%2fb")):
        assert client.create_registered_model(ok).name == ok
        assert client.get_registered_model(ok).name == ok


def test_update_registered_model_description(client, model_name):
    before = client.get_registered_model(model_name)
    time.sleep(0.01)
    updated = client.update_registered_model(model_name, description="new description")
    assert updated.description == "new description"
    assert updated.creation_timestamp == before.creation_timestamp
    assert updated.last_updated_timestamp > before.last_updated_timestamp
    got = client.get_registered_model(model_name)
    assert got.description == "new description"
    assert got.last_updated_timestamp == updated.last_updated_timestamp


def test_registered_model_tags(client, api, model_name):
    client.set_registered_model_tag(model_name, "team", "a")
    client.set_registered_model_tag(model_name, "k.dot", "v")
    client.set_registered_model_tag(model_name, "team", "b")  # overwrite
    assert client.get_registered_model(model_name).tags == {"team": "b", "k.dot": "v"}
    client.delete_registered_model_tag(model_name, "k.dot")
    assert client.get_registered_model(model_name).tags == {"team": "b"}
    # deleting a tag that is not there is not an error
    client.delete_registered_model_tag(model_name, "never-set")
    assert client.get_registered_model(model_name).tags == {"team": "b"}
    # raw: DELETE with a JSON body, like the client sends it
    r = api.delete("registered-models/delete-tag", json={"name": model_name, "key": "team"})
    assert r.status_code == 200 and r.json() == {}, r.text
    assert client.get_registered_model(model_name).tags == {}


def test_rename_registered_model(client, api, logged):
    run_id = logged["run_id"]
    old, new = unique("old"), unique("new")
    client.create_registered_model(old, tags={"t": "1"}, description="d")
    for _ in range(2):
        client.create_model_version(old, f"runs:/{run_id}/model", run_id=run_id)
    client.set_registered_model_alias(old, "champ", "2")
    client.set_model_version_tag(old, "1", "mk", "mv")

    client.rename_registered_model(old, new)

    assert_client_error("RESOURCE_DOES_NOT_EXIST", 404, client.get_registered_model, old)
    assert_client_error("RESOURCE_DOES_NOT_EXIST", 404, client.get_model_version, old, "1")
    rm = client.get_registered_model(new)
    assert (rm.description, rm.tags, rm.aliases) == ("d", {"t": "1"}, {"champ": "2"})
    # versions follow the rename
    v1 = client.get_model_version(new, "1")
    assert (v1.name, v1.tags, v1.source) == (new, {"mk": "mv"}, f"runs:/{run_id}/model")
    assert client.get_model_version_by_alias(new, "champ").version == "2"
    assert [v.name for v in rm.latest_versions] == [new]
    assert [v.version for v in client.search_model_versions(f"name='{new}'",
                                                            order_by=["version_number ASC"])] == ["1", "2"]
    assert client.search_model_versions(f"name='{old}'") == []
    # next version continues the numbering under the new name
    assert client.create_model_version(new, f"runs:/{run_id}/model", run_id=run_id).version == "3"

    # renaming onto an existing name
    other = unique("other")
    client.create_registered_model(other)
    assert_client_error("RESOURCE_ALREADY_EXISTS", 400, client.rename_registered_model, new, other)
    # missing new_name
    assert_error(api.post("registered-models/rename", json={"name": new}), 400, "INVALID_PARAMETER_VALUE")
    # raw: the answer is the renamed model, with its versions under the new name
    newer = unique("newer")
    r = api.post("registered-models/rename", json={"name": new, "new_name": newer})
    assert r.status_code == 200, r.text
    body = r.json()["registered_model"]
    assert body["name"] == newer
    assert {v["name"] for v in body["latest_versions"]} == {newer}


def test_delete_registered_model(client, logged):
    run_id = logged["run_id"]
    name = unique("del")
    client.create_registered_model(name)
    client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id)
    client.set_registered_model_alias(name, "a", "1")
    client.delete_registered_model(name)
    assert_client_error("RESOURCE_DOES_NOT_EXIST", 404, client.get_registered_model, name)
    assert_client_error("RESOURCE_DOES_NOT_EXIST", 404, client.get_model_version, name, "1")
    assert_client_error("RESOURCE_DOES_NOT_EXIST", 404, client.delete_registered_model, name)
    assert client.search_model_versions(f"name='{name}'") == []
    # the name is free again and numbering starts over
    client.create_registered_model(name)
    assert client.create_model_version(name, "s3://bucket/model").version == "1"
    assert client.get_registered_model(name).aliases == {}


def test_search_registered_models(client):
    prefix = unique("srch")
    names = [f"{prefix}-a", f"{prefix}-b", f"{prefix}-c"]
    client.create_registered_model(names[1], tags={"team": "x"})
    client.create_registered_model(names[0], tags={"team": "y"})
    client.create_registered_model(names[2])

    def found(*args, **kwargs):
        return [m.name for m in client.search_registered_models(*args, **kwargs)]

    # default order is name ASC
    assert found(f"name LIKE '{prefix}%'") == names
    assert found(f"name LIKE '{prefix}%'", order_by=["name ASC"]) == names
    assert found(f"name LIKE '{prefix}%'", order_by=["name DESC"]) == names[::-1]
    assert found(f"name ILIKE '{prefix.upper()}%'") == names
    assert found(f"name LIKE '{prefix.upper()}%'") == []  # LIKE is case-sensitive
    assert found(f"name = '{names[0].upper()}'") == []
    assert found(f"name = '{names[0]}'") == [names[0]]
    assert found(f"name LIKE '%{prefix[-12:]}-_'") == names
    assert found(f"tags.team = 'x' AND name LIKE '{prefix}%'") == [names[1]]
    assert found(f"name = '{unique('none')}'") == []

    # pagination
    page1 = client.search_registered_models(f"name LIKE '{prefix}%'", max_results=2,
                                            order_by=["name ASC"])
    assert [m.name for m in page1] == names[:2]
    assert page1.token
    page2 = client.search_registered_models(f"name LIKE '{prefix}%'", max_results=2,
                                            order_by=["name ASC"], page_token=page1.token)
    assert [m.name for m in page2] == names[2:]
    assert not page2.token
    # a page that is exactly full has no next token
    full = client.search_registered_models(f"name LIKE '{prefix}%'", max_results=3)
    assert [m.name for m in full] == names
    assert not full.token

    # search results carry tags
    tagged = client.search_registered_models(f"name = '{names[1]}'")
    assert tagged[0].tags == {"team": "x"}

    for bad_filter in ("bogus = 'x'", "run_id = 'x'"):
        assert_client_error("INVALID_PARAMETER_VALUE", 400, client.search_registered_models, bad_filter)
    assert_client_error("INVALID_PARAMETER_VALUE", 400, client.search_registered_models,
                        order_by=["bogus ASC"])
    assert_client_error("INVALID_PARAMETER_VALUE", 400, client.search_registered_models,
                        page_token="garbage")


def test_search_registered_models_rest(api):
    prefix = unique("rsrch")
    for n in ("1", "2", "3"):
        assert api.post("registered-models/create", json={"name": f"{prefix}-{n}"}).status_code == 200
    r = api.get("registered-models/search",
                params={"filter": f"name LIKE '{prefix}%'", "max_results": 2, "order_by": "name DESC"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [m["name"] for m in body["registered_models"]] == [f"{prefix}-3", f"{prefix}-2"]
    r = api.get("registered-models/search",
                params={"filter": f"name LIKE '{prefix}%'", "max_results": 2, "order_by": "name DESC",
                        "page_token": body["next_page_token"]})
    assert r.status_code == 200, r.text
    assert [m["name"] for m in r.json()["registered_models"]] == [f"{prefix}-1"]
    assert "next_page_token" not in r.json()
    # at most 1000 per page
    assert api.get("registered-models/search", params={"max_results": 1000}).status_code == 200
    assert_error(api.get("registered-models/search", params={"max_results": 1001}), 400,
                 "INVALID_PARAMETER_VALUE")


# ---------------------------------------------------------------------------
# model versions


def test_model_version_crud(client, api, model_name, logged):
    run_id = logged["run_id"]
    source = f"runs:/{run_id}/model"
    versions = [client.create_model_version(model_name, source, run_id=run_id).version for _ in range(3)]
    assert versions == ["1", "2", "3"]

    mv = client.get_model_version(model_name, "2")
    assert (mv.name, mv.version, mv.source, mv.run_id, mv.current_stage) == (
        model_name, "2", source, run_id, "None")

    before = mv.last_updated_timestamp
    time.sleep(0.01)
    updated = client.update_model_version(model_name, "2", description="second")
    assert updated.description == "second"
    assert updated.last_updated_timestamp > before
    assert client.get_model_version(model_name, "2").description == "second"

    client.set_model_version_tag(model_name, "2", "a", "1")
    client.set_model_version_tag(model_name, "2", "b", "2")
    client.set_model_version_tag(model_name, "2", "a", "3")
    assert client.get_model_version(model_name, "2").tags == {"a": "3", "b": "2"}
    client.delete_model_version_tag(model_name, "2", "b")
    client.delete_model_version_tag(model_name, "2", "never-set")  # no error
    assert client.get_model_version(model_name, "2").tags == {"a": "3"}

    # delete the highest version: numbers are never reused
    client.delete_model_version(model_name, "3")
    assert_client_error("RESOURCE_DOES_NOT_EXIST", 404, client.get_model_version, model_name, "3")
    assert_client_error("RESOURCE_DOES_NOT_EXIST", 404, client.delete_model_version, model_name, "3")
    assert client.create_model_version(model_name, source, run_id=run_id).version == "4"
    client.delete_model_version(model_name, "1")
    assert [v.version for v in client.search_model_versions(
        f"name='{model_name}'", order_by=["version_number ASC"])] == ["2", "4"]
    assert {v.version for v in client.get_registered_model(model_name).latest_versions} == {"4"}

    # raw: model version JSON
    body = api.get("model-versions/get", params={"name": model_name, "version": "2"}).json()
    mvj = body["model_version"]
    assert mvj["version"] == "2"  # a string
    assert mvj["current_stage"] == "None"
    assert mvj["status"] == "READY"
    assert mvj["tags"] == [{"key": "a", "value": "3"}]
    assert isinstance(mvj["creation_timestamp"], int)
    assert "aliases" not in mvj  # empty lists are left out


def test_unknown_model_version(client, api, model_name):
    for fn, args, kwargs in [
        (client.get_model_version, (model_name, "99"), {}),
        (client.update_model_version, (model_name, "99"), {"description": "d"}),
        (client.delete_model_version, (model_name, "99"), {}),
        (client.set_model_version_tag, (model_name, "99", "k", "v"), {}),
        (client.get_model_version_download_uri, (model_name, "99"), {}),
        (client.transition_model_version_stage, (model_name, "99", "Staging"), {}),
        (client.set_registered_model_alias, (model_name, "a", "99"), {}),
        (client.get_model_version, (unique("nope"), "1"), {}),
    ]:
        assert_client_error("RESOURCE_DOES_NOT_EXIST", 404, fn, *args, **kwargs)
    assert_error(api.get("model-versions/get", params={"name": model_name, "version": "99"}),
                 404, "RESOURCE_DOES_NOT_EXIST")
    # a version that is not a number is a parameter error
    assert_error(api.get("model-versions/get", params={"name": model_name, "version": "abc"}), 400,
                 "INVALID_PARAMETER_VALUE")
    assert_error(api.post("model-versions/create", json={"name": model_name}), 400,
                 "INVALID_PARAMETER_VALUE")


def test_stage_transitions(client, api, model_name):
    for _ in range(3):
        client.create_model_version(model_name, "s3://bucket/model")

    staged = client.transition_model_version_stage(model_name, "1", "Staging")
    assert staged.current_stage == "Staging"
    # stage names are case-insensitive and come back canonical
    prod1 = client.transition_model_version_stage(model_name, "1", "production")
    assert prod1.current_stage == "Production"
    client.transition_model_version_stage(model_name, "2", "Staging")

    # archive_existing_versions=True archives the versions already in the target stage only
    prod3 = client.transition_model_version_stage(model_name, "3", "Production",
                                                  archive_existing_versions=True)
    assert prod3.current_stage == "Production"
    stages = {v.version: v.current_stage
              for v in client.search_model_versions(f"name='{model_name}'")}
    assert stages == {"1": "Archived", "2": "Staging", "3": "Production"}

    # latest version per stage
    latest = client.get_latest_versions(model_name)
    assert sorted((v.version, v.current_stage) for v in latest) == [
        ("1", "Archived"), ("2", "Staging"), ("3", "Production")]
    assert [v.version for v in client.get_latest_versions(model_name, stages=["Production"])] == ["3"]
    assert [v.version for v in client.get_latest_versions(model_name, stages=["archived"])] == ["1"]
    assert client.get_latest_versions(model_name, stages=["None"]) == []
    assert sorted(v.version for v in client.get_registered_model(model_name).latest_versions) == [
        "1", "2", "3"]

    # without archive_existing_versions two versions can share a stage
    client.transition_model_version_stage(model_name, "1", "Production")
    stages = {v.version: v.current_stage for v in client.search_model_versions(f"name='{model_name}'")}
    assert stages == {"1": "Production", "2": "Staging", "3": "Production"}
    assert [v.version for v in client.get_latest_versions(model_name, stages=["Production"])] == ["3"]

    assert_client_error("INVALID_PARAMETER_VALUE", 400, client.transition_model_version_stage,
                        model_name, "1", "Bogus")
    assert_client_error("INVALID_PARAMETER_VALUE", 400, client.get_latest_versions, model_name,
                        stages=["Bogus"])

    # raw endpoint; archive_existing_versions may be left out
    r = api.post("model-versions/transition-stage",
                 json={"name": model_name, "version": "2", "stage": "Archived"})
    assert r.status_code == 200, r.text
    assert r.json()["model_version"]["current_stage"] == "Archived"


def test_archive_existing_into_inactive_stage(server, api, model_name):
    """MLflow answers 500 INTERNAL_ERROR (an MlflowException without a code) when
    archive_existing_versions is set for a stage other than Staging/Production;
    Lode may answer 400 INVALID_PARAMETER_VALUE instead."""
    api.post("model-versions/create", json={"name": model_name, "source": "s3://bucket/model"})
    r = api.post("model-versions/transition-stage",
                 json={"name": model_name, "version": "1", "stage": "Archived",
                       "archive_existing_versions": True})
    allowed = {(500, "INTERNAL_ERROR")}
    if server.kind != "mlflow":
        allowed.add((400, "INVALID_PARAMETER_VALUE"))
    assert (r.status_code, r.json().get("error_code")) in allowed, r.text


def test_search_model_versions(client, api, logged):
    run_id = logged["run_id"]
    other_run = client.create_run(logged["experiment_id"]).info.run_id
    a, b = unique("smv-a"), unique("smv-b")
    for n in (a, b):
        client.create_registered_model(n)
    client.create_model_version(a, f"runs:/{run_id}/model", run_id=run_id)
    client.create_model_version(a, f"runs:/{other_run}/model", run_id=other_run)
    client.create_model_version(b, f"runs:/{other_run}/model", run_id=other_run)

    def found(filter_string, **kw):
        return [(v.name, v.version) for v in client.search_model_versions(filter_string, **kw)]

    assert found(f"name='{a}'", order_by=["version_number ASC"]) == [(a, "1"), (a, "2")]
    assert found(f"name='{a}'", order_by=["version_number DESC"]) == [(a, "2"), (a, "1")]
    assert sorted(found(f"run_id='{other_run}'")) == [(a, "2"), (b, "1")]
    assert found(f"name='{b}' and run_id='{other_run}'") == [(b, "1")]
    assert found(f"name='{a}' and run_id='{UNKNOWN_RUN}'") == []
    assert sorted(found(f"name LIKE '{a}%'")) == [(a, "1"), (a, "2")]
    assert found(f"name LIKE '{a.upper()}%'") == []
    assert sorted(found(f"name ILIKE '{a.upper()}%'")) == [(a, "1"), (a, "2")]
    assert found(f"name='{unique('none')}'") == []
    assert_client_error("INVALID_PARAMETER_VALUE", 400, client.search_model_versions, "bogus='x'")

    r = api.get("model-versions/search", params={"filter": f"name='{a}'"})
    assert r.status_code == 200, r.text
    assert sorted(v["version"] for v in r.json()["model_versions"]) == ["1", "2"]


def test_get_latest_versions_rest(api, model_name):
    for _ in range(2):
        api.post("model-versions/create", json={"name": model_name, "source": "s3://bucket/model"})
    # the client sends POST with a JSON body; GET with a query works too
    r = api.post("registered-models/get-latest-versions", json={"name": model_name, "stages": ["None"]})
    assert r.status_code == 200, r.text
    assert [v["version"] for v in r.json()["model_versions"]] == ["2"]
    r = api.get("registered-models/get-latest-versions", params={"name": model_name})
    assert r.status_code == 200, r.text
    assert [v["version"] for v in r.json()["model_versions"]] == ["2"]


# ---------------------------------------------------------------------------
# aliases


def test_aliases(client, api, model_name):
    for _ in range(2):
        client.create_model_version(model_name, "s3://bucket/model")
    client.set_registered_model_alias(model_name, "champion", "1")
    client.set_registered_model_alias(model_name, "challenger", "2")
    client.set_registered_model_alias(model_name, "v1a", "2")  # only v<digits> is reserved

    mv = client.get_model_version_by_alias(model_name, "champion")
    assert (mv.name, mv.version) == (model_name, "1")
    assert mv.aliases == ["champion"]
    assert client.get_registered_model(model_name).aliases == {
        "champion": "1", "challenger": "2", "v1a": "2"}
    assert sorted(client.get_model_version(model_name, "2").aliases) == ["challenger", "v1a"]

    # moving an alias
    client.set_registered_model_alias(model_name, "champion", "2")
    assert client.get_model_version_by_alias(model_name, "champion").version == "2"
    assert client.get_model_version(model_name, "1").aliases == []

    # wire format: registered model aliases are {alias, version} objects,
    # model version aliases are plain strings
    rm = api.get("registered-models/get", params={"name": model_name}).json()["registered_model"]
    assert sorted((a["alias"], a["version"]) for a in rm["aliases"]) == [
        ("challenger", "2"), ("champion", "2"), ("v1a", "2")]
    r = api.get("registered-models/alias", params={"name": model_name, "alias": "champion"})
    assert r.status_code == 200, r.text
    mvj = r.json()["model_version"]
    assert mvj["version"] == "2"
    assert sorted(mvj["aliases"]) == ["challenger", "champion", "v1a"]

    client.delete_registered_model_alias(model_name, "challenger")
    assert client.get_registered_model(model_name).aliases == {"champion": "2", "v1a": "2"}
    # deleting an alias that is not set is not an error
    client.delete_registered_model_alias(model_name, "challenger")
    # an unknown alias is INVALID_PARAMETER_VALUE (400), not RESOURCE_DOES_NOT_EXIST
    assert_client_error("INVALID_PARAMETER_VALUE", 400, client.get_model_version_by_alias,
                        model_name, "challenger")

    # raw: DELETE with a JSON body, like the client sends it
    r = api.delete("registered-models/alias", json={"name": model_name, "alias": "v1a"})
    assert r.status_code == 200 and r.json() == {}, r.text
    assert client.get_registered_model(model_name).aliases == {"champion": "2"}


def test_reserved_alias_names(client, api, model_name):
    client.create_model_version(model_name, "s3://bucket/model")
    for alias in ("latest", "Latest", "LATEST", "v1", "V12", "v007"):
        assert_client_error("INVALID_PARAMETER_VALUE", 400, client.set_registered_model_alias,
                            model_name, alias, "1")
        assert_error(api.post("registered-models/alias",
                              json={"name": model_name, "alias": alias, "version": "1"}),
                     400, "INVALID_PARAMETER_VALUE")
    assert client.get_registered_model(model_name).aliases == {}


def test_alias_of_deleted_version(server, client, api, model_name):
    """3.x drops the aliases of a deleted version; 2.x keeps them dangling (its
    delete compares the alias's integer version with the request's string) and
    get-by-alias then answers 404 for the missing version."""
    for _ in range(2):
        client.create_model_version(model_name, "s3://bucket/model")
    client.set_registered_model_alias(model_name, "gone", "1")
    client.set_registered_model_alias(model_name, "kept", "2")
    client.delete_model_version(model_name, "1")

    aliases = client.get_registered_model(model_name).aliases
    assert aliases in reference_behaviour(
        server, mlflow2={"gone": "1", "kept": "2"}, mlflow3={"kept": "2"})
    r = api.get("registered-models/alias", params={"name": model_name, "alias": "gone"})
    assert (r.status_code, r.json()["error_code"]) in reference_behaviour(
        server, mlflow2=(404, "RESOURCE_DOES_NOT_EXIST"), mlflow3=(400, "INVALID_PARAMETER_VALUE"))
    assert client.get_model_version_by_alias(model_name, "kept").version == "2"


def test_alias_of_unknown_model(server, api):
    name = unique("nope")
    r = api.get("registered-models/alias", params={"name": name, "alias": "a"})
    assert (r.status_code, r.json()["error_code"]) in reference_behaviour(
        server, mlflow2=(400, "INVALID_PARAMETER_VALUE"), mlflow3=(404, "RESOURCE_DOES_NOT_EXIST"))
    r = api.post("registered-models/alias", json={"name": name, "alias": "a", "version": "1"})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST")


# ---------------------------------------------------------------------------
# raw REST


def test_registry_under_ajax_api(api):
    ajax = "/ajax-api/2.0/mlflow/"
    name = unique("ajax")
    r = api.post("registered-models/create", json={"name": name, "description": "via ajax"}, prefix=ajax)
    assert r.status_code == 200, r.text
    assert r.json()["registered_model"]["name"] == name
    r = api.post("model-versions/create", json={"name": name, "source": "s3://bucket/model"},
                 prefix=ajax)
    assert r.status_code == 200, r.text
    assert r.json()["model_version"]["version"] == "1"
    r = api.get("registered-models/get", params={"name": name}, prefix=ajax)
    assert r.status_code == 200, r.text
    rm = r.json()["registered_model"]
    assert rm["description"] == "via ajax"
    assert [v["version"] for v in rm["latest_versions"]] == ["1"]
    r = api.get("registered-models/search", params={"filter": f"name = '{name}'"}, prefix=ajax)
    assert r.status_code == 200, r.text
    assert [m["name"] for m in r.json()["registered_models"]] == [name]
    r = api.get("model-versions/search", params={"filter": f"name = '{name}'"}, prefix=ajax)
    assert r.status_code == 200, r.text
    assert [v["version"] for v in r.json()["model_versions"]] == ["1"]
    r = api.patch("model-versions/update", json={"name": name, "version": "1", "description": "x"},
                  prefix=ajax)
    assert r.status_code == 200, r.text
    assert r.json()["model_version"]["description"] == "x"
    r = api.get("model-versions/get-download-uri", params={"name": name, "version": "1"}, prefix=ajax)
    assert r.status_code == 200, r.text
    assert r.json() == {"artifact_uri": "s3://bucket/model"}
    r = api.delete("registered-models/delete", json={"name": name}, prefix=ajax)
    assert r.status_code == 200 and r.json() == {}, r.text
    assert_error(api.get("registered-models/get", params={"name": name}, prefix=ajax), 404,
                 "RESOURCE_DOES_NOT_EXIST")


def test_model_version_sources_accepted(client, api, model_name, logged):
    run_id, exp_id = logged["run_id"], logged["experiment_id"]
    for i, (source, rid) in enumerate([
        (f"runs:/{run_id}/model", run_id),
        (f"mlflow-artifacts:/{exp_id}/{run_id}/artifacts/model", run_id),
        ("s3://bucket/path/model", None),
    ], start=1):
        body = {"name": model_name, "source": source}
        if rid:
            body["run_id"] = rid
        r = api.post("model-versions/create", json=body)
        assert r.status_code == 200, (source, r.text)
        mv = r.json()["model_version"]
        assert (mv["version"], mv["source"]) == (str(i), source)
        assert mv.get("run_id", "") == (rid or "")
        assert client.get_model_version_download_uri(model_name, str(i)) == source


def test_model_version_sources_versions_differ(server, api, model_name, logged):
    """2.x accepts a runs:/ source without run_id, and an mlflow-artifacts source
    outside the given run; 3.x refuses both (INVALID_PARAMETER_VALUE)."""
    run_id, exp_id = logged["run_id"], logged["experiment_id"]
    for body in (
        {"name": model_name, "source": f"runs:/{run_id}/model"},
        {"name": model_name, "source": f"mlflow-artifacts:/{exp_id}/{UNKNOWN_RUN}/artifacts/model",
         "run_id": run_id},
    ):
        r = api.post("model-versions/create", json=body)
        assert (r.status_code, r.json().get("error_code")) in reference_behaviour(
            server, mlflow2=(200, None), mlflow3=(400, "INVALID_PARAMETER_VALUE")), (body, r.text)


def test_model_version_sources_refused(server, api, model_name, logged, tmp_path):
    """Sources that reach outside the artifact store. Lode must answer 400
    INVALID_PARAMETER_VALUE; MLflow (2.22 and 3.x alike) refuses every one of them
    the same way -- local paths unless inside a run's *local* artifact directory
    (never the case with proxied mlflow-artifacts:/ runs), and any '..' segment,
    also percent-encoded (it unquotes repeatedly) -- so that is what is asserted."""
    run_id, exp_id = logged["run_id"], logged["experiment_id"]
    outside = tmp_path / "outside"
    outside.mkdir()
    sources = [
        "file:///etc",
        "file:///etc/passwd",
        "/etc/passwd",
        str(outside),
        f"file://{outside}",
        "relative/path",
        f"runs:/{run_id}/../../x",
        f"runs:/{run_id}/model/..",
        f"runs:/{run_id}/%2e%2e/%2e%2e/x",
        f"runs:/{run_id}/%2E%2E/%2E%2E/x",
        f"runs:/{run_id}/%252e%252e/x",
        f"runs:/{run_id}/..%2f..%2fx",
        f"runs:/{run_id}/model%00",
        "mlflow-artifacts:/../../etc",
        f"mlflow-artifacts:/{exp_id}/{run_id}/artifacts/../../../../etc",
        "mlflow-artifacts:/%2e%2e/%2e%2e/etc",
        "s3://bucket/x/../y",
    ]
    if server.workdir is not None:
        # a local path inside the server's own artifact root is refused too
        arts = server.workdir / "artifacts"
        sources += [str(arts), f"file://{arts}/{exp_id}/{run_id}/artifacts/model"]
    for source in sources:
        for body in ({"name": model_name, "source": source, "run_id": run_id},
                     {"name": model_name, "source": source}):
            r = api.post("model-versions/create", json=body)
            # the same for server.kind "lode" and "mlflow" (recorded from both versions)
            assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    # nothing was created
    r = api.get("model-versions/search", params={"filter": f"name='{model_name}'"})
    assert r.json().get("model_versions", []) == []
