#!/usr/bin/python3
"""Optuna's TPE on Branin and Hartmann-6: the peer of cohort's sweep samplers
in scripts/bench-sweep.sh.

Writes JSON {"optuna tpe": {function: {"30": median best, "<budget>": median
best, "seconds": wall time, "min": global minimum}}} with medians over the same
seeds as sweep's TestBenchReport. Optuna's TPESampler runs with its defaults
(10 startup trials, 24 EI candidates, univariate), as users get it.
"""
import argparse
import json
import math
import statistics
import time

import optuna

HARTMANN_A = [
    [10, 3, 17, 3.5, 1.7, 8],
    [0.05, 10, 17, 0.1, 8, 14],
    [3, 3.5, 1.7, 10, 17, 8],
    [17, 8, 0.05, 10, 0.1, 14],
]
HARTMANN_P = [
    [1312, 1696, 5569, 124, 8283, 5886],
    [2329, 4135, 8307, 3736, 1004, 9991],
    [2348, 1451, 3522, 2883, 3047, 6650],
    [4047, 8828, 8732, 5743, 1091, 381],
]
HARTMANN_ALPHA = [1.0, 1.2, 3.0, 3.2]


def branin(trial):
    x1 = trial.suggest_float("x1", -5, 10)
    x2 = trial.suggest_float("x2", 0, 15)
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1 * x1 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def hartmann6(trial):
    x = [trial.suggest_float(f"x{i + 1}", 0, 1) for i in range(6)]
    f = 0.0
    for i in range(4):
        s = sum(HARTMANN_A[i][j] * (x[j] - HARTMANN_P[i][j] * 1e-4) ** 2 for j in range(6))
        f -= HARTMANN_ALPHA[i] * math.exp(-s)
    return f


FUNCTIONS = {"branin": (branin, 0.397887357729738), "hartmann6": (hartmann6, -3.32236801141551)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=int, default=100)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    result = {}
    for name, (fn, fmin) in FUNCTIONS.items():
        start = time.perf_counter()
        at30, at_end = [], []
        for seed in range(1, args.seeds + 1):
            study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
            study.optimize(fn, n_trials=args.budget)
            values = [t.value for t in study.trials]
            at30.append(min(values[:30]))
            at_end.append(min(values))
        result[name] = {
            "30": statistics.median(at30),
            str(args.budget): statistics.median(at_end),
            "seconds": time.perf_counter() - start,
            "min": fmin,
        }
    with open(args.out, "w") as f:
        json.dump({"optuna tpe " + optuna.__version__: result}, f, indent=2)


if __name__ == "__main__":
    main()
