"""Session fixtures for the Lode compatibility suite.

The suite drives a tracking server with the real ``mlflow`` Python client.
Which server is started is chosen by the environment:

* ``LODE_TEST_SERVER=lode`` (default): ``$LODE_BIN server ...`` where
  ``LODE_BIN`` defaults to ``bin/lode`` relative to the repository root.
* ``LODE_TEST_SERVER=mlflow``: the reference, ``python -m mlflow server ...``
  from the interpreter running pytest (so the venv's own mlflow).
* ``LODE_TEST_URL=http://127.0.0.1:PORT``: use an already running server
  (nothing is started or stopped; handy while debugging).

The server runs on a free 127.0.0.1 port in a fresh temporary directory; its
stdout/stderr go to ``server.log`` there. The part of that log written during
a failing test is attached to the failure report.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

# Keep the client fast and quiet before mlflow is imported anywhere: no
# telemetry (nothing outside loopback is reachable anyway) and no long retry
# loops when a server answers 5xx -- a 5xx should fail the test at once.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"
for _var in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME",
             "MLFLOW_RUN_ID", "MLFLOW_REGISTRY_URI"):
    os.environ.pop(_var, None)

import mlflow  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
MLFLOW_VERSION = tuple(int(p) for p in mlflow.__version__.split(".")[:2])
IS_MLFLOW3 = MLFLOW_VERSION[0] >= 3

requires_mlflow3 = pytest.mark.skipif(
    not IS_MLFLOW3, reason=f"needs mlflow>=3 (logged models); client is {mlflow.__version__}"
)
requires_mlflow2 = pytest.mark.skipif(
    IS_MLFLOW3, reason=f"mlflow 2.x-only behaviour; client is {mlflow.__version__}"
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    kind: str  # "lode" | "mlflow" | "external"
    url: str
    workdir: Path | None = None
    log_path: Path | None = None
    proc: subprocess.Popen | None = None
    _log_offset: int = field(default=0, repr=False)

    def log_text(self, start: int = 0, limit: int = 20000) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as f:
            f.seek(start)
            data = f.read()
        text = data.decode("utf-8", "replace")
        if len(text) > limit:
            text = "... (truncated) ...\n" + text[-limit:]
        return text

    def log_size(self) -> int:
        if not self.log_path or not self.log_path.exists():
            return 0
        return self.log_path.stat().st_size

    def alive(self) -> bool:
        return self.proc is None or self.proc.poll() is None


def _server_command(kind: str, port: int, workdir: Path) -> list[str]:
    artifacts = workdir / "artifacts"
    if kind == "lode":
        lode_bin = os.environ.get("LODE_BIN", "bin/lode")
        path = Path(lode_bin)
        if not path.is_absolute():
            path = REPO_ROOT / path
        if not path.exists():
            pytest.exit(
                f"Lode binary not found at {path}. Build it (go build -o bin/lode ./cmd/lode) "
                "or set LODE_BIN, or run the reference with LODE_TEST_SERVER=mlflow.",
                returncode=2,
            )
        return [
            str(path), "server",
            "--host", "127.0.0.1",
            "--port", str(port),
            "--backend-store-uri", f"sqlite:///{workdir / 'lode.db'}",
            "--artifacts-destination", str(artifacts),
        ]
    if kind == "mlflow":
        cmd = [
            sys.executable, "-m", "mlflow", "server",
            "--host", "127.0.0.1",
            "--port", str(port),
            "--backend-store-uri", f"sqlite:///{workdir / 'mlflow.db'}",
            "--artifacts-destination", str(artifacts),
            "--serve-artifacts",
            "--workers", "1",
        ]
        if not IS_MLFLOW3:
            # mlflow 2.x serves through gunicorn, which logs no requests unless
            # asked; the access log is what makes the server log useful.
            cmd += ["--gunicorn-opts", "--access-logfile -"]
        return cmd
    raise pytest.UsageError(f"LODE_TEST_SERVER must be 'lode' or 'mlflow', not {kind!r}")


def _stop(proc: subprocess.Popen, timeout: float = 15) -> None:
    if proc.poll() is not None:
        return
    # The server runs in its own session (process group) so that workers it
    # forks (gunicorn/uvicorn) stop with it.
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=timeout)


def wait_healthy(srv: Server) -> None:
    """Waits until a server just started answers GET /health; raises
    RuntimeError when it exits first or takes longer than
    LODE_TEST_STARTUP_TIMEOUT seconds (180)."""
    deadline = time.monotonic() + float(os.environ.get("LODE_TEST_STARTUP_TIMEOUT", "180"))
    while True:
        if srv.proc.poll() is not None:
            raise RuntimeError(f"server exited with code {srv.proc.returncode} during startup")
        try:
            if requests.get(f"{srv.url}/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("server did not answer GET /health in time")
        time.sleep(0.25)


def _start(kind: str) -> tuple[Server, object]:
    """Starts a server of the given kind on a free port in a fresh work dir;
    returns it and the open log file. Exits the session when it does not
    come up."""
    # LODE_TEST_TMPDIR (or TMPDIR) picks where the store lives; a tmpfs such
    # as /dev/shm makes SQLite commits, and so the reference server, faster.
    workdir = Path(tempfile.mkdtemp(prefix=f"lode-pytest-{kind}-",
                                    dir=os.environ.get("LODE_TEST_TMPDIR")))
    port = _free_port()
    log_path = workdir / "server.log"
    cmd = _server_command(kind, port, workdir)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
    if kind == "mlflow":
        # MLflow 3 starts a pool of huey job consumers (GenAI background jobs);
        # the tracking API does not need them and they eat CPU on small hosts.
        env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    logf = open(log_path, "wb")
    proc = subprocess.Popen(
        cmd, cwd=workdir, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env=env, start_new_session=True,
    )
    srv = Server(kind=kind, url=f"http://127.0.0.1:{port}", workdir=workdir,
                 log_path=log_path, proc=proc)
    try:
        wait_healthy(srv)
    except Exception as e:
        _stop(proc)
        logf.close()
        pytest.exit(f"{e}\ncommand: {' '.join(cmd)}\n--- server log ---\n{srv.log_text()}",
                    returncode=3)
    return srv, logf


def _finish(srv: Server, logf) -> None:
    _stop(srv.proc)
    logf.close()
    if os.environ.get("LODE_TEST_KEEP_TMP"):
        print(f"\nserver work dir kept: {srv.workdir}")
    else:
        shutil.rmtree(srv.workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def server():
    """The tracking server under test, started once per session."""
    external = os.environ.get("LODE_TEST_URL")
    if external:
        srv = Server(kind="external", url=external.rstrip("/"))
        _set_tracking_uri(srv.url)
        yield srv
        return

    kind = os.environ.get("LODE_TEST_SERVER", "lode").strip().lower()
    srv, logf = _start(kind)
    _set_tracking_uri(srv.url)
    try:
        yield srv
    finally:
        _finish(srv, logf)


@pytest.fixture(scope="session")
def reference(server):
    """A real ``mlflow server`` of the installed client's version, beside
    the server under test, for tests that compare answers side by side.
    When the server under test is the reference itself, that one server."""
    if server.kind == "mlflow":
        yield server
        return
    srv, logf = _start("mlflow")
    try:
        yield srv
    finally:
        _finish(srv, logf)


def _set_tracking_uri(url: str) -> None:
    os.environ["MLFLOW_TRACKING_URI"] = url
    mlflow.set_tracking_uri(url)


def _reset_fluent_state() -> None:
    """Forget mlflow's process-global fluent state (active runs, experiment, model)."""
    try:
        while mlflow.active_run() is not None:
            mlflow.end_run()
    except Exception:
        # the run may have been deleted by the test; drop the stack anyway
        from mlflow.tracking import fluent
        fluent._active_run_stack.set([])
    from mlflow.tracking import fluent

    fluent._active_experiment_id = None
    for var in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID"):
        os.environ.pop(var, None)
    if hasattr(fluent, "_reset_last_logged_model_id"):
        fluent._reset_last_logged_model_id()
    if hasattr(mlflow, "get_active_model_id"):
        try:
            if mlflow.get_active_model_id():
                mlflow.clear_active_model()
        except Exception:
            pass


@pytest.fixture(autouse=True)
def _per_test(server, request):
    """Every test talks to the session server with clean fluent state."""
    _set_tracking_uri(server.url)
    _reset_fluent_state()
    server._log_offset = server.log_size()
    yield
    _reset_fluent_state()
    if not server.alive():
        pytest.fail(f"server process died during the test:\n{server.log_text(server._log_offset)}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and rep.when in ("call", "setup"):
        srv = item.funcargs.get("server") if hasattr(item, "funcargs") else None
        if isinstance(srv, Server) and srv.log_path is not None:
            rep.sections.append(
                (f"server log ({srv.kind}) during this test", srv.log_text(srv._log_offset))
            )


def pytest_report_header(config):
    kind = os.environ.get("LODE_TEST_URL") and "external" or os.environ.get(
        "LODE_TEST_SERVER", "lode")
    return f"mlflow client {mlflow.__version__}; server under test: {kind}"


# ---------------------------------------------------------------------------
# helpers shared by the tests


@pytest.fixture
def client(server):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=server.url)


@pytest.fixture
def api(server):
    """Raw REST helper: api.post("experiments/create", json=...) etc."""
    return RestApi(server.url)


class RestApi:
    def __init__(self, base: str, prefix: str = "/api/2.0/mlflow/"):
        self.base = base
        self.prefix = prefix
        self.session = requests.Session()

    def url(self, path: str, prefix: str | None = None) -> str:
        return self.base + (self.prefix if prefix is None else prefix) + path.lstrip("/")

    def get(self, path, params=None, prefix=None, **kw):
        return self.session.get(self.url(path, prefix), params=params, timeout=60, **kw)

    def post(self, path, json=None, prefix=None, **kw):
        return self.session.post(self.url(path, prefix), json=json, timeout=60, **kw)

    def patch(self, path, json=None, prefix=None, **kw):
        return self.session.patch(self.url(path, prefix), json=json, timeout=60, **kw)

    def delete(self, path, json=None, prefix=None, **kw):
        return self.session.delete(self.url(path, prefix), json=json, timeout=60, **kw)


def reference_behaviour(server: Server, mlflow2, mlflow3) -> list:
    """Allowed outcomes where MLflow 2.x and 3.x servers differ.

    Against the reference server only the behaviour of the installed mlflow
    version is accepted (so the suite records it exactly); against Lode (or an
    external server) either MLflow version's behaviour is accepted.
    """
    if server.kind == "mlflow":
        return [mlflow3 if IS_MLFLOW3 else mlflow2]
    return [mlflow2, mlflow3]


def unique(prefix: str = "exp") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def experiment_id(client):
    """A fresh experiment for one test."""
    return client.create_experiment(unique("pytest"))
