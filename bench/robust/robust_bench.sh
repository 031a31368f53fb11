#!/usr/bin/env bash
# What --aggregate costs when nobody attacks and what it saves when one of 5 members pushes +10
# on every coordinate (tests/system/attack_client.cpp plus-ten: sign pushes that pass every
# check of a push): test accuracy and steps per second of mean, median, trimmed-mean:f=1 and
# krum:f=1 (RULES="..." for a subset), side by side, measured in one run. One dsq server and 5 members on 127.0.0.1: 5 honest
# workers, or 4 and the attacker. Each row is checked to have run what it claims (the
# summary's workers, steps, completed and aggregate); a row that did not says so.
#
# usage: bench/robust/robust_bench.sh [--quick] [extra dsq options]
#   DSQ=path/to/dsq ATTACK=path/to/attack_client (defaults: build/dsq, build/tests/system/...)
set -euo pipefail
cd "$(dirname "$0")/../.."
dsq=${DSQ:-build/dsq}
attack=${ATTACK:-build/tests/system/attack_client}
[ -x "$dsq" ] || { echo "robust_bench: $dsq not built (run scripts/build.sh)" >&2; exit 1; }
[ -x "$attack" ] || { echo "robust_bench: $attack not built (target attack_client)" >&2; exit 1; }
steps=600
if [ "${1:-}" = "--quick" ]; then
  shift
  steps=200
fi
read -r -a rules <<<"${RULES:-mean median trimmed-mean:f=1 krum:f=1}"
out=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$out"; }
trap cleanup EXIT
field() { sed -n "s/^  \"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" "$1"; }

common=(--dataset=synthetic:n=6000,d=40,classes=4 --model=mlp:hidden=64,32 --workers=5
        --batch=32 --lr=0.1 --seed=1 --steps=$steps --eval-every=0 --quiet)
EXTRA=("$@")

# run NAME RULE ATTACKED(0|1): one server and its 5 members; leaves NAME.json and NAME.rc.
run() {
  local name=$1 rule=$2 attacked=$3 port="" honest=5 i
  "$dsq" server "${common[@]}" --aggregate="$rule" --port=0 --bind=127.0.0.1 \
    --summary="$out/$name.json" "${EXTRA[@]}" >"$out/$name.server" 2>&1 &
  local server=$!
  pids=("$server")
  for i in $(seq 200); do
    port=$(sed -n 's/.*dsq server: listening on [^ ]*:\([0-9]*\),.*/\1/p' "$out/$name.server")
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "robust_bench: $name: no port" >&2; cat "$out/$name.server" >&2; exit 1; }
  if [ "$attacked" = 1 ]; then
    honest=4
    "$attack" "127.0.0.1:$port" plus-ten >"$out/$name.attacker" 2>&1 &
    pids+=($!)
    for i in $(seq 200); do
      grep -q "attack: registered" "$out/$name.attacker" && break
      sleep 0.1
    done
  fi
  for i in $(seq "$honest"); do
    "$dsq" worker --server="127.0.0.1:$port" --quiet >"$out/$name.worker$i" 2>&1 &
    pids+=($!)
  done
  local rc=0
  wait "$server" || rc=$?
  echo "$rc" >"$out/$name.rc"
  for p in "${pids[@]:1}"; do wait "$p" || true; done
  pids=()
}

printf 'synthetic:n=6000,d=40,classes=4, mlp:hidden=64,32, sign+ef both ways (doublesqueeze), '
printf '5 members, batch 32, lr 0.1, %d steps\n' "$steps"
printf '%-18s %-9s %9s %9s %5s %8s %9s %9s  %s\n' aggregate attack accuracy steps/s exit \
  workers steps completed check
for rule in "${rules[@]}"; do
  for attacked in 0 1; do
    name="${rule//[:=]/_}-$attacked"
    run "$name" "$rule" "$attacked"
    s="$out/$name.json"
    acc=$(field "$s" test_accuracy) rate=$(field "$s" steps_per_s)
    w=$(field "$s" workers) n=$(field "$s" steps) done=$(field "$s" completed)
    agg=$(field "$s" aggregate)
    check=ok
    [ "$w" = 5 ] && [ "$agg" = "$rule" ] || check="ran workers=$w aggregate=$agg"
    [ "$n" = "$steps" ] && [ "$done" = true ] || check="${check/ok/}incomplete($(field "$s" note))"
    printf '%-18s %-9s %9.4f %9.1f %5s %8s %9s %9s  %s\n' "$rule" \
      "$([ "$attacked" = 1 ] && echo plus-ten || echo none)" "${acc:-nan}" "${rate:-0}" \
      "$(cat "$out/$name.rc")" "$w" "$n" "$done" "$check"
  done
done
