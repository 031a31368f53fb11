#!/usr/bin/env bash
# Time to a target test accuracy, synchronous vs asynchronous (staleness 4 and 16), with one
# straggler slowed by FACTOR = 1, 2, 4, 8: MNIST, MLP, 4 workers in `dsq local`, measured in one
# run. Prints wall seconds to the target, the ratio sync / async per factor, and the ideal ratio
# the cores allow: the gradients per second of an async run without a staleness limit
# (τ = 100000) divided by those of the sync run.
#
# usage: bench/async/straggler_bench.sh [--quick] [extra dsq options]
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/lib/check_summary.sh
source scripts/lib/check_summary.sh
dsq=${DSQ:-build/dsq}
[ -x "$dsq" ] || { echo "straggler_bench: $dsq not built (run scripts/build.sh)" >&2; exit 1; }
factors=(1 2 4 8)
target=0.92
epochs=5
if [ "${1:-}" = "--quick" ]; then
  shift
  factors=(1 4)
  target=0.90
  epochs=2
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
field() { sed -n "s/^  \"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" "$1"; }

common=(--dataset=auto --model=mlp:hidden=256,128 --workers=4 --batch=128 --lr=0.1 --seed=1
        --epochs=$epochs --target-accuracy=$target --quiet)
run() { # name, factor, extra options...
  local name=$1 factor=$2
  shift 2
  "$dsq" local "${common[@]}" --slow-worker=0:$factor --summary="$out/$name-$factor.json" \
    --metrics="$out/$name-$factor.csv" "$@" "${EXTRA[@]}" >/dev/null
  # Its 4 workers from start to end (complete: all its steps, or its target reached), none
  # removed or gone on the way.
  check_summary "straggler_bench $name-$factor" "$out/$name-$factor.json" workers=4 ||
    { echo "straggler_bench: $name-$factor did not run what it claims" >&2; exit 1; }
}
# Pushes per second of training, from the last metrics row (the summary's wall time also
# holds the final evaluation on the whole training set).
rate() { awk -F, 'NR > 2 { p += $10; t = $2 } END { print p / t }' "$out/$1-$2.csv"; }
EXTRA=("$@")

printf 'target test accuracy %.2f, MNIST mlp:hidden=256,128, batch 128, 4 workers, worker 0 slowed by FACTOR\n' \
  "$target"
printf '%-7s %9s %10s %11s %14s %14s %13s\n' factor sync_s async4_s async16_s \
  sync/async4 sync/async16 ideal_ratio
for f in "${factors[@]}"; do
  run sync "$f" --mode=sync --eval-every=25
  run async4 "$f" --mode=async --staleness=4 --eval-every=100
  run async16 "$f" --mode=async --staleness=16 --eval-every=100
  # The limit: no staleness bound to wait for, same budget, no target (pushes per second).
  run free "$f" --mode=async --staleness=100000 --eval-every=0 --target-accuracy=0 \
    --epochs=0.5
  run syncrate "$f" --mode=sync --eval-every=0 --target-accuracy=0 --epochs=0.5
  t() {
    local s="$out/$1-$f.json"
    if [ "$(field "$s" reached_target)" = true ]; then field "$s" time_to_target_s; else echo nan; fi
  }
  ts=$(t sync) t4=$(t async4) t16=$(t async16)
  rate_free=$(rate free "$f")
  rate_sync=$(rate syncrate "$f")
  awk -v f="$f" -v ts="$ts" -v t4="$t4" -v t16="$t16" -v rf="$rate_free" -v rs="$rate_sync" \
    'BEGIN { printf "%-7s %9.1f %10.1f %11.1f %14.2f %14.2f %13.2f\n", f, ts, t4, t16,
             ts / t4, ts / t16, rf / rs }'
  printf '        pushes/s: sync %.0f, async without bound %.0f\n' "$rate_sync" "$rate_free"
done
