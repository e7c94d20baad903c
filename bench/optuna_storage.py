"""Storage speed benchmark: Optuna ask/tell trials per second through three
storages, with 1 and several worker processes sharing one study.

  lode   GrpcStorageProxy against `lode server` (SQLite in a fresh temp dir)
  proxy  GrpcStorageProxy against Optuna's own run_grpc_proxy_server over
         get_storage("sqlite:///...") (RDBStorage on SQLite, in its cache)
  rdb    the storage URL "sqlite:///..." given to Optuna directly

Each worker loads the study and runs ask -> suggest_float x in [-10, 10] ->
tell(x**2) with RandomSampler (so that the sampler's own cost, which grows
with the study under TPE, does not hide the storage's) until the workers
together have told N trials (each worker N/W). Workers start together; the
rate over the whole run is N / (last tell - start), the rate of the last
10 % is 0.1 N / (time of the N-th tell - time of the 0.9 N-th tell).

    python bench/optuna_storage.py --lode bin/lode [--trials 2000]
        [--backends lode,proxy,rdb[,lode-normal]] [--workers 1,8] [--reps 3]
        [--trials-for proxy=1000,rdb=1000] [--time-cap 120]

Called by `make bench-optuna`, with the pinned Optuna of .venv/optuna.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from pathlib import Path

import optuna

BACKENDS = ("lode", "proxy", "rdb")
# Not in the default set: lode server with --sqlite-synchronous NORMAL, to
# show what the fsync of each commit costs.
EXTRA_BACKENDS = ("lode-normal",)


def _quiet():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def _storage(spec: str):
    """spec: grpc:HOST:PORT or an RDB URL."""
    if spec.startswith("grpc:"):
        _, host, port = spec.split(":")
        s = optuna.storages.GrpcStorageProxy(host=host, port=int(port))
        s.wait_server_ready(timeout=60)
        return s
    return spec  # Optuna turns the URL into its cached RDBStorage (get_storage)


# --- worker ---------------------------------------------------------------

def worker(spec: str, study_name: str, trials: int, seed: int, deadline_s: float) -> None:
    """Runs in a process of its own: says ready, waits for the start line on
    stdin, runs its trials, prints their completion times as JSON."""
    _quiet()
    study = optuna.load_study(study_name=study_name, storage=_storage(spec),
                              sampler=optuna.samplers.RandomSampler(seed=seed))
    print("ready", flush=True)
    sys.stdin.readline()
    done = []
    cpu0 = time.process_time()
    end = time.time() + deadline_s
    for _ in range(trials):
        trial = study.ask()
        x = trial.suggest_float("x", -10, 10)
        study.tell(trial, x * x)
        done.append(time.time())
        if done[-1] > end:
            break
    print(json.dumps({"done": done, "cpu": time.process_time() - cpu0}), flush=True)


# --- servers --------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_lode(binary: str, tmp: Path, extra: list[str]):
    port = _free_port()
    log = open(tmp / "lode.log", "wb")
    proc = subprocess.Popen([binary, "server", "--host", "127.0.0.1", "--port", str(port),
                             "--data-dir", str(tmp / "data"), *extra],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            _stop(proc)
            raise SystemExit("lode server did not start:\n" + (tmp / "lode.log").read_text()[-4000:])
        time.sleep(0.1)
    return proc, f"grpc:127.0.0.1:{port}"


PROXY_SERVER = """
import sys, warnings, optuna
warnings.filterwarnings("ignore")
optuna.logging.set_verbosity(optuna.logging.WARNING)
optuna.storages.run_grpc_proxy_server(optuna.storages.get_storage(sys.argv[1]),
                                      host="127.0.0.1", port=int(sys.argv[2]))
"""


def _start_proxy(tmp: Path):
    port = _free_port()
    log = open(tmp / "proxy.log", "wb")
    proc = subprocess.Popen([sys.executable, "-c", PROXY_SERVER, f"sqlite:///{tmp}/proxy.db", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, f"grpc:127.0.0.1:{port}"


def _cpu_seconds(proc) -> float:
    """User + system CPU time of a server process so far (Linux /proc)."""
    if proc is None:
        return 0.0
    fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stop(proc) -> None:
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# --- one measurement --------------------------------------------------------

def measure(backend: str, workers: int, trials: int, lode_bin: str, time_cap: float) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"optuna-bench-{backend}-") as d:
        tmp = Path(d)
        server = None
        try:
            if backend == "lode":
                server, spec = _start_lode(lode_bin, tmp, [])
            elif backend == "lode-normal":
                server, spec = _start_lode(lode_bin, tmp, ["--sqlite-synchronous", "NORMAL"])
            elif backend == "proxy":
                server, spec = _start_proxy(tmp)
            else:
                spec = f"sqlite:///{tmp}/rdb.db"
            _quiet()
            storage = _storage(spec)
            optuna.create_study(study_name="bench", storage=storage, direction="minimize")
            if hasattr(storage, "close"):
                storage.close()
            procs = []
            share = [trials // workers + (1 if i < trials % workers else 0) for i in range(workers)]
            for i in range(workers):
                procs.append(subprocess.Popen(
                    [sys.executable, __file__, "--worker", spec, "bench", str(share[i]), str(i), str(time_cap)],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
            for p in procs:
                line = p.stdout.readline()
                if line.strip() != "ready":
                    raise SystemExit(f"worker failed to start ({backend})")
            server_cpu0 = _cpu_seconds(server)
            t0 = time.time()
            for p in procs:
                p.stdin.write("go\n")
                p.stdin.flush()
            times, client_cpu = [], 0.0
            for p in procs:
                out = p.stdout.read()
                if p.wait() != 0:
                    raise SystemExit(f"worker failed ({backend}, rc {p.returncode})")
                got = json.loads(out)
                times += got["done"]
                client_cpu += got["cpu"]
            server_cpu = _cpu_seconds(server) - server_cpu0
            times.sort()
            n = len(times)
            # The store must hold what the workers told.
            check = optuna.load_study(study_name="bench", storage=_storage(spec))
            stored = len(check.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
            if stored != n:
                raise SystemExit(f"{backend}: {stored} complete trials stored, {n} told")
            tenth = max(1, n // 10)
            return {
                "backend": backend, "workers": workers, "trials": n, "asked": trials,
                "seconds": times[-1] - t0,
                "rate": n / (times[-1] - t0),
                "client_cpu_ms": 1000 * client_cpu / n,
                "server_cpu_ms": 1000 * server_cpu / n,
                "last10_rate": tenth / (times[-1] - times[n - 1 - tenth]) if n > tenth else float("nan"),
            }
        finally:
            _stop(server)


LABEL = {
    "lode": "GrpcStorageProxy → lode server (SQLite)",
    "lode-normal": "GrpcStorageProxy → lode server --sqlite-synchronous NORMAL",
    "proxy": "GrpcStorageProxy → run_grpc_proxy_server (RDBStorage, SQLite)",
    "rdb": "RDBStorage, SQLite, direct",
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lode", default="bin/lode")
    ap.add_argument("--trials", type=int, default=2000, help="trials per study")
    ap.add_argument("--trials-for", default="", help="per backend N, e.g. proxy=1000,rdb=1000")
    ap.add_argument("--backends", default=",".join(BACKENDS))
    ap.add_argument("--workers", default="1,8")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--time-cap", type=float, default=300,
                    help="a worker stops after this many seconds; the rate is then over the trials told")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    per = {k: int(v) for k, v in (kv.split("=") for kv in args.trials_for.split(",") if kv)}
    backends = args.backends.split(",")
    for b in backends:
        if b not in BACKENDS + EXTRA_BACKENDS:
            ap.error(f"unknown backend {b!r}: one of {', '.join(BACKENDS + EXTRA_BACKENDS)}")
    workers = [int(w) for w in args.workers.split(",")]

    started = time.time()
    results = []
    for rep in range(args.reps):
        for w in workers:
            for b in backends:
                r = measure(b, w, per.get(b, args.trials), args.lode, args.time_cap)
                r["rep"] = rep
                results.append(r)
                print(f"# rep {rep} {b:5} {w} workers: {r['trials']} trials in {r['seconds']:.1f} s, "
                      f"{r['rate']:.1f}/s, last 10 % {r['last10_rate']:.1f}/s", file=sys.stderr, flush=True)

    def med(b, w, key):
        vals = [r[key] for r in results if r["backend"] == b and r["workers"] == w]
        return statistics.median(vals), vals

    print(f"\nOptuna {optuna.__version__}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load average before {os.getloadavg()}, {args.reps} repetitions, "
          f"{time.time() - started:.0f} s in all\n")
    print("| storage | workers | trials (N) | trials/s, whole run (median; all) | trials/s, last 10 % (median) "
          "| CPU ms per trial: clients, server (median) |")
    print("|---|---:|---:|---:|---:|---:|")
    for w in workers:
        for b in backends:
            m, vals = med(b, w, "rate")
            l, _ = med(b, w, "last10_rate")
            cc, sc = med(b, w, "client_cpu_ms")[0], med(b, w, "server_cpu_ms")[0]
            server = f"{sc:.2f}" if b != "rdb" else "–"
            n = min(r["trials"] for r in results if r["backend"] == b and r["workers"] == w)
            print(f"| {LABEL[b]} | {w} | {n} | **{m:.1f}** ({', '.join(f'{v:.1f}' for v in vals)}) | {l:.1f} "
                  f"| {cc:.2f}, {server} |")
    if "lode" in backends and "proxy" in backends:
        print("\n| workers | Lode / Optuna proxy, whole run | last 10 % | Lode / RDBStorage direct, whole run |")
        print("|---:|---:|---:|---:|")
        for w in workers:
            lr, pr = med("lode", w, "rate")[0], med("proxy", w, "rate")[0]
            ll, pl = med("lode", w, "last10_rate")[0], med("proxy", w, "last10_rate")[0]
            rr = med("rdb", w, "rate")[0] if "rdb" in backends else float("nan")
            print(f"| {w} | {lr / pr:.1f}× | {ll / pl:.1f}× | {lr / rr:.1f}× |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]))
    else:
        main()
