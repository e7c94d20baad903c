"""Tuning quality benchmark: Lode's TPE against Optuna's TPESampler.

For each standard function and seed, a sequential study of 100 trials;
the table gives the median (over seeds) of the best value after 50 and
100 trials, lower is better. Optuna runs twice: TPESampler's defaults
(independent TPE) and multivariate=True, the variant Lode implements.
Lode's side is bench/tunebench (a Go program on package tune).

    python bench/tune.py --lode bin/tunebench [--seeds 20] [--funcs branin,...]

Called by `make bench-tune`, which builds .venv/tunebench from
bench/requirements-tune.txt (optuna pinned) and bin/tunebench.
"""

import argparse
import json
import math
import statistics
import subprocess
import time

import optuna

HARTMANN_A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
              [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
HARTMANN_P = [[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
              [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]]
HARTMANN_ALPHA = [1.0, 1.2, 3.0, 3.2]


def branin(x):
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x[1] - b * x[0] ** 2 + c * x[0] - 6) ** 2 + 10 * (1 - t) * math.cos(x[0]) + 10


def hartmann6(x):
    s = 0.0
    for i in range(4):
        e = sum(HARTMANN_A[i][j] * (x[j] - HARTMANN_P[i][j] * 1e-4) ** 2 for j in range(6))
        s += HARTMANN_ALPHA[i] * math.exp(-e)
    return -s


def rosenbrock(x):
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1))


# name: (function, bounds, known minimum); the same as bench/tunebench.
FUNCS = {
    "branin": (branin, [(-5, 10), (0, 15)], 0.397887),
    "hartmann6": (hartmann6, [(0, 1)] * 6, -3.32237),
    "rosenbrock10": (rosenbrock, [(-5, 10)] * 10, 0.0),
}


def optuna_best(name, seed, trials, checkpoints, multivariate):
    f, bounds, _ = FUNCS[name]

    def objective(trial):
        return f([trial.suggest_float(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(bounds)])

    sampler = optuna.samplers.TPESampler(seed=seed, multivariate=multivariate)
    study = optuna.create_study(sampler=sampler)
    study.optimize(objective, n_trials=trials)
    values = [t.value for t in study.trials]
    return {n: min(values[:n]) for n in checkpoints}


def lode_best(binary, name, seeds, trials, checkpoints):
    out = subprocess.run([binary, "-func", name, "-seeds", f"0-{seeds - 1}", "-trials", str(trials),
                          "-checkpoints", ",".join(map(str, checkpoints))],
                         check=True, capture_output=True, text=True).stdout
    return [{int(k): v for k, v in json.loads(line)["best"].items()} for line in out.splitlines()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lode", required=True, help="the tunebench binary")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--funcs", default=",".join(FUNCS))
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    checkpoints = [args.trials // 2, args.trials]

    rows = []
    for name in args.funcs.split(","):
        started = time.time()
        lode = lode_best(args.lode, name, args.seeds, args.trials, checkpoints)
        lode_s = time.time() - started
        results = {"Lode TPE (multivariate)": (lode, lode_s)}
        for label, mv in (("Optuna TPESampler()", False), ("Optuna TPESampler(multivariate=True)", True)):
            started = time.time()
            runs = [optuna_best(name, s, args.trials, checkpoints, mv) for s in range(args.seeds)]
            results[label] = (runs, time.time() - started)
        for label, (runs, secs) in results.items():
            med = [statistics.median(r[n] for r in runs) for n in checkpoints]
            rows.append((name, FUNCS[name][2], label, med, secs))

    print(f"optuna {optuna.__version__}, {args.seeds} seeds, median best value (lower is better)\n")
    print(f"| function (minimum) | sampler | best after {checkpoints[0]} | best after {checkpoints[1]} | seconds, all seeds |")
    print("|---|---|---:|---:|---:|")
    for name, minimum, label, med, secs in rows:
        print(f"| {name} ({minimum:g}) | {label} | {med[0]:.4g} | {med[1]:.4g} | {secs:.1f} |")


if __name__ == "__main__":
    main()
