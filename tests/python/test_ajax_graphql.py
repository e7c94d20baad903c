"""The endpoints MLflow's own web UI calls, side by side with a real
``mlflow server`` (the ``reference`` fixture): metrics/get-history-bulk,
experiments/search-datasets and upload-artifact under /ajax-api, and the
GraphQL endpoint with the very query documents MLflow's UI sends (taken
from the UI bundle of mlflow 3.17.2). Both servers get the same data
through the same requests; ids and times are normalised before the
answers are compared."""

from __future__ import annotations

import copy
import difflib
import json
import re

import pytest
import requests

from conftest import IS_MLFLOW3, unique

AJAX = "/ajax-api/2.0/mlflow/"

# The UI's queries (mlflow/server/js/build, mlflow 3.17.2), verbatim.
GET_RUN = """
  query GetRun($data: MlflowGetRunInput!) @component(name: "MLflow.ExperimentRunTracking") {
    mlflowGetRun(input: $data) {
      apiError {
        helpUrl
        code
        message
      }
      run {
        info {
          runName
          status
          runUuid
          experimentId
          artifactUri
          endTime
          lifecycleStage
          startTime
          userId
        }
        experiment {
          experimentId
          name
          tags {
            key
            value
          }
          artifactLocation
          lifecycleStage
          lastUpdateTime
        }
        modelVersions {
          status
          version
          name
          source
        }
        data {
          metrics {
            key
            value
            step
            timestamp
          }
          params {
            key
            value
          }
          tags {
            key
            value
          }
        }
        inputs {
          datasetInputs {
            dataset {
              digest
              name
              profile
              schema
              source
              sourceType
            }
            tags {
              key
              value
            }
          }
          modelInputs {
            modelId
          }
        }
        outputs {
          modelOutputs {
            modelId
            step
          }
        }
      }
    }
  }
"""

GET_METRIC_HISTORY_BULK_INTERVAL = """
  query GetMetricHistoryBulkInterval($data: MlflowGetMetricHistoryBulkIntervalInput!)
  @component(name: "MLflow.ExperimentRunTracking") {
    mlflowGetMetricHistoryBulkInterval(input: $data) {
      __typename
      metrics {
        timestamp
        step
        runId
        key
        value
      }
      apiError {
        code
        message
      }
    }
  }
"""

GET_EXPERIMENT = """
  query MlflowGetExperimentQuery($input: MlflowGetExperimentInput!) @component(name: "MLflow.ExperimentRunTracking") {
    mlflowGetExperiment(input: $input) {
      apiError {
        code
        message
      }
      experiment {
        artifactLocation
        creationTime
        effectiveTraceArchivalRetention
        experimentId
        lastUpdateTime
        lifecycleStage
        name
        tags {
          key
          value
        }
      }
    }
  }
"""

SEARCH_RUNS = """
  query SearchRuns($data: MlflowSearchRunsInput!) {
    mlflowSearchRuns(input: $data) {
      apiError {
        helpUrl
        code
        message
      }
      runs {
        info {
          runName
          status
          runUuid
          experimentId
          artifactUri
          endTime
          lifecycleStage
          startTime
          userId
        }
        experiment {
          experimentId
          name
          tags {
            key
            value
          }
          artifactLocation
          lifecycleStage
          lastUpdateTime
        }
        data {
          metrics {
            key
            value
            step
            timestamp
          }
          params {
            key
            value
          }
          tags {
            key
            value
          }
        }
        inputs {
          datasetInputs {
            dataset {
              digest
              name
              profile
              schema
              source
              sourceType
            }
            tags {
              key
              value
            }
          }
          modelInputs {
            modelId
          }
        }
        outputs {
          modelOutputs {
            modelId
            step
          }
        }
        modelVersions {
          version
          name
          creationTimestamp
          status
          source
        }
      }
    }
  }
"""

LIST_ARTIFACTS = """
  query ($data: MlflowListArtifactsInput!) {
    mlflowListArtifacts(input: $data) { rootUri files { path isDir fileSize } nextPageToken apiError { code } }
  }
"""

SEARCH_DATASETS = """
  mutation ($data: MlflowSearchDatasetsInput!) {
    mlflowSearchDatasets(input: $data) { datasetSummaries { experimentId name digest context } apiError { code } }
  }
"""

# Fields whose values are the server's clock.
TIME_FIELDS = {"startTime", "endTime", "creationTime", "lastUpdateTime", "creationTimestamp",
               "lastUpdatedTimestamp", "start_time", "end_time", "creation_time", "last_update_time"}


ID_FIELDS = {"experimentId", "runId", "runUuid", "experiment_id", "run_id", "run_uuid"}


class Side:
    """One server, and the ids of what the test made on it."""

    def __init__(self, url: str):
        self.url = url
        self.s = requests.Session()
        self.ids: dict[str, str] = {}

    def post(self, path, **kw):
        return self.s.post(self.url + AJAX + path, **kw)

    def get(self, path, **kw):
        return self.s.get(self.url + AJAX + path, **kw)

    def ok(self, r):
        assert r.status_code == 200, (self.url, r.status_code, r.text)
        return r.json() if r.text else None

    def gql(self, query, variables=None):
        r = self.s.post(self.url + "/graphql", json={"query": query, "variables": variables, "operationName": None})
        assert r.status_code == 200, (self.url, r.status_code, r.text)
        return r.json()

    def norm(self, v):
        """v with this side's ids replaced by their names (as id fields and
        as segments of URIs), times by "T", and lists MLflow leaves
        unordered (a run's metrics, params, tags, inputs) sorted."""
        names = {id_: name for name, id_ in self.ids.items()}

        def walk(x, key=""):
            if isinstance(x, dict):
                return {k: ("T" if k in TIME_FIELDS and val not in (None, "0", 0) else walk(val, k)) for k, val in x.items()}
            if isinstance(x, list):
                out = [walk(i, key) for i in x]
                return sorted(out, key=lambda i: json.dumps(i, sort_keys=True)) if unordered(out) else out
            if isinstance(x, str):
                if key in ID_FIELDS:
                    return names.get(x, x)
                if "/" in x:
                    return re.sub(r"[^/:]+", lambda m: names.get(m.group(0), m.group(0)), x)
            return x

        def unordered(items):
            return items and all(isinstance(i, dict) and ({"key", "value"} <= i.keys() or "dataset" in i) for i in items)

        return walk(copy.deepcopy(v))


def make_data(side: Side, name: str):
    """The same experiment, runs, metrics, inputs and files on one server."""
    exp = side.ok(side.post("experiments/create", json={"name": name}))["experiment_id"]
    side.ids["EXP"] = exp
    runs = []
    for i in range(2):
        run = side.ok(side.post("runs/create", json={"experiment_id": exp, "run_name": f"run-{i}",
                                                      "user_id": "tester", "start_time": 1000 + i}))["run"]
        rid = run["info"]["run_id"]
        side.ids[f"RUN{i}"] = rid
        runs.append(rid)
        side.ok(side.post("runs/log-batch", json={
            "run_id": rid,
            "metrics": [{"key": "loss", "value": 1.0 / (s + 1), "timestamp": 5000 + s, "step": s} for s in range(5)]
            + [{"key": "acc", "value": 0.5 + i / 10, "timestamp": 7000, "step": 0}],
            "params": [{"key": "lr", "value": str(0.1 * (i + 1))}],
            "tags": [{"key": "team", "value": "a"}],
        }))
        side.ok(side.post("runs/log-inputs", json={"run_id": rid, "datasets": [
            {"dataset": {"name": "train", "digest": "abc123", "source_type": "local", "source": "{\"uri\": \"/data\"}",
                         "schema": "{}", "profile": "{\"num_rows\": 3}"},
             "tags": [{"key": "mlflow.data.context", "value": "training"}]},
            {"dataset": {"name": "eval", "digest": "def456", "source_type": "local", "source": "{}"}},
        ]}))
    # Files through the UI's own upload endpoint.
    for path, data in [("notes.txt", b"hello"), ("tables/t.json", b'{"a": [1, 2]}')]:
        r = side.post("upload-artifact", params={"run_uuid": runs[0], "path": path}, data=data)
        assert r.status_code == 200 and r.text == "", (side.url, r.status_code, r.text)
    side.ok(side.post("runs/update", json={"run_id": runs[0], "status": "FINISHED", "end_time": 9000}))
    return exp, runs


@pytest.fixture(scope="module")
def sides(server, reference):
    lode, ref = Side(server.url), Side(reference.url)
    name = unique("ui")
    for side in (lode, ref):
        make_data(side, name)
    return lode, ref


def older_schema(answer) -> bool:
    """Whether the reference refused a query for fields its schema lacks:
    MLflow 2.x's has no run.outputs nor inputs.modelInputs, which the 3.x
    UI asks for. Lode answers the 3.x schema."""
    if IS_MLFLOW3:
        return False
    return any(e.startswith("Cannot query field") for e in answer.get("errors") or [])


def error_of(r):
    """An error answer's status, code and message (MLflow 3 adds fields
    of its own beside them)."""
    body = r.json()
    return r.status_code, body.get("error_code"), body.get("message")


def same(lode: Side, ref: Side, a, b):
    a, b = lode.norm(a), ref.norm(b)
    assert a == b, "\n" + "\n".join(difflib.unified_diff(
        json.dumps(b, indent=1, sort_keys=True).splitlines(), json.dumps(a, indent=1, sort_keys=True).splitlines(),
        "mlflow", "lode", lineterm=""))


def test_graphql_ui_queries(sides):
    lode, ref = sides
    cases = [
        (GET_RUN, lambda s: {"data": {"runId": s.ids["RUN0"]}}),
        (GET_RUN, lambda s: {"data": {"runUuid": s.ids["RUN1"]}}),
        # MLflow's resolver reads maxResults, startStep and endStep from
        # the URL's query string, not from the GraphQL input, so it never
        # applies them here; Lode does. Asked for no fewer points than
        # there are, both answer all of them.
        (GET_METRIC_HISTORY_BULK_INTERVAL, lambda s: {"data": {"runIds": [s.ids["RUN0"], s.ids["RUN1"]], "metricKey": "loss",
                                                               "maxResults": 10}}),
        (GET_METRIC_HISTORY_BULK_INTERVAL, lambda s: {"data": {"runIds": [s.ids["RUN1"]], "metricKey": "acc"}}),
        (SEARCH_RUNS, lambda s: {"data": {"experimentIds": [s.ids["EXP"]], "filter": "metrics.acc > 0.55",
                                          "orderBy": ["attributes.start_time DESC"], "maxResults": 10}}),
        # (MLflow 3.17 fails on any runViewType: it hands graphene's enum
        # to the protobuf parser.)
        (SEARCH_RUNS, lambda s: {"data": {"experimentIds": [s.ids["EXP"]], "orderBy": ["params.lr ASC"]}}),
        (LIST_ARTIFACTS, lambda s: {"data": {"runId": s.ids["RUN0"]}}),
        (LIST_ARTIFACTS, lambda s: {"data": {"runId": s.ids["RUN0"], "path": "tables"}}),
        (SEARCH_DATASETS, lambda s: {"data": {"experimentIds": [s.ids["EXP"]]}}),
    ]
    if IS_MLFLOW3:
        # effectiveTraceArchivalRetention came with MLflow 3.
        cases.append((GET_EXPERIMENT, lambda s: {"input": {"experimentId": s.ids["EXP"]}}))
    for query, variables in cases:
        a, b = lode.gql(query, variables(lode)), ref.gql(query, variables(ref))
        if older_schema(b):
            continue
        assert b["errors"] is None, b
        if "mlflowSearchDatasets" in query:
            for x in (a, b):
                x["data"]["mlflowSearchDatasets"]["datasetSummaries"].sort(key=lambda d: (d["name"], d["digest"], d["context"]))
        same(lode, ref, a, b)


def test_graphql_errors(sides):
    lode, ref = sides
    missing = "0123456789abcdef0123456789abcdef"
    for query, variables in [
        (GET_RUN, {"data": {"runId": missing}}),
        (LIST_ARTIFACTS, {"data": {"runId": missing}}),
    ]:
        a, b = lode.gql(query, variables), ref.gql(query, variables)
        if not older_schema(b):
            assert a == b


@pytest.mark.skipif(not IS_MLFLOW3, reason="MLflow 2.x's GraphQL endpoint has no limits on root fields and aliases")
def test_graphql_limits(sides):
    lode, ref = sides
    roots = "{ " + " ".join(f'a{i}: test(inputString: "{i}") {{ output }}' for i in range(11)) + " }"
    aliases = '{ test(inputString: "x") { ' + " ".join(f"o{i}: output" for i in range(11)) + " } }"
    for query, start in [(roots, "GraphQL queries should have at most 10 root fields, got 11 root fields."),
                         (aliases, "GraphQL queries should have at most 10 aliases, got 11 aliases.")]:
        for side in (lode, ref):
            got = side.gql(query)
            assert got["data"] is None and len(got["errors"]) == 1 and got["errors"][0].startswith(start), (side.url, got)
    at_limit = "{ " + " ".join(f'a{i}: test(inputString: "{i}") {{ output }}' for i in range(10)) + " }"
    assert lode.gql(at_limit) == ref.gql(at_limit)


def test_get_history_bulk(sides):
    lode, ref = sides
    for params in [
        lambda s: {"run_id": [s.ids["RUN1"], s.ids["RUN0"]], "metric_key": "loss"},
        lambda s: {"run_id": [s.ids["RUN0"], s.ids["RUN1"]], "metric_key": "loss", "max_results": 7},
        lambda s: {"run_id": [s.ids["RUN0"]], "metric_key": "acc"},
        lambda s: {"run_id": [s.ids["RUN0"]], "metric_key": "missing"},
    ]:
        a = lode.ok(lode.get("metrics/get-history-bulk", params=params(lode)))
        b = ref.ok(ref.get("metrics/get-history-bulk", params=params(ref)))
        # Ordered by run id (and cut at max_results in that order): the
        # ids differ between the servers, so each run is named by its
        # rank among the runs' ids.
        def ranked(side, ms):
            if len({m["run_id"] for m in ms}) < 2:
                return side.norm(ms)
            rank = {id_: f"run#{i}" for i, id_ in enumerate(sorted([side.ids["RUN0"], side.ids["RUN1"]]))}
            return [{**m, "run_id": rank[m["run_id"]]} for m in ms]

        assert ranked(lode, a["metrics"]) == ranked(ref, b["metrics"])
    for params in [{"metric_key": "loss"}, {"run_id": "0" * 32}]:
        a, b = lode.get("metrics/get-history-bulk", params=params), ref.get("metrics/get-history-bulk", params=params)
        if b.status_code == 200:
            assert (a.status_code, a.json()) == (b.status_code, b.json())
        else:
            assert error_of(a) == error_of(b)


def test_search_datasets(sides):
    lode, ref = sides
    a = lode.ok(lode.post("experiments/search-datasets", json={"experiment_ids": [lode.ids["EXP"]]}))
    b = ref.ok(ref.post("experiments/search-datasets", json={"experiment_ids": [ref.ids["EXP"]]}))
    key = lambda d: (d["name"], d["digest"], d.get("context", ""))  # noqa: E731
    assert sorted(lode.norm(a["dataset_summaries"]), key=key) == sorted(ref.norm(b["dataset_summaries"]), key=key)
    for body in [{}, {"experiment_ids": [str(i) for i in range(21)]}]:
        a, b = lode.post("experiments/search-datasets", json=body), ref.post("experiments/search-datasets", json=body)
        assert error_of(a) == error_of(b)


def test_upload_artifact(sides):
    lode, ref = sides
    for side in (lode, ref):
        listing = side.ok(side.get("artifacts/list", params={"run_id": side.ids["RUN0"], "path": "tables"}))
        assert [f["path"] for f in listing["files"]] == ["tables/t.json"], listing
        got = side.s.get(side.url + "/get-artifact", params={"run_uuid": side.ids["RUN0"], "path": "tables/t.json"}) \
            if side is ref else side.s.get(side.url + "/api/2.0/mlflow-artifacts/artifacts/"
                                           f"{side.ids['EXP']}/{side.ids['RUN0']}/artifacts/tables/t.json")
        assert got.status_code == 200 and got.content == b'{"a": [1, 2]}', (side.url, got.status_code, got.text)
    # Bad requests: the same status, code and message.
    for params, data in [
        (lambda s: {"path": "x.txt"}, b"x"),
        (lambda s: {"run_uuid": s.ids["RUN0"]}, b"x"),
        (lambda s: {"run_uuid": s.ids["RUN0"], "path": "x.txt"}, b""),
        (lambda s: {"run_uuid": s.ids["RUN0"], "path": "x.txt"}, b"x" * (10 * 1024 * 1024 + 1)),
    ]:
        a = lode.post("upload-artifact", params=params(lode), data=data)
        b = ref.post("upload-artifact", params=params(ref), data=data)
        assert error_of(a) == error_of(b)
    # A path out of the run's root: refused by both (the messages differ).
    for path in ["../escape.txt", "/etc/escape.txt", "a/../../escape.txt"]:
        codes = []
        for side in (lode, ref):
            r = side.post("upload-artifact", params={"run_uuid": side.ids["RUN0"], "path": path}, data=b"x")
            codes.append((r.status_code, r.json()["error_code"]))
        assert codes[0] == codes[1] == (400, "INVALID_PARAMETER_VALUE"), (path, codes)
    # An unknown run.
    a = lode.post("upload-artifact", params={"run_uuid": "0" * 32, "path": "x.txt"}, data=b"x")
    b = ref.post("upload-artifact", params={"run_uuid": "0" * 32, "path": "x.txt"}, data=b"x")
    assert (a.status_code, a.json()["error_code"]) == (b.status_code, b.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
