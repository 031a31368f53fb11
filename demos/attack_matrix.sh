#!/usr/bin/env bash
# Plays every attack of the project's attack client (tests/system/attack_client.cpp) against a
# `dsq server` on 127.0.0.1 (plaintext; over TLS for the tls-* rows) training with two real
# `dsq worker`s, and prints a
# Markdown matrix: the attack, whether the attacker is a member, the outcome expected, the
# outcome, the test accuracy beside the undisturbed run's, and the server's peak memory growth.
#
#   demos/attack_matrix.sh                   every attack (about 2.5 minutes on 2 busy cores)
#   demos/attack_matrix.sh --only=a,b        a subset, by attack name
#   demos/attack_matrix.sh --out=DIR         keep the runs in DIR (default: a temporary
#                                            directory, removed at the end)
#
# Environment: DSQ [build/dsq], ATTACK [build/tests/system/attack_client] (build them with
# `cmake --build build --target dsq attack_client`). Relative paths are taken from the
# directory it is called from.
#
# The run: synthetic data (3000 samples, 20 features, 4 classes), 400 steps of the default
# method, seed 1. The undisturbed run is the same with two workers and no attacker (five for
# the robust-aggregation row, an MLP for the poisoned rows). An attacker that is not a member
# must leave the run as it was (accuracy equal); a member may change it by at most one point;
# a poisoning member that no check can see must end the run as diverged (exit 3). A flooding
# member must be expelled by the limit its row names: replay by the catch-up budget (requests),
# replay-large (the same replays in a run of an MLP whose updates are 3.2 KB) and probe-flood by
# the resend allowance (bytes). tls-replay and tls-probe-flood play the floods over TLS with a
# certificate of the run's CA (scripts/make-certs.sh, which needs openssl), the strongest
# attacker TLS admits.
# Exit status: 0 when every attack had its expected outcome; 1 otherwise; 2 for a bad argument.
# Other TLS attacks (a certified peer's 1 GiB header, bad handshakes) are played by
# tests/system/test_tls.cpp, not here.
set -euo pipefail

main() {
caller=$PWD
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
# shellcheck source=scripts/lib/demo_matrix.sh
source scripts/lib/demo_matrix.sh
all="stop error-exit forged-stop forged-kill tick-flood huge-length bad-variant junk-long-host
nan-identity huge-identity huge-sign nan-loss wrong-operator spoof silent forged-grant replay
replay-large probe-flood tls-replay tls-probe-flood minus-ten plus-ten"
matrix_args attack_matrix "$@"
attacks=${only:-$all}
for a in $attacks; do
  [[ " $(echo $all) " == *" $a "* ]] || { echo "attack_matrix: no attack '$a'" >&2; exit 2; }
done
dsq=${DSQ:-build/dsq}
attack_client=${ATTACK:-build/tests/system/attack_client}
[[ -n ${DSQ:-} && $dsq != /* ]] && dsq=$caller/$dsq
[[ -n ${ATTACK:-} && $attack_client != /* ]] && attack_client=$caller/$attack_client
for x in "$dsq" "$attack_client"; do
  matrix_executable attack_matrix "$x" "set DSQ= / ATTACK="
done
matrix_out_dir attacks cleanup

base=(--dataset=synthetic:n=3000,d=20,classes=4 --model=softmax --steps=400 --eval-every=0
      --seed=1)
mlp=(--dataset=synthetic:n=3000,d=20,classes=4 --model=mlp:hidden=32,32 --steps=400 --seed=1)
large=(--dataset=synthetic:n=3000,d=20,classes=4 --model=mlp:hidden=1024 --steps=400
       --eval-every=0 --seed=1)
declare -A reference # undisturbed accuracy by kind
tls=0                # 1: start_server and workers run over TLS ($out/certs)
failed=""
rows=()
for a in $attacks; do
  echo "attack_matrix: $a" >&2
  play "$a" || failed+=" $a"
done

matrix_head attack member expected outcome "test accuracy:" "undisturbed:" \
  "server VmHWM growth:"
printf '%s\n' "${rows[@]}"
if [[ -n $failed ]]; then
  echo "attack_matrix: unexpected outcome:$failed (see $out/*.log)" >&2
  matrix_keep attack_matrix attacks cleanup
  exit 1
fi
}

pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}

field() { sed -n "s/^  \"$2\": //p" "$1" | sed 's/,$//; s/^"//; s/"$//'; }
hwm() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status" 2>/dev/null || echo 0; }

# wait_line FILE TEXT SECONDS: until FILE holds TEXT (0) or the time is over (1).
wait_line() {
  local i
  for ((i = 0; i < $3 * 10; ++i)); do
    grep -qF -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# make_certs: a CA and certificates for a server and 3 workers in $out/certs (once).
make_certs() {
  [[ -f $out/certs/worker-3.pem ]] && return 0
  bash "$repo/scripts/make-certs.sh" "$out/certs" 3 >"$out/make-certs.log" 2>&1
}

# tls_options NODE: the TLS options of node NODE (server, worker-1, ...) of $out/certs.
tls_options() {
  echo "--tls-cert=$out/certs/$1.pem --tls-key=$out/certs/$1.key --tls-ca=$out/certs/ca.pem"
}

# start_server NAME ARGS...: a server on a free port of 127.0.0.1; sets server_pid and addr.
# Over TLS when $tls is 1.
start_server() {
  local name=$1
  shift
  local -a extra=()
  ((tls)) && read -ra extra <<<"$(tls_options server)"
  "$dsq" server --port=0 --bind=127.0.0.1 --summary="$out/$name.json" "$@" "${extra[@]}" \
    >"$out/$name.log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  wait_line "$out/$name.log" "dsq server: listening on" 20 || return 1
  addr=$(sed -n 's/.*dsq server: listening on \([^ ]*:[0-9]*\),.*/\1/p' "$out/$name.log" | head -1)
}

# workers NAME N: N real workers of the server at addr (over TLS when $tls is 1).
workers() {
  local i
  local -a extra=()
  for ((i = 1; i <= $2; ++i)); do
    ((tls)) && read -ra extra <<<"$(tls_options "worker-$i")"
    "$dsq" worker --server="$addr" --connect-timeout=10 --quiet "${extra[@]}" \
      >"$out/$1.w$i.log" 2>&1 &
    pids+=($!)
  done
}

# finish NAME: waits for the server (120 s at most); sets rc and acc.
finish() {
  local i
  rc=timeout
  for ((i = 0; i < 1200; ++i)); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
      wait "$server_pid" && rc=0 || rc=$?
      break
    fi
    sleep 0.1
  done
  cleanup
  acc=$(field "$out/$1.json" test_accuracy 2>/dev/null || true)
  acc=${acc:-none}
}

# undisturbed KIND: the accuracy of the run without attacker (cached per kind).
undisturbed() {
  local kind=$1
  [[ -n ${reference[$kind]:-} ]] && return 0
  local name=undisturbed-$kind
  case $kind in
    two) start_server "$name" "${base[@]}" --workers=2; workers "$name" 2 ;;
    two-tls) tls=1; start_server "$name" "${base[@]}" --workers=2; workers "$name" 2; tls=0 ;;
    large) start_server "$name" "${large[@]}" --workers=2; workers "$name" 2 ;;
    five-median) start_server "$name" "${mlp[@]}" --eval-every=0 --workers=5; workers "$name" 5 ;;
    mlp) start_server "$name" "${mlp[@]}" --eval-every=50 --workers=2; workers "$name" 2 ;;
  esac
  finish "$name"
  reference[$kind]=$acc
}

pct() { [[ $1 == none || -z $1 ]] && echo "-" || awk -v a="$1" 'BEGIN { printf "%.2f%%", 100 * a }'; }
within() { awk -v a="$1" -v b="$2" -v d="$3" 'BEGIN { x = a - b; if (x < 0) x = -x; exit !(x <= d) }'; }

# play ATTACK: one run under ATTACK; appends its row; fails if the outcome is not the expected.
play() {
  local a=$1 name=attack-$1 member=yes kind=two expected outcome ok=1 said="attack: registered"
  local -a server_args=("${base[@]}" --workers=3)
  local honest=2 client=$1 limit=""
  local -a credentials=()
  case $a in
    stop | error-exit | forged-stop | forged-kill | tick-flood | huge-length | bad-variant)
      member=no; server_args=("${base[@]}" --workers=2)
      expected="ignored or connection closed; run as undisturbed" ;;
    junk-long-host) member=no; server_args=("${base[@]}" --workers=2)
      expected="a few capped log lines; run as undisturbed" ;;
    nan-identity | huge-identity | huge-sign | wrong-operator)
      expected="push refused, attacker expelled; within 1 point" ;;
    spoof) expected="pushes under others' ids ignored; within 1 point" ;;
    nan-loss) expected="liar expelled, run not ended; within 1 point" ;;
    silent) server_args=("${base[@]}" --workers=4 --worker-timeout=2)
      expected="both seats removed for silence; within 1 point" ;;
    forged-grant) server_args=("${base[@]}" --workers=3 --mode=async --staleness=2 --worker-timeout=2)
      expected="never-issued grant refused; completes" ;;
    replay) limit="times without a new push"
      expected="expelled by its request budget, memory bounded; within 1 point" ;;
    replay-large) client=replay; kind=large; limit="than its allowance"
      server_args=("${large[@]}" --workers=3)
      expected="expelled by its byte allowance, memory bounded; within 1 point" ;;
    probe-flood) limit="than its allowance"
      expected="expelled by its byte allowance, memory bounded; within 1 point" ;;
    tls-replay | tls-probe-flood)
      client=${a#tls-}; kind=two-tls
      make_certs || { rows+=("| $a | yes | - | make-certs.sh failed | - | - | - |"); return 1; }
      credentials=("$out/certs/worker-3.pem" "$out/certs/worker-3.key" "$out/certs/ca.pem")
      if [[ $client == replay ]]; then
        limit="times without a new push"
        expected="certified member expelled by its request budget, memory bounded; within 1 point"
      else
        limit="than its allowance"
        expected="certified member expelled by its byte allowance, memory bounded; within 1 point"
      fi ;;
    minus-ten) kind=mlp; server_args=("${mlp[@]}" --eval-every=50 --workers=3)
      expected="exit 3, diverged (passes every push check)" ;;
    plus-ten) kind=five-median; honest=4
      server_args=("${mlp[@]}" --eval-every=0 --workers=5 --aggregate=median)
      expected="--aggregate=median outvotes it; within 1 point" ;;
  esac
  undisturbed "$kind"
  [[ $kind == two-tls ]] && tls=1
  start_server "$name" "${server_args[@]}" || { tls=0; rows+=("| $a | $member | $expected | server did not start | - | - | - |"); return 1; }
  local before
  before=$(hwm "$server_pid")
  "$attack_client" "$addr" "$client" "${credentials[@]}" >"$out/$name.attacker.log" 2>&1 &
  local attacker=$!
  pids+=("$attacker")
  case $a in
    stop) said="attack: sent stop_atom" ;;
    error-exit) said="attack: sent an error" ;;
    forged-stop | forged-kill) said="in the server's name" ;;
    tick-flood) said="attack: sent 200000 ticks" ;;
    huge-length) said="attack: the server answered" ;;
    bad-variant) said="attack: armed" ;;
  esac
  # An attack that was never played shows nothing: the row fails.
  wait_line "$out/$name.attacker.log" "$said" 30 || { outcome="attacker never got going; "; ok=0; }
  [[ $a == bad-variant ]] && kill -USR1 "$attacker"
  workers "$name" "$honest"
  tls=0
  local peak=0 h until=$((SECONDS + 120))
  while kill -0 "$server_pid" 2>/dev/null && ((SECONDS < until)); do
    h=$(hwm "$server_pid")
    ((h > peak)) && peak=$h
    sleep 0.2
  done
  finish "$name"
  local growth=$(( (peak > before ? peak - before : 0) / 1024 ))
  local s=$out/$name.json ref=${reference[$kind]}
  local expelled floods departures diverged completed ignored
  ignored=$(field "$s" ignored_pushes 2>/dev/null || echo 0)
  expelled=$(field "$s" rejected_pushes 2>/dev/null || echo 0)
  floods=$(field "$s" floods_expelled 2>/dev/null || echo 0)
  departures=$(field "$s" departures 2>/dev/null || echo 0)
  diverged=$(field "$s" diverged 2>/dev/null || echo "?")
  completed=$(field "$s" completed 2>/dev/null || echo "?")
  outcome+="exit $rc"
  [[ $completed == true ]] && outcome+=", completed"
  [[ $diverged == true ]] && outcome+=", diverged"
  [[ ${departures:-0} != 0 ]] && outcome+=", departures $departures"
  [[ ${expelled:-0} != 0 ]] && outcome+=", pushes rejected $expelled"
  [[ ${floods:-0} != 0 ]] && outcome+=", expelled for a flood $floods"
  [[ ${ignored:-0} != 0 ]] && outcome+=", pushes ignored $ignored"
  case $a in
    minus-ten) [[ $rc == 3 && $diverged == true ]] || ok=0 ;;
    *)
      [[ $rc == 0 && $completed == true && $acc != none && $ref != none ]] || ok=0
      if ((ok)); then
        if [[ $member == no ]]; then within "$acc" "$ref" 0 || ok=0
        else within "$acc" "$ref" 0.01 || ok=0; fi
      fi
      if [[ -n $limit ]]; then
        [[ $floods == 1 ]] || ok=0
        grep -qF -- "$limit" "$out/$name.log" || { outcome+=", not expelled by the expected limit"; ok=0; }
      fi ;;
  esac
  ((ok)) || outcome="**unexpected**: $outcome"
  rows+=("| $a | $member | $expected | $outcome | $(pct "$acc") | $(pct "$ref") | $growth MiB |")
  ((ok))
}

main "$@"
