"""Model registry side by side with MLflow's own server (the ``reference``
fixture): the same calls against both, the observable answers compared.

What is compared: versions registered from a run that does not exist (MLflow
records the run id, and the client resolves the ``runs:/`` source only when
it downloads), then ``get-latest-versions``, ``search_model_versions`` with
filters, ``max_results`` and ``order_by``, download URIs and errors; with an
MLflow 3 client, versions made from logged models and the
``mlflow.modelVersions`` tag they add to the model. Ids the servers make
(runs, logged models) are replaced by placeholders and timestamps are left
out; model names are the same on both sides (each server has its own store).
"""

from __future__ import annotations

import re
import tempfile

import mlflow
import mlflow.artifacts
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from conftest import IS_MLFLOW3, requires_mlflow3, unique

MISSING_RUN = "0123456789abcdef0123456789abcdef"

# Searches MLflow 2.22's server refuses (INVALID_PARAMETER_VALUE) and 3.x
# answers; Lode answers them as 3.x does.
MLFLOW2_REFUSES = {"search name IN"}


def _outcome(fn, *args, **kwargs):
    """fn's answer, or the error code it raised."""
    try:
        return fn(*args, **kwargs)
    except MlflowException as e:
        return ("error", e.error_code)


class _Norm:
    """Replaces the ids one server made by names both answers share."""

    def __init__(self):
        self.names: dict[str, str] = {}

    def add(self, value: str, name: str) -> None:
        self.names[value] = name

    def __call__(self, value):
        if isinstance(value, str):
            for k, v in self.names.items():
                value = value.replace(k, v)
            return value
        if isinstance(value, (list, tuple)):
            return type(value)(self(v) for v in value)
        if isinstance(value, dict):
            return {self(k): self(v) for k, v in value.items()}
        return value


def _mv(mv, norm) -> tuple:
    """What a model version shows, less its timestamps (and model_id, which
    MLflow's SQL store does not keep: its answers leave it out, Lode's
    carry it)."""
    return norm((mv.name, mv.version, mv.source, mv.run_id or "", mv.current_stage, mv.status,
                 mv.description or "", dict(mv.tags), sorted(mv.aliases)))


def _registry_outcomes(url: str, names: tuple[str, str]) -> dict:
    c = MlflowClient(tracking_uri=url)
    norm = _Norm()
    exp = c.create_experiment(unique("parity"))
    run = c.create_run(exp).info.run_id
    other = c.create_run(exp).info.run_id
    norm.add(run, "<run>")
    norm.add(other, "<other-run>")
    a, b = names
    c.create_registered_model(a)
    c.create_registered_model(b)
    out: dict = {}

    # versions of a: from a run that does not exist, as the client sends them
    made = [
        c.create_model_version(a, f"runs:/{MISSING_RUN}/model", run_id=MISSING_RUN),
        c.create_model_version(a, "s3://bucket/model", run_id=MISSING_RUN,
                               tags={"stage": "candidate"}),
        c.create_model_version(a, f"runs:/{run}/model", run_id=run, description="real run"),
        c.create_model_version(a, "s3://bucket/other", tags={"stage": "retired"}),
        c.create_model_version(b, f"runs:/{MISSING_RUN}/other", run_id=MISSING_RUN),
        c.create_model_version(b, f"runs:/{other}/model", run_id=other),
    ]
    out["created"] = [_mv(mv, norm) for mv in made]
    out["get"] = [_mv(c.get_model_version(a, v), norm) for v in ("1", "2", "3", "4")]
    out["download"] = [norm(c.get_model_version_download_uri(a, v)) for v in ("1", "2", "3", "4")]
    out["model latest"] = [_mv(mv, norm) for mv in c.get_registered_model(a).latest_versions]
    # downloading resolves the runs:/ source then, and finds no run
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(url)
    try:
        with tempfile.TemporaryDirectory() as dst:
            out["download models:/ of a missing run"] = _outcome(
                mlflow.artifacts.download_artifacts, artifact_uri=f"models:/{a}/1", dst_path=dst)
    finally:
        mlflow.set_tracking_uri(previous)

    c.transition_model_version_stage(a, "1", "Production")
    c.transition_model_version_stage(a, "2", "Staging")
    c.set_registered_model_alias(a, "champion", "1")
    for stages in (None, ["Production"], ["Staging", "None"], ["Archived"]):
        out[f"latest {stages}"] = sorted(
            _mv(mv, norm) for mv in c.get_latest_versions(a, stages=stages))

    def search(flt=None, order_by=None, max_results=None):
        kwargs = {"filter_string": flt, "order_by": order_by}
        if max_results:
            kwargs["max_results"] = max_results
        found = _outcome(c.search_model_versions, **kwargs)
        if isinstance(found, tuple):
            return found
        return [norm((mv.name, mv.version)) for mv in found]

    like = a[:-len("-a")]  # both models' names, and no other model's
    for label, flt in {
        "name": f"name = '{a}'",
        "run_id missing": f"run_id = '{MISSING_RUN}'",
        "run_id missing, name": f"run_id = '{MISSING_RUN}' AND name = '{a}'",
        "run_id real": f"run_id = '{run}'",
        "run_id IN": f"run_id IN ('{MISSING_RUN}', '{other}')",
        "run_id !=": f"run_id != '{MISSING_RUN}' AND name LIKE '{like}%'",
        "source_path": f"source_path = 'runs:/{MISSING_RUN}/model'",
        "source_path LIKE": f"source_path LIKE 'runs:/{MISSING_RUN}/%'",
        "tags": "tags.stage = 'candidate'",
        "tags LIKE": f"tags.stage LIKE '%e%' AND name = '{a}'",
        "name LIKE": f"name LIKE '{like}%'",
        "name ILIKE": f"name ILIKE '{like.upper()}%'",
        "name IN": f"name IN ('{a}', '{b}')",
        "version_number": f"name = '{a}' AND version_number > 2",
        "bad key": "nope = 'x'",
    }.items():
        out[f"search {label}"] = search(flt)
    scope = f"name LIKE '{like}%'"
    for order in (None, ["version_number ASC"], ["name DESC", "version_number ASC"],
                  ["creation_timestamp DESC"], ["last_updated_timestamp ASC"], ["nope ASC"]):
        out[f"order {order}"] = search(scope, order_by=order)
    out["max_results 2"] = search(scope, max_results=2)
    # pages: the client's PagedList carries the token
    pages, token = [], None
    for _ in range(10):
        page = c.search_model_versions(scope, max_results=4, page_token=token,
                                       order_by=["version_number ASC", "name ASC"])
        pages.append([norm((mv.name, mv.version)) for mv in page])
        token = page.token
        if not token:
            break
    out["pages"] = pages
    out["get missing version"] = _outcome(c.get_model_version, a, "99")
    return out


def test_versions_from_missing_runs_as_mlflow(server, reference):
    prefix = unique("parity")
    names = (prefix + "-a", prefix + "-b")
    ours = _registry_outcomes(server.url, names)
    # (the suite run against the reference itself compares it with itself)
    theirs = ours if reference is server else _registry_outcomes(reference.url, names)
    assert ours.keys() == theirs.keys()
    differ = {k for k in theirs if ours[k] != theirs[k]}
    if not IS_MLFLOW3 and server.kind != "mlflow":
        # MLflow 2.22 refuses what 3.x filters by; Lode answers as 3.x
        for key in MLFLOW2_REFUSES & differ:
            assert theirs[key] == ("error", "INVALID_PARAMETER_VALUE"), key
            assert isinstance(ours[key], list), key
        differ -= MLFLOW2_REFUSES
    assert not differ, {k: (ours[k], theirs[k]) for k in sorted(differ)}
    # the answers themselves, so that a change on both sides shows
    a = names[0]
    assert theirs["created"][0][2:4] == (f"runs:/{MISSING_RUN}/model", MISSING_RUN)
    assert theirs["download"][0] == f"runs:/{MISSING_RUN}/model"
    assert theirs["download models:/ of a missing run"] == ("error", "RESOURCE_DOES_NOT_EXIST")
    assert theirs["search run_id missing, name"] == [(a, "2"), (a, "1")]


@requires_mlflow3
def test_runs_source_needs_its_run_id(server, reference):
    """MLflow 3 refuses a runs:/ source with another run's run_id, the run
    existing or not, and so does Lode (MLflow 2 records the run_id given)."""
    for url in (server.url, reference.url):
        c = MlflowClient(tracking_uri=url)
        name = unique("mismatch")
        c.create_registered_model(name)
        run = c.create_run(c.create_experiment(unique("mismatch"))).info.run_id
        for source, run_id in ((f"runs:/{MISSING_RUN}/model", run),
                               (f"runs:/{run}/model", MISSING_RUN)):
            assert _outcome(c.create_model_version, name, source, run_id=run_id) == (
                "error", "INVALID_PARAMETER_VALUE"), (url, source)
        assert c.search_model_versions(f"name = '{name}'") == []


def _logged_model_outcomes(url: str, name: str) -> dict:
    c = MlflowClient(tracking_uri=url)
    norm = _Norm()
    exp = c.create_experiment(unique("lm-versions"))
    run = c.create_run(exp).info.run_id
    norm.add(run, "<run>")
    lm = c.create_logged_model(exp, name="lm", source_run_id=run)
    norm.add(lm.model_id, "<model>")
    c.create_registered_model(name)

    def tag():
        return c.get_logged_model(lm.model_id).tags.get("mlflow.modelVersions")

    out = {"before": tag()}
    mv = c.create_model_version(name, f"models:/{lm.model_id}", model_id=lm.model_id)
    out["models:/ source"] = (_mv(mv, norm), tag())
    mv = c.create_model_version(name, "s3://bucket/model", model_id=lm.model_id)
    out["s3 source"] = (_mv(mv, norm), tag())  # the model's run is taken as run_id
    # the experiment's id differs between the two servers' stores
    out["download"] = [re.sub(f"^mlflow-artifacts:/{exp}/", "mlflow-artifacts:/<exp>/",
                              norm(c.get_model_version_download_uri(name, v)))
                       for v in ("1", "2")]
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(url)
    try:
        mv = mlflow.register_model(f"models:/{lm.model_id}", name)
    finally:
        mlflow.set_tracking_uri(previous)
    # the server adds {"version": 3}, then the fluent client {"version": "3"}
    out["fluent"] = (_mv(mv, norm), tag())
    out["search run_id"] = [norm((v.name, v.version))
                            for v in c.search_model_versions(f"run_id = '{run}'")]
    out["latest"] = [_mv(v, norm) for v in c.get_latest_versions(name)]
    out["missing model"] = _outcome(c.create_model_version, name, "s3://bucket/x",
                                    model_id="m-" + MISSING_RUN)
    return out


@requires_mlflow3
def test_versions_from_logged_models_as_mlflow(server, reference):
    name = unique("lm-parity")
    ours = _logged_model_outcomes(server.url, name)
    theirs = ours if reference is server else _logged_model_outcomes(reference.url, name)
    assert ours.keys() == theirs.keys()
    for key in theirs:
        assert ours[key] == theirs[key], key
    assert theirs["models:/ source"][1] == f'[{{"name": "{name}", "version": 1}}]'
    assert theirs["missing model"] == ("error", "RESOURCE_DOES_NOT_EXIST")
