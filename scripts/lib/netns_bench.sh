# shellcheck shell=bash
# What the network benchmarks share (bench/network/bandwidth_bench.sh, bench/shards/
# shards_bench.sh): the root and binary checks, a token bucket filter on a link, the wait for a
# server's port, and the end of one measured run. Sourced; each function names its caller
# (NAME) in its messages.

# bench_require_root NAME: exits 1 unless this runs as root (ip netns, ip link, tc).
bench_require_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "$1: needs root (network namespaces and tc)" >&2
    exit 1
  fi
}

# bench_dsq_path NAME PATH: prints PATH made absolute (the namespaces' processes run it from
# anywhere); exits 1 unless it is an executable.
bench_dsq_path() {
  if [ ! -x "$2" ]; then
    echo "$1: no dsq at $2: build it or set DSQ=path/to/dsq" >&2
    exit 1
  fi
  echo "$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
}

# bench_tbf NETNS DEV RATE BURST LATENCY: DEV's egress in NETNS limited by a token bucket
# filter of RATE (tc's units: 100mbit), or no qdisc at all for RATE = unlimited.
bench_tbf() {
  tc -n "$1" qdisc del dev "$2" root 2>/dev/null || true
  if [ "$3" != unlimited ]; then
    tc -n "$1" qdisc add dev "$2" root tbf rate "$3" burst "$4" latency "$5"
  fi
}

# bench_wait_port LOG PID: prints the port of the first "listening on ADDR:PORT" line of LOG,
# waiting up to 60 s while PID runs; prints nothing if it never came.
bench_wait_port() {
  local port=
  for _ in $(seq 1 1200); do
    port=$(sed -n 's/.*listening on [0-9.]*:\([0-9]*\).*/\1/p' "$1" | head -n 1)
    [ -n "$port" ] && break
    kill -0 "$2" 2>/dev/null || break
    sleep 0.05
  done
  echo "$port"
}

# bench_end_run NAME LIMIT SERVER OTHER...: waits for the server's end (at most LIMIT seconds
# from the call, then SIGTERM: it stops and reports completed: false), then gives the other
# processes 30 s to end by themselves (they leave on the server's farewell; one still there is
# stuck and killed: the measurement stands). Returns the server's exit status.
bench_end_run() {
  local name=$1 limit=$2 server=$3 status=0
  shift 3
  local deadline=$((SECONDS + limit))
  while kill -0 "$server" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
  kill -TERM "$server" 2>/dev/null || true
  wait "$server" || status=$?
  deadline=$((SECONDS + 30))
  for pid in "$@"; do
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "$name: pid $pid did not exit 30 s after the server; killed" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  return "$status"
}
