#!/usr/bin/env bash
# bench-accuracy.sh trains cohort's deep model on CDNOW with the literature's
# split (calibration through 1997-09-30, 39-week holdout) for several seeds
# and prints the test-customer metrics of each run next to the BG/NBD +
# Gamma-Gamma baseline, plus the sampling-noise band of the first run.
#
# First it prints the calibration study on the validation customers only
# (job.TestCDNOWCalibrationOnValidation, the same seeds): out-of-fold decile
# MAPE and spend ratio of three spend calibrations, the evidence a
# calibration method is chosen on before any test metric is read.
#
# Then the ensemble study on the validation customers
# (job.TestCDNOWEnsembleOnValidation): packed ensembles of 1, 3 and 5
# networks, the evidence the default --ensemble is chosen on.
#
# The test table is followed by each run's paired bootstrap over the test
# customers: how far the scores would move on another test set of this size.
#
# Environment: DATA (default ../shared/data/CDNOW_master.txt), SEEDS
# (default "1 2 3 4 5"), ENSEMBLES (default "1 3 5"), EXTRA (more flags for
# cohort train), STUDY=0 skips the validation studies.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=${DATA:-../shared/data/CDNOW_master.txt}
SEEDS=${SEEDS:-"1 2 3 4 5"}
[ -f "$DATA" ] || { echo "bench-accuracy: $DATA not found (set DATA)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/cohort" ./cmd/cohort

if [ "${STUDY:-1}" != 0 ]; then
	if [ "$(basename "$DATA")" != CDNOW_master.txt ]; then
		echo "bench-accuracy: the validation study reads CDNOW_master.txt; skipping it for $DATA (STUDY=0 to silence)" >&2
	else
		echo "Validation customers only, 5-fold out-of-fold (customer i in fold i%5):"
		echo
		echo "| seed | train+val factor MAPE | ratio | validation factor MAPE | ratio | isotonic on validation MAPE | ratio |"
		echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
		COHORT_SHARED_DATA="$(cd "$(dirname "$DATA")" && pwd)" COHORT_CALIBRATION_SEEDS="$SEEDS" \
			go test -count=1 -run '^TestCDNOWCalibrationOnValidation$' -v ./job/ | sed -n 's/^ *calibrate_test.go:[0-9]*: \(| .*\)$/\1/p'
		echo
		echo "Ensembles, validation customers only (Finish's calibration):"
		echo
		echo "| ensemble | seed | Gini | Spearman | decile MAPE | spend ratio | RMSE | best epoch | time | uncapped-factor MAPE | ratio | largest prediction |"
		echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
		COHORT_SHARED_DATA="$(cd "$(dirname "$DATA")" && pwd)" COHORT_ENSEMBLE_SEEDS="$SEEDS" \
			COHORT_ENSEMBLE_SIZES="${ENSEMBLES:-1 3 5}" \
			go test -count=1 -run '^TestCDNOWEnsembleOnValidation$' -v ./job/ >"$tmp/ensembles.txt"
		sed -n 's/^ *ensemble_study_test.go:[0-9]*: \(| .*\)$/\1/p' "$tmp/ensembles.txt"
		echo
		echo "Mean predicted / mean actual spend per decile of the prediction (1 = lowest), mean over the seeds:"
		echo
		echo "| ensemble | customers | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 |"
		echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
		sed -n 's/^ *ensemble_study_test.go:[0-9]*: D\(| .*\)$/\1/p' "$tmp/ensembles.txt"
		echo
		echo "Test customers:"
		echo
	fi
fi

echo "| seed | model Gini | model Spearman | model decile MAPE | model spend ratio | baseline Gini | baseline Spearman | baseline decile MAPE | baseline spend ratio |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
boot="$tmp/bootstrap.md"
: >"$boot"
first=""
for s in $SEEDS; do
	"$tmp/cohort" train --data "$DATA" --calibration-end 1997-09-30 --horizon 39w \
		--out "$tmp/run$s" --seed "$s" --importance-repeats 0 --json -q ${EXTRA:-} >"$tmp/r$s.json"
	/usr/bin/python3 - "$tmp/r$s.json" "$s" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
m, b = r["model_metrics"], r["baseline_metrics"]
f = lambda d: " | ".join("%.4f" % d[k] for k in ("normalized_gini", "spearman", "decile_mape", "spend_ratio"))
print("| %s | %s | %s |" % (sys.argv[2], f(m), f(b)))
PY
	/usr/bin/python3 - "$tmp/r$s.json" "$s" >>"$boot" <<'PY'
import json, sys
bs = json.load(open(sys.argv[1]))["bootstrap"]
iv = lambda b: "%.4f-%.4f" % (b["p5"], b["p95"])
cells = []
for k in ("normalized_gini", "spearman", "decile_mape", "spend_ratio"):
	cells += [iv(bs["model"][k]), "%.0f%%" % (100 * bs["model_better_share"][k])]
print("| %s | %s |" % (sys.argv[2], " | ".join(cells)))
PY
	first=${first:-$tmp/r$s.json}
done
echo
echo "Paired bootstrap over the test customers (90% intervals of the model's score; share of resamples in which it beats the baseline):"
echo
echo "| seed | Gini | better | Spearman | better | decile MAPE | better | spend ratio | better |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
cat "$boot"
/usr/bin/python3 - "$first" <<'PY'
import json, sys
n = json.load(open(sys.argv[1]))["model_noise"]
print()
print("Sampling noise of the first run's model (%d holdouts drawn from its own predictive distribution):" % n["draws"])
for k in ("normalized_gini", "decile_mape", "spend_ratio"):
	b = n[k]
	print("- %s: median %.4f, 90%% of draws in %.4f-%.4f" % (k, b["median"], b["p5"], b["p95"]))
PY
