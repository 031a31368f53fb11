#!/usr/bin/env bash
# Runs every failure scenario of config/faults/ with `dsq local`, and each scenario's fault-free
# twin, then prints a Markdown matrix: what each run completed, its test accuracy beside the
# twin's, the faults injected, what the protocol recovered, what was lost, and the training
# time beside the twin's.
#
#   demos/fault_scenarios.sh                   every scenario (a few minutes on 2 cores)
#   demos/fault_scenarios.sh --out=DIR         keep the runs in DIR (default: a temporary
#                                              directory, removed at the end)
#   demos/fault_scenarios.sh --only=a,b        a subset, by file name without .ini
#
# Environment: DSQ [build/dsq] the binary to run. Relative paths (DSQ, --out) are taken from
# the directory it is called from; the runs themselves run in the repository (data/mnist).
#
# Each run writes DIR/NAME.json (--summary), DIR/NAME.faults.csv (--fault-log) and
# DIR/NAME.log (its output); a scenario with --checkpoint gets DIR/NAME.ckpt of its own.
# The fault-free twin of a scenario is its file without the [faults] section and without the
# options that only shape the fault (slow-worker, worker-timeout, checkpoint, checkpoint-every):
# the same training. Scenarios with the same twin share one twin run (DIR/twin-HASH.json).
# Exit status: 0 when every run exited 0 and completed its steps; 1 otherwise (the matrix
# is printed all the same, with the failed runs marked); 2 for a bad argument.
set -euo pipefail

main() {
caller=$PWD
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo" # dataset=auto finds data/mnist here
# shellcheck source=scripts/lib/check_summary.sh
source scripts/lib/check_summary.sh
# shellcheck source=scripts/lib/demo_matrix.sh
source scripts/lib/demo_matrix.sh

# The matrix's order: message faults, worker faults, server fault.
all="drop-5 drop-5-async duplicate-reorder bandwidth-100mbit straggler-sync straggler-async
worker-crash worker-hang late-join poison server-crash"
matrix_args fault_scenarios "$@"
scenarios=${only:-$all}
for name in $scenarios; do
  if [[ ! -f config/faults/$name.ini ]]; then
    echo "fault_scenarios: no scenario config/faults/$name.ini" >&2
    exit 2
  fi
done
dsq=${DSQ:-build/dsq}
[[ -n ${DSQ:-} && $dsq != /* ]] && dsq=$caller/$dsq
matrix_executable fault_scenarios "$dsq" "set DSQ=path"
matrix_out_dir faults

failed=""
declare -A twin_done # twins run by this invocation (a --out=DIR may hold older ones)
for name in $scenarios; do
  file=config/faults/$name.ini
  twin_text=$(twin_of "$file")
  twin=twin-$(printf '%s' "$twin_text" | md5sum | cut -c1-12)
  if [[ -z ${twin_done[$twin]:-} ]]; then
    twin_done[$twin]=1
    printf '%s\n' "$twin_text" >"$out/$twin.ini"
    echo "fault_scenarios: $name: fault-free twin ($twin)" >&2
    run "$twin" "$out/$twin.ini" || failed+=" $twin($name)"
  fi
  echo "$name" >"$out/$name.twin"
  echo "$twin" >>"$out/$name.twin"
  extra=()
  grep -q '^checkpoint=' "$file" && extra+=(--checkpoint="$out/$name.ckpt")
  echo "fault_scenarios: $name" >&2
  run "$name" "$file" --fault-log="$out/$name.faults.csv" "${extra[@]}" || failed+=" $name"
done

matrix_head scenario mode "steps done:" "test accuracy:" "fault-free accuracy:" \
  "faults injected" recovered lost "wall s (fault-free):"
for name in $scenarios; do
  row "$name" "$(sed -n 2p "$out/$name.twin")"
done
if [[ -n $failed ]]; then
  echo "fault_scenarios: failed:$failed (see $out/*.log)" >&2
  matrix_keep fault_scenarios faults
  exit 1
fi
}

# The scenario file without its [faults] section and the options that only shape a fault.
twin_of() {
  awk '/^[[:space:]]*\[/ { skip = ($0 ~ /^[[:space:]]*\[faults\]/) }
       skip { next }
       /^[[:space:]]*;/ { next }
       /^[[:space:]]*(slow-worker|worker-timeout|checkpoint|checkpoint-every)[[:space:]]*=/ { next }
       NF { print }' "$1"
}

# run NAME INI [ARGS...]: one dsq local run; fails unless it exits 0, completes and ran what
# its file claims: its workers, its steps, and no removal, departure, join or loss that its
# faults do not cause (a fault-free twin: none at all).
run() {
  local name=$1 ini=$2
  shift 2
  local start=$SECONDS rc=0
  "$dsq" local --config="$ini" --quiet --summary="$out/$name.json" "$@" >"$out/$name.log" 2>&1 ||
    rc=$?
  echo "fault_scenarios:   exit $rc in $((SECONDS - start)) s" >&2
  [[ $rc -eq 0 ]] || return 1
  local allow workers
  allow=$(allowed_by "$ini")
  # A worker that comes back registers anew and counts in "workers": exact only without joins.
  [[ ,$allow, == *,joins,* ]] || workers=workers=$(ini_value "$ini" workers)
  check_summary "fault_scenarios $name" "$out/$name.json" ${workers:+"$workers"} \
    "steps=$(ini_value "$ini" steps)" "allow=$allow"
}

# ini_value INI KEY: the last value of KEY in INI, quotes removed.
ini_value() {
  sed -n "s/^[[:space:]]*$2[[:space:]]*=[[:space:]]*//p" "$1" | tail -n 1 | tr -d '"'
}

# allowed_by INI: the counters that the faults of INI may make non-zero (check_summary's allow=).
allowed_by() {
  local faults allow=""
  faults=$(awk '/^[[:space:]]*\[/ { on = ($0 ~ /^[[:space:]]*\[faults\]/); next }
                on && /=/ { sub(/[[:space:]]*=.*/, ""); gsub(/[[:space:]]/, ""); print }' "$1")
  for key in $faults; do
    case $key in
      drop | duplicate | reorder | bandwidth) allow+=,resyncs ;;
      crash | hang) allow+=,timeouts,departures,residuals_lost,joins,resyncs ;;
      rejoin) allow+=,joins,returned_workers,residuals_lost ;;
      poison) allow+=,rejected_pushes,departures,residuals_lost ;;
      server-crash) allow+=,returned_workers,resyncs,residuals_lost ;;
    esac
  done
  echo "${allow#,}"
}

# field FILE KEY: the value of a top-level key of a summary (one key per line).
field() {
  sed -n "s/^  \"$2\": \(.*\)\$/\1/p" "$1" | sed 's/,$//'
}

# The accuracy as a percentage, or "-".
percent() {
  awk -v a="$1" 'BEGIN { if (a ~ /^[0-9.eE+-]+$/) printf "%.2f%%", 100 * a; else print "-" }'
}

# Seconds with one decimal, or "-".
seconds() {
  awk -v s="$1" 'BEGIN { if (s ~ /^[0-9.eE+-]+$/) printf "%.1f", s; else print "-" }'
}

# "label n" pairs whose n is not 0, comma-separated; "none" when all are.
nonzero() {
  local text="" label value
  while [[ $# -ge 2 ]]; do
    label=$1 value=$2
    shift 2
    [[ -n $value && $value != 0 ]] && text+="${text:+, }$label $value"
  done
  echo "${text:-none}"
}

row() {
  local name=$1 twin=$2 s=$out/$1.json
  if [[ ! -f $s ]]; then
    echo "| $name | - | failed (no summary) | - | - | - | - | - | - |"
    return
  fi
  local faults steps
  faults=$(field "$s" faults_injected | sed 's/[{}"]//g; s/: / /g')
  steps=$(field "$s" steps)
  [[ $(field "$s" completed) == true ]] || steps="$steps (not completed)"
  echo "| $name | $(field "$s" mode | tr -d '"') | $steps | $(percent "$(field "$s" test_accuracy)")" \
    "| $(percent "$(field "$out/$twin.json" test_accuracy 2>/dev/null)") | ${faults:-none}" \
    "| $(nonzero timeouts "$(field "$s" timeouts)" retransmissions "$(field "$s" retransmissions)" \
      resyncs "$(field "$s" resyncs)" returned "$(field "$s" returned_workers)" \
      joins "$(field "$s" joins)")" \
    "| $(nonzero "residuals lost" "$(field "$s" residuals_lost)" \
      "pushes rejected" "$(field "$s" rejected_pushes)")" \
    "| $(seconds "$(field "$s" wall_s)") ($(seconds "$(field "$out/$twin.json" wall_s 2>/dev/null)")) |"
}

main "$@"
