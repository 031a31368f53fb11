#!/usr/bin/env bash
# Steps per second of a sharded run (--servers=K, issue 27) when the links are slow: K = 1, 2, 4
# parameter-server shards and 8 workers, every shard and every worker in a network namespace of
# its own ("a host"), all joined by a bridge in a hub namespace; each host's veth is limited in
# both directions by a token bucket filter (100 Mbit/s by default, as bench/network/
# bandwidth_bench.sh), so a shard's link carries its range of all 8 workers' pushes and updates.
# Cases: DoubleSqueeze with sign and with top-k (link-bound, RATE), and identity (CPU-bound,
# unlimited links). Model: an MLP 784-HIDDEN-10 (HIDDEN = 1280: d = 1,017,610 parameters).
#
# Needs root (ip netns, ip link, tc). Everything is measured in one invocation: the ratios
# (K / K = 1) are what to read on a shared machine.
#
#   bench/shards/shards_bench.sh
#   KS="1 4" CASES="ds-sign" STEPS=20 bench/shards/shards_bench.sh
#
# Environment (defaults in brackets): DSQ [build/dsq], OUT [new dir under /tmp], KS ["1 2 4"],
# CASES ["ds-sign ds-topk cpu-identity"], WORKERS [8], RATE [100mbit], BURST [256kb],
# LATENCY [500ms], HIDDEN [1280], BATCH [8], STEPS [30], RUN_LIMIT [900 s per run].
#
# Steps per second exclude start-up: (steps − 1) / (wall_s[last] − wall_s[step 1]) from the
# metrics CSV. Bytes per shard link: the summary's shard_bytes_up/down (K > 1) or bytes_up/down.
# Ideal speed-up at the link-bound setting: the busiest link carries max(W/K, 1) worker-loads
# (a shard's link W/K, each worker's own link one), so ideal = W / max(W/K, 1) = min(K, W).
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=scripts/lib/check_summary.sh
source "$repo/scripts/lib/check_summary.sh"
# shellcheck source=scripts/lib/netns_bench.sh
source "$repo/scripts/lib/netns_bench.sh"
dsq=${DSQ:-$repo/build/dsq}
ks=(${KS:-1 2 4})
cases=(${CASES:-ds-sign ds-topk cpu-identity})
workers=${WORKERS:-8}
rate=${RATE:-100mbit}
burst=${BURST:-256kb}
latency=${LATENCY:-500ms}
hidden=${HIDDEN:-1280}
batch=${BATCH:-8}
steps=${STEPS:-30}
run_limit=${RUN_LIMIT:-900}

bench_require_root shards_bench
dsq=$(bench_dsq_path shards_bench "$dsq")
model=--model=mlp:hidden=$hidden
dataset=--dataset=synthetic:n=20000,d=784,classes=10

case_args() {
  case $1 in
    ds-sign) echo "--method=doublesqueeze --compressor=sign" ;;
    ds-topk) echo "--method=doublesqueeze --compressor=topk:k=0.01" ;;
    cpu-identity) echo "--method=doublesqueeze --compressor=identity" ;;
    *) echo "shards_bench: unknown case $1" >&2; exit 1 ;;
  esac
}
case_rate() { [ "$1" = cpu-identity ] && echo unlimited || echo "$rate"; }

out=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/dsq-shards.XXXXXX")}
mkdir -p "$out"
tag=dsqsh$$
hub=$tag-hub
hosts=()
pids=()
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for h in "${hosts[@]}"; do ip netns delete "$h" 2>/dev/null || true; done
  ip netns delete "$hub" 2>/dev/null || true
  exit "$status"
}
trap cleanup EXIT
trap 'echo "shards_bench: interrupted" >&2; exit 130' INT TERM

# The hub: a bridge; host i: a veth to it, address 10.77.0.(i+1).
ip netns add "$hub"
ip -n "$hub" link add br0 type bridge
ip -n "$hub" link set br0 up
ip -n "$hub" link set lo up
max_k=1
for k in "${ks[@]}"; do [ "$k" -gt "$max_k" ] && max_k=$k; done
nhosts=$((max_k + workers))
for i in $(seq 0 $((nhosts - 1))); do
  h=$tag-h$i
  ip netns add "$h"
  hosts+=("$h")
  ip -n "$h" link set lo up
  ip -n "$hub" link add "p$i" type veth peer name eth0 netns "$h"
  ip -n "$hub" link set "p$i" master br0 up
  ip -n "$h" addr add "10.77.0.$((i + 1))/24" dev eth0
  ip -n "$h" link set eth0 up
done
addr() { echo "10.77.0.$(($1 + 1))"; }

# Both directions of every host's link: its eth0 (up) and its bridge port (down).
set_rate() {
  for i in $(seq 0 $((nhosts - 1))); do
    bench_tbf "${hosts[$i]}" eth0 "$1" "$burst" "$latency"
    bench_tbf "$hub" "p$i" "$1" "$burst" "$latency"
  done
}

# run_one CASE K: hosts 0..K-1 the shards, hosts K.. the workers; sets sps, up, down.
run_one() {
  local c=$1 k=$2 name=$1-k$2
  pids=()
  # shellcheck disable=SC2046
  ip netns exec "${hosts[0]}" "$dsq" server --bind="$(addr 0)" --insecure --port=0 \
    --workers="$workers" --servers="$k" "$model" "$dataset" $(case_args "$c") --steps="$steps" \
    --batch="$batch" --eval-every=0 --metrics="$out/$name.csv" --summary="$out/$name.json" \
    >"$out/$name.server.log" 2>&1 &
  local server=$!
  pids+=("$server")
  local port
  port=$(bench_wait_port "$out/$name.server.log" "$server")
  if [ -z "$port" ]; then
    echo "shards_bench: the leader of $name did not start:" >&2
    cat "$out/$name.server.log" >&2
    return 1
  fi
  for s in $(seq 1 $((k - 1))); do
    ip netns exec "${hosts[$s]}" "$dsq" server --servers="$k" --shard-index="$s" \
      --leader="$(addr 0):$port" --bind="$(addr "$s")" --insecure --port=0 --quiet \
      >"$out/$name.shard$s.log" 2>&1 &
    pids+=("$!")
  done
  for w in $(seq 0 $((workers - 1))); do
    ip netns exec "${hosts[$((max_k + w))]}" "$dsq" worker --server="$(addr 0):$port" --quiet \
      --placement=os >"$out/$name.worker$w.log" 2>&1 &
    pids+=("$!")
  done
  local status=0
  bench_end_run shards_bench "$run_limit" "$server" "${pids[@]:1}" || status=$?
  pids=()
  if [ "$status" -ne 0 ] || ! grep -q '"completed": true' "$out/$name.json" 2>/dev/null; then
    echo "shards_bench: $name did not complete (leader status $status), see $out" >&2
    return 1
  fi
  # Only what it claims: the workers and steps asked for, and K shards.
  check_summary "shards_bench $name" "$out/$name.json" workers="$workers" steps="$steps" || return 1
  if [ "$k" -gt 1 ] && ! grep -q "\"shards\": $k," "$out/$name.json"; then
    echo "shards_bench: $name: the summary does not say $k shards" >&2
    return 1
  fi
  sps=$(awk -F, 'NR > 1 && $1 >= 1 { if ($1 == 1) first = $2; last = $2; n = $1 }
    END { if (n >= 2 && last > first) printf "%.3f\n", (n - 1) / (last - first) }' "$out/$name.csv")
  if [ "$k" -gt 1 ]; then
    up=$(sed -n 's/.*"shard_bytes_up": \[\(.*\)\].*/\1/p' "$out/$name.json")
    down=$(sed -n 's/.*"shard_bytes_down": \[\(.*\)\].*/\1/p' "$out/$name.json")
  else
    up=$(sed -n 's/.*"bytes_up": \([0-9]*\).*/\1/p' "$out/$name.json" | head -n 1)
    down=$(sed -n 's/.*"bytes_down": \([0-9]*\).*/\1/p' "$out/$name.json" | head -n 1)
  fi
  [ -n "$sps" ]
}

echo "shards_bench: $workers workers, $model ($dataset), batch $batch, $steps steps; links" \
  "$rate (tbf burst $burst latency $latency) each way per host; SIMD ${DSQ_SIMD:-auto};" \
  "load $(cut -d' ' -f1-3 /proc/loadavg); files in $out" >&2
declare -A result
printf 'case\tK\tsteps_per_s\tbytes_up_per_shard\tbytes_down_per_shard\n' >"$out/results.tsv"
for c in "${cases[@]}"; do
  set_rate "$(case_rate "$c")"
  for k in "${ks[@]}"; do
    echo "shards_bench: $c K=$k ..." >&2
    sps= up= down=
    if ! run_one "$c" "$k"; then
      echo "shards_bench: no result for $c K=$k" >&2
      exit 1
    fi
    result[$c,$k]=$sps
    printf '%s\t%s\t%s\t%s\t%s\n' "$c" "$k" "$sps" "$up" "$down" >>"$out/results.tsv"
    echo "shards_bench:   $sps steps/s; bytes up per shard [$up], down [$down]" >&2
  done
done
set_rate unlimited

echo
echo "| case | links | K | steps/s | vs K=1 | ideal (link-bound) | bytes up per shard | bytes down per shard |"
echo "|---|---|---:|---:|---:|---:|---|---|"
while IFS=$'\t' read -r c k sps up down; do
  [ "$c" = case ] && continue
  base=${result[$c,1]:-}
  awk -v c="$c" -v l="$(case_rate "$c")" -v k="$k" -v s="$sps" -v b="$base" -v w="$workers" \
    -v up="$up" -v down="$down" 'BEGIN {
      ratio = b != "" ? sprintf("%.2fx", s / b) : "-"
      ideal = l == "unlimited" ? "-" : sprintf("%dx", (k < w ? k : w))
      printf "| %s | %s | %d | %.3f | %s | %s | %s | %s |\n", c, l, k, s, ratio, ideal, up, down }'
done <"$out/results.tsv"
if [ -n "${result[ds-sign,4]:-}" ] && [ -n "${result[ds-sign,1]:-}" ]; then
  awk -v a="${result[ds-sign,4]}" -v b="${result[ds-sign,1]}" 'BEGIN {
    printf "\ngoal: at %s, K = 4 runs %.2fx the steps/s of K = 1 with sign (goal >= 3x): %s\n",
      "'"$rate"'", a / b, (a / b >= 3 ? "met" : "NOT met") }'
fi
echo
echo "(raw results: $out/results.tsv)"
