#!/usr/bin/env bash
# Seconds and bytes per step of sgd, ef-worker (sign), doublesqueeze (sign) and doublesqueeze
# (top-k 1%) when the network is slow: one `dsq server` and 4 `dsq worker` processes inside a
# network namespace of their own whose loopback is rate-limited with a token bucket filter,
#   tc qdisc add dev lo root tbf rate R burst B latency L
# for R = unlimited (no qdisc), 1gbit, 100mbit, 10mbit. Model: an MLP 784-1024-256-10
# (1,068,810 parameters) on MNIST (synthetic data of the same shape if MNIST is not fetched).
#
# Needs root (ip netns, tc from iproute2). Takes about 10-15 minutes on 2 cores.
#
#   bench/network/bandwidth_bench.sh                 the whole table
#   RATES="unlimited 100mbit" bench/network/bandwidth_bench.sh
#   DSQ=build-system/dsq OUT=/tmp/bw bench/network/bandwidth_bench.sh
#
# Environment (defaults in brackets):
#   DSQ [build/dsq]  OUT [a new directory under /tmp: CSV/JSON/logs of every run, results.tsv]
#   RATES ["unlimited 1gbit 100mbit 10mbit"]  METHODS [all four: sgd ef-sign ds-sign ds-topk]
#   BURST [256kb]  LATENCY [500ms]  MTU [keep lo's 65536]: the tbf parameters (see docs/network.md)
#   BUDGET [20]: seconds of training per configuration; the step count follows from it
#   MIN_STEPS [5]  MAX_STEPS [60]  UNLIMITED_STEPS [40]  BATCH [32]
#   STEPS [unset]: the same step count for every configuration instead
#   RUN_LIMIT [900]: seconds after which a configuration is stopped (and counts as failed)
#
# Seconds per step exclude startup (loading data, the welcome with the full model) and the
# final evaluation: from the metrics CSV, (wall_s[last] - wall_s[step 1]) / (steps - 1).
# Bytes per step are the dsq payload bytes (pushes + updates, as the CSV counts them) / steps.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=scripts/lib/check_summary.sh
source "$repo/scripts/lib/check_summary.sh"
# shellcheck source=scripts/lib/netns_bench.sh
source "$repo/scripts/lib/netns_bench.sh"
dsq=${DSQ:-$repo/build/dsq}
rates=(${RATES:-unlimited 1gbit 100mbit 10mbit})
methods=(${METHODS:-sgd ef-sign ds-sign ds-topk})
burst=${BURST:-256kb}
latency=${LATENCY:-500ms}
mtu=${MTU:-}
budget=${BUDGET:-20}
min_steps=${MIN_STEPS:-5}
max_steps=${MAX_STEPS:-60}
unlimited_steps=${UNLIMITED_STEPS:-40}
fixed_steps=${STEPS:-}
run_limit=${RUN_LIMIT:-900}
batch=${BATCH:-32}
workers=4

bench_require_root bandwidth_bench
dsq=$(bench_dsq_path bandwidth_bench "$dsq")

model=--model=mlp:hidden=1024,256
if [ -s "$repo/data/mnist/train-images-idx3-ubyte" ]; then
  dataset=--dataset=mnist:dir=$repo/data/mnist
else
  dataset=--dataset=synthetic:n=60000,d=784,classes=10
fi

method_args() {
  case $1 in
    sgd) echo "--method=sgd" ;;
    ef-sign) echo "--method=ef-worker --compressor=sign" ;;
    ds-sign) echo "--method=doublesqueeze --compressor=sign" ;;
    ds-topk) echo "--method=doublesqueeze --compressor=topk:k=0.01" ;;
    *) echo "bandwidth_bench: unknown method $1" >&2; exit 1 ;;
  esac
}
method_label() {
  case $1 in
    sgd) echo "sgd" ;;
    ef-sign) echo "ef-worker (sign)" ;;
    ds-sign) echo "doublesqueeze (sign)" ;;
    ds-topk) echo "doublesqueeze (topk:k=0.01)" ;;
  esac
}
# Bits per second of a tc rate ("unlimited": none).
rate_bits() {
  case $1 in
    unlimited) echo 0 ;;
    *gbit) echo $((${1%gbit} * 1000000000)) ;;
    *mbit) echo $((${1%mbit} * 1000000)) ;;
    *kbit) echo $((${1%kbit} * 1000)) ;;
    *) echo "bandwidth_bench: rate $1: use Ngbit, Nmbit or Nkbit" >&2; exit 1 ;;
  esac
}

out=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/dsq-bandwidth.XXXXXX")}
mkdir -p "$out"
ns=dsq-bench-$$
pids=()
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  ip netns delete "$ns" 2>/dev/null || true
  exit "$status"
}
trap cleanup EXIT
trap 'echo "bandwidth_bench: interrupted" >&2; exit 130' INT TERM

ip netns add "$ns"
ip -n "$ns" link set lo up
if [ -n "$mtu" ]; then ip -n "$ns" link set lo mtu "$mtu"; fi

set_rate() { bench_tbf "$ns" lo "$1" "$burst" "$latency"; }

# run_one RATE METHOD STEPS: one server and $workers workers; sets result_s (seconds per step)
# and result_b (bytes per step). Runs in this shell, so that the EXIT trap sees its processes.
run_one() {
  local rate=$1 method=$2 steps=$3 tag=$1-$2
  local server_log=$out/$tag.server.log
  pids=()
  # shellcheck disable=SC2046
  ip netns exec "$ns" "$dsq" server --bind=127.0.0.1 --port=0 --workers=$workers "$model" \
    "$dataset" $(method_args "$method") --steps="$steps" --batch="$batch" --eval-every=0 \
    --metrics="$out/$tag.csv" --summary="$out/$tag.json" >"$server_log" 2>&1 &
  local server=$!
  pids+=("$server")
  local port
  port=$(bench_wait_port "$server_log" "$server")
  if [ -z "$port" ]; then
    echo "bandwidth_bench: the server of $tag did not start:" >&2
    cat "$server_log" >&2
    return 1
  fi
  for i in $(seq 1 $workers); do
    ip netns exec "$ns" "$dsq" worker --server=127.0.0.1:"$port" --quiet \
      >"$out/$tag.worker$i.log" 2>&1 &
    pids+=("$!")
  done
  # Bounded: every configuration is chosen to need well under RUN_LIMIT; SIGTERM stops the
  # server early (it then reports completed: false, and this run counts as failed). Workers
  # exit once the server says so; one still there 30 s later is stuck (seen: a dsq worker
  # hanging in ~actor_system at exit) and is killed; the measurement stands.
  local status=0
  bench_end_run "bandwidth_bench $tag" "$run_limit" "$server" "${pids[@]:1}" || status=$?
  pids=()
  if [ "$status" -ne 0 ] || ! grep -q '"completed": true' "$out/$tag.json" 2>/dev/null; then
    echo "bandwidth_bench: $tag did not complete (server status $status), see $out" >&2
    return 1
  fi
  # A result only if it ran what the table claims: $workers workers for $steps steps, none
  # removed (--worker-timeout) or gone on the way.
  if ! check_summary "bandwidth_bench $tag" "$out/$tag.json" workers=$workers steps="$steps"; then
    echo "bandwidth_bench: $tag did not run what it claims, see $out" >&2
    return 1
  fi
  read -r result_s result_b < <(awk -F, 'NR > 1 && $1 >= 1 {
      if ($1 == 1) first = $2
      last = $2; n = $1; bytes += $6 + $7 }
    END { if (n >= 2) printf "%.4f %.0f\n", (last - first) / (n - 1), bytes / n }' \
    "$out/$tag.csv") || true
  [ -n "${result_s:-}" ]
}

results=$out/results.tsv
printf 'rate\tmethod\tsteps\ts_per_step\tbytes_per_step\n' >"$results"
declare -A sec bytes unlimited_sec
echo "bandwidth_bench: $workers workers, $model, $dataset, batch $batch per worker;" \
  "tbf burst $burst latency $latency${mtu:+, lo mtu $mtu}; files in $out" >&2
for rate in "${rates[@]}"; do
  set_rate "$rate"
  bits=$(rate_bits "$rate")
  for method in "${methods[@]}"; do
    if [ -n "$fixed_steps" ]; then
      steps=$fixed_steps
    elif [ "$bits" -eq 0 ]; then
      steps=$unlimited_steps
    else
      # Expected seconds per step: compute (from the unlimited run, or 0.06 s) plus the bytes
      # of a step at this rate (from the unlimited run, or a pessimistic 35 MB).
      steps=$(awk -v t="${unlimited_sec[$method]:-0.06}" -v b="${bytes[unlimited,$method]:-35000000}" \
        -v r="$bits" -v budget="$budget" -v lo="$min_steps" -v hi="$max_steps" \
        'BEGIN { s = int(budget / (t + 8 * b / r)); if (s < lo) s = lo; if (s > hi) s = hi; print s }')
    fi
    echo "bandwidth_bench: $rate $(method_label "$method"): $steps steps ..." >&2
    start=$SECONDS
    result_s= result_b=
    if ! run_one "$rate" "$method" "$steps"; then
      echo "bandwidth_bench: no result for $rate $method" >&2
      exit 1
    fi
    s=$result_s b=$result_b
    sec[$rate,$method]=$s
    bytes[$rate,$method]=$b
    if [ "$bits" -eq 0 ]; then unlimited_sec[$method]=$s; fi
    printf '%s\t%s\t%s\t%s\t%s\n' "$rate" "$method" "$steps" "$s" "$b" >>"$results"
    echo "bandwidth_bench:   $s s/step, $b bytes/step ($((SECONDS - start)) s with startup)" >&2
  done
done
set_rate unlimited

# The table (Markdown), ratios against sgd at the same rate and against the method's own
# unlimited-bandwidth step time.
echo
echo "| rate | method | steps | s/step | MB/step | time vs sgd | sgd / method | vs own unlimited |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
for rate in "${rates[@]}"; do
  for method in "${methods[@]}"; do
    awk -v rate="$rate" -v label="$(method_label "$method")" -v s="${sec[$rate,$method]}" \
      -v b="${bytes[$rate,$method]}" -v sgd="${sec[$rate,sgd]:-}" \
      -v own="${unlimited_sec[$method]:-}" -v steps="$(awk -F'\t' -v r="$rate" -v m="$method" \
        '$1 == r && $2 == m { print $3 }' "$results")" 'BEGIN {
        vs = sgd != "" ? sprintf("%.3f", s / sgd) : "-"
        speed = sgd != "" ? sprintf("%.1fx", sgd / s) : "-"
        self = own != "" ? sprintf("%.2fx", s / own) : "-"
        printf "| %s | %s | %d | %.3f | %.2f | %s | %s | %s |\n", rate, label, steps, s, b / 1e6, vs, speed, self }'
  done
done
if [ -n "${sec[100mbit,ds-sign]:-}" ] && [ -n "${sec[100mbit,sgd]:-}" ] && [ -n "${unlimited_sec[ds-sign]:-}" ]; then
  echo
  awk -v ds="${sec[100mbit,ds-sign]}" -v sgd="${sec[100mbit,sgd]}" -v own="${unlimited_sec[ds-sign]}" 'BEGIN {
    printf "goal 1: at 100mbit doublesqueeze (sign) is %.1fx faster per step than sgd (goal >= 10x): %s\n",
      sgd / ds, (sgd / ds >= 10 ? "met" : "NOT met")
    printf "goal 2: at 100mbit doublesqueeze (sign) takes %.2fx its unlimited step time (goal <= 1.5x): %s\n",
      ds / own, (ds / own <= 1.5 ? "met" : "NOT met") }'
fi
echo
echo "(raw results: $results)"
