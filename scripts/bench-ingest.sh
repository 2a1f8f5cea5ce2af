#!/usr/bin/env bash
# bench-ingest.sh compares `cohort features` with the idiomatic pandas route
# (scripts/bench_ingest_pandas.py: read_csv, same-day merge, groupby for
# frequency, recency, T, monetary and holdout spend) on the same synthetic
# logs of about 1M, 3M and 10M transactions from `cohort gen`. It measures
# wall time and peak RSS of each with /usr/bin/time -v, checks that both find
# the same customers, repeat purchases and holdout spend, and prints a
# markdown table. Installs its peers (python3-pandas, time) when missing.
#
# Environment: SIZES (transactions, default "1000000 3000000 10000000"),
# COHORT (a cohort binary to use instead of building one), KEEP=1 keeps the
# generated logs in the temporary directory it prints.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/peer.sh
. "$(dirname "$0")/lib/peer.sh"
cd "$(dirname "$0")/.."

PY=$PEER_PY
SIZES=${SIZES:-"1000000 3000000 10000000"}
START=2024-01-01   # cohort gen's default start; it writes 78 weeks from there
CAL_END=2024-12-31
HORIZON_WEEKS=26

peer_install python3-pandas time # time: /usr/bin/time -v

tmp=$(mktemp -d)
[ "${KEEP:-}" = 1 ] || trap 'rm -rf "$tmp"' EXIT

if [ -n "${COHORT:-}" ]; then
	cp "$COHORT" "$tmp/cohort"
else
	go build -o "$tmp/cohort" ./cmd/cohort
fi
[ "${KEEP:-}" = 1 ] && echo "bench-ingest: keeping logs in $tmp" >&2

# cohort gen draws customers, not rows: size the runs from a pilot.
pilot=20000
"$tmp/cohort" gen --customers $pilot --start $START --seed 1 --out "$tmp/pilot.csv" >/dev/null
pilot_rows=$(($(wc -l <"$tmp/pilot.csv") - 1))

# wall seconds and peak MB from a /usr/bin/time -v report
wall() { awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$1"; }
peak() { awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$1"; }
# column sum of a CSV by header name
colsum() { awk -F, -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next } { s += $c } END { printf "%.2f", s }' "$1"; }

rows_out=()
for target in $SIZES; do
	customers=$((target * pilot / pilot_rows))
	log="$tmp/tx_$target.csv"
	"$tmp/cohort" gen --customers "$customers" --start $START --seed 7 --out "$log" >/dev/null
	rows=$(($(wc -l <"$log") - 1))
	mb=$(($(stat -c %s "$log") / 1048576))
	echo "bench-ingest: $rows transactions of $customers customers ($mb MB)" >&2

	/usr/bin/time -v -o "$tmp/go.time" "$tmp/cohort" features --data "$log" \
		--calibration-end $CAL_END --horizon ${HORIZON_WEEKS}w --out "$tmp/go.csv" >"$tmp/go.log"
	/usr/bin/time -v -o "$tmp/py.time" "$PY" scripts/bench_ingest_pandas.py "$log" $CAL_END $((7 * HORIZON_WEEKS)) \
		"$tmp/py.csv" >"$tmp/py.json"
	cat "$tmp/go.log" "$tmp/py.json" >&2

	# Both must agree before their times mean anything.
	go_customers=$(($(wc -l <"$tmp/go.csv") - 1))
	py_customers=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["customers"])' "$tmp/py.json")
	go_x=$(colsum "$tmp/go.csv" frequency)
	py_x=$("$PY" -c 'import json,sys; print("%.2f" % json.load(open(sys.argv[1]))["sum_x"])' "$tmp/py.json")
	go_h=$(colsum "$tmp/go.csv" holdout_spend)
	py_h=$("$PY" -c 'import json,sys; print("%.2f" % json.load(open(sys.argv[1]))["sum_holdout_spend"])' "$tmp/py.json")
	if [ "$go_customers" != "$py_customers" ] || [ "$go_x" != "$py_x" ] ||
		! awk -v a="$go_h" -v b="$py_h" 'BEGIN { d = a - b; exit !(d < 0.01 * (b > 0 ? b : 1) && -d < 0.01 * (b > 0 ? b : 1)) }'; then
		echo "bench-ingest: cohort and pandas disagree: customers $go_customers/$py_customers, sum x $go_x/$py_x, holdout spend $go_h/$py_h" >&2
		exit 1
	fi

	gw=$(wall "$tmp/go.time") pw=$(wall "$tmp/py.time")
	rows_out+=("$(awk -v r="$rows" -v mb="$mb" -v gw="$gw" -v gp="$(peak "$tmp/go.time")" -v pw="$pw" -v pp="$(peak "$tmp/py.time")" \
		'BEGIN { printf "| %d | %d | %.2f | %.0f | %d | %.2f | %.0f | %d | %.1fx |", r, mb, gw, r / gw, gp, pw, r / pw, pp, pw / gw }')")
	[ "${KEEP:-}" = 1 ] || rm -f "$log"
done

echo
echo "cohort features vs pandas $("$PY" -c 'import pandas; print(pandas.__version__)') (read_csv + groupby), calibration to $CAL_END, ${HORIZON_WEEKS}w holdout; logs from cohort gen"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') ($(nproc) cores); $(go version | cut -d' ' -f3)"
echo
echo "| rows | CSV MB | cohort s | cohort rows/s | cohort peak MB | pandas s | pandas rows/s | pandas peak MB | speedup |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
printf '%s\n' "${rows_out[@]}"
