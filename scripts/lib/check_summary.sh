# shellcheck shell=bash
# check_summary RUN SUMMARY [EXPECTATION...]: fails (status 1, one line per difference on stderr,
# naming RUN) unless the summary JSON of a dsq run says that it ran what its caller claims.
# Sourced by the benchmarks and scripts/reproduce.sh, so that a degraded run (workers removed by
# --worker-timeout, a missing summary, fewer steps) is never reported as a valid result.
#
# Expectations (KEY=VALUE; the defaults in brackets apply unless given):
#   workers=N          the summary's "workers" is N
#   steps=N            the summary's "steps" is N (leave out for a run that may stop early)
#   completed=true     [true] "completed" is true; "any": not checked (a diverged run is a result)
#   allow=F1,F2        counters that may be non-zero in this scenario; the others must be 0:
#                      timeouts departures joins returned_workers resyncs residuals_lost
#                      rejected_pushes worker_failures
#   FIELD=VALUE        any other top-level field must have exactly this value
#
# Reads the summary with the same sed as the scripts' own field(): one "key": value per line.

# summary_field FILE KEY: a top-level value of a summary JSON, quotes and trailing comma removed.
summary_field() {
  sed -n "s/^  \"$2\": //p" "$1" | sed 's/,$//; s/^"//; s/"$//'
}

check_summary() {
  local run=$1 summary=$2
  shift 2
  if [[ ! -s $summary ]]; then
    echo "check_summary: $run: no summary at $summary: the run did not say what it ran" >&2
    return 1
  fi
  local completed=true allow="" expect key value have bad=0
  local -a wanted=()
  for expect in "$@"; do
    case $expect in
      completed=*) completed=${expect#completed=} ;;
      allow=*) allow=,${expect#allow=}, ;;
      *=*) wanted+=("$expect") ;;
      *) echo "check_summary: bad expectation '$expect' (KEY=VALUE)" >&2; return 2 ;;
    esac
  done
  if [[ $completed != any ]]; then
    wanted+=("completed=$completed")
  fi
  for key in timeouts departures joins returned_workers resyncs residuals_lost rejected_pushes \
    worker_failures; do
    [[ $allow == *",$key,"* ]] || wanted+=("$key=0")
  done
  for expect in "${wanted[@]}"; do
    key=${expect%%=*} value=${expect#*=}
    have=$(summary_field "$summary" "$key")
    if [[ -z $have ]]; then
      echo "check_summary: $run: the summary has no \"$key\" (expected $value) in $summary" >&2
      bad=1
    elif [[ $have != "$value" ]]; then
      echo "check_summary: $run: $key is $have, expected $value ($summary)" >&2
      bad=1
    fi
  done
  return $bad
}
