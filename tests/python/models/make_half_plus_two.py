"""Write the tiny ONNX models the onnx package's tests load.

Run from the repository root with the mlflow3 environment (onnx, skl2onnx,
scikit-learn and mlflow installed):

    .venv/mlflow3/bin/python tests/python/models/make_half_plus_two.py [DEST]

DEST defaults to onnx/testdata. It writes:

* half_plus_two.onnx: TF Serving's classic test model, y = 0.5 * x + 2, with
  input "x" float32 [N] and output "y" float32 [N].
* half_plus_two/: the same model as an MLflow model folder (MLmodel and
  model.onnx, as mlflow.onnx.save_model writes them).
* linear/: an MLflow model folder holding a scikit-learn LinearRegression
  fitted to y = a + 2b + 3c + 4, converted by skl2onnx: input "float_input"
  float32 [N, 3], output "variable" float32 [N, 1].
* mixed.onnx: three inputs of different types, "a" float32 [N], "b" int64
  [N] and "s" string [N]; outputs "sum" = a + b (float32 [N]), "s_out" = s
  (string [N]) and "total" = sum of a (a float32 scalar).
* noshape.onnx: y = Reshape(x, shape), inputs "x" float32 [N] and "shape"
  int64 [K], output "y" float32 of unknown rank (ONNX Runtime reports an
  unknown shape as it reports a scalar's: no dimensions).
* classifier/: an MLflow model folder holding a scikit-learn
  LogisticRegression on 2 features converted with skl2onnx's default ZipMap:
  outputs "output_label" int64 [N] and "output_probability", a sequence of
  maps from class to probability (not a tensor).

The models are deterministic, so rerunning the script rewrites the same
files (up to the MLmodel's timestamps and ids).
"""

import os
import shutil
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper

OPSET = 13
# ONNX Runtime 1.24 reads IR versions up to 11; 8 is what opset 13 needs.
IR_VERSION = 8


def half_plus_two():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N"])
    half = helper.make_tensor("half", TensorProto.FLOAT, [], [0.5])
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["x", "half"], ["x_half"]),
            helper.make_node("Add", ["x_half", "two"], ["y"]),
        ],
        "half_plus_two",
        [x],
        [y],
        initializer=[half, two],
    )
    return finish(graph)


def mixed():
    inputs = [
        helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N"]),
        helper.make_tensor_value_info("b", TensorProto.INT64, ["N"]),
        helper.make_tensor_value_info("s", TensorProto.STRING, ["N"]),
    ]
    outputs = [
        helper.make_tensor_value_info("sum", TensorProto.FLOAT, ["N"]),
        helper.make_tensor_value_info("s_out", TensorProto.STRING, ["N"]),
        helper.make_tensor_value_info("total", TensorProto.FLOAT, []),
    ]
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["b"], ["b_float"], to=TensorProto.FLOAT),
            helper.make_node("Add", ["a", "b_float"], ["sum"]),
            helper.make_node("Identity", ["s"], ["s_out"]),
            helper.make_node("ReduceSum", ["a"], ["total"], keepdims=0),
        ],
        "mixed",
        inputs,
        outputs,
    )
    return finish(graph)


def noshape():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N"])
    shape = helper.make_tensor_value_info("shape", TensorProto.INT64, ["K"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph([helper.make_node("Reshape", ["x", "shape"], ["y"])], "noshape", [x, shape], [y])
    # onnx.checker wants every graph output's shape declared; ONNX Runtime
    # does not, and such models exist. (ONNX Runtime infers what it can,
    # which for a Reshape to a shape of unknown length is not even a rank.)
    return finish(graph, check=False)


def finish(graph, check=True):
    model = helper.make_model(
        graph,
        producer_name="lode-testdata",
        opset_imports=[helper.make_opsetid("", OPSET)],
    )
    model.ir_version = IR_VERSION
    if check:
        onnx.checker.check_model(model, full_check=True)
    return model


def linear():
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(0)
    x = rng.uniform(-5, 5, size=(20, 3)).astype(np.float32)
    y = x @ np.array([1.0, 2.0, 3.0], dtype=np.float32) + 4.0
    reg = LinearRegression().fit(x, y)
    model = convert_sklearn(reg, initial_types=[("float_input", FloatTensorType([None, 3]))], target_opset=OPSET)
    model.graph.name = "linear"  # skl2onnx names graphs with a random uuid
    return model


def classifier():
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression

    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1], [3, 3], [3, 4], [4, 3], [4, 4]], dtype=np.float32)
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    clf = LogisticRegression().fit(x, y)
    model = convert_sklearn(
        clf, initial_types=[("float_input", FloatTensorType([None, 2]))], target_opset={"": OPSET, "ai.onnx.ml": 1}
    )
    model.graph.name = "classifier"
    # skl2onnx lists the opsets in set order, which varies from run to run.
    opsets = sorted(model.opset_import, key=lambda o: o.domain)
    del model.opset_import[:]
    model.opset_import.extend(opsets)
    return model


def save_mlflow(model, dest):
    """Save model as an MLflow model folder, keeping MLmodel and model.onnx."""
    import mlflow.onnx

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model")
        mlflow.onnx.save_model(model, path)
        shutil.rmtree(dest, ignore_errors=True)
        os.makedirs(dest)
        for name in ("MLmodel", "model.onnx"):
            shutil.copy(os.path.join(path, name), os.path.join(dest, name))


def main():
    dest = sys.argv[1] if len(sys.argv) > 1 else os.path.join("onnx", "testdata")
    os.makedirs(dest, exist_ok=True)
    hp2 = half_plus_two()
    onnx.save(hp2, os.path.join(dest, "half_plus_two.onnx"))
    save_mlflow(hp2, os.path.join(dest, "half_plus_two"))
    onnx.save(mixed(), os.path.join(dest, "mixed.onnx"))
    onnx.save(noshape(), os.path.join(dest, "noshape.onnx"))
    save_mlflow(linear(), os.path.join(dest, "linear"))
    save_mlflow(classifier(), os.path.join(dest, "classifier"))

    # Check the models answer as the tests expect.
    import onnxruntime as ort

    def run(path, feeds):
        return ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, feeds)

    y = run(os.path.join(dest, "half_plus_two.onnx"), {"x": np.array([1, 2, 5], dtype=np.float32)})
    assert np.allclose(y[0], [2.5, 3.0, 4.5]), y
    y = run(os.path.join(dest, "linear", "model.onnx"), {"float_input": np.array([[1, 1, 1], [0, 0, 0]], dtype=np.float32)})
    assert np.allclose(y[0], [[10], [4]], atol=1e-4), y
    y = run(
        os.path.join(dest, "mixed.onnx"),
        {"a": np.array([0.5, 1.5], dtype=np.float32), "b": np.array([1, 2]), "s": np.array(["x", "yz"], dtype=object)},
    )
    assert np.allclose(y[0], [1.5, 3.5]) and list(y[1]) == ["x", "yz"] and y[2] == 2.0, y
    print("wrote", dest)


if __name__ == "__main__":
    main()
