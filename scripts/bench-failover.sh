#!/usr/bin/env bash
# bench-failover.sh measures what kill -9 of one of 4 data-parallel workers
# costs, in cohort and in PyTorch's torchrun, and prints a markdown table
# (median and range over REPS repetitions of each).
#
# cohort: `cohort train --workers 4 --lease-ttl 2s` on a synthetic shop of
# 20,000 customers (`cohort gen`). The survivors keep their processes and
# state and go on in generation 2 from the last completed step.
# torchrun: `python3 -m torch.distributed.run --nproc_per_node 4
# --max_restarts 3` running scripts/bench_failover_torch.py, the same MLP
# (32-128-64-3, ZILN loss, AdamW, global batch 512) with gloo DDP on random
# data of the same size. torchrun stops every worker and starts them all
# again; the script keeps no checkpoints, so it starts over at epoch 1.
#
# For each run: wait until epoch KILL_AT has completed, kill -9 one worker
# (repetition i kills the i-th child of the launcher, in pid order), and time
# from the kill to the next completed epoch, and to the first epoch past the
# last one completed before the kill; also the time from launch to epoch 1,
# the cost of a cold start, for scale. Every stderr line of cohort is stamped
# with time.time() as it arrives; the torch script prints time.time() itself.
#
# Environment: REPS (default 3), KILL_AT (default 3), COHORT_EPOCHS (default
# 40), TORCH_EPOCHS (default 10), MONITOR_INTERVAL (torchrun's poll of its
# workers in seconds; default 0.1, torchrun's own default since
# pytorch#124692 (2024); torch 1.13's is 5). Installs Debian's python3-torch
# with the pthread OpenBLAS when missing.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/peer.sh
. "$(dirname "$0")/lib/peer.sh"
cd "$(dirname "$0")/.."

PY=$PEER_PY
REPS=${REPS:-3}
KILL_AT=${KILL_AT:-3}
COHORT_EPOCHS=${COHORT_EPOCHS:-40}
TORCH_EPOCHS=${TORCH_EPOCHS:-10}
MONITOR_INTERVAL=${MONITOR_INTERVAL:-0.1}
WAIT_S=120 # longest wait for any one event before the run counts as failed

peer_install python3-torch libopenblas0-pthread

tmp=$(mktemp -d)
launcher="" # pid of the cohort train process or the torchrun agent now running
workers_re="" # pgrep -f pattern of its worker processes (it has other children)

# stop_launcher kills the running launcher and whatever children it left.
stop_launcher() {
	[ -n "$launcher" ] || return 0
	local kids
	kids=$(pgrep -P "$launcher" || true)
	kill -TERM "$launcher" 2>/dev/null || true
	sleep 0.5
	# shellcheck disable=SC2086 # kids is a list of pids
	[ -z "$kids" ] || kill -KILL $kids 2>/dev/null || true
	kill -KILL "$launcher" 2>/dev/null || true
	wait "$launcher" 2>/dev/null || true
	launcher=""
}
cleanup() {
	stop_launcher
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }

# stamp prefixes each line of stdin with time.time() as it arrives.
stamp() {
	"$PY" -u -c 'import sys, time
for line in sys.stdin:
    sys.stdout.write("%.6f %s" % (time.time(), line))
    sys.stdout.flush()'
}

# wait_for LOG AWK-CONDITION: wait until a line of LOG satisfies the awk
# condition, or fail if the launcher ended or WAIT_S passed.
wait_for() {
	local log=$1 cond=$2 deadline
	deadline=$(($(date +%s) + WAIT_S))
	until awk "$cond { found = 1 } END { exit !found }" "$log" 2>/dev/null; do
		if ! kill -0 "$launcher" 2>/dev/null; then
			echo "bench-failover: launcher ended before: $cond in $log" >&2
			return 1
		fi
		if [ "$(date +%s)" -ge "$deadline" ]; then
			echo "bench-failover: timed out waiting for: $cond in $log" >&2
			return 1
		fi
		sleep 0.05
	done
}

# kill_worker REP: kill -9 the REP-th child of the launcher (pid order),
# keep the children's pids in $tmp/kids and print the time of the kill.
kill_worker() {
	local rep=$1 kids n victim t
	mapfile -t kids < <(pgrep -P "$launcher" -f "$workers_re" | sort -n)
	n=${#kids[@]}
	if [ "$n" -ne 4 ]; then
		echo "bench-failover: expected 4 workers under pid $launcher, found $n" >&2
		return 1
	fi
	printf '%s\n' "${kids[@]}" | sort >"$tmp/kids"
	victim=${kids[$(((rep - 1) % n))]}
	echo "bench-failover:   kill -9 $victim ($(tr '\0' ' ' </proc/"$victim"/cmdline | cut -c1-100))" >&2
	t=$(now)
	kill -KILL "$victim"
	echo "$t"
}

# fresh_workers: how many children the launcher has now, and how many of
# them were not there before the kill ($tmp/kids).
fresh_workers() {
	local kids
	kids=$(pgrep -P "$launcher" -f "$workers_re" | sort || true)
	echo "$(grep -c . <<<"$kids") $(comm -13 "$tmp/kids" - <<<"$kids" | grep -c .)"
}

# result NAME REP START KILL LOG AWK-PROGRAM WORKERS: the awk program reads
# the log with s = the launch time and k = the kill time and prints
# "recover_s past_s lost epoch_s first_s"; WORKERS is fresh_workers' output
# right after the recovery.
result() {
	local name=$1 rep=$2 tstart=$3 tkill=$4 log=$5 prog=$6 workers=$7 r
	r=$(awk -v s="$tstart" -v k="$tkill" "$prog" "$log")
	echo "$name $rep $r $workers" >>"$tmp/results"
	echo "bench-failover: $name rep $rep: recover_s past_s epochs_lost epoch_s launch_to_epoch1_s workers new_processes = $r $workers" >&2
}

# median_awk defines median(v, n) of v[1..n], sorting v in place (mawk has
# no asort).
median_awk='
function median(v, n,    i, j, x) {
	for (i = 2; i <= n; i++) {
		x = v[i]
		for (j = i - 1; j >= 1 && v[j] > x; j--) v[j + 1] = v[j]
		v[j + 1] = x
	}
	return n ? v[int((n + 1) / 2)] : 0
}' 

# --- cohort --------------------------------------------------------------
echo "bench-failover: building cohort" >&2
go build -o "$tmp/cohort" ./cmd/cohort
"$tmp/cohort" gen --customers 20000 --seed 1 --start 1997-01-01 --weeks 78 --out "$tmp/shop.csv" >&2

# Lines are "T epoch  E/N [...] ... gen G (W workers) ...". Before the kill:
# the last epoch E0 and the median time between epochs. After: the first
# epoch of generation 2 (the next completed epoch) and the first epoch > E0.
# shellcheck disable=SC2016 # awk program
cohort_prog='
$2 == "epoch" {
	split($3, a, "/"); e = a[1] + 0; g = 0
	for (i = 4; i < NF; i++) if ($i == "gen") g = $(i + 1) + 0
	if (!e1) e1 = $1
	if (g == 1) { if (e > e0) e0 = e; if (prev) d[++nd] = $1 - prev; prev = $1 }
	if (g >= 2 && !first) { first = $1; efirst = e }
	if (g >= 2 && e > e0 && !past) past = $1
}
'"$median_awk"'
END { printf "%.2f %.2f %d %.3f %.2f\n", first - k, past - k, e0 - (efirst - 1), median(d, nd), e1 - s }'

workers_re='cohort .*worker --etcd'
for rep in $(seq 1 "$REPS"); do
	echo "bench-failover: cohort rep $rep" >&2
	log="$tmp/cohort-$rep.log"
	: >"$log"
	tstart=$(now)
	"$tmp/cohort" train --data "$tmp/shop.csv" --calibration-end 1997-09-30 --horizon 39w \
		--out "$tmp/run-$rep" --workers 4 --lease-ttl 2s --epochs "$COHORT_EPOCHS" --patience -1 \
		--threads 1 --importance-repeats 0 >"$tmp/cohort-$rep.out" 2> >(stamp >"$log") &
	launcher=$!
	wait_for "$log" "\$2 == \"epoch\" && \$3 + 0 >= $KILL_AT"
	tkill=$(kill_worker "$rep")
	# shellcheck disable=SC2016 # awk program
	wait_for "$log" '$2 == "epoch" && / gen 2 /'
	workers=$(fresh_workers)
	rc=0
	wait "$launcher" || rc=$?
	launcher=""
	if [ "$rc" -ne 0 ]; then
		echo "bench-failover: cohort train exited $rc; log:" >&2
		cat "$log" >&2
		exit 1
	fi
	grep -m1 ' gen 2 ' "$log" | cut -c1-140 >&2
	result cohort "$rep" "$tstart" "$tkill" "$log" "$cohort_prog" "$workers"
done

# --- torchrun ------------------------------------------------------------
# Lines are "epoch E restart R time T loss L" from rank 0.
# shellcheck disable=SC2016 # awk program
torch_prog='
$1 == "epoch" {
	e = $2 + 0; r = $4 + 0; t = $6
	if (!e1) e1 = t
	if (r == 0) { if (e > e0) e0 = e; if (prev) d[++nd] = t - prev; prev = t }
	if (r >= 1 && !first) { first = t; efirst = e }
	if (r >= 1 && e > e0 && !past) past = t
}
'"$median_awk"'
END { printf "%.2f %.2f %d %.3f %.2f\n", first - k, past - k, e0 - (efirst - 1), median(d, nd), e1 - s }'

torchver=$("$PY" -c 'import torch; print(torch.__version__)')
workers_re='bench_failover_torch[.]py'
for rep in $(seq 1 "$REPS"); do
	echo "bench-failover: torchrun rep $rep" >&2
	log="$tmp/torch-$rep.log"
	: >"$log"
	tstart=$(now)
	# --redirects/--tee 9:0 (a local rank that does not exist, so nothing is
	# redirected) work around torch 1.13 on Python 3.11, where the default
	# "0" parses to None and torchrun fails before starting any worker.
	# exec: the subshell becomes torchrun, so $! is the agent's pid.
	(
		peer_threads 1
		exec "$PY" -m torch.distributed.run --standalone --nnodes=1 --nproc_per_node=4 \
			--max_restarts=3 --monitor_interval="$MONITOR_INTERVAL" --redirects 9:0 --tee 9:0 \
			scripts/bench_failover_torch.py --epochs "$TORCH_EPOCHS"
	) >"$log" 2>"$tmp/torch-$rep.err" &
	launcher=$!
	wait_for "$log" "\$1 == \"epoch\" && \$2 + 0 >= $KILL_AT"
	tkill=$(kill_worker "$rep")
	# shellcheck disable=SC2016 # awk program
	wait_for "$log" '$1 == "epoch" && $4 + 0 >= 1'
	workers=$(fresh_workers)
	rc=0
	wait "$launcher" || rc=$?
	launcher=""
	if [ "$rc" -ne 0 ]; then
		echo "bench-failover: torchrun exited $rc; stderr:" >&2
		tail -20 "$tmp/torch-$rep.err" >&2
		exit 1
	fi
	result torchrun "$rep" "$tstart" "$tkill" "$log" "$torch_prog" "$workers"
done

# --- table ---------------------------------------------------------------
# summary NAME COLUMN: "median (min-max)" of a column of the results.
summary() {
	awk -v n="$1" -v c="$2" '$1 == n { print $c }' "$tmp/results" | sort -g |
		awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			if (v[1] == v[NR]) print m; else printf "%s (%s-%s)\n", m, v[1], v[NR] }'
}

echo
echo "kill -9 of 1 of 4 workers once epoch ${KILL_AT} has completed; ${REPS} runs each; median (range)"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') ($(nproc) cores), load average $(cut -d' ' -f1-3 /proc/loadavg); $(go version | cut -d' ' -f3); torch ${torchver}"
echo
echo "| launcher | kill → next completed epoch (s) | kill → first epoch past the last one before the kill (s) | epochs lost | epoch before the kill (s) | launch → epoch 1 (s) | workers after | of them new processes |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for name in cohort torchrun; do
	label="cohort train --workers 4 --lease-ttl 2s"
	[ "$name" = cohort ] || label="torchrun --max_restarts 3 --monitor_interval ${MONITOR_INTERVAL}"
	echo "| $label | $(summary "$name" 3) | $(summary "$name" 4) | $(summary "$name" 5) | $(summary "$name" 6) | $(summary "$name" 7) | $(summary "$name" 8) | $(summary "$name" 9) |"
done
