"""Train one trial of the seed's logistic-regression lab and log it with mlflow.

The seed tuned LogisticRegression(C, fit_intercept, penalty) with a grid
search; here each combination is one run, a trial of a `lode tune` study
(grid.yaml, tpe-asha.yaml). The data is scikit-learn's own breast-cancer
set (569 rows, 30 features, shipped with the package: no download).

Two ways to train:
  - by default LogisticRegression with the liblinear solver (it takes both
    l1 and l2), logging the validation accuracy once;
  - with --epochs N, an SGDClassifier with the logistic loss, the same
    penalty and alpha = 1 / (C * n_train) (the same objective up to scale),
    trained epoch by epoch with partial_fit, logging the validation
    accuracy at each epoch as the metric's step, so that an ASHA or
    Hyperband pruner can read its learning curve and stop it early.

Run as a trial (or any Lode job) the run exists already (MLFLOW_RUN_ID) and
holds the parameters; run by hand, it starts a run and logs them.
"""

import argparse
import os
import sys

import mlflow
import mlflow.sklearn
import numpy as np
import sklearn
from mlflow.models import infer_signature
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

SEED = 42


def boolean(text: str) -> bool:
    """A study writes booleans as true/false; accept Python's spelling too."""
    t = text.strip().lower()
    if t in ("true", "1", "yes"):
        return True
    if t in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r}")


def penalty_args(penalty: str) -> dict:
    """LogisticRegression's penalty: scikit-learn 1.8 deprecated `penalty`
    for l1_ratio (1: l1, 0: l2); older releases ignore l1_ratio unless the
    penalty is elasticnet."""
    major, minor = (int(p) for p in sklearn.__version__.split(".")[:2])
    if (major, minor) >= (1, 8):
        return {"l1_ratio": 1.0 if penalty == "l1" else 0.0}
    return {"penalty": penalty}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--C", type=float, default=1.0, help="inverse regularization strength")
    parser.add_argument("--fit-intercept", type=boolean, default=True)
    parser.add_argument("--penalty", choices=["l1", "l2"], default="l2")
    parser.add_argument("--epochs", type=int, default=0,
                        help="train an SGDClassifier for this many epochs, logging each (0: LogisticRegression)")
    args = parser.parse_args()
    if not args.C > 0:
        parser.error("--C must be positive")

    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.25, random_state=SEED, stratify=y)
    scaler = StandardScaler().fit(x_train)
    xs_train, xs_val = scaler.transform(x_train), scaler.transform(x_val)

    # start_run takes the run from MLFLOW_RUN_ID and then unsets it.
    given_run = "MLFLOW_RUN_ID" in os.environ
    with mlflow.start_run() as run:
        if not given_run:
            # A trial's run holds its parameters already, as the study wrote them.
            mlflow.log_params({"C": args.C, "fit_intercept": args.fit_intercept, "penalty": args.penalty})
        if args.epochs > 0:
            alpha = 1.0 / (args.C * len(y_train))
            clf = SGDClassifier(loss="log_loss", penalty=args.penalty, alpha=alpha,
                                fit_intercept=args.fit_intercept, random_state=SEED)
            rng = np.random.default_rng(SEED)
            classes = np.unique(y)
            for epoch in range(1, args.epochs + 1):
                order = rng.permutation(len(y_train))
                clf.partial_fit(xs_train[order], y_train[order], classes=classes)
                acc = float(accuracy_score(y_val, clf.predict(xs_val)))
                mlflow.log_metric("val_accuracy", acc, step=epoch)
                print(f"epoch {epoch}: val_accuracy {acc:.4f}", flush=True)
            what = f"SGDClassifier(log_loss, alpha={alpha:.3g}, {args.epochs} epochs)"
        else:
            clf = LogisticRegression(C=args.C, fit_intercept=args.fit_intercept, solver="liblinear",
                                     max_iter=200, random_state=SEED, **penalty_args(args.penalty))
            clf.fit(xs_train, y_train)
            acc = float(accuracy_score(y_val, clf.predict(xs_val)))
            mlflow.log_metric("val_accuracy", acc)
            what = "LogisticRegression(liblinear)"
        print(f"{what} C={args.C:g} fit_intercept={args.fit_intercept} penalty={args.penalty}: "
              f"val_accuracy {acc:.4f}", flush=True)

        # The model is the scaler and the classifier, so that it takes raw features.
        model = make_pipeline(scaler, clf)
        # The requirements are what this process runs: inferring them would
        # load the model again in a subprocess, seconds per trial.
        mlflow.sklearn.log_model(model, name="model",
                                 signature=infer_signature(x_val, model.predict(x_val)),
                                 pip_requirements=[f"mlflow-skinny=={mlflow.__version__}",
                                                   f"scikit-learn=={sklearn.__version__}",
                                                   f"numpy=={np.__version__}"])
        print(f"logged run {run.info.run_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
