"""Train an ElasticNet that predicts a wine's quality from its chemistry.

The MLflow lab this follows used the UCI white-wine data set; this machine
has no downloads, so the data is generated: the set's eleven columns with
plausible ranges, and a quality that depends on them linearly plus noise.
Run as an MLflow Project, the run is created for us (MLFLOW_RUN_ID is set)
and mlflow.start_run() continues it.
"""

import argparse
import os
import sys

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from sklearn.linear_model import ElasticNet
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split

COLUMNS = [
    "fixed acidity", "volatile acidity", "citric acid", "residual sugar", "chlorides",
    "free sulfur dioxide", "total sulfur dioxide", "density", "pH", "sulphates", "alcohol",
]


def wine_data(rows: int, seed: int = 7) -> pd.DataFrame:
    """Synthetic wine-quality data with a 'quality' column."""
    rng = np.random.default_rng(seed)
    lo = np.array([4.0, 0.1, 0.0, 0.6, 0.01, 2.0, 9.0, 0.987, 2.7, 0.2, 8.0])
    hi = np.array([10.0, 1.1, 1.0, 20.0, 0.3, 100.0, 300.0, 1.004, 3.8, 1.1, 14.5])
    x = lo + rng.random((rows, len(lo))) * (hi - lo)
    weights = np.array([0.05, -1.9, 0.2, 0.03, -2.0, 0.004, -0.001, -50.0, 0.4, 0.8, 0.35])
    quality = 50.0 + x @ weights + rng.normal(0, 0.3, rows)
    frame = pd.DataFrame(x, columns=COLUMNS)
    frame["quality"] = quality
    return frame


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--l1-ratio", type=float, default=0.1)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--model-name", default="wine", help="registered model name ('' to skip)")
    parser.add_argument("--generate-only", action="store_true", help="write the data set and stop")
    parser.add_argument("--out", default="wine.csv")
    args = parser.parse_args()

    data = wine_data(args.rows)
    if args.generate_only:
        data.to_csv(args.out, index=False)
        print(f"wrote {len(data)} rows to {args.out}")
        return 0

    x_train, x_test, y_train, y_test = train_test_split(
        data.drop(columns="quality"), data["quality"], test_size=0.25, random_state=42)

    with mlflow.start_run() as run:
        model = ElasticNet(alpha=args.alpha, l1_ratio=args.l1_ratio, random_state=42)
        model.fit(x_train, y_train)
        predicted = model.predict(x_test)
        rmse = float(np.sqrt(mean_squared_error(y_test, predicted)))
        mae = float(mean_absolute_error(y_test, predicted))
        r2 = float(r2_score(y_test, predicted))
        print(f"ElasticNet(alpha={args.alpha:g}, l1_ratio={args.l1_ratio:g}): "
              f"RMSE {rmse:.4f}  MAE {mae:.4f}  R2 {r2:.4f}")

        if "MLFLOW_RUN_ID" not in os.environ:
            # Run as a project, the parameters are on the run already, as given.
            mlflow.log_params({"alpha": args.alpha, "l1_ratio": args.l1_ratio})
        mlflow.log_metrics({"rmse": rmse, "mae": mae, "r2": r2})
        mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(x_train, predicted),
            input_example=x_train.head(3),
            registered_model_name=args.model_name or None,
        )
        print(f"logged run {run.info.run_id}" + (f" and registered model {args.model_name}" if args.model_name else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
