"""Run lifecycle: start/end, nesting, names, status, delete/restore (brief item 2)."""

import re
import time

import mlflow
import pytest
from mlflow.entities import RunStatus, ViewType
from mlflow.exceptions import MlflowException

from conftest import unique

RUN_ID_RE = re.compile(r"^[0-9a-f]{32}$")


def test_start_and_end_run_fluent(client, experiment_id):
    before = int(time.time() * 1000)
    with mlflow.start_run(experiment_id=experiment_id, run_name="my-run") as run:
        run_id = run.info.run_id
        assert RUN_ID_RE.match(run_id)
        assert run.info.run_name == "my-run"
        assert run.info.status == "RUNNING"
        assert run.info.end_time is None
        assert mlflow.active_run().info.run_id == run_id
        live = client.get_run(run_id)
        assert live.info.status == "RUNNING"
        assert live.info.lifecycle_stage == "active"
        assert live.info.run_name == "my-run"
        # the run name is mirrored into the mlflow.runName tag
        assert live.data.tags["mlflow.runName"] == "my-run"
    assert mlflow.active_run() is None

    done = client.get_run(run_id)
    assert done.info.status == "FINISHED"
    assert done.info.experiment_id == experiment_id
    assert before - 5000 <= done.info.start_time <= done.info.end_time
    assert done.info.end_time <= int(time.time() * 1000) + 5000
    assert done.info.artifact_uri == f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts"
    # fluent start_run records the source and user tags
    assert "mlflow.user" in done.data.tags
    assert "mlflow.source.name" in done.data.tags
    assert done.data.tags.get("mlflow.source.type") == "LOCAL"


def test_run_without_name_gets_generated_name(client, experiment_id):
    run = client.create_run(experiment_id)
    # MLflow generates "adjective-noun-NNN" when no name is given
    assert re.match(r"^[a-z]+-[a-z]+-\d+$", run.info.run_name), run.info.run_name
    assert client.get_run(run.info.run_id).data.tags["mlflow.runName"] == run.info.run_name


def test_run_name_from_tag_and_rename(client, experiment_id):
    run = client.create_run(experiment_id, tags={"mlflow.runName": "from-tag"})
    assert run.info.run_name == "from-tag"
    client.update_run(run.info.run_id, name="renamed")
    got = client.get_run(run.info.run_id)
    assert got.info.run_name == "renamed"
    assert got.data.tags["mlflow.runName"] == "renamed"
    # setting the tag renames too
    client.set_tag(run.info.run_id, "mlflow.runName", "via-tag")
    assert client.get_run(run.info.run_id).info.run_name == "via-tag"


def test_create_run_with_explicit_start_time_and_tags(client, experiment_id):
    run = client.create_run(
        experiment_id, start_time=1_600_000_000_123, tags={"k": "v", "x": "y"}, run_name="st"
    )
    got = client.get_run(run.info.run_id)
    assert got.info.start_time == 1_600_000_000_123
    assert got.data.tags["k"] == "v"
    assert got.data.tags["x"] == "y"
    assert got.info.user_id == run.info.user_id


def test_nested_runs(client, experiment_id):
    # nested start_run() calls without experiment_id use the *active*
    # experiment (not the parent's), so activate it for the whole tree
    mlflow.set_experiment(experiment_id=experiment_id)
    with mlflow.start_run(run_name="parent") as parent:
        with mlflow.start_run(nested=True, run_name="child-1") as child1:
            with mlflow.start_run(nested=True, run_name="grandchild") as grandchild:
                pass
        with mlflow.start_run(nested=True, run_name="child-2") as child2:
            assert mlflow.active_run().info.run_id == child2.info.run_id
        assert mlflow.active_run().info.run_id == parent.info.run_id

    pid = parent.info.run_id
    assert "mlflow.parentRunId" not in client.get_run(pid).data.tags
    assert client.get_run(child1.info.run_id).data.tags["mlflow.parentRunId"] == pid
    assert client.get_run(child2.info.run_id).data.tags["mlflow.parentRunId"] == pid
    assert (
        client.get_run(grandchild.info.run_id).data.tags["mlflow.parentRunId"]
        == child1.info.run_id
    )
    for r in (parent, child1, child2, grandchild):
        assert client.get_run(r.info.run_id).info.status == "FINISHED"

    children = client.search_runs(
        [experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{pid}'", order_by=["attributes.run_name ASC"]
    )
    assert [r.info.run_name for r in children] == ["child-1", "child-2"]

    # a second top-level start_run while one is active is an error (client-side)
    with mlflow.start_run(experiment_id=experiment_id):
        with pytest.raises(Exception):
            mlflow.start_run(experiment_id=experiment_id)


@pytest.mark.parametrize(
    "final", [RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED]
)
def test_status_transitions(client, experiment_id, final):
    run = client.create_run(experiment_id)
    rid = run.info.run_id
    assert run.info.status == "RUNNING"
    client.update_run(rid, status="SCHEDULED")
    assert client.get_run(rid).info.status == "SCHEDULED"
    client.update_run(rid, status="RUNNING")
    assert client.get_run(rid).info.status == "RUNNING"
    client.set_terminated(rid, status=RunStatus.to_string(final), end_time=1_700_000_000_000)
    got = client.get_run(rid)
    assert got.info.status == RunStatus.to_string(final)
    assert got.info.end_time == 1_700_000_000_000


def test_fluent_run_fails_on_exception(client, experiment_id):
    with pytest.raises(ZeroDivisionError):
        with mlflow.start_run(experiment_id=experiment_id) as run:
            1 / 0
    assert client.get_run(run.info.run_id).info.status == "FAILED"


def test_end_run_with_status(client, experiment_id):
    mlflow.start_run(experiment_id=experiment_id)
    rid = mlflow.active_run().info.run_id
    mlflow.end_run(status="KILLED")
    assert client.get_run(rid).info.status == "KILLED"


def test_resume_run_by_id(client, experiment_id):
    run = client.create_run(experiment_id)
    client.set_terminated(run.info.run_id)
    with mlflow.start_run(run_id=run.info.run_id) as resumed:
        assert resumed.info.run_id == run.info.run_id
        assert client.get_run(run.info.run_id).info.status == "RUNNING"
        mlflow.log_param("resumed", "yes")
    got = client.get_run(run.info.run_id)
    assert got.info.status == "FINISHED"
    assert got.data.params == {"resumed": "yes"}


def test_delete_and_restore_run(client, experiment_id):
    keep = client.create_run(experiment_id).info.run_id
    gone = client.create_run(experiment_id).info.run_id

    client.delete_run(gone)
    assert client.get_run(gone).info.lifecycle_stage == "deleted"

    def ids(view):
        return sorted(r.info.run_id for r in client.search_runs([experiment_id], run_view_type=view))

    assert ids(ViewType.ACTIVE_ONLY) == [keep]
    assert ids(ViewType.DELETED_ONLY) == [gone]
    assert ids(ViewType.ALL) == sorted([keep, gone])

    # a deleted run takes no new data
    with pytest.raises(MlflowException) as ei:
        client.log_param(gone, "p", "1")
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as ei:
        client.set_tag(gone, "t", "1")
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"

    client.restore_run(gone)
    assert client.get_run(gone).info.lifecycle_stage == "active"
    assert ids(ViewType.ACTIVE_ONLY) == sorted([keep, gone])
    client.log_param(gone, "p", "1")
    assert client.get_run(gone).data.params == {"p": "1"}


def test_get_run_returns_all_data(client, experiment_id):
    run = client.create_run(experiment_id, run_name="full")
    rid = run.info.run_id
    client.log_param(rid, "alpha", "0.5")
    client.log_metric(rid, "loss", 1.5, step=0)
    client.log_metric(rid, "loss", 0.5, step=1)
    client.set_tag(rid, "team", "blue")
    got = client.get_run(rid)
    assert got.info.run_id == rid
    assert got.info.experiment_id == experiment_id
    assert got.data.params == {"alpha": "0.5"}
    # run.data.metrics holds the latest value (highest step)
    assert got.data.metrics == {"loss": 0.5}
    assert got.data.tags["team"] == "blue"
    assert got.data.tags["mlflow.runName"] == "full"


def test_update_run_of_unknown_run(client):
    with pytest.raises(MlflowException) as ei:
        client.update_run(unique("x").replace("-", "") + "0" * 16, status="FINISHED")
    assert ei.value.error_code == "RESOURCE_DOES_NOT_EXIST"
