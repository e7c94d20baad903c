"""Lode's Python model worker.

Lode starts one of these per worker process, with the model's folder as its
only argument. It loads the model with MLflow, says "ready" (or why it could
not load), then answers scoring requests one at a time until its input
closes. Requests and answers travel as frames over the process's original
stdin and stdout:

    4-byte big-endian header length, 4-byte big-endian body length,
    a JSON header, the body bytes.

Requests are parsed and answered by MLflow's own scoring-server code, so a
model sees exactly what `mlflow models serve` would hand it.
"""

import io
import json
import os
import platform
import struct
import sys
import traceback

_PREFIX = struct.Struct(">II")


def _protocol_streams():
    """Keeps stdin and stdout for frames and points fds 0 and 1 elsewhere.

    Whatever the model prints (from Python or from C code writing to fd 1)
    goes to stderr, which Lode logs; reads of stdin see an empty stream.
    The duplicated fds are not inherited by subprocesses the model starts.
    """
    proto_in = os.fdopen(os.dup(0), "rb")
    proto_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.stdout = sys.stderr
    return proto_in, proto_out


def _send(out, header, body=b""):
    head = json.dumps(header).encode("utf-8")
    out.write(_PREFIX.pack(len(head), len(body)))
    out.write(head)
    if body:
        out.write(body)
    out.flush()


def _recv(inp):
    prefix = inp.read(_PREFIX.size)
    if len(prefix) < _PREFIX.size:
        return None, None
    hlen, blen = _PREFIX.unpack(prefix)
    head = inp.read(hlen)
    body = inp.read(blen)
    if len(head) < hlen or len(body) < blen:
        return None, None
    return json.loads(head), body


def _summary(exc):
    """The last line of an exception's description: "ValueError: boom"."""
    lines = traceback.format_exception_only(type(exc), exc)
    return lines[-1].strip() if lines else type(exc).__name__


class Scorer:
    """Answers requests with the model, through MLflow's scoring server."""

    def __init__(self, model_dir):
        from mlflow.pyfunc import scoring_server

        self.ss = scoring_server
        load = getattr(scoring_server, "load_model_with_mlflow_config", None)
        if load is None:
            from mlflow.pyfunc import load_model as load
        self.model = load(model_dir)
        self.schema = self.model.metadata.get_input_schema()
        self.unwrapped = False
        # MLflow answers unified LLM inputs without the "predictions"
        # wrapper; note when it does so Lode knows what it got.
        wrap = getattr(scoring_server, "unwrapped_predictions_to_json", None)
        if wrap is not None:

            def unwrapped(raw, output):
                self.unwrapped = True
                return wrap(raw, output)

            scoring_server.unwrapped_predictions_to_json = unwrapped
        try:
            from mlflow.environment_variables import _MLFLOW_IS_IN_SERVING_ENVIRONMENT

            os.environ[_MLFLOW_IS_IN_SERVING_ENVIRONMENT.name] = "true"
        except ImportError:
            pass

    def score(self, body, content_type):
        """Returns (header, body) for one request."""
        from mlflow.exceptions import MlflowException

        self.unwrapped = False
        try:
            if hasattr(self.ss, "invocations"):
                resp = self.ss.invocations(body, content_type, self.model, self.schema)
                text, status = resp.response, resp.status
            else:
                text, status = self._invocations(body, content_type)
        except MlflowException as e:
            message = e.message
            cause = e.__context__
            if cause is not None and not isinstance(cause, MlflowException):
                # MLflow hides what the model raised behind a generic
                # message (and a traceback); name it.
                message = f"{message} {_summary(cause)}"
            tb = e.json_kwargs.get("stack_trace") if hasattr(e, "json_kwargs") else None
            return {
                "type": "error",
                "code": e.error_code,
                "status": e.get_http_status_code(),
                "message": message,
                "traceback": tb or traceback.format_exc(),
            }, b""
        except Exception as e:
            return {
                "type": "error",
                "code": "INTERNAL_ERROR",
                "status": 500,
                "message": _summary(e),
                "traceback": traceback.format_exc(),
            }, b""
        if status != 200:
            return {"type": "error", "code": "BAD_REQUEST", "status": status, "message": text}, b""
        return {"type": "result", "unwrapped": self.unwrapped}, text.encode("utf-8")

    def _invocations(self, body, content_type):
        """Scores as older MLflow releases did, before `invocations` existed."""
        import inspect

        ss = self.ss
        mime = content_type.split(";")[0].strip()
        params = None
        if mime == "text/csv":
            data = ss.parse_csv_input(io.StringIO(body.decode("utf-8")), schema=self.schema)
        elif mime == "application/json":
            text = body.decode("utf-8")
            if hasattr(ss, "_split_data_and_params"):
                data, params = ss._split_data_and_params(text)
                data = ss.infer_and_parse_data(data, self.schema)
            else:
                data = ss.infer_and_parse_json_input(text, self.schema)
        else:
            return f"This predictor only supports text/csv and application/json. Got '{content_type}'.", 415
        if params is not None and "params" in inspect.signature(self.model.predict).parameters:
            raw = self.model.predict(data, params=params)
        else:
            raw = self.model.predict(data)
        out = io.StringIO()
        ss.predictions_to_json(raw, out)
        return out.getvalue(), 200


def main():
    proto_in, proto_out = _protocol_streams()
    try:
        import mlflow

        scorer = Scorer(sys.argv[1])
    except BaseException as e:  # noqa: BLE001 - report anything, SystemExit included
        _send(
            proto_out,
            {"type": "error", "message": _summary(e), "traceback": traceback.format_exc()},
        )
        return 1
    _send(
        proto_out,
        {
            "type": "ready",
            "python": platform.python_version(),
            "mlflow": getattr(mlflow, "__version__", ""),
        },
    )
    while True:
        header, body = _recv(proto_in)
        if header is None:
            return 0
        reply, out = scorer.score(body, header.get("content_type") or "application/json")
        reply["id"] = header.get("id", 0)
        _send(proto_out, reply, out)


if __name__ == "__main__":
    sys.exit(main())
