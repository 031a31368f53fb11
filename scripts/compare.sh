#!/usr/bin/env bash
# The paper's comparison on this machine: every preset of config/ with the same model, data,
# seed and steps, and a table of final loss, accuracy, traffic and speed.
#
# usage: scripts/compare.sh [extra dsq options, e.g. --steps=1000 --model=softmax]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/check_summary.sh
source scripts/lib/check_summary.sh
dsq=${DSQ:-build/dsq}
[ -x "$dsq" ] || { echo "compare: $dsq not built (run scripts/build.sh)" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

field() { sed -n "s/^  \"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" "$1"; }

printf '%-20s %10s %10s %12s %12s %10s\n' run train_loss test_acc bytes_up bytes_down steps/s
for name in sgd compressed ef-worker doublesqueeze doublesqueeze-topk; do
  "$dsq" local --config="config/$name.ini" --quiet --summary="$out/$name.json" "$@" >/dev/null
  s="$out/$name.json"
  # The table compares complete runs with every worker of the preset (or of --workers=N), none
  # removed or gone on the way (scripts/lib/check_summary.sh).
  workers=$(sed -n 's/^workers *= *//p' "config/$name.ini" | tail -n 1)
  steps=$(sed -n 's/^steps *= *//p' "config/$name.ini" | tail -n 1)
  for a in "$@"; do
    case $a in
      --workers=*) workers=${a#--workers=} ;;
      --steps=*) steps=${a#--steps=} ;;
      --epochs=* | --config=*) steps= ;; # the length follows from something else
    esac
  done
  check_summary "compare $name" "$s" ${workers:+workers=$workers} ${steps:+steps=$steps} ||
    { echo "compare: $name did not run what it claims" >&2; exit 1; }
  printf '%-20s %10.4f %10.4f %12s %12s %10.1f\n' "$name" "$(field "$s" final_train_loss)" \
    "$(field "$s" test_accuracy)" "$(field "$s" bytes_up)" "$(field "$s" bytes_down)" \
    "$(field "$s" steps_per_s)"
done
