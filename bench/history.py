"""Memory of `lode server` under parallel reads of one long metric history.

    python bench/history.py [--lode BIN]... [--points 400000] [--readers 8]

For each Lode binary given (default: $LODE_BIN, else bin/lode), it starts
`lode server` on a free 127.0.0.1 port with a throwaway SQLite store, logs
one metric of --points values to one run with the real mlflow client
(log_batch, 1,000 values a call), restarts the server on the same store so
that the reads start from an idle process, then runs --readers processes
that each read the whole history at once with
MlflowClient().get_metric_history (the client pages through it with
max_results=25000 and next_page_token). Meanwhile the server's VmRSS is
sampled from /proc/PID/status every 20 ms; VmHWM after the reads is the
kernel's own peak. It prints one Markdown table row per binary.

Run it with the interpreter of .venv/mlflow3 (`make bench-history` does).
The readers hold the whole history too: expect about 0.5 GB of client
memory per reader at 400,000 points.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "600")
for _var in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID", "MLFLOW_RUN_ID"):
    os.environ.pop(_var, None)

import mlflow  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Metric  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KEY = "loss"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of pid, in KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                out[name] = int(rest.split()[0])
    return out


class LodeServer:
    def __init__(self, binary: Path, work: Path):
        self.binary, self.work = binary, work
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        log = open(self.work / "server.log", "ab")
        self.proc = subprocess.Popen(
            [str(self.binary), "server", "--host", "127.0.0.1", "--port", str(port),
             "--backend-store-uri", f"sqlite:///{self.work / 'lode.db'}",
             "--artifacts-destination", str(self.work / "artifacts"),
             "--job-dir", str(self.work / "jobs"), "--access-log=false"],
            cwd=self.work, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"lode server exited: see {self.work / 'server.log'}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        sys.exit("lode server did not answer /health in 60 s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def log_history(url: str, points: int) -> str:
    c = MlflowClient(url)
    exp = c.create_experiment("history-bench")
    run = c.create_run(exp).info.run_id
    t0 = 1_700_000_000_000
    for start in range(0, points, 1000):
        batch = [Metric(KEY, 1.0 / (i + 1), t0 + i, i) for i in range(start, min(points, start + 1000))]
        c.log_batch(run, metrics=batch)
    return run


def read_history(url: str, run: str, raw: bool) -> tuple[int, float]:
    t = time.perf_counter()
    if raw:
        q = urllib.parse.urlencode({"run_id": run, "metric_key": KEY})
        with urllib.request.urlopen(f"{url}/api/2.0/mlflow/metrics/get-history?{q}", timeout=600) as r:
            n = len(json.load(r).get("metrics", []))
    else:
        n = len(MlflowClient(url).get_metric_history(run, KEY))
    return n, time.perf_counter() - t


def sample(pid: int, stop: threading.Event, peak: list[int]) -> None:
    while not stop.is_set():
        try:
            peak[0] = max(peak[0], status(pid)["VmRSS"])
        except (OSError, KeyError):
            return
        stop.wait(0.02)


def measure(srv: LodeServer, run: str, points: int, readers: int, raw: bool) -> dict:
    """Restarts the server, then reads the history with readers at once."""
    srv.stop()
    srv.start()
    pid = srv.proc.pid
    time.sleep(1)
    idle = status(pid)["VmRSS"]
    stop, peak = threading.Event(), [idle]
    sampler = threading.Thread(target=sample, args=(pid, stop, peak))
    sampler.start()
    t = time.perf_counter()
    with ProcessPoolExecutor(readers, mp_context=get_context("fork")) as pool:
        results = list(pool.map(read_history, [srv.url] * readers, [run] * readers, [raw] * readers))
    wall = time.perf_counter() - t
    stop.set()
    sampler.join()
    after = status(pid)
    for n, _ in results:
        if n != points:
            sys.exit(f"a reader got {n} values, want {points}")
    one = read_history(srv.url, run, raw)[1]
    return {"idle": idle, "peak": max(peak[0], after["VmHWM"]), "after": after["VmRSS"],
            "wall": wall, "one": one}


def bench(binary: Path, points: int, readers: int, modes: list[str]) -> list[dict]:
    work = Path(tempfile.mkdtemp(prefix="lode-history-bench."))
    srv = LodeServer(binary, work)
    try:
        srv.start()
        t = time.perf_counter()
        run = log_history(srv.url, points)
        log_s = time.perf_counter() - t
        out = []
        for mode in modes:
            r = measure(srv, run, points, readers, mode == "raw")
            r["mode"], r["log"] = mode, log_s
            out.append(r)
        return out
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)


MODES = {
    "client": "MlflowClient().get_metric_history (pages of 25,000)",
    "raw": "GET get-history without max_results",
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lode", action="append", type=Path,
                   help="lode binary (repeatable; default $LODE_BIN or bin/lode)")
    p.add_argument("--points", type=int, default=400_000)
    p.add_argument("--readers", type=int, default=8)
    p.add_argument("--mode", action="append", choices=sorted(MODES),
                   help="how the readers read (repeatable; default: client, then raw)")
    a = p.parse_args()
    binaries = a.lode or [Path(os.environ.get("LODE_BIN", "bin/lode"))]
    modes = a.mode or ["client", "raw"]
    print(f"mlflow {mlflow.__version__} client; {a.points:,} values; {a.readers} parallel readers",
          file=sys.stderr)
    print(f"| binary | readers | idle RSS | peak RSS (VmHWM) | RSS after | {a.readers} reads, wall | 1 read |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for b in binaries:
        path = b if b.is_absolute() else ROOT / b
        for r in bench(path, a.points, a.readers, modes):
            mib = lambda kib: f"{kib / 1024:.0f} MiB"  # noqa: E731
            print(f"| {b} | {MODES[r['mode']]} | {mib(r['idle'])} | {mib(r['peak'])} | {mib(r['after'])} | "
                  f"{r['wall']:.2f} s | {r['one']:.2f} s |", flush=True)
        print(f"(logging the history took {r['log']:.1f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
