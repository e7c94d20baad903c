"""search_runs: filters, ordering, nulls-last, pagination over 2,500 runs,
and mlflow.search_runs (pandas) output (brief item 5).

A module-scoped fixture creates one experiment with N_RUNS runs whose data is
a pure function of the run index, so every expectation below is computed in
Python from that function and compared exactly with what the server returns.
"""

from __future__ import annotations

import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import mlflow
import pandas as pd
import pytest
from mlflow.entities import Metric, Param, RunStatus, RunTag, ViewType
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from conftest import reference_behaviour, unique

N_RUNS = int(os.environ.get("LODE_TEST_SEARCH_RUNS", "2500"))
N_DELETED = 10
BASE_TS = 1_650_000_000_000
GROUPS = ["alpha", "beta", "gamma", "delta", "Epsilon"]

pytestmark = pytest.mark.slow


@dataclass
class R:
    i: int
    run_id: str = ""

    @property
    def name(self):
        return f"run-{self.i:04d}"

    @property
    def start_time(self):
        return BASE_TS + self.i * 1000

    @property
    def grp(self):
        return GROUPS[self.i % 5]

    @property
    def mod3(self):
        return str(self.i % 3)

    @property
    def p_mod7(self):
        return str(self.i % 7)

    @property
    def p_str(self):
        return f"val-{self.i:04d}"

    @property
    def m(self):
        return float(self.i % 100)

    @property
    def score(self):
        # 7919 is prime and coprime to 2500: a permutation with unique values
        return ((self.i * 7919) % 2500) / 10.0

    @property
    def opt(self):
        """Missing for i % 10 == 0, NaN for i % 10 == 5, else i % 50."""
        if self.i % 10 == 0:
            return None
        if self.i % 10 == 5:
            return float("nan")
        return float(self.i % 50)

    @property
    def status(self):
        # few terminal runs: each costs one more request to create
        return {0: "FINISHED", 1: "FAILED", 2: "KILLED", 3: "FINISHED"}.get(self.i % 25, "RUNNING")


@dataclass
class Dataset:
    experiment_id: str
    runs: list[R]
    deleted_ids: list[str]

    def by_id(self):
        return {r.run_id: r for r in self.runs}


def _create_one(client: MlflowClient, exp_id: str, r: R) -> None:
    run = client.create_run(
        exp_id,
        start_time=r.start_time,
        run_name=r.name,
        tags={"grp": r.grp, "mod3": r.mod3},
    )
    r.run_id = run.info.run_id
    metrics = [Metric("m", r.m, r.start_time, 0), Metric("score", r.score, r.start_time, 0)]
    if r.opt is not None:
        metrics.append(Metric("opt", r.opt, r.start_time, 0))
    client.log_batch(
        r.run_id,
        metrics=metrics,
        params=[Param("p_mod7", r.p_mod7), Param("p_str", r.p_str)],
        tags=[RunTag("idx", str(r.i))],
    )
    if r.status != "RUNNING":
        client.set_terminated(r.run_id, status=r.status, end_time=r.start_time + 500)


@pytest.fixture(scope="module")
def ds(server) -> Dataset:
    client = MlflowClient(tracking_uri=server.url)
    exp_id = client.create_experiment(unique("search"))
    runs = [R(i) for i in range(N_RUNS)]
    t0 = time.monotonic()
    workers = int(os.environ.get("LODE_TEST_CLIENT_THREADS", "4"))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda r: _create_one(client, exp_id, r), runs))
    deleted = []
    for k in range(N_DELETED):
        run = client.create_run(exp_id, start_time=BASE_TS - 10_000 - k, run_name=f"deleted-{k}")
        client.log_batch(run.info.run_id, metrics=[Metric("m", 1.0, BASE_TS, 0)],
                         params=[Param("p_mod7", "1")], tags=[RunTag("grp", "alpha")])
        client.delete_run(run.info.run_id)
        deleted.append(run.info.run_id)
    print(f"\ncreated {N_RUNS} runs in {time.monotonic() - t0:.1f}s")
    return Dataset(exp_id, runs, deleted)


def walk(client, exp_id, *, filter_string="", order_by=None, page_size=1000,
         view=ViewType.ACTIVE_ONLY):
    """All pages of a search; returns (run ids in order, page sizes)."""
    ids, sizes, token = [], [], None
    while True:
        page = client.search_runs(
            [exp_id], filter_string=filter_string, run_view_type=view,
            max_results=page_size, order_by=order_by, page_token=token,
        )
        ids += [r.info.run_id for r in page]
        sizes.append(len(page))
        token = page.token
        if not token:
            return ids, sizes
        assert len(sizes) <= 10_000 // max(page_size, 1) + 2, "pagination does not end"


def ids_of(runs):
    """Run ids of R records or mlflow Run entities."""
    return [r.run_id if isinstance(r, R) else r.info.run_id for r in runs]


def nan_last_key(value, descending):
    """MLflow's metric ordering: real values (asc/desc), then NaN, then missing."""
    if value is None:
        return (2, 0.0)
    if math.isnan(value):
        return (1, 0.0)
    return (0, -value if descending else value)


# ---------------------------------------------------------------------------
# pagination


def test_dataset_sanity(client, ds):
    sample = ds.runs[1234]
    run = client.get_run(sample.run_id)
    assert run.info.run_name == sample.name
    assert run.info.start_time == sample.start_time
    assert run.info.status == sample.status
    assert run.data.params == {"p_mod7": sample.p_mod7, "p_str": sample.p_str}
    assert run.data.metrics["score"] == sample.score
    assert run.data.tags["grp"] == sample.grp


def test_full_walk_default_order(client, ds):
    """No order_by: start_time DESC (run_id ASC breaks ties). Pages of 1000."""
    ids, sizes = walk(client, ds.experiment_id, page_size=1000)
    expected = ids_of(sorted(ds.runs, key=lambda r: -r.start_time))
    assert len(ids) == len(set(ids)) == N_RUNS
    assert ids == expected
    if N_RUNS == 2500:
        assert sizes == [1000, 1000, 500]


def test_full_walk_page_boundary(server, client, ds):
    """2500 runs in pages of 500. MLflow 2.x returns a next_page_token with
    every full page, so the walk ends with an empty sixth page; MLflow 3.x
    fetches max_results + 1 rows and sends no token after the fifth."""
    ids, sizes = walk(client, ds.experiment_id, page_size=500,
                      order_by=["attributes.start_time ASC"])
    assert ids == ids_of(ds.runs)
    if N_RUNS == 2500:
        assert sizes in reference_behaviour(server, mlflow2=[500] * 5 + [0], mlflow3=[500] * 5)


def test_full_walk_by_metric_desc(client, ds):
    ids, sizes = walk(client, ds.experiment_id, order_by=["metrics.score DESC"], page_size=1000)
    assert ids == ids_of(sorted(ds.runs, key=lambda r: -r.score))
    assert len(set(ids)) == N_RUNS


def test_full_walk_multi_key_order(client, ds):
    order = ["params.p_mod7 ASC", "metrics.m DESC", "attributes.run_name ASC"]
    ids, _ = walk(client, ds.experiment_id, order_by=order, page_size=777)
    expected = sorted(ds.runs, key=lambda r: (r.p_mod7, -r.m, r.name))
    assert ids == ids_of(expected)


def test_order_by_tag_and_param_strings(client, ds):
    # tags and params compare as strings; ties broken by start_time DESC then run_id
    ids, _ = walk(client, ds.experiment_id, order_by=["tags.grp DESC"], page_size=2000)
    expected = sorted(ds.runs, key=lambda r: (r.grp, r.start_time), reverse=True)
    assert ids == ids_of(expected)
    ids, _ = walk(client, ds.experiment_id, order_by=["params.p_str DESC"], page_size=2000,
                  filter_string="params.p_mod7 = '3'")
    expected = sorted((r for r in ds.runs if r.p_mod7 == "3"), key=lambda r: r.p_str, reverse=True)
    assert ids == ids_of(expected)


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
def test_order_by_metric_nulls_and_nan_last(client, ds, descending):
    """Runs without the metric come last in both directions; NaN sorts after
    every real value but before missing. Ties: start_time DESC."""
    direction = "DESC" if descending else "ASC"
    ids, _ = walk(client, ds.experiment_id, order_by=[f"metrics.opt {direction}"], page_size=1000)
    expected = sorted(ds.runs, key=lambda r: (nan_last_key(r.opt, descending), -r.start_time))
    assert ids == ids_of(expected)
    by_id = ds.by_id()
    tail = [by_id[i] for i in ids[-N_RUNS // 10:]]
    assert all(r.opt is None for r in tail)


def test_order_by_start_time_and_run_id_tiebreak(client, ds):
    page = client.search_runs([ds.experiment_id], order_by=["attributes.start_time ASC"],
                              max_results=5)
    assert ids_of(page) == [r.run_id for r in ds.runs[:5]]
    # equal keys fall back to start_time DESC: all runs in one group
    page = client.search_runs([ds.experiment_id], filter_string="tags.grp = 'beta'",
                              order_by=["tags.grp ASC"], max_results=3)
    assert [r.info.run_name for r in page] == [r.name for r in sorted(
        (r for r in ds.runs if r.grp == "beta"), key=lambda r: -r.start_time)][:3]


def test_max_results_and_token(client, ds):
    page = client.search_runs([ds.experiment_id], max_results=10)
    assert len(page) == 10
    assert page.token
    page2 = client.search_runs([ds.experiment_id], max_results=10, page_token=page.token)
    assert len(page2) == 10
    assert not set(ids_of(page)) & set(ids_of(page2))
    # default page size of the client is 1000
    assert len(client.search_runs([ds.experiment_id])) == min(N_RUNS, 1000)


def test_deleted_runs_only_in_deleted_view(client, ds):
    ids, _ = walk(client, ds.experiment_id, view=ViewType.DELETED_ONLY, page_size=1000)
    assert sorted(ids) == sorted(ds.deleted_ids)
    ids, _ = walk(client, ds.experiment_id, view=ViewType.ALL, page_size=1000)
    assert len(ids) == N_RUNS + N_DELETED


# ---------------------------------------------------------------------------
# filters


def _filter_cases():
    t_mid = BASE_TS + (N_RUNS // 2) * 1000
    return [
        ("metrics.m >= 95", lambda r: r.m >= 95),
        ("metrics.m < 3", lambda r: r.m < 3),
        ("metrics.m = 42", lambda r: r.m == 42),
        ("metrics.m != 42", lambda r: r.m != 42),
        ("metrics.score <= 10.5", lambda r: r.score <= 10.5),
        ("metrics.score > 200 AND metrics.m < 50", lambda r: r.score > 200 and r.m < 50),
        ("params.p_mod7 = '3'", lambda r: r.p_mod7 == "3"),
        ("params.p_mod7 != '0'", lambda r: r.p_mod7 != "0"),
        ("params.`p_mod7` = '4'", lambda r: r.p_mod7 == "4"),
        ("params.p_str LIKE 'val-00%'", lambda r: r.p_str.startswith("val-00")),
        ("params.p_str LIKE '%99'", lambda r: r.p_str.endswith("99")),
        ("params.p_str ILIKE 'VAL-01%'", lambda r: r.p_str.startswith("val-01")),
        ("tags.grp = 'alpha'", lambda r: r.grp == "alpha"),
        ("tags.grp != 'alpha'", lambda r: r.grp != "alpha"),
        ("tags.grp LIKE 'E%'", lambda r: r.grp.startswith("E")),
        ("tags.grp LIKE '%a'", lambda r: r.grp.endswith("a")),
        ("tags.grp ILIKE 'e%'", lambda r: r.grp.lower().startswith("e")),
        ("tags.mod3 = '1' AND params.p_mod7 = '2'", lambda r: r.mod3 == "1" and r.p_mod7 == "2"),
        ("attributes.status = 'FINISHED'", lambda r: r.status == "FINISHED"),
        ("attributes.status != 'RUNNING'", lambda r: r.status != "RUNNING"),
        ("status = 'FAILED'", lambda r: r.status == "FAILED"),
        ("attributes.run_name = 'run-0042'", lambda r: r.name == "run-0042"),
        ("attributes.run_name LIKE 'run-01%'", lambda r: r.name.startswith("run-01")),
        ("attributes.run_name ILIKE 'RUN-002%'", lambda r: r.name.startswith("run-002")),
        ("attributes.run_name != 'run-0000'", lambda r: r.name != "run-0000"),
        ("run_name = 'run-0007'", lambda r: r.name == "run-0007"),
        (f"attributes.start_time >= {t_mid}", lambda r: r.start_time >= t_mid),
        (f"attributes.start_time < {BASE_TS + 10_000}", lambda r: r.start_time < BASE_TS + 10_000),
        (
            "metrics.m > 90 AND tags.grp = 'gamma' AND attributes.status = 'RUNNING'",
            lambda r: r.m > 90 and r.grp == "gamma" and r.status == "RUNNING",
        ),
    ]


@pytest.mark.parametrize("filter_string,pred", _filter_cases(), ids=[c[0] for c in _filter_cases()])
def test_filter(client, ds, filter_string, pred):
    ids, _ = walk(client, ds.experiment_id, filter_string=filter_string, page_size=5000)
    expected = ids_of(sorted((r for r in ds.runs if pred(r)), key=lambda r: -r.start_time))
    assert len(ids) == len(expected)
    assert ids == expected


@pytest.mark.parametrize("filter_string", [
    "params.p_mod7 IN ('1', '2')",
    "tags.grp IN ('alpha', 'beta')",
    "attributes.status IN ('FINISHED', 'FAILED')",
    "attributes.run_name IN ('run-0001')",
])
def test_in_operator_only_for_run_id(client, ds, filter_string):
    """MLflow (2.22 and 3.17) accepts IN / NOT IN only for attributes.run_id
    (and dataset attributes); elsewhere it answers INVALID_PARAMETER_VALUE."""
    with pytest.raises(MlflowException) as ei:
        client.search_runs([ds.experiment_id], filter_string=filter_string, max_results=1)
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"


def test_filter_by_run_id(client, ds):
    pick = [ds.runs[3].run_id, ds.runs[1000].run_id, ds.runs[-1].run_id]
    quoted = ", ".join(f"'{x}'" for x in pick)
    ids, _ = walk(client, ds.experiment_id, filter_string=f"attributes.run_id IN ({quoted})")
    assert sorted(ids) == sorted(pick)
    ids, _ = walk(client, ds.experiment_id, filter_string=f"attributes.run_id = '{pick[1]}'")
    assert ids == [pick[1]]
    ids, _ = walk(client, ds.experiment_id,
                  filter_string=f"attributes.run_id NOT IN ({quoted}) AND metrics.m = 3")
    assert sorted(ids) == sorted(r.run_id for r in ds.runs if r.m == 3 and r.run_id not in pick)


@pytest.mark.parametrize("filter_string,pred", [
    ("metrics.opt < 2", lambda v: v < 2),
    ("metrics.opt = 0", lambda v: v == 0),
    ("metrics.opt >= 48", lambda v: v >= 48),
])
def test_filter_on_metric_with_nan_and_missing(server, client, ds, filter_string, pred):
    """A run without the metric never matches. NaN differs by version: MLflow
    2.x's SQL store keeps a NaN metric as value 0 with an is_nan flag and its
    filters compare the stored value (NaN matches as if it were 0); MLflow 3.x
    never matches NaN in a numeric comparison."""
    ids, _ = walk(client, ds.experiment_id, filter_string=filter_string, page_size=5000)
    got = sorted(ds.by_id()[i].i for i in ids)

    def expected(nan_as):
        return sorted(
            r.i for r in ds.runs
            if r.opt is not None
            and (pred(r.opt) if not math.isnan(r.opt) else nan_as is not None and pred(nan_as))
        )

    assert got in reference_behaviour(server, mlflow2=expected(0.0), mlflow3=expected(None))


def test_invalid_filter_and_order_by(client, ds):
    with pytest.raises(MlflowException) as ei:
        client.search_runs([ds.experiment_id], filter_string="metrics.m >")
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as ei:
        client.search_runs([ds.experiment_id], filter_string="foo.bar = 1")
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as ei:
        client.search_runs([ds.experiment_id], order_by=["nonsense.x ASC"])
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"


# ---------------------------------------------------------------------------
# pandas


def test_mlflow_search_runs_pandas(ds):
    df = mlflow.search_runs(
        experiment_ids=[ds.experiment_id],
        filter_string="tags.grp = 'alpha' AND metrics.m < 20",
        order_by=["metrics.score DESC"],
    )
    expected = sorted((r for r in ds.runs if r.grp == "alpha" and r.m < 20), key=lambda r: -r.score)
    assert isinstance(df, pd.DataFrame)
    assert list(df["run_id"]) == ids_of(expected)
    for col in ["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time",
                "metrics.m", "metrics.score", "params.p_mod7", "params.p_str", "tags.grp",
                "tags.mlflow.runName"]:
        assert col in df.columns, col
    assert set(df["experiment_id"]) == {ds.experiment_id}
    assert list(df["status"]) == [r.status for r in expected]
    assert list(df["metrics.score"]) == [r.score for r in expected]
    assert list(df["params.p_str"]) == [r.p_str for r in expected]
    assert list(df["tags.mlflow.runName"]) == [r.name for r in expected]
    assert list(df["start_time"]) == [pd.Timestamp(r.start_time, unit="ms", tz="UTC") for r in expected]
    # a metric some runs lack is NaN in those rows
    assert "metrics.opt" in df.columns
    row0 = df[df["run_id"] == ds.runs[0].run_id]
    assert len(row0) == 1 and math.isnan(row0["metrics.opt"].iloc[0])


def test_mlflow_search_runs_pandas_all_and_list(ds):
    df = mlflow.search_runs(experiment_ids=[ds.experiment_id])
    assert len(df) == N_RUNS
    assert df["run_id"].is_unique
    runs = mlflow.search_runs(
        experiment_ids=[ds.experiment_id], filter_string="params.p_str = 'val-0001'",
        output_format="list",
    )
    assert [r.info.run_id for r in runs] == [ds.runs[1].run_id]


def test_search_runs_across_experiments(client, ds):
    other = client.create_experiment(unique("search-other"))
    extra = client.create_run(other, run_name="run-0042", start_time=BASE_TS + 42 * 1000 + 1)
    page = client.search_runs([ds.experiment_id, other], filter_string="attributes.run_name = 'run-0042'")
    assert ids_of(page) == [extra.info.run_id, ds.runs[42].run_id]
    page = client.search_runs([other])
    assert ids_of(page) == [extra.info.run_id]
