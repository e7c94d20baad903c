"""Optuna's own code keeping its studies in Lode, through Optuna's gRPC
storage client (optuna.storages.GrpcStorageProxy) and lode server."""

from __future__ import annotations

import math
import multiprocessing

import optuna
import pytest
from optuna.storages import GrpcStorageProxy
from optuna.trial import TrialState

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_create_load_attributes_and_errors(storage):
    study = optuna.create_study(study_name="basics", storage=storage, direction="maximize")
    study.set_user_attr("dataset", {"name": "wine", "rows": 178})
    with pytest.raises(optuna.exceptions.DuplicatedStudyError):
        optuna.create_study(study_name="basics", storage=storage)
    again = optuna.create_study(study_name="basics", storage=storage, load_if_exists=True)
    assert again._study_id == study._study_id

    loaded = optuna.load_study(study_name="basics", storage=storage)
    assert loaded.direction == optuna.study.StudyDirection.MAXIMIZE
    assert loaded.user_attrs == {"dataset": {"name": "wine", "rows": 178}}
    assert "basics" in optuna.get_all_study_names(storage=storage)
    summary = [s for s in optuna.get_all_study_summaries(storage=storage) if s.study_name == "basics"][0]
    assert summary.n_trials == 0

    with pytest.raises(KeyError):
        optuna.load_study(study_name="no-such-study", storage=storage)

    # A finished trial cannot change: Optuna's own exception comes back.
    trial = loaded.ask()
    loaded.tell(trial, 1.5)
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        storage.set_trial_user_attr(trial._trial_id, "late", True)
    # A parameter cannot change its kind within a study.
    t2 = loaded.ask()
    t2.suggest_float("x", 0, 1)
    t3 = loaded.ask()
    with pytest.raises(ValueError):
        t3.suggest_int("x", 0, 10)

    optuna.delete_study(study_name="basics", storage=storage)
    with pytest.raises(KeyError):
        optuna.load_study(study_name="basics", storage=storage)


def _objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -10, 10)
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    kind = trial.suggest_categorical("kind", ["sgd", "adam", None])
    if kind == "adam":
        trial.suggest_int("layers", 1, 4)  # conditional
    value = (x - 2) ** 2 + abs(math.log10(lr) + 3)
    for step in range(5):
        trial.report(value * (5 - step), step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    trial.set_user_attr("kind", kind)
    return value


def _worker(host: str, port: int, name: str, seed: int, n_trials: int) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = GrpcStorageProxy(host=host, port=port)
    study = optuna.load_study(study_name=name, storage=storage,
                              sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=5),
                              pruner=optuna.pruners.MedianPruner(n_startup_trials=3))
    study.optimize(_objective, n_trials=n_trials)
    storage.close()


def test_four_processes_share_a_study_with_pruning(server, storage):
    name = "shared"
    optuna.create_study(study_name=name, storage=storage, direction="minimize")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(server.host, server.port, name, seed, 10)) for seed in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
        assert p.exitcode == 0, server.log()

    study = optuna.load_study(study_name=name, storage=storage)
    trials = study.get_trials()
    assert len(trials) == 40
    assert sorted(t.number for t in trials) == list(range(40))
    assert len({t._trial_id for t in trials}) == 40
    states = {t.state for t in trials}
    assert states <= {TrialState.COMPLETE, TrialState.PRUNED}
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned, "MedianPruner pruned no trial"
    for t in pruned:
        # Optuna keeps a pruned trial's last intermediate value as its value.
        last = t.intermediate_values[max(t.intermediate_values)]
        assert t.values == [last]
        assert t.datetime_complete >= t.datetime_start
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    for t in complete:
        assert sorted(t.intermediate_values) == [0, 1, 2, 3, 4]
        assert t.user_attrs["kind"] == t.params["kind"]
        assert ("layers" in t.params) == (t.params["kind"] == "adam")
    assert study.best_value == min(t.value for t in complete)

    df = study.trials_dataframe()
    assert len(df) == 40
    assert {"number", "value", "params_x", "params_lr", "params_kind", "state", "duration"} <= set(df.columns)
    assert (df["state"] == "PRUNED").sum() == len(pruned)

    # Resume: another worker goes on with the same study.
    resumed = optuna.load_study(study_name=name, storage=storage, pruner=optuna.pruners.MedianPruner(n_startup_trials=3))
    resumed.optimize(_objective, n_trials=5)
    assert len(resumed.trials) == 45
    assert [t.number for t in resumed.trials] == list(range(45))


def test_enqueue_and_ask_tell_multi_objective(storage):
    study = optuna.create_study(study_name="multi", storage=storage, directions=["minimize", "maximize"])
    study.enqueue_trial({"a": 0.25, "b": "y"})
    t = study.ask()
    assert t.suggest_float("a", 0, 1) == 0.25
    assert t.suggest_categorical("b", ["x", "y"]) == "y"
    study.tell(t, [1.0, float("inf")])
    t2 = study.ask()
    t2.suggest_float("a", 0, 1)
    study.tell(t2, state=TrialState.FAIL)
    trials = study.get_trials()
    assert [tr.state for tr in trials] == [TrialState.COMPLETE, TrialState.FAIL]
    assert trials[0].values == [1.0, float("inf")]
    assert trials[0].system_attrs.get("fixed_params") == {"a": 0.25, "b": "y"}
    assert len(study.best_trials) == 1


def test_copy_study_from_sqlite(storage, tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    src = optuna.create_study(study_name="from-rdb", storage=url, direction="maximize",
                              pruner=optuna.pruners.MedianPruner(n_startup_trials=2))
    src.set_user_attr("origin", "rdb")
    src.optimize(lambda t: -_objective(t), n_trials=12)
    src.add_trial(optuna.trial.create_trial(state=TrialState.FAIL, params={"x": 1.0},
                                            distributions={"x": optuna.distributions.FloatDistribution(-10, 10)}))

    optuna.copy_study(from_study_name="from-rdb", from_storage=url, to_storage=storage, to_study_name="copied")
    dst = optuna.load_study(study_name="copied", storage=storage)
    assert dst.user_attrs == {"origin": "rdb"}
    assert dst.direction == src.direction
    a, b = src.get_trials(), dst.get_trials()
    assert len(a) == len(b) == 13
    for s, d in zip(a, b):
        assert (d.number, d.state, d.values, d.params, d.distributions) == (s.number, s.state, s.values, s.params, s.distributions)
        assert d.intermediate_values == s.intermediate_values
        assert d.user_attrs == s.user_attrs
        assert (d.datetime_start, d.datetime_complete) == (s.datetime_start, s.datetime_complete)
    assert dst.best_value == src.best_value
