#!/usr/bin/env bash
# A DoubleSqueeze cluster on this machine, narrated: one `dsq server` and three `dsq worker`
# processes on 127.0.0.1, a fourth worker that joins mid-run, and one that is stopped with
# SIGTERM (it leaves the barrier in an orderly way; training goes on with the others).
#
#   demos/cluster_demo.sh            uses build/dsq
#   DSQ=path/to/dsq demos/cluster_demo.sh
#   STEPS=3000 demos/cluster_demo.sh  a longer run (default 2000 steps, ~10-20 s on 2 cores)
#
# Lines starting with "server |" are the server's own output; "demo:" lines are this script.
# Every process started here is stopped on exit, also on Ctrl-C.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
dsq=${DSQ:-$repo/build/dsq}
steps=${STEPS:-2000}
if [ ! -x "$dsq" ]; then
  echo "demo: no dsq at $dsq: build it (scripts/build.sh) or set DSQ=path/to/dsq" >&2
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/dsq-cluster-demo.XXXXXX")
pids=()
tail_pid=
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$tail_pid" ]; then
    kill "$tail_pid" 2>/dev/null || true
    wait "$tail_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'echo "demo: interrupted"; exit 130' INT TERM

say() { printf 'demo: %s\n' "$*"; }

# Rows written to the metrics CSV so far (one per completed step, after the header and row 0).
steps_done() {
  local n
  n=$(wc -l 2>/dev/null <"$work/metrics.csv" || echo 0)
  echo $((n > 2 ? n - 2 : 0))
}

# wait_for DESCRIPTION SECONDS COMMAND...: polls COMMAND every 0.05 s.
wait_for() {
  local what=$1 limit=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      say "gave up waiting for $what after ${limit} s"
      exit 1
    fi
    sleep 0.05
  done
}

run=(--dataset=synthetic:n=20000,d=200,classes=10 --model=mlp:hidden=256 --batch=32
     --steps="$steps" --eval-every=$((steps / 8)) --method=doublesqueeze --compressor=sign)

say "starting a parameter server on 127.0.0.1 (port 0: the system picks a free one)"
"$dsq" server --bind=127.0.0.1 --port=0 --workers=3 "${run[@]}" \
  --metrics="$work/metrics.csv" --summary="$work/summary.json" >"$work/server.log" 2>&1 &
server=$!
pids+=("$server")
# The server's own lines, as they come, interleaved with the narration.
tail -n +1 -f "$work/server.log" 2>/dev/null | sed -u 's/^/    server | /' &
tail_pid=$!

wait_for "the server's port" 20 grep -q "listening on [0-9.]*:[0-9]*," "$work/server.log"
port=$(sed -n 's/.*listening on [0-9.]*:\([0-9]*\),.*/\1/p' "$work/server.log" | head -n 1)
say "the server listens on port $port; starting three workers"

declare -A worker
start_worker() {
  "$dsq" worker --server="127.0.0.1:$port" --quiet >"$work/worker$1.log" 2>&1 &
  worker[$1]=$!
  pids+=("${worker[$1]}")
  say "worker process $1 started (pid ${worker[$1]})"
}
for i in 1 2 3; do start_worker "$i"; done

has_steps() { [ "$(steps_done)" -ge "$1" ]; }
wait_for "training to start" 30 has_steps 1
say "training runs with three workers"

wait_for "step $((steps / 4))" 60 has_steps $((steps / 4))
say "step $(steps_done): a fourth worker connects; it enters the barrier at the next step boundary"
start_worker 4

wait_for "step $((steps / 2))" 60 has_steps $((steps / 2))
say "step $(steps_done): SIGTERM to worker process 2 (pid ${worker[2]}): it deregisters and exits"
kill -TERM "${worker[2]}"
status=0
wait "${worker[2]}" || status=$?
say "worker process 2 exited with status $status; the others keep training"

wait_for "the end of the run" 120 test -s "$work/summary.json"
status=0
wait "$server" || status=$?
say "the server exited with status $status"
for i in 1 3 4; do
  status=0
  wait "${worker[$i]}" || status=$?
  say "worker process $i exited with status $status"
done
sleep 0.2 # let the server's last lines through

say "workers per step, from the metrics CSV (step ranges):"
awk -F, 'NR > 2 {
  if ($8 != n) { if (n != "") printf "demo:   steps %d-%d: %d workers\n", from, prev, n; n = $8; from = $1 }
  prev = $1 }
  END { printf "demo:   steps %d-%d: %d workers\n", from, prev, n }' "$work/metrics.csv"
say "summary:"
grep -E '"(method|workers|steps|final_train_loss|test_accuracy|joins|departures|completed)"' \
  "$work/summary.json" | sed 's/^ */demo:   /; s/,$//'
