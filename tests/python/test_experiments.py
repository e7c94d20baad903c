"""Experiment lifecycle through MlflowClient (brief item 1)."""

import time

import pytest
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException

from conftest import IS_MLFLOW3, unique


def _now_ms():
    return int(time.time() * 1000)


def test_create_get_experiment_with_tags_and_default_artifact_location(client):
    name = unique("life")
    before = _now_ms()
    exp_id = client.create_experiment(name, tags={"team": "red", "purpose": "pytest"})
    after = _now_ms()

    # MLflow's SQL store hands out integer ids, as strings.
    assert isinstance(exp_id, str) and exp_id.isdigit()

    exp = client.get_experiment(exp_id)
    assert exp.experiment_id == exp_id
    assert exp.name == name
    assert exp.lifecycle_stage == "active"
    assert exp.tags == {"team": "red", "purpose": "pytest"}
    # With artifact serving, the default location is the proxied URI.
    assert exp.artifact_location == f"mlflow-artifacts:/{exp_id}"
    assert before - 5000 <= exp.creation_time <= after + 5000
    assert exp.last_update_time == exp.creation_time

    by_name = client.get_experiment_by_name(name)
    assert by_name is not None
    assert by_name.experiment_id == exp_id
    assert by_name.tags == exp.tags

    # Unknown name: the client turns RESOURCE_DOES_NOT_EXIST into None.
    assert client.get_experiment_by_name(unique("missing")) is None


def test_create_experiment_with_explicit_artifact_location(client, server):
    for loc in ("s3://team-bucket/experiments/custom", "mlflow-artifacts:/custom/place"):
        exp_id = client.create_experiment(unique("artloc"), artifact_location=loc)
        assert client.get_experiment(exp_id).artifact_location == loc


def test_local_artifact_location(client, server, tmp_path):
    """MLflow accepts any local path; Lode refuses file: URIs and local paths
    on purpose (artifacts go through the proxy, under its root)."""
    loc = (tmp_path / "custom-artifacts").as_uri()
    if server.kind == "mlflow":
        exp_id = client.create_experiment(unique("artloc"), artifact_location=loc)
        assert client.get_experiment(exp_id).artifact_location == loc
        return
    for bad in (loc, str(tmp_path), "mlflow-artifacts:/../escape"):
        with pytest.raises(MlflowException) as ei:
            client.create_experiment(unique("artloc"), artifact_location=bad)
        assert ei.value.error_code == "INVALID_PARAMETER_VALUE"


def test_search_experiments_filter_order_and_pagination(client):
    prefix = unique("srch")
    names = [f"{prefix}-{c}" for c in "abcde"]
    ids = {}
    for i, n in enumerate(names):
        ids[n] = client.create_experiment(
            n, tags={"color": "blue" if i % 2 == 0 else "green", "idx": str(i)}
        )

    like = f"name LIKE '{prefix}-%'"
    got = client.search_experiments(filter_string=like, order_by=["name ASC"])
    assert [e.name for e in got] == names
    assert got.token is None

    got = client.search_experiments(filter_string=like, order_by=["name DESC"])
    assert [e.name for e in got] == names[::-1]

    # Default order: creation_time DESC, then experiment_id ASC. Creation times
    # may tie at millisecond resolution, so only check it is a permutation and
    # is sorted by (creation_time desc).
    got = client.search_experiments(filter_string=like)
    assert sorted(e.name for e in got) == names
    times = [e.creation_time for e in got]
    assert times == sorted(times, reverse=True)

    # ILIKE, tag filters, combined with AND
    got = client.search_experiments(filter_string=f"name ILIKE '{prefix.upper()}-%'")
    assert sorted(e.name for e in got) == names
    got = client.search_experiments(
        filter_string=f"{like} AND tags.color = 'blue'", order_by=["name ASC"]
    )
    assert [e.name for e in got] == [names[0], names[2], names[4]]
    got = client.search_experiments(
        filter_string=f"{like} AND tags.color != 'blue'", order_by=["name ASC"]
    )
    assert [e.name for e in got] == [names[1], names[3]]
    got = client.search_experiments(filter_string=f"name = '{names[3]}'")
    assert [e.experiment_id for e in got] == [ids[names[3]]]
    got = client.search_experiments(
        filter_string=f"{like} AND tags.idx LIKE '%3'", order_by=["name ASC"]
    )
    assert [e.name for e in got] == [names[3]]

    # experiment_id ordering
    got = client.search_experiments(filter_string=like, order_by=["experiment_id DESC"])
    assert [e.experiment_id for e in got] == sorted(
        ids.values(), key=int, reverse=True
    )

    # Pagination: 5 results, pages of 2 -> 2, 2, 1; the last page has no token.
    pages = []
    token = None
    while True:
        page = client.search_experiments(
            filter_string=like, order_by=["name ASC"], max_results=2, page_token=token
        )
        pages.append([e.name for e in page])
        token = page.token
        if not token:
            break
        assert len(pages) < 10
    assert pages == [names[0:2], names[2:4], names[4:5]]

    # A page that ends exactly at the last result carries no next token
    # (MLflow fetches max_results + 1 rows to decide).
    page = client.search_experiments(filter_string=like, order_by=["name ASC"], max_results=5)
    assert [e.name for e in page] == names
    assert page.token is None


def test_rename_and_experiment_tags(client):
    old = unique("ren")
    new = unique("renamed")
    exp_id = client.create_experiment(old, tags={"keep": "1"})
    created = client.get_experiment(exp_id)

    time.sleep(0.01)
    client.rename_experiment(exp_id, new)
    exp = client.get_experiment(exp_id)
    assert exp.name == new
    assert exp.last_update_time >= created.last_update_time
    assert client.get_experiment_by_name(old) is None
    assert client.get_experiment_by_name(new).experiment_id == exp_id

    client.set_experiment_tag(exp_id, "stage", "dev")
    client.set_experiment_tag(exp_id, "stage", "prod")  # overwrite is allowed
    client.set_experiment_tag(exp_id, "note", "hello world")
    assert client.get_experiment(exp_id).tags == {"keep": "1", "stage": "prod", "note": "hello world"}


@pytest.mark.skipif(not IS_MLFLOW3, reason="MlflowClient.delete_experiment_tag is new in mlflow 3")
def test_delete_experiment_tag(client):
    exp_id = client.create_experiment(unique("deltag"), tags={"a": "1", "b": "2"})
    client.delete_experiment_tag(exp_id, "a")
    assert client.get_experiment(exp_id).tags == {"b": "2"}
    with pytest.raises(MlflowException) as ei:
        client.delete_experiment_tag(exp_id, "a")
    assert ei.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_delete_restore_experiment_and_view_types(client):
    prefix = unique("del")
    keep = client.create_experiment(f"{prefix}-keep")
    gone = client.create_experiment(f"{prefix}-gone")
    like = f"name LIKE '{prefix}-%'"

    client.delete_experiment(gone)
    exp = client.get_experiment(gone)  # still readable by id
    assert exp.lifecycle_stage == "deleted"
    assert client.get_experiment_by_name(f"{prefix}-gone").lifecycle_stage == "deleted"

    def names(view_type):
        return sorted(
            e.name for e in client.search_experiments(view_type=view_type, filter_string=like)
        )

    assert names(ViewType.ACTIVE_ONLY) == [f"{prefix}-keep"]
    assert names(ViewType.DELETED_ONLY) == [f"{prefix}-gone"]
    assert names(ViewType.ALL) == [f"{prefix}-gone", f"{prefix}-keep"]

    # A deleted experiment accepts no new runs.
    with pytest.raises(MlflowException) as ei:
        client.create_run(gone)
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "active" in str(ei.value)

    # Its name stays taken while deleted.
    with pytest.raises(MlflowException) as ei:
        client.create_experiment(f"{prefix}-gone")
    assert ei.value.error_code == "RESOURCE_ALREADY_EXISTS"

    # Deleting twice: MLflow only finds active experiments to delete.
    with pytest.raises(MlflowException) as ei:
        client.delete_experiment(gone)
    assert ei.value.error_code == "RESOURCE_DOES_NOT_EXIST"

    client.restore_experiment(gone)
    assert client.get_experiment(gone).lifecycle_stage == "active"
    assert names(ViewType.ACTIVE_ONLY) == [f"{prefix}-gone", f"{prefix}-keep"]
    assert names(ViewType.DELETED_ONLY) == []

    # Restoring an active experiment: MLflow only restores deleted ones.
    with pytest.raises(MlflowException) as ei:
        client.restore_experiment(gone)
    assert ei.value.error_code == "RESOURCE_DOES_NOT_EXIST"

    run = client.create_run(gone)
    assert run.info.experiment_id == gone
    assert client.get_experiment(keep).lifecycle_stage == "active"


def test_deleting_experiment_hides_its_runs(client):
    exp_id = client.create_experiment(unique("delruns"))
    run = client.create_run(exp_id)
    client.delete_experiment(exp_id)
    # the run is still readable; MLflow marks the runs deleted with the experiment
    r = client.get_run(run.info.run_id)
    assert r.info.run_id == run.info.run_id
    assert r.info.lifecycle_stage == "deleted"
    assert client.search_runs([exp_id], run_view_type=ViewType.ACTIVE_ONLY) == []
    assert [x.info.run_id for x in client.search_runs([exp_id], run_view_type=ViewType.ALL)] == [
        run.info.run_id
    ]
    client.restore_experiment(exp_id)
    assert client.get_run(run.info.run_id).info.lifecycle_stage == "active"


def test_set_experiment_fluent_creates_and_activates(server):
    import mlflow

    name = unique("fluent")
    exp = mlflow.set_experiment(name)
    assert exp.name == name
    assert exp.artifact_location == f"mlflow-artifacts:/{exp.experiment_id}"
    with mlflow.start_run() as run:
        assert run.info.experiment_id == exp.experiment_id
    # setting it again by name finds the same one
    assert mlflow.set_experiment(name).experiment_id == exp.experiment_id
