#!/usr/bin/env bash
# bench-train.sh compares the training-step throughput of cohort's CPU
# backend (model.BenchmarkTrainStep: MLP 64-512-512-256-3, batch 1024, ZILN
# loss, AdamW) with the same step in PyTorch, at 1 and 2 threads, and prints a
# markdown table. Installs the Python peer (Debian's python3-torch with the
# pthread OpenBLAS) when missing.
#
# Environment: STEPS (timed steps, default 30), WARMUP (PyTorch warmup steps,
# default 5), THREADS (default "1 2").
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/peer.sh
. "$(dirname "$0")/lib/peer.sh"
cd "$(dirname "$0")/.."

PY=$PEER_PY
STEPS=${STEPS:-30}
WARMUP=${WARMUP:-5}
THREADS=${THREADS:-"1 2"}

peer_install python3-torch libopenblas0-pthread

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

regex=$(printf 'threads=%s$|' $THREADS)
go test -run '^$' -bench "^BenchmarkTrainStep\$/^(${regex%|})" -benchtime "${STEPS}x" -count 1 ./model/ | tee "$tmp/go.txt" >&2

declare -A gosps torchsps
while read -r name rest; do
	n=${name#*threads=}
	n=${n%%-*}
	gosps[$n]=$(awk '{for (i = 2; i <= NF; i++) if ($i == "samples/s") print $(i-1)}' <<<"$rest")
done < <(grep '^BenchmarkTrainStep/threads=' "$tmp/go.txt")

torchver=""
for n in $THREADS; do
	out=$(peer_threads "$n"; "$PY" scripts/bench_train_torch.py --threads "$n" --steps "$STEPS" --warmup "$WARMUP")
	echo "$out" >&2
	torchsps[$n]=$("$PY" -c 'import json,sys; print("%.0f" % json.loads(sys.argv[1])["samples_per_s"])' "$out")
	torchver=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["torch"])' "$out")
done

echo
echo "MLP 64-512-512-256-3, batch 1024, ZILN loss + AdamW, ${STEPS} timed steps"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') ($(nproc) cores); $(go version | cut -d' ' -f3); torch ${torchver}"
echo
echo "| threads | cohort cpu (samples/s) | PyTorch (samples/s) | cohort / PyTorch |"
echo "| ---: | ---: | ---: | ---: |"
for n in $THREADS; do
	g=${gosps[$n]:-}
	p=${torchsps[$n]:-}
	ratio=$(awk -v g="$g" -v p="$p" 'BEGIN { if (g > 0 && p > 0) printf "%.2f", g / p; else print "n/a" }')
	echo "| $n | ${g:-n/a} | ${p:-n/a} | $ratio |"
done
