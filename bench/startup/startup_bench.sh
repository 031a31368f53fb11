#!/usr/bin/env bash
# A run's start (issue 28): `dsq server` and 4 `dsq worker` processes started together over
# 127.0.0.1 on MNIST, then `dsq launch --workers=4`, each RUNS times (default 5). Prints every
# run's `startup_s` (the server's process start to its first applied step, from --summary)
# with the load average before it, then the median and the best of each way. With
# --breakdown it also runs one server + 4 workers each under `strace -f -ttt` and prints when
# each process was started, opened the data cache, listened or connected: strace slows every
# system call, so read its phases, not its total.
#
# usage: bench/startup/startup_bench.sh [--breakdown] [RUNS] [extra dsq server options]
# DSQ=path/to/dsq overrides build/dsq. The data cache (docs/usage.md) is warmed first: the
# figure is that of every run after the first on a host.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/lib/check_summary.sh
source scripts/lib/check_summary.sh
dsq=${DSQ:-build/dsq}
[ -x "$dsq" ] || { echo "startup_bench: $dsq not built (run scripts/build.sh)" >&2; exit 1; }
breakdown=0
if [ "${1:-}" = "--breakdown" ]; then
  breakdown=1
  shift
fi
runs=${1:-5}
shift || true
EXTRA=("$@")
out=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$out"
}
trap cleanup EXIT
run_opts=(--dataset=mnist --model=mlp:hidden=128 --workers=4 --steps=5 --eval-every=0 --quiet)
load() { cut -d' ' -f1 /proc/loadavg; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# A process, under strace into $out/trace.NAME when TRACE is set.
traced() { # name, command...
  local name=$1
  shift
  if [ -n "${TRACE:-}" ]; then
    strace -f -ttt -e trace=execve,openat,connect,listen -o "$out/trace.$name" "$@"
  else
    "$@"
  fi
}

# server + 4 workers started together; the workers retry their connect until it listens.
by_hand() { # summary file
  local summary=$1 port server
  port=$(free_port)
  pids=()
  traced server "$dsq" server --bind=127.0.0.1 --port="$port" "${run_opts[@]}" \
    --summary="$summary" "${EXTRA[@]}" >"$out/server.log" 2>&1 &
  server=$!
  for i in 1 2 3 4; do
    traced "worker$i" "$dsq" worker --server=127.0.0.1:"$port" --quiet >"$out/worker$i.log" 2>&1 &
    pids+=($!)
  done
  wait "$server" || { echo "startup_bench: the server failed:" >&2; cat "$out/server.log" >&2; exit 1; }
  for p in "${pids[@]}"; do wait "$p" || true; done
  pids=()
}
launched() { # summary file
  "$dsq" launch --workers=4 "${run_opts[@]}" --summary="$1" "${EXTRA[@]}" >"$out/launch.log" 2>&1 ||
    { echo "startup_bench: dsq launch failed:" >&2; cat "$out/launch.log" >&2; exit 1; }
}

launched "$out/warm.json" # writes the data cache if this host has none yet
echo "startup_s: server start to its first applied step, MNIST, mlp:hidden=128, 4 workers"
echo "($(nproc) cores; load = 1-minute load average before the run)"
for way in by_hand launched; do
  values=()
  for ((r = 1; r <= runs; r++)); do
    before=$(load)
    "$way" "$out/$way-$r.json"
    check_summary "startup_bench $way-$r" "$out/$way-$r.json" workers=4 steps=5 || exit 1
    s=$(summary_field "$out/$way-$r.json" startup_s)
    values+=("$s")
    printf '  %-9s run %d: startup_s %.3f  (load %s)\n' "$way" "$r" "$s" "$before"
  done
  printf '%s\n' "${values[@]}" | sort -g |
    awk -v way="$way" '{v[NR]=$1} END {printf "%-9s median %.3f s, best %.3f s over %d runs\n", way, v[int((NR+1)/2)], v[1], NR}'
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

[ $breakdown = 1 ] || exit 0
command -v strace >/dev/null || { echo "startup_bench: --breakdown needs strace" >&2; exit 1; }
TRACE=1 by_hand "$out/traced.json"
python3 - "$out" "$(summary_field "$out/traced.json" startup_s)" <<'PY'
import re, sys
out, startup = sys.argv[1], float(sys.argv[2])

def events(name):
    found = []
    for line in open(f'{out}/trace.{name}'):
        m = re.match(r'(\d+) +(\d+\.\d+) (\w+)\((.*)', line)
        if not m:
            continue
        t, call, args = float(m.group(2)), m.group(3), m.group(4)
        if not found:  # the first line: the exec
            found.append((t, 'exec'))
        elif call == 'openat' and '.bin' in args and '/dsq' in args:
            found.append((t, 'data cache opened'))
        elif call == 'listen':
            found.append((t, 'listening'))
        elif call == 'connect' and '127.0.0.1' in args and line.rstrip().endswith('= 0'):
            found.append((t, 'connected'))
    return found

start = events('server')[0][0]
print("timeline under strace (seconds after the server's exec; strace slows system calls):")
for name in ['server'] + [f'worker{i}' for i in range(1, 5)]:
    print(f'  {name:8s} ' + ', '.join(f'{what} {t - start:.3f}' for t, what in events(name)))
print(f'  server: first applied step (startup_s) {startup:.3f}')
PY
