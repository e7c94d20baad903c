"""The study page shows what Optuna's own samplers and pruners wrote: a
study optimized through GrpcStorageProxy with TPE and successive halving
appears on /studies and /studies/{id} with its parameters' spaces (a log
float, an int, a categorical), its pruned trials' step and rung, and its
intermediate values."""

from __future__ import annotations

import json
import math
import urllib.request

import optuna


def _objective(trial: optuna.Trial) -> float:
    lr = trial.suggest_float("lr", 1e-5, 1.0, log=True)
    depth = trial.suggest_int("depth", 1, 6)
    opt = trial.suggest_categorical("optimizer", ["sgd", "adam", "rmsprop"])
    final = (math.log10(lr) + 2.5) ** 2 / 4 + {"sgd": 0.0, "adam": 0.3, "rmsprop": 0.6}[opt] + 0.02 * depth
    for step in range(12):
        trial.report(final + math.exp(-step / 3), step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return final


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as r:
        assert r.status == 200, url
        return r.read().decode()


def test_optuna_study_on_the_study_page(server, storage):
    study = optuna.create_study(
        study_name="page-study", storage=storage, direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=3),
        pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=2, reduction_factor=3))
    study.optimize(_objective, n_trials=30)
    states = [t.state for t in study.trials]
    pruned = states.count(optuna.trial.TrialState.PRUNED)
    complete = states.count(optuna.trial.TrialState.COMPLETE)
    assert pruned > 0 and complete > 0

    listing = _get(f"{server.url}/studies")
    assert "page-study" in listing and f"{complete} COMPLETE" in listing and f"{pruned} PRUNED" in listing

    sid = study._study_id
    data = json.loads(_get(f"{server.url}/studies/{sid}/data"))
    params = {p["name"]: p for p in data["params"]}
    assert params["lr"]["log"] and params["lr"]["kind"] == "float"
    assert params["depth"]["kind"] == "int" and not params["depth"]["log"]
    assert params["optimizer"]["choices"] == ["sgd", "adam", "rmsprop"]
    assert len(data["trials"]) == 30 and not data["live"]
    assert {i["param"] for i in data["importance"]} == {"lr", "depth", "optimizer"}
    by_number = {t["number"]: t for t in data["trials"]}
    for t in study.trials:
        mine = by_number[t.number]
        assert mine["state"] == t.state.name
        assert mine["steps"] == sorted(t.intermediate_values)
        if t.state == optuna.trial.TrialState.COMPLETE:
            assert math.isclose(mine["values"][0], t.value)
            assert math.isclose(mine["params"]["lr"], t.params["lr"])
            assert mine["params"]["optimizer"] == ["sgd", "adam", "rmsprop"].index(t.params["optimizer"])

    page = _get(f"{server.url}/studies/{sid}")
    # Successive halving records completed_rung_<n> on the trials it
    # judged; the page says where each pruned trial stopped.
    for t in study.trials:
        if t.state == optuna.trial.TrialState.PRUNED:
            rung = max(int(k.rsplit("_", 1)[1]) for k in t.system_attrs if k.startswith("completed_rung_"))
            assert f"step {max(t.intermediate_values)} · rung {rung}" in page
    assert f"trial {study.best_trial.number}:" in page
