"""Fixtures for the Optuna suite: a real ``lode server`` (``$LODE_BIN``,
default bin/lode) on a free loopback port, in a fresh temporary directory,
that Optuna's own ``GrpcStorageProxy`` talks to on the server's port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest


def pytest_configure(config):
    # GrpcStorageProxy is marked experimental; saying so on every use is noise.
    config.addinivalue_line("filterwarnings", "ignore::optuna.exceptions.ExperimentalWarning")
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Server:
    host: str
    port: int
    workdir: Path
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-20000:]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(extra: list[str], env: dict[str, str] | None = None):
    lode_bin = Path(os.environ.get("LODE_BIN", "bin/lode"))
    if not lode_bin.is_absolute():
        lode_bin = REPO_ROOT / lode_bin
    if not lode_bin.exists():
        pytest.exit(f"Lode binary not found at {lode_bin}: go build -o bin/lode ./cmd/lode, or set LODE_BIN", returncode=2)
    workdir = Path(tempfile.mkdtemp(prefix="lode-optuna-"))
    port = _free_port()
    log_path = workdir / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(lode_bin), "server", "--host", "127.0.0.1", "--port", str(port),
             "--data-dir", str(workdir / "data"), "--jobs=false", *extra],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, **(env or {})})
    srv = Server("127.0.0.1", port, workdir, log_path)
    deadline = time.time() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{srv.url}/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            raise RuntimeError("lode server did not start:\n" + srv.log())
        time.sleep(0.1)
    return srv, proc


def _stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture(scope="session")
def server():
    srv, proc = _start([])
    yield srv
    _stop(proc)


ADMIN_PASSWORD = "optuna suite's admin password"


@pytest.fixture(scope="session")
def auth_server():
    """A server with authentication on and one admin, admin."""
    srv, proc = _start(["--admin-user", "admin"], {"LODE_ADMIN_PASSWORD": ADMIN_PASSWORD})
    yield srv
    _stop(proc)


@pytest.fixture
def storage(server):
    s = optuna.storages.GrpcStorageProxy(host=server.host, port=server.port)
    s.wait_server_ready(timeout=30)
    yield s
    s.close()
