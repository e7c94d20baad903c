"""Trains the serving benchmark's model and saves it twice under DIR.

    python bench/servingmodel.py DIR

An ElasticNet on synthetic wine-quality data (the eleven columns of the UCI
white-wine set, generated with a fixed seed, as in tests/serving/conftest.py),
saved locally, with no tracking server:

    DIR/sklearn   mlflow.sklearn.save_model (sklearn + python_function flavors)
    DIR/onnx      the same model converted by skl2onnx, mlflow.onnx.save_model
    DIR/request.json  the benchmark's row and scikit-learn's prediction for it

Run it with the interpreter of .venv/mlflow3 (bench/serving.sh does).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"

import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from mlflow.models import infer_signature  # noqa: E402
from skl2onnx import to_onnx  # noqa: E402
from sklearn.linear_model import ElasticNet  # noqa: E402

WINE_COLUMNS = [
    "fixed acidity", "volatile acidity", "citric acid", "residual sugar", "chlorides",
    "free sulfur dioxide", "total sulfur dioxide", "density", "pH", "sulphates", "alcohol",
]

# The one row every benchmark request carries (the seed lab's wine).
ROW = [6.2, 0.66, 0.48, 1.2, 0.029, 29.0, 75.0, 0.98, 3.33, 0.39, 12.8]


def wine_data(n: int = 600, seed: int = 7) -> tuple[pd.DataFrame, np.ndarray]:
    """Plausible ranges for each column and a quality that depends on them
    linearly plus noise. Generated, not downloaded."""
    rng = np.random.default_rng(seed)
    lo = np.array([4.0, 0.1, 0.0, 0.6, 0.01, 2.0, 9.0, 0.987, 2.7, 0.2, 8.0])
    hi = np.array([10.0, 1.1, 1.0, 20.0, 0.3, 100.0, 300.0, 1.004, 3.8, 1.1, 14.5])
    x = lo + rng.random((n, len(lo))) * (hi - lo)
    w = np.array([0.05, -1.9, 0.2, 0.03, -2.0, 0.004, -0.001, -50.0, 0.4, 0.8, 0.35])
    y = 50.0 + x @ w + rng.normal(0, 0.3, n)
    return pd.DataFrame(x, columns=WINE_COLUMNS), y


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: servingmodel.py DIR")
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)

    x, y = wine_data()
    model = ElasticNet(alpha=0.42, l1_ratio=0.5, random_state=42).fit(x, y)
    signature = infer_signature(x, model.predict(x))
    mlflow.sklearn.save_model(model, str(out / "sklearn"), signature=signature)
    onx = to_onnx(model, x.to_numpy(dtype=np.float32)[:1], target_opset=17)
    mlflow.onnx.save_model(onx, str(out / "onnx"), signature=signature)

    row = pd.DataFrame([ROW], columns=WINE_COLUMNS)
    expected = float(model.predict(row)[0])
    (out / "request.json").write_text(json.dumps({"columns": WINE_COLUMNS, "data": [ROW], "prediction": expected}))
    print(f"servingmodel: saved {out / 'sklearn'} and {out / 'onnx'}; prediction for the row: {expected:.6f}")


if __name__ == "__main__":
    main()
