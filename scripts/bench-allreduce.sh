#!/usr/bin/env bash
# bench-allreduce.sh measures allreduce of 4 ranks x 64 MiB float32 on
# loopback, in one run: cohort's ring over its gRPC transport
# (allreduce.BenchmarkGRPCRing), the same ring over plain TCP connections
# (BenchmarkRawTCPRing, the yardstick of what the sockets allow), the ring
# with no network at all (BenchmarkLocalRing), and PyTorch's gloo
# all_reduce (scripts/bench_allreduce_gloo.py). It prints a markdown table of
# bus bandwidth as nccl-tests define it (algbw * 2(n-1)/n) and of CPU seconds
# per allreduce, all ranks together: on a busy machine wall-clock bandwidth
# follows the load of other processes, CPU per call much less. Installs the
# Python peer (Debian's python3-torch) when missing.
#
# Environment: ITERS (timed calls per measurement, default 5), WARMUP (gloo
# warm-up calls, default 2; the Go benchmarks warm up with one call).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/peer.sh
. "$(dirname "$0")/lib/peer.sh"
cd "$(dirname "$0")/.."

PY=$PEER_PY
ITERS=${ITERS:-5}
WARMUP=${WARMUP:-2}

peer_install python3-torch

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

go test -run '^$' -bench '^Benchmark(GRPCRing|RawTCPRing|LocalRing)$' -benchtime "${ITERS}x" -count 1 \
	./allreduce/ | tee "$tmp/go.txt" >&2

# metric NAME UNIT prints the value before UNIT on the benchmark line NAME.
metric() {
	awk -v name="$1" -v unit="$2" '$1 ~ "^"name"(-[0-9]+)?$" { for (i = 2; i <= NF; i++) if ($i == unit) print $(i-1) }' "$tmp/go.txt"
}

gloo=$(OMP_NUM_THREADS=1 "$PY" scripts/bench_allreduce_gloo.py --ranks 4 --mib 64 --iters "$ITERS" --warmup "$WARMUP")
echo "$gloo" >&2
field() { "$PY" -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$gloo" "$1"; }
gloo_bus=$(printf '%.4f' "$(field bus_gbps)")
gloo_cpu=$(printf '%.4f' "$(field cpu_s_per_op)")

tcp_bus=$(metric BenchmarkRawTCPRing busGB/s)
tcp_cpu=$(metric BenchmarkRawTCPRing cpu-s/op)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "n/a" }'; }

echo
echo "Allreduce (sum) of 4 ranks x 64 MiB float32 on loopback, ${ITERS} timed calls each, one run"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') ($(nproc) cores), load average $(cut -d' ' -f1-3 /proc/loadavg); $(go version | cut -d' ' -f3); torch $(field torch)"
echo
echo "| transport | busbw (GB/s) | CPU s per call | busbw vs gloo | busbw vs raw TCP |"
echo "| --- | ---: | ---: | ---: | ---: |"
while read -r name label; do
	bus=$(metric "$name" busGB/s)
	cpu=$(metric "$name" cpu-s/op)
	echo "| $label | $bus | $cpu | $(ratio "$bus" "$gloo_bus") | $(ratio "$bus" "$tcp_bus") |"
done <<'EOF'
BenchmarkGRPCRing/lanes=1 cohort gRPC, 1 lane per link (default)
BenchmarkGRPCRing/lanes=2 cohort gRPC, 2 lanes per link
BenchmarkGRPCRing/lanes=4 cohort gRPC, 4 lanes per link
BenchmarkRawTCPRing cohort ring over raw TCP
BenchmarkLocalRing cohort ring in memory (no network)
EOF
echo "| PyTorch gloo all_reduce | $gloo_bus | $gloo_cpu | 1.00 | $(ratio "$gloo_bus" "$tcp_bus") |"
