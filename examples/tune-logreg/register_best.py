"""Register the best trial's model of a finished `lode tune` study.

    python register_best.py logreg-grid --model-name logreg

The study's run is found by its tag lode.study.name (or lode.study.id with
--study-id); its trials are its child runs (tag mlflow.parentRunId). Of the
trials that completed (tag lode.trial.state COMPLETE), the best by the
study's objective (its run's params `objective` and `direction`) is chosen,
the earlier trial on a tie, and its logged model, runs:/<run>/model, becomes
a new version of the registered model. The trial's value is the metric's
latest value, as a study with `use: last` (the default) reads it.

The server is $MLFLOW_TRACKING_URI, as for any mlflow client.
"""

import argparse
import math
import sys

import mlflow
from mlflow import MlflowClient


def quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def all_runs(client: MlflowClient, experiment_ids: list[str], filter_string: str) -> list:
    runs, token = [], None
    while True:
        page = client.search_runs(experiment_ids, filter_string=filter_string, max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def find_study_run(client: MlflowClient, study: str, by_id: bool):
    experiment_ids = [e.experiment_id for e in client.search_experiments()]
    tag = "lode.study.id" if by_id else "lode.study.name"
    runs = all_runs(client, experiment_ids, f"tags.`{tag}` = {quoted(study)}")
    # Trials carry the study's tags too; the study's own run has no parent.
    studies = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    if len(studies) != 1:
        sys.exit(f"register_best: {len(studies)} study runs with {tag} = {study!r}, want 1")
    return studies[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", help="the study's name (or its id, with --study-id)")
    parser.add_argument("--study-id", action="store_true", help="STUDY is the study's id")
    parser.add_argument("--model-name", required=True, help="the registered model to add a version to")
    args = parser.parse_args()

    client = MlflowClient()
    study = find_study_run(client, args.study, args.study_id)
    objective = study.data.params["objective"]
    maximize = study.data.params.get("direction", "minimize") == "maximize"
    trials = all_runs(client, [study.info.experiment_id],
                      f"tags.mlflow.parentRunId = {quoted(study.info.run_id)}")
    complete = []
    for t in trials:
        value = t.data.metrics.get(objective)
        if t.data.tags.get("lode.trial.state") == "COMPLETE" and value is not None and math.isfinite(value):
            complete.append((-value if maximize else value, int(t.data.tags.get("lode.trial.number", "0")), t))
    if not complete:
        sys.exit(f"register_best: study {args.study!r} has no complete trial with the metric {objective!r}")
    _, number, best = min(complete, key=lambda c: (c[0], c[1]))
    value = best.data.metrics[objective]
    print(f"best of {len(complete)} complete trials ({len(trials)} in all): trial {number}, "
          f"run {best.info.run_id}, {objective} {value:g}, params {dict(sorted(best.data.params.items()))}")

    version = mlflow.register_model(f"runs:/{best.info.run_id}/model", args.model_name,
                                    tags={"lode.study.name": study.data.tags.get("lode.study.name", ""),
                                          "lode.trial.number": str(number), objective: repr(value)})
    print(f"registered {args.model_name} version {version.version} from run {best.info.run_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
