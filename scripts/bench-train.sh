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
cd "$(dirname "$0")/.."

PY=/usr/bin/python3
STEPS=${STEPS:-30}
WARMUP=${WARMUP:-5}
THREADS=${THREADS:-"1 2"}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
if ! installed python3-torch || ! installed libopenblas0-pthread; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	echo "bench-train: installing python3-torch libopenblas0-pthread" >&2
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq -o DPkg::Lock::Timeout=900 python3-torch libopenblas0-pthread >&2
fi

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
	out=$(OMP_NUM_THREADS=$n OPENBLAS_NUM_THREADS=$n MKL_NUM_THREADS=$n OMP_WAIT_POLICY=PASSIVE \
		"$PY" scripts/bench_train_torch.py --threads "$n" --steps "$STEPS" --warmup "$WARMUP")
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
