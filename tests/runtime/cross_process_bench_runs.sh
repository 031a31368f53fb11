#!/usr/bin/env bash
# CTest `cross_process_bench_runs`: issue 12's benchmark runs end to end on this build, with
# dsq's runtime defaults ("new") and with CAF's own passed explicitly ("old"), and prints every
# table with figures in it; and a bench whose runs fail says so and exits non-zero instead of
# printing a table with holes. No speed is asserted: speed goals live in the bench's own output.
#
# usage: cross_process_bench_runs.sh CROSS_PROCESS_BENCH
set -euo pipefail
bench=$1
. "$(dirname "$0")/../support/script_checks.sh" cross_process_bench_runs

# Every dsq run fails: the bench must exit non-zero and say where the runs' outputs are.
if timeout 300 "$bench" --quick --no-mnist --workers=1 --steps=10 --dsq=/bin/false \
  >"$tmp/failing.out" 2>&1; then
  fail "exited 0 although every dsq run failed"
fi
grep -q "some runs failed" "$tmp/failing.out" || fail "a failed run was not reported"
# Its figures are missing, not zeros: the table marks them, the goal and breakdown say so.
awk '$1 == 1 && $2 == "new" && $3 == "|" { found = 1; ok = $4 == "-" && $8 == "-" }
  END { exit !(found && ok) }' "$tmp/failing.out" || fail "a failed run's figures are not marked"
grep -q "^breakdown, 1 workers, new: not measured" "$tmp/failing.out" ||
  fail "a breakdown was printed from failed runs"
rm -rf "$(sed -n 's/^some runs failed; their outputs are in //p' "$tmp/failing.out")"

# A short real run: 1 and 2 worker processes, both settings, every table.
if ! timeout 600 "$bench" --quick --no-mnist --workers=1,2 --steps=200 >"$tmp/out" 2>&1; then
  cat "$tmp/out" >&2
  fail "a short run exited non-zero"
fi
cat "$tmp/out"
out=$tmp/out

# A table row: workers, setting, then local, cross and raw TCP figures, each µs per step > 0.
for n in 1 2; do
  for s in old new; do
    awk -v n=$n -v s=$s '$1 == n && $2 == s && $3 == "|" { found = 1; ok = $4 > 0 && $8 > 0 && $12 > 0 }
      END { exit !(found && ok) }' "$out" ||
      fail "no table row with figures for $n workers, $s"
    grep -Eq "^$n workers, $s: [0-9]+ steps of [0-9.]+ us$" "$out" ||
      fail "no steady-state sample for $n workers, $s"
  done
  grep -Eq "^$n workers: new vs old: cross-process [0-9.]+x faster" "$out" ||
    fail "no comparison line for $n workers"
  grep -Eq "^breakdown, $n workers, new: step [0-9.]+ us = worker compute" "$out" ||
    fail "no breakdown for $n workers"
done
# Waiting processes: a share of a core for each setting (a failed measurement would be absent).
for s in old new; do
  grep -Eq "^ *$s: server before any worker [0-9.]+%, server waiting for a push [0-9.]+%, worker waiting for the update [0-9.]+%$" "$out" ||
    fail "no waiting figures for $s"
done
grep -q "some runs failed" "$out" && fail "the short run reports failed runs"

exit $status
