"""Fixtures for the jobs suite.

Every test drives a real ``lode server`` (LODE_BIN, default bin/lode) on a
free loopback port with its metadata, artifacts and job files in a
temporary folder, through the real ``lode job`` CLI run as a subprocess and
through the REST API under /api/2.0/lode/jobs/. Jobs run as real processes
on this machine; nothing is mocked.

Every wait here has a deadline, and every test a backstop alarm, so that a
hung job or server fails the test instead of hanging the suite.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

# The suite's own process must not log anywhere by accident, and the
# servers it starts must not inherit a tracking URI or run of the caller.
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
for _var in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID"):
    os.environ.pop(_var, None)

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
LODE_BIN = Path(os.environ.get("LODE_BIN", "bin/lode"))
if not LODE_BIN.is_absolute():
    LODE_BIN = REPO_ROOT / LODE_BIN

JOBS_API = "/api/2.0/lode/jobs"
FINAL_STATES = {"SUCCEEDED", "FAILED", "CANCELLED"}

# A test that runs longer than this is stuck: the alarm turns the hang into
# a failure with a traceback of where it waited.
TEST_BACKSTOP_S = 100


def cpu_count() -> int:
    """The CPUs this process may run on, which is what `lode server` counts
    (Go's runtime.NumCPU honours the affinity mask; os.cpu_count does not)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, fn, timeout: float, interval: float = 0.1):
    """Calls fn until it returns something truthy, and returns that; fails
    the test with what was awaited when timeout passes first."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def pid_alive(pid: int) -> bool:
    """Whether pid is a live process: a zombie (exited, not yet reaped by
    whoever inherited it) has ended and does not count."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    except OSError:
        # No /proc (not Linux): fall back to signal 0, which sees zombies
        # as alive but is the best there is.
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    # The state follows the command name, which may hold spaces and ")".
    return stat[stat.rindex(")") + 2] not in "ZX"


def stop_process(proc: subprocess.Popen, sig=signal.SIGTERM, timeout: float = 20) -> int:
    """Signals proc (only proc: the jobs it started lead process groups of
    their own and are the test's to deal with) and waits for it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout=timeout)
    return proc.returncode


@dataclass
class CLIResult:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def json(self):
        try:
            return json.loads(self.stdout)
        except json.JSONDecodeError as e:
            raise AssertionError(f"lode {' '.join(self.args)} printed no JSON ({e}):\n{self}") from None

    def __str__(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


@dataclass
class Server:
    """A running `lode server` and the folders it keeps its state in."""

    url: str
    port: int
    data: Path
    proc: subprocess.Popen
    log_path: Path
    # Jobs started by the tests, so that a failing test does not leave
    # processes behind (see cleanup_jobs).
    job_ids: list[str] = field(default_factory=list)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    # REST

    def api(self, method: str, path: str, **kw) -> requests.Response:
        kw.setdefault("timeout", 30)
        return requests.request(method, self.url + JOBS_API + "/" + path, **kw)

    def get_job(self, job_id: str) -> dict:
        r = self.api("GET", "get", params={"id": job_id})
        assert r.status_code == 200, r.text
        return r.json()["job"]

    def submit(self, **body) -> dict:
        r = self.api("POST", "submit", json=body)
        assert r.status_code == 200, r.text
        job = r.json()["job"]
        self.job_ids.append(job["id"])
        return job

    def wait_state(self, job_id: str, states, timeout: float = 30) -> dict:
        """Waits until the job is in one of states (or has ended, which no
        wait can get past) and returns it."""
        states = {states} if isinstance(states, str) else set(states)

        def check():
            j = self.get_job(job_id)
            return j if j["state"] in states or j["state"] in FINAL_STATES else None

        j = wait_for(f"job {job_id} to be {'/'.join(sorted(states))}", check, timeout)
        assert j["state"] in states, f"job {job_id} ended {j['state']} ({j.get('reason')}), not {states}:\n{j}"
        return j

    def wait_end(self, job_id: str, timeout: float = 30) -> dict:
        return self.wait_state(job_id, FINAL_STATES, timeout)

    def run_status(self, run_id: str) -> str:
        r = requests.get(self.url + "/api/2.0/mlflow/runs/get", params={"run_id": run_id}, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()["run"]["info"]["status"]

    def wait_run_status(self, run_id: str, status: str, timeout: float = 15) -> str:
        # The job's record and its run are written one after the other:
        # give the run a moment to catch up with the job.
        return wait_for(f"run {run_id} to be {status}", lambda: self.run_status(run_id) == status and status, timeout)

    # CLI

    def cli_env(self) -> dict:
        env = dict(os.environ)
        env["MLFLOW_TRACKING_URI"] = self.url
        return env

    def lode(self, *args: str, timeout: float = 60, cwd: Path | None = None) -> CLIResult:
        """Runs `lode job ARGS` against this server and returns what it did."""
        argv = [str(LODE_BIN), "job", *args]
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd,
                               env=self.cli_env(), stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            pytest.fail(f"lode job {' '.join(args)} did not end in {timeout} s:\n"
                        f"--- stdout\n{e.stdout}\n--- stderr\n{e.stderr}\n--- server log (tail)\n{self.log()[-4000:]}")
        return CLIResult(list(args), p.returncode, p.stdout, p.stderr)

    def lode_popen(self, *args: str, cwd: Path | None = None) -> subprocess.Popen:
        return subprocess.Popen([str(LODE_BIN), "job", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd=cwd, env=self.cli_env(), stdin=subprocess.DEVNULL)

    def submit_cli(self, *args: str, workdir: Path, timeout: float = 60) -> dict:
        """`lode job submit --json ARGS` in workdir; returns the job."""
        res = self.lode("submit", "--json", *args, cwd=workdir, timeout=timeout)
        assert res.returncode == 0, str(res)
        job = res.json()["job"]
        self.job_ids.append(job["id"])
        return job

    def cleanup_jobs(self):
        """Cancels whatever the tests left running, so that no job outlives
        the suite."""
        for jid in self.job_ids:
            with contextlib.suppress(Exception):
                if self.get_job(jid)["state"] not in FINAL_STATES:
                    self.api("POST", "cancel", json={"id": jid})
        self.job_ids.clear()


# Set in the servers' environment only: a job must not see it (jobs get a
# small inherited environment, not the server's, which may hold secrets).
SERVER_ONLY_VAR = "LODE_TEST_SERVER_ONLY"


def start_server(data: Path, port: int | None = None, extra: tuple[str, ...] = (), timeout: float = 60) -> Server:
    """Starts `lode server` with every folder it writes under data, and
    waits until it answers /health."""
    port = port or free_port()
    data.mkdir(parents=True, exist_ok=True)
    log_path = data / f"server-{time.monotonic_ns()}.log"
    args = [str(LODE_BIN), "server", "--host", "127.0.0.1", "-p", str(port),
            "--backend-store-uri", f"sqlite:///{data / 'lode.db'}",
            "--artifacts-destination", str(data / "artifacts"),
            "--job-dir", str(data / "jobs"),
            "--model-cache", str(data / "model-cache"),
            "--access-log=false", *extra]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env[SERVER_ONLY_VAR] = "not-for-jobs"
    with open(log_path, "wb") as logf:
        # A session of its own, so that a Ctrl-C meant for pytest does not
        # reach the server (and, through it, nothing reaches the jobs).
        proc = subprocess.Popen(args, cwd=data, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"lode server exited with {proc.returncode}:\n{log_path.read_text()}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url + "/health", timeout=2).status_code == 200:
                return Server(url, port, data, proc, log_path)
        if time.monotonic() > deadline:
            stop_process(proc)
            raise RuntimeError(f"lode server not ready in {timeout} s:\n{log_path.read_text()}")
        time.sleep(0.05)


@pytest.fixture(scope="session")
def tmp_root():
    with tempfile.TemporaryDirectory(prefix="lode-jobs-") as d:
        yield Path(d)


@pytest.fixture(scope="session")
def server(tmp_root):
    """The server most tests share; the restart tests start their own."""
    if not LODE_BIN.exists():
        pytest.fail(f"no lode binary at {LODE_BIN} (build it: go build -o bin/lode ./cmd/lode, or set LODE_BIN)")
    s = start_server(tmp_root / "server")
    yield s
    s.cleanup_jobs()
    stop_process(s.proc)


@pytest.fixture
def lode_server(server):
    """The shared server, with the jobs a test started cancelled if the test
    leaves any running."""
    yield server
    server.cleanup_jobs()


@pytest.fixture
def workdir(tmp_path):
    """A job's working directory: the server snapshots it at submission."""
    d = tmp_path / "code"
    d.mkdir()
    return d


@pytest.fixture
def outdir(tmp_path):
    """A folder outside the snapshot where jobs leave what the test reads
    (passed to them with --env)."""
    d = tmp_path / "out"
    d.mkdir()
    return d


@pytest.fixture(autouse=True)
def backstop():
    """Fails a test that hangs (no pytest-timeout in the venv): SIGALRM
    interrupts whatever it waits on."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def on_alarm(signum, frame):
        pytest.fail(f"test ran longer than {TEST_BACKSTOP_S} s", pytrace=True)

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TEST_BACKSTOP_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def job_python() -> str:
    """The interpreter for jobs that use mlflow: this one, the mlflow 3
    venv's when run as the README says."""
    return sys.executable


def which(name: str) -> str:
    p = shutil.which(name)
    if not p:
        pytest.fail(f"{name} is not on PATH")
    return p


class LineReader:
    """Reads a pipe's lines on a thread, so that a test can wait for the
    next one with a deadline."""

    def __init__(self, pipe):
        import queue
        import threading

        self._q: queue.Queue = queue.Queue()
        self.lines: list[str] = []
        self._t = threading.Thread(target=self._run, args=(pipe,), daemon=True)
        self._t.start()

    def _run(self, pipe):
        for line in pipe:
            self._q.put(line)
        self._q.put(None)

    def next(self, timeout: float) -> str | None:
        """The next line, or None at the end; fails the test after timeout."""
        import queue

        try:
            line = self._q.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no line in {timeout} s (so far: {self.lines})")
        if line is not None:
            self.lines.append(line)
        return line

    def rest(self, timeout: float) -> str:
        """Everything up to the end of the pipe."""
        deadline = time.monotonic() + timeout
        out = []
        while (line := self.next(max(0.01, deadline - time.monotonic()))) is not None:
            out.append(line)
        return "".join(out)
