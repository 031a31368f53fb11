#!/usr/bin/env bash
# Builds the example against an installed dsq and trains with it: in one process, then as a
# server and two workers, each run bounded in time and required to end with exit 0 and a test
# accuracy of at least 0.8 (the blobs are separable to about 0.95). CTest install_package runs
# it once the headers it needs are installed; by hand:
#
# usage: run_example.sh EXAMPLE_DIR PREFIX WORK_DIR      (WORK_DIR: a fresh directory of yours)
set -euo pipefail
example_dir=$1
prefix=$2
work=$3
mkdir -p "$work"
status=0
fail() {
  echo "run_example: FAIL: $*" >&2
  status=1
}

# A clean build tree that sees the package and nothing of dsq's source tree.
cp -r "$example_dir" "$work/source"
if ! cmake -S "$work/source" -B "$work/build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release >"$work/configure.log" 2>&1; then
  fail "configure: $(tail -20 "$work/configure.log")"
  exit 1
fi
if ! cmake --build "$work/build" -j "${DSQ_TEST_JOBS:-2}" >"$work/build.log" 2>&1; then
  fail "build: $(grep -m10 -E 'error' "$work/build.log")"
  exit 1
fi
example=$work/build/example

# The final accuracy of a run's output ("example: done: ... test accuracy A, ...") is >= 0.8.
check_accuracy() { # what, output file
  local accuracy
  accuracy=$(sed -n 's/^example: done: .*test accuracy \([0-9.]*\),.*/\1/p' "$2")
  if [ -z "$accuracy" ]; then
    fail "$1: no closing line in: $(tail -5 "$2")"
  elif ! awk -v a="$accuracy" 'BEGIN { exit !(a >= 0.8) }'; then
    fail "$1: test accuracy $accuracy < 0.8"
  fi
}

# 1. One process.
if timeout 120 "$example" local --workers=2 >"$work/local.out" 2>&1; then
  check_accuracy "example local" "$work/local.out"
else
  fail "example local exited $?: $(tail -5 "$work/local.out")"
fi

# 2. Across processes on loopback: a free port, the server, two workers (which retry until the
#    server listens, for --connect-timeout).
free_port() { # a port no socket of this host is bound to (/proc/net/tcp*: hex local ports)
  local used candidate
  used=" $(tail -q -n +2 /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '{ split($2, a, ":"); print a[2] }' |
    while read -r hex; do printf '%d ' "0x$hex"; done) "
  for _ in $(seq 100); do
    candidate=$((20000 + RANDOM % 40000))
    [[ $used == *" $candidate "* ]] || { echo "$candidate"; return 0; }
  done
  return 1
}
port=$(free_port)
timeout 120 "$example" server --port="$port" --workers=2 >"$work/server.out" 2>&1 &
server=$!
workers=()
for i in 1 2; do
  timeout 120 "$example" worker --server=127.0.0.1:"$port" >"$work/worker$i.out" 2>&1 &
  workers+=($!)
done
for i in 1 2; do
  wait "${workers[$((i - 1))]}" || fail "example worker $i exited $?: $(tail -5 "$work/worker$i.out")"
done
if wait "$server"; then
  check_accuracy "example server" "$work/server.out"
else
  fail "example server exited $?: $(tail -5 "$work/server.out")"
fi

[ $status -eq 0 ] && echo "run_example: local and server + 2 workers trained (accuracy >= 0.8)"
exit $status
