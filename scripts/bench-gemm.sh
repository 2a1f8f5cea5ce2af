#!/usr/bin/env bash
# bench-gemm.sh compares SGEMM throughput of cohort's kernels/cpu with
# gonum's blas32 and with OpenBLAS (through Debian's python3-torch, which
# calls libopenblas0-pthread), at 1 and 2 threads, on 1024³ and the products
# of one training step of the 64-512-512-256-3 MLP at batch 1024.
#
# The machine may be shared, so the implementations run interleaved, ROUNDS
# times, and the table shows medians: GFLOP/s of wall time, and GFLOP per
# CPU-second (steadier when other processes compete for the cores).
#
#   scripts/bench-gemm.sh                 # ROUNDS=3 BENCHTIME=0.3s
#   ROUNDS=5 BENCHTIME=1s scripts/bench-gemm.sh
set -euo pipefail

ROUNDS=${ROUNDS:-3}
BENCHTIME=${BENCHTIME:-0.3s}
# shellcheck source-path=SCRIPTDIR source=lib/peer.sh
. "$(dirname "$0")/lib/peer.sh"
cd "$(dirname "$0")/.."

# OpenBLAS and torch from Debian; install them on a fresh machine.
peer_install --no-install-recommends python3-torch libopenblas0-pthread

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/cpu.test" ./kernels/cpu

# The shapes of BenchmarkGemm in kernels/cpu/gemm_bench_test.go:
# name m n k transA transB.
cat >"$tmp/shapes" <<'SHAPES'
1024x1024x1024 1024 1024 1024 0 0
fwd_1024x512x64 1024 512 64 0 0
fwd_1024x512x512 1024 512 512 0 0
fwd_1024x256x512 1024 256 512 0 0
fwd_1024x3x256 1024 3 256 0 0
dx_1024x512x512_tB 1024 512 512 0 1
dx_1024x512x256_tB 1024 512 256 0 1
dw_64x512x1024_tA 64 512 1024 1 0
dw_512x512x1024_tA 512 512 1024 1 0
dw_512x256x1024_tA 512 256 1024 1 0
dx_1024x256x3_tB 1024 256 3 0 1
dw_256x3x1024_tA 256 3 1024 1 0
SHAPES

cat >"$tmp/openblas.py" <<'PY'
# Times torch.mm (OpenBLAS sgemm) on each shape; prints
# "openblas <shape> <threads> <GFLOP/s> <GFLOP/cpu-s>".
import sys, time, torch
threads, benchtime = int(sys.argv[1]), float(sys.argv[2])
torch.set_num_threads(threads)
for line in open(sys.argv[3]):
    name, m, n, k, ta, tb = line.split()
    m, n, k, ta, tb = int(m), int(n), int(k), ta == "1", tb == "1"
    a = torch.rand(k, m).t() if ta else torch.rand(m, k)  # views: sgemm sees the transpose flag
    b = torch.rand(n, k).t() if tb else torch.rand(k, n)
    c = torch.empty(m, n)
    for _ in range(2):
        torch.mm(a, b, out=c)
    reps, t0, c0 = 0, time.perf_counter(), time.process_time()
    while True:
        torch.mm(a, b, out=c)
        reps += 1
        dt = time.perf_counter() - t0
        if dt >= benchtime:
            break
    dc = time.process_time() - c0
    flops = 2.0 * m * n * k * reps
    print("openblas %s %d %.3f %.3f" % (name, threads, flops / dt / 1e9, flops / max(dc, 1e-9) / 1e9))
PY

secs=${BENCHTIME%s}
for round in $(seq "$ROUNDS"); do
	echo "round $round/$ROUNDS" >&2
	for t in 1 2; do
		"$tmp/cpu.test" -test.run '^$' -test.bench "^BenchmarkGemm/.*/threads=$t/" -test.benchtime "$BENCHTIME" |
			awk '/^BenchmarkGemm/ {
				split($1, p, "/"); impl = p[4]; sub(/^impl=/, "", impl); sub(/-[0-9]+$/, "", impl)
				w = c = 0
				for (i = 2; i < NF; i++) { if ($(i+1) == "GFLOP/s") w = $i; if ($(i+1) == "GFLOP/cpu-s") c = $i }
				t = p[3]; sub(/^threads=/, "", t)
				print impl, p[2], t, w, c }' >>"$tmp/results"
		(peer_threads "$t"; exec "$PEER_PY" "$tmp/openblas.py" "$t" "$secs" "$tmp/shapes") >>"$tmp/results"
	done
done

"$PEER_PY" - "$tmp/results" "$tmp/shapes" "$ROUNDS" <<'PY'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1])]
order = [l.split()[0] for l in open(sys.argv[2])]
med = {}
for impl, shape, t, w, c in rows:
    med.setdefault((impl, shape, t), []).append((float(w), float(c)))
def get(impl, shape, t, i):
    v = med.get((impl, shape, t))
    return statistics.median(x[i] for x in v) if v else float("nan")
for i, what in ((0, "GFLOP/s (wall)"), (1, "GFLOP per CPU-second")):
    print("\n%s, median of %s rounds" % (what, sys.argv[3]))
    print("%-22s %3s %8s %8s %8s %14s" % ("shape (m x n x k)", "thr", "cohort", "gonum", "openblas", "cohort/openblas"))
    for shape in order:
        for t in ("1", "2"):
            co, go, ob = (get(x, shape, t, i) for x in ("cohort", "gonum", "openblas"))
            print("%-22s %3s %8.1f %8.1f %8.1f %14.2f" % (shape, t, co, go, ob, co / ob))
PY
