#!/usr/bin/env bash
# CTest `reproduce_quick`: scripts/reproduce.sh --quick into a fresh directory must write every
# table and plot, none of them empty (PNGs must be PNGs, CSV tables must have a data row), and
# must fail when a run fails or did not run what it claims.
#
# usage: reproduce_quick.sh SOURCE_DIR DSQ_BINARY
set -euo pipefail
src=$1
dsq=$2
. "$(dirname "$0")/../support/script_checks.sh" reproduce_quick

# A run that fails must stop the script with a non-zero exit code.
if DSQ=/bin/false "$src/scripts/reproduce.sh" --quick --only=rq1 --out="$tmp/failing" >/dev/null 2>&1; then
  fail "reproduce.sh exited 0 although every dsq run failed"
fi

# A run that exits 0 but did not run what it claims must fail the script too, naming the run
# and what differed: here a dsq whose summaries lack "workers" (as if it lost count of them).
cat >"$tmp/dsq-without-workers" <<EOF
#!/usr/bin/env bash
"$dsq" "\$@" || exit \$?
for a in "\$@"; do
  case \$a in --summary=*) sed -i '/^  "workers": /d' "\${a#--summary=}" ;; esac
done
EOF
chmod +x "$tmp/dsq-without-workers"
if DSQ=$tmp/dsq-without-workers "$src/scripts/reproduce.sh" --quick --only=cnn --out="$tmp/degraded" \
    >/dev/null 2>"$tmp/degraded.err"; then
  fail "reproduce.sh exited 0 although its runs' summaries do not show their workers"
elif ! grep -q 'cnn/cnn-sgd-s1: did not run what it claims: .*no "workers"' "$tmp/degraded/failed.txt"; then
  fail "failed.txt does not name the run whose summary lacks workers: $(cat "$tmp/degraded/failed.txt" 2>/dev/null)"
fi

start=$SECONDS
if ! DSQ=$dsq "$src/scripts/reproduce.sh" --quick --out="$tmp/results"; then
  echo "reproduce_quick: FAIL: scripts/reproduce.sh --quick exited non-zero" >&2
  exit 1
fi
echo "reproduce_quick: --quick took $((SECONDS - start)) s"
out=$tmp/results

required=(
  tables/rq1_summary.csv tables/rq1_summary.md tables/rq1_claims.md
  tables/rq2_speedup.csv tables/rq2_speedup.md
  tables/rq4_operators.csv tables/rq4_operators.md
  tables/cnn_summary.csv tables/cnn_summary.md
  tables/summary.csv tables/summary.md
  plots/rq1_loss_vs_epoch.png plots/rq1_accuracy_vs_epoch.png plots/rq1_loss_vs_bytes.png
  plots/rq2_loss_vs_step.png plots/rq2_speedup.png
  plots/rq4_final_loss.png
  plots/cnn_loss_vs_epoch.png plots/cnn_accuracy_vs_epoch.png plots/cnn_loss_vs_bytes.png
  command.txt
)
# Parts that may be skipped, but only with a reason in skipped.txt.
if grep -q '^rq5:' "$out/skipped.txt"; then
  echo "reproduce_quick: rq5 skipped: $(grep '^rq5:' "$out/skipped.txt")"
else
  required+=(tables/rq5_bandwidth.csv tables/rq5_bandwidth.md plots/rq5_step_time.png plots/rq5_time_to_target.png)
fi
# The staleness part may be skipped only by a dsq without the asynchronous mode.
"$dsq" local --help >"$tmp/help.txt" 2>&1 || true
async=0
if grep -q -- '--staleness' "$tmp/help.txt"; then async=1; fi
if [ "$async" -eq 0 ] && grep -q '^staleness:' "$out/skipped.txt"; then
  echo "reproduce_quick: staleness skipped: $(grep '^staleness:' "$out/skipped.txt")"
else
  required+=(tables/staleness.csv tables/staleness.md plots/staleness.png)
fi

for f in "${required[@]}"; do
  path=$out/$f
  if [ ! -s "$path" ]; then
    fail "$f is missing or empty"
    continue
  fi
  case $f in
    *.png) [ "$(head -c 4 "$path" | tail -c 3)" = PNG ] || fail "$f is not a PNG" ;;
    *.csv) [ "$(grep -c . "$path")" -ge 2 ] || fail "$f has no data row" ;;
    *.md) grep -q '^|' "$path" || fail "$f holds no table" ;;
  esac
done
# Every run wrote its metrics: 8 RQ1 + 2 RQ4 configurations, 2 x 5 RQ2 runs, 2 CNN runs.
runs=$(find "$out/runs" -name '*.csv' -size +0 | wc -l)
[ "$runs" -ge 22 ] || fail "only $runs metrics CSV files under runs/ (expected at least 22)"
# The summary has one row per configuration (8 + 2 + 2).
rows=$(($(grep -c . "$out/tables/summary.csv") - 1))
[ "$rows" -eq 12 ] || fail "summary.csv has $rows rows, expected 12"

# Diverged runs (dsq stops them and exits 3; QSGD and random-k diverge within a few steps) are
# results: not in failed.txt, and shown as "diverged" in the tables, not as the huge finite
# loss of the stopped model nor with the epochs where it stopped.
diverged=$( (grep -l '"diverged": true' "$out"/runs/*/*.json 2>/dev/null || true) | wc -l)
echo "reproduce_quick: $diverged diverged runs"
[ ! -s "$out/failed.txt" ] || fail "failed.txt lists runs: $(tr '\n' ' ' <"$out/failed.txt")"
# summary.csv with the commas inside quoted fields replaced, so that awk -F, sees the columns.
flat_summary=$(awk -F'"' '{ l = ""; for (i = 1; i <= NF; i++) { f = $i; if (i % 2 == 0) gsub(",", ";", f); l = l f }; print l }' \
  "$out/tables/summary.csv")
if [ "$diverged" -gt 0 ]; then
  div_rows=$(awk -F, 'NR > 1 && $11 > 0' <<<"$flat_summary" | wc -l)
  [ "$div_rows" -gt 0 ] || fail "summary.csv counts no diverged seed although $diverged runs diverged"
  md_rows=$(grep -c 'diverged' "$out/tables/summary.md" || true)
  [ "$md_rows" -eq "$div_rows" ] || fail "summary.md shows $md_rows diverged rows, summary.csv has $div_rows"
fi
# Every row's epochs are those of the configuration (all RQ1/RQ4 configurations run as long).
epochs=$(awk -F, '$2 ~ /^rq[14]-/ { print $9 }' <<<"$flat_summary" | sort -u)
[ "$(echo "$epochs" | wc -l)" -eq 1 ] || fail "RQ1/RQ4 rows of summary.csv differ in epochs: $(echo $epochs)"
grep -q "after $epochs epochs" "$out/tables/rq1_claims.md" || fail "rq1_claims.md does not say 'after $epochs epochs'"
exit $status
