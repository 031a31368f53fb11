#!/usr/bin/env bash
# A DoubleSqueeze cluster on this machine, started by `dsq launch` (docs/launch.md): one
# parameter server and three workers on 127.0.0.1, every process's lines prefixed ([server],
# [worker I@localhost]). Worker 1 crashes halfway (an injected fault: exit 5); the launcher
# reports it and starts it again (--restart-workers), and it joins the run anew. Ctrl-C stops
# everything; no process outlives the launcher.
#
#   demos/cluster_demo.sh                 uses build/dsq
#   DSQ=path/to/dsq demos/cluster_demo.sh
#   STEPS=3000 demos/cluster_demo.sh       a longer run (default 2000 steps)
#   demos/cluster_demo.sh --hostfile=FILE  any other option goes on to dsq launch
#   SERVERS=2 demos/cluster_demo.sh       two parameter-server shards (net/PROTOCOL.md,
#                                         "Shards"): no injected crash, which a sharded run
#                                         does not take in this version
set -euo pipefail
dsq=${DSQ:-$(cd "$(dirname "$0")/.." && pwd)/build/dsq}
steps=${STEPS:-2000}
servers=${SERVERS:-1}
[ -x "$dsq" ] || { echo "demo: no dsq at $dsq: build it (scripts/build.sh) or set DSQ=" >&2; exit 1; }
if [ "$servers" -gt 1 ]; then
  extra=(--servers="$servers")
else
  extra=(--faults.crash=1@$((steps / 2)))
fi
exec "$dsq" launch --workers=3 --restart-workers=1 "${extra[@]}" \
  --worker-timeout=5 --dataset=synthetic:n=20000,d=200,classes=10 --model=mlp:hidden=256 \
  --batch=32 --steps="$steps" --eval-every=$((steps / 8)) --method=doublesqueeze \
  --compressor=sign "$@"
