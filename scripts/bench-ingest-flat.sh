#!/usr/bin/env bash
# bench-ingest-flat.sh shows how ingestion memory grows with rows when the
# customers and their purchase days stay the same, as when a shop's log has
# one row per line item. It generates one log with `cohort gen` (CUSTOMERS
# customers), writes copies where every purchase is split into k line items
# (k in ITEMS; amounts divided evenly, so every total is unchanged), and runs
# `cohort features` and the pandas peer on each, printing rows, wall time and
# peak RSS. Installs its peers (python3-pandas, time) when missing.
#
# Environment: CUSTOMERS (default 300000), ITEMS (default "1 3 10").
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/peer.sh
. "$(dirname "$0")/lib/peer.sh"
cd "$(dirname "$0")/.."

PY=$PEER_PY
CUSTOMERS=${CUSTOMERS:-300000}
ITEMS=${ITEMS:-"1 3 10"}
CAL_END=2024-12-31

peer_install python3-pandas time # time: /usr/bin/time -v

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/cohort" ./cmd/cohort
"$tmp/cohort" gen --customers "$CUSTOMERS" --start 2024-01-01 --seed 7 --out "$tmp/base.csv" >/dev/null

wall() { awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$1"; }
peak() { awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$1"; }

echo "| line items per purchase | rows | customers | cohort s | cohort peak MB | pandas s | pandas peak MB |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for k in $ITEMS; do
	log="$tmp/items_$k.csv"
	awk -F, -v k="$k" 'NR == 1 { print; next } { for (i = 0; i < k; i++) printf "%s,%s,%.6f\n", $1, $2, $3 / k }' "$tmp/base.csv" >"$log"
	rows=$(($(wc -l <"$log") - 1))
	/usr/bin/time -v -o "$tmp/go.time" "$tmp/cohort" features --data "$log" --calibration-end $CAL_END --horizon 26w \
		--out "$tmp/go.csv" >/dev/null
	/usr/bin/time -v -o "$tmp/py.time" "$PY" scripts/bench_ingest_pandas.py "$log" $CAL_END 182 "$tmp/py.csv" >/dev/null
	customers=$(($(wc -l <"$tmp/go.csv") - 1))
	echo "| $k | $rows | $customers | $(wall "$tmp/go.time") | $(peak "$tmp/go.time") | $(wall "$tmp/py.time") | $(peak "$tmp/py.time") |"
	rm -f "$log"
done
