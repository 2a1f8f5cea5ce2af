#!/usr/bin/env bash
# bench-asha.sh measures ASHA early stopping on a CDNOW sweep: the same 32
# random configurations (hidden sizes, learning rate, weight decay, batch)
# run once with ASHA (min resource 1 epoch, eta 3) and once to the end (27
# epochs each, no early stopping). It prints the epochs each sweep trained and
# the best validation loss each found.
#
# Environment: DATA (default ../shared/data/CDNOW_master.txt), SEEDS (default "7 11").
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=$(realpath "${DATA:-../shared/data/CDNOW_master.txt}")
SEEDS=${SEEDS:-"7 11"}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/cohort" ./cmd/cohort

spec() { # rule seed
	cat <<YAML
data: $DATA
calibration_end: "1997-09-30"
horizon: 39w
model: {max_epochs: 27, patience: -1}
space:
  parameters:
    - {name: hidden, type: categorical, values: ["32", "64,32", "128,64", "256,128"]}
    - {name: lr, type: float, min: 0.00003, max: 0.01, log: true}
    - {name: weight_decay, type: float, min: 0.000001, max: 0.01, log: true}
    - {name: batch, type: int, min: 128, max: 2048, log: true}
sampler: {algorithm: random}
trials: 32
parallel: 2
early_stopping: {rule: $1, asha: {min_resource: 1, eta: 3}}
seed: $2
YAML
}

echo "| seed | ASHA epochs | full epochs | share | ASHA best val loss | full best val loss | gap | ASHA s | full s |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for s in $SEEDS; do
	for rule in asha none; do
		spec $rule "$s" >"$tmp/$rule.yaml"
		start=$(date +%s.%N)
		"$tmp/cohort" sweep "$tmp/$rule.yaml" --id "$rule$s" --dir "$tmp/sweeps" -q >/dev/null 2>&1
		awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }' >"$tmp/$rule.secs"
		"$tmp/cohort" sweep status "$rule$s" --dir "$tmp/sweeps" --json >"$tmp/$rule.json"
	done
	/usr/bin/python3 - "$tmp" "$s" <<'PY'
import json, sys
d, seed = sys.argv[1], sys.argv[2]
def load(rule):
    trials = json.load(open(f"{d}/{rule}.json"))
    epochs = sum(t.get("epochs", 0) for t in trials)
    best = min(t["value"] for t in trials if t["status"] == "completed")
    return epochs, best, float(open(f"{d}/{rule}.secs").read())
ae, ab, asec = load("asha")
ne, nb, nsec = load("none")
print(f"| {seed} | {ae} | {ne} | {100*ae/ne:.1f}% | {ab:.5f} | {nb:.5f} | {100*(ab-nb)/nb:+.3f}% | {asec:.1f} | {nsec:.1f} |")
PY
done
