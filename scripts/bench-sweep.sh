#!/usr/bin/env bash
# bench-sweep.sh compares cohort's sweep samplers (Bayesian optimisation,
# TPE, scrambled-Sobol random) with Optuna's TPE on Branin and Hartmann-6 in
# the same run: the median over 10 seeds of the best value after 30 and
# BUDGET trials, lower is better. It then times one proposal at 100 and 500
# observations (sweep's BenchmarkPropose) and prints markdown tables.
# Installs the Python peer (Debian's python3-optuna) when missing.
#
# Environment: BUDGET (trials per run, default 100), SEEDS (default 10; the
# Go side's seeds are sweep.benchSeeds, 1..10), BENCHTIME (go test
# -benchtime, default 3x).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/peer.sh
. "$(dirname "$0")/lib/peer.sh"
cd "$(dirname "$0")/.."

PY=$PEER_PY
BUDGET=${BUDGET:-100}
SEEDS=${SEEDS:-10}
BENCHTIME=${BENCHTIME:-3x}

peer_install python3-optuna

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "bench-sweep: cohort samplers, $BUDGET trials x 10 seeds x 2 functions" >&2
SWEEP_BENCH_OUT="$tmp/go.json" SWEEP_BENCH_BUDGET="$BUDGET" \
	go test -count=1 -timeout 30m -run '^TestBenchReport$' ./sweep/ >&2
echo "bench-sweep: optuna TPE, same budget and seeds" >&2
$PY scripts/bench_sweep_optuna.py --budget "$BUDGET" --seeds "$SEEDS" --out "$tmp/optuna.json"
echo "bench-sweep: time per proposal" >&2
go test -count=1 -run '^$' -bench '^BenchmarkPropose$' -benchtime "$BENCHTIME" ./sweep/ | tee "$tmp/bench.txt" >&2

$PY - "$tmp/go.json" "$tmp/optuna.json" "$tmp/bench.txt" "$BUDGET" <<'PYEOF'
import json, re, sys
go, opt, bench, budget = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3], sys.argv[4]
rows = {**go, **opt}
print(f"Median over 10 seeds of the best value found (lower is better; minima: "
      f"Branin 0.397887, Hartmann-6 -3.322368).\n")
print(f"| sampler | Branin @30 | Branin @{budget} | Hartmann-6 @30 | Hartmann-6 @{budget} | wall s (both, all seeds) |")
print("| --- | --- | --- | --- | --- | --- |")
for name, r in rows.items():
    b, h = r["branin"], r["hartmann6"]
    print(f"| {name} | {b['30']:.4f} | {b[budget]:.4f} | {h['30']:.4f} | {h[budget]:.4f} | {b['seconds'] + h['seconds']:.1f} |")
print("\nTime per proposal (Hartmann-6, steady state of a sequential sweep):\n")
print("| sampler | observations | ms per proposal |")
print("| --- | --- | --- |")
for line in open(bench):
    m = re.match(r"BenchmarkPropose/(\w+)/obs=(\d+)\S*\s+\d+\s+([\d.]+) ns/op", line)
    if m:
        print(f"| cohort {m[1]} | {m[2]} | {float(m[3]) / 1e6:.1f} |")
PYEOF
