#!/usr/bin/env bash
# Reproduces the paper's claims (DoubleSqueeze, Tang et al. 2019) with this project's own runs:
# one metrics CSV per run, summary tables (Markdown and CSV) and PNG plots (gnuplot, pngcairo).
#
#   scripts/reproduce.sh                 the full set (see docs/results.md for its figures)
#   scripts/reproduce.sh --quick         a short version of everything (one seed, a few hundred
#                                        steps); CI runs it as the test `reproduce_quick`
#   scripts/reproduce.sh --out=DIR       where to write (default results/)
#   scripts/reproduce.sh --only=rq1,rq2  a subset of: rq1 rq2 rq4 rq5 staleness cnn
#                                        (rq4 reads rq1's runs too)
#   scripts/reproduce.sh --reuse         keep the runs already completed in DIR (same names),
#                                        run only the missing ones, redo tables and plots
#
# Environment: DSQ [build/dsq] the binary to run.
#
# The runs are defined by config/reproduce/*.ini (one file per curve; its first line
# "; label: ..." names it in plots and tables); this script adds seeds, worker counts and, with
# --quick, shorter runs on the command line. Experiments:
#   rq1  (RQ1/RQ3) sgd, compressed (sign, top-k 1%, qsgd), ef-worker (sign), doublesqueeze
#        (sign, top-k 1%, qsgd): training loss and test accuracy vs epoch, loss vs bytes sent
#   rq2  sgd and doublesqueeze-sign for 1, 2, 4, 8, 16 workers at batch 32 per worker: loss vs
#        step, steps to a target loss and the speedup over 1 worker beside the ideal
#   rq4  the operators under compressed and doublesqueeze: final loss table and bar plot
#   rq5  bench/network/bandwidth_bench.sh (root, network namespaces): seconds per step vs link
#        rate; time to a target accuracy = seconds per step x steps to reach it (from local
#        runs of the same model)
#   staleness  the asynchronous mode with one straggler, final loss and time to target vs TAU
#              (skipped with a message while `dsq local --help` has no --staleness)
#   cnn  sgd and doublesqueeze-sign with the convolutional network
# Parts that cannot run here (rq5 without root or network namespaces, staleness without the
# asynchronous mode) are listed with the reason in DIR/skipped.txt. A run that fails is listed
# in DIR/failed.txt and left out of the tables; the script finishes the others, then exits 1.
# A run that diverges (dsq stops it and exits 3) is a result, not a failure: the tables say
# "diverged" for it, and the RQ4 plot draws no bar.
set -euo pipefail

# Everything runs inside main, which bash reads whole before it starts: editing this file while
# a long run is going does not change (or break) that run.
main() {
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

quick=0
reuse=0
out=results
only="rq1 rq2 rq4 rq5 staleness cnn"
for arg in "$@"; do
  case $arg in
    --quick) quick=1 ;;
    --reuse) reuse=1 ;;
    --out=*) out=${arg#--out=} ;;
    --only=*) only=${arg#--only=}; only=${only//,/ } ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "reproduce: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done
for part in $only; do
  case $part in rq1 | rq2 | rq4 | rq5 | staleness | cnn) ;;
    *) echo "reproduce: unknown part '$part' in --only (rq1 rq2 rq4 rq5 staleness cnn)" >&2; exit 2 ;;
  esac
done
wants() { [[ " $only " == *" $1 "* ]]; }

dsq=${DSQ:-build/dsq}
[ -x "$dsq" ] || { echo "reproduce: $dsq not built (run scripts/build.sh, or set DSQ)" >&2; exit 1; }
dsq=$(cd "$(dirname "$dsq")" && pwd)/$(basename "$dsq")
command -v gnuplot >/dev/null || { echo "reproduce: gnuplot not found (scripts/setup.sh installs gnuplot-nox)" >&2; exit 1; }
mkdir -p "$out"/runs "$out"/data "$out"/plots "$out"/tables
out=$(cd "$out" && pwd)
: >"$out/skipped.txt"
: >"$out/failed.txt"
conf=config/reproduce
start_time=$SECONDS

# --- Settings of the two versions ----------------------------------------------------------
if [ "$quick" -eq 1 ]; then
  seeds="1"
  rq1_args=(--steps=200 --eval-every=50)
  rq2_workers="1 2 4 8 16"; rq2_args=(--steps=100)
  rq5_rates="unlimited 100mbit"; rq5_methods="sgd ds-sign"; rq5_env=(STEPS=3)
  rq5_args=(--steps=100 --eval-every=20); rq5_target=0.8
  taus="0 4"; staleness_args=(--steps=300 --eval-every=50); staleness_target=0.8
  cnn_args=(--steps=20 --eval-every=10 --model=cnn:channels=4,8,hidden=32)
else
  seeds="1 2 3"
  rq1_args=()
  rq2_workers="1 2 4 8 16"; rq2_args=()
  rq5_rates="unlimited 1gbit 100mbit 10mbit"; rq5_methods="sgd ef-sign ds-sign"
  rq5_env=(BUDGET=10 MIN_STEPS=3 MAX_STEPS=30 UNLIMITED_STEPS=30)
  rq5_args=(); rq5_target=0.95
  taus="0 1 2 4 8"; staleness_args=(); staleness_target=0.93
  cnn_args=()
fi
# RQ2 smooths the per-step training loss over windows of this many samples per run (full run:
# 50 steps of 1 worker, 3 steps of 16), so every worker count averages the same amount of noise.
rq2_window_samples=$([ "$quick" -eq 1 ] && echo 320 || echo 1600)
# RQ1, RQ4 and the CNN plot the training loss averaged over bins of this many steps.
bin_steps=$([ "$quick" -eq 1 ] && echo 10 || echo 50)

# MNIST if it has been fetched, otherwise synthetic data of the same shape (and the tables
# say so: the data set of every run is in its summary).
data_override=()
if [ ! -s data/mnist/train-images-idx3-ubyte ]; then
  echo "reproduce: MNIST not found in data/mnist (scripts/setup.sh fetches it); using synthetic data" >&2
  data_override=(--dataset=synthetic:n=60000,d=784,classes=10)
fi

{
  echo "command: scripts/reproduce.sh $*"
  echo "dsq: $dsq"
  echo "git: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (working tree with uncommitted changes)')"
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "cpu: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/command.txt"

# --- Helpers -----------------------------------------------------------------------------
# shellcheck source=scripts/lib/check_summary.sh
source "$repo/scripts/lib/check_summary.sh"
label_of() { sed -n 's/^; label: //p' "$1" | head -n 1; }
# A field of a summary JSON (one "key": value per line), quotes removed.
field() { sed -n "s/^  \"$2\": //p" "$1" | sed 's/,$//; s/^"//; s/"$//'; }
skip() {
  echo "reproduce: skipping $1: $2" >&2
  echo "$1: $2" >>"$out/skipped.txt"
}
note() { echo "reproduce: [$((SECONDS - start_time)) s] $*" >&2; }

# The number of steps each run was asked for, by its summary JSON's path: a diverged run's
# JSON has the steps it made before dsq stopped it, and a configuration whose every seed
# diverged is still listed with the length it was run for.
declare -A planned_steps=()

# run_local PART NAME INI [dsq options...]: one `dsq local` run, its CSV, JSON and log under
# runs/PART/. A run that fails or does not complete is listed in failed.txt and left out of
# the tables and plots; the script goes on with the others and exits non-zero at the end.
run_local() {
  local part=$1 name=$2 ini=$3
  shift 3
  local dir=$out/runs/$part a
  mkdir -p "$dir"
  local t0=$SECONDS status=0 workers why
  planned_steps[$dir/$name.json]=$(sed -n 's/^steps=//p' "$ini" | tail -n 1)
  workers=$(sed -n 's/^workers=//p' "$ini" | tail -n 1)
  for a in "$@"; do
    case $a in
      --steps=*) planned_steps[$dir/$name.json]=${a#--steps=} ;;
      --workers=*) workers=${a#--workers=} ;;
    esac
  done
  if [ "$reuse" -eq 1 ] && [ -n "$(outcome "$dir/$name.json")" ] && [ -s "$dir/$name.csv" ]; then
    return 0
  fi
  "$dsq" local --config="$ini" ${data_override[@]+"${data_override[@]}"} --quiet \
    --metrics="$dir/$name.csv" --summary="$dir/$name.json" "$@" >"$dir/$name.log" 2>&1 || status=$?
  # It ran what it claims: its worker count, all its steps (unless it diverged), nobody removed
  # or gone (scripts/lib/check_summary.sh); otherwise it is a failure, not a result.
  if [ "$status" -eq 0 ] || [ "$status" -eq 3 ]; then
    local expect=(${workers:+workers=$workers} completed=any)
    if [ "$(outcome "$dir/$name.json")" = completed ] && [ -n "${planned_steps[$dir/$name.json]}" ]; then
      expect+=(steps="${planned_steps[$dir/$name.json]}")
    fi
    if ! why=$(check_summary "$part/$name" "$dir/$name.json" "${expect[@]}" 2>&1); then
      echo "reproduce: run $part/$name did not run what it claims:" >&2
      echo "$why" >&2
      echo "$part/$name: did not run what it claims: ${why//$'\n'/; }" >>"$out/failed.txt"
      rm -f "$dir/$name.json"
      return 0
    fi
  fi
  case $status/$(outcome "$dir/$name.json") in
    0/completed) note "$part/$name ($((SECONDS - t0)) s)" ;;
    # dsq stops a run whose model became non-finite and exits 3: a result, not a failure
    # (older builds ran such a run to the end and exited 0 with a null final loss).
    3/diverged | 0/diverged)
      note "$part/$name diverged at step $(field "$dir/$name.json" diverged_at_step) ($((SECONDS - t0)) s)" ;;
    *)
      echo "reproduce: run $part/$name FAILED, exit status $status ($dsq local --config=$ini $*):" >&2
      tail -n 20 "$dir/$name.log" >&2
      echo "$part/$name: exit status $status: $(tail -n 1 "$dir/$name.log")" >>"$out/failed.txt"
      rm -f "$dir/$name.json"
      ;;
  esac
}

# A run's outcome from its summary JSON: "completed", "diverged", or nothing (no usable run).
outcome() {
  if grep -qs '"completed": true' "$1"; then
    echo completed
  elif grep -qs '"diverged": true' "$1"; then
    echo diverged
  fi
}

# completed PART NAME EXT: the file runs/PART/NAME-sSEED.EXT of every seed whose run completed
# or diverged (both are results; a failed run is in failed.txt).
completed() {
  local part=$1 name=$2 ext=$3 s
  for s in $seeds; do
    if [ -n "$(outcome "$out/runs/$part/$name-s$s.json")" ]; then
      echo "$out/runs/$part/$name-s$s.$ext"
    fi
  done
}

# Shared awk: column lookup by header name, numeric test (NaN, inf and empty are not numbers).
awk_lib='
function isnum(v) { return v ~ /^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$/ }
function header() { delete col; for (i = 1; i <= NF; i++) col[$i] = i }
function get(name) { return (name in col) ? $(col[name]) : "" }
'

# binned_curve BIN SAMPLES_PER_STEP TRAIN_SIZE FILES...: one line per bin of BIN steps in
# which every file has a finite training loss: epoch, step, mean loss, std over files,
# mean cumulative bytes (up + down). A run that diverged ends the curve where it did.
binned_curve() {
  local bin=$1 sps=$2 ntrain=$3
  shift 3
  awk -F, -v bin="$bin" -v sps="$sps" -v ntrain="$ntrain" "$awk_lib"'
    FNR == 1 { f++; header(); cum = 0; next }
    {
      step = get("step") + 0
      if (step < 1) next
      cum += get("bytes_up") + get("bytes_down")
      b = int((step - 1) / bin)
      loss = get("train_loss")
      if (isnum(loss)) { s[f, b] += loss; n[f, b]++ } else bad[f, b] = 1
      last[f, b] = step; bytes[f, b] = cum
      if (b > maxb) maxb = b
    }
    END {
      for (b = 0; b <= maxb; b++) {
        k = 0; sum = 0; sq = 0; by = 0
        for (i = 1; i <= f; i++) {
          if (!((i, b) in n) || ((i, b) in bad)) break
          m = s[i, b] / n[i, b]; sum += m; sq += m * m; by += bytes[i, b]; k++
        }
        if (k < f) break
        mean = sum / k; var = k > 1 ? (sq - k * mean * mean) / (k - 1) : 0
        if (var < 0) var = 0
        printf "%.5f\t%d\t%.6g\t%.6g\t%.6g\n", last[1, b] * sps / ntrain, last[1, b], mean, sqrt(var), by / k
      }
    }' "$@"
}

# accuracy_curve SAMPLES_PER_STEP TRAIN_SIZE FILES...: epoch, step, mean and std of the test
# accuracy at every evaluated step that all files share.
accuracy_curve() {
  local sps=$1 ntrain=$2
  shift 2
  awk -F, -v sps="$sps" -v ntrain="$ntrain" "$awk_lib"'
    FNR == 1 { f++; header(); next }
    {
      a = get("test_accuracy")
      if (!isnum(a)) next
      step = get("step") + 0
      s[step] += a; q[step] += a * a; n[step]++
      if (!(step in seen)) { seen[step] = 1; order[++count] = step }
    }
    END {
      for (j = 1; j <= count; j++) {
        step = order[j]
        if (n[step] < f) continue
        mean = s[step] / n[step]; var = n[step] > 1 ? (q[step] - n[step] * mean * mean) / (n[step] - 1) : 0
        if (var < 0) var = 0
        printf "%.5f\t%d\t%.6g\t%.6g\n", step * sps / ntrain, step, mean, sqrt(var)
      }
    }' "$@"
}

# Training-set size from a summary's data set description ("MNIST (60000 train / ...").
train_size() {
  local n
  n=$(field "$1" dataset | sed -n 's/.*(\([0-9][0-9]*\) train.*/\1/p')
  echo "${n:-60000}"
}

# summary_row PART CONFIG_NAME LABEL JSON...: one CSV row over the seeds of a configuration.
# Columns: see summary_header. A seed whose summary says "diverged": true (dsq stopped it and
# exited 3), or whose final loss is not a number (older builds), counts in "diverged" and is
# left out of the loss, accuracy and steps/s columns: its loss is that of the model dsq
# stopped, huge but finite, and its accuracy is chance. "steps" and "epochs" are those of the
# seeds that completed, or the planned ones when every seed diverged; "diverged_at_steps"
# lists where dsq stopped the diverged seeds.
summary_header="part,config,label,method,compressor,model,workers,steps,epochs,seeds,diverged,final_train_loss_mean,final_train_loss_std,test_accuracy_mean,test_accuracy_std,bytes_up_per_step,bytes_down_per_step,steps_per_s,dataset,diverged_at_steps"
summary_row() {
  local part=$1 name=$2 label=$3
  shift 3
  local first=$1 j
  local method compressor model workers batch ntrain dataset
  method=$(field "$first" method)
  compressor=$(field "$first" compressor)
  model=$(field "$first" model)
  workers=$(field "$first" workers)
  dataset=$(field "$first" dataset | sed 's/ (.*//')
  ntrain=$(train_size "$first")
  batch=$(sed -n 's/^batch=//p' "$conf/$name.ini" 2>/dev/null || true)
  batch=${batch:-32}
  # One tab-separated line per seed (fields may be empty): loss, accuracy, bytes up, bytes
  # down, steps/s, steps made, outcome, step it diverged at, steps planned.
  for j in "$@"; do
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(field "$j" final_train_loss)" "$(field "$j" test_accuracy)" \
      "$(field "$j" bytes_up)" "$(field "$j" bytes_down)" "$(field "$j" steps_per_s)" "$(field "$j" steps)" \
      "$(outcome "$j")" "$(field "$j" diverged_at_step)" "${planned_steps[$j]:-}"
  done | awk -F'\t' -v part="$part" -v name="$name" -v label="$label" -v method="$method" \
    -v compressor="$compressor" -v model="$model" -v workers="$workers" -v batch="$batch" \
    -v ntrain="$ntrain" -v dataset="$dataset" "$awk_lib"'
    {
      k++
      if ($6 > 0) { up += $3 / $6; down += $4 / $6 }
      if ($7 == "diverged" || !isnum($1)) {
        div++
        if (isnum($8)) at = at (at == "" ? "" : " ") $8
        if (plan == "" && isnum($9)) plan = $9
        next
      }
      if (made == "" && $6 > 0) made = $6
      l += $1; lq += $1 * $1; ln++
      if (isnum($2)) { a += $2; aq += $2 * $2; ka++ }
      if (isnum($5)) { sps += $5; ks++ }
    }
    END {
      steps = made != "" ? made : plan
      epochs = steps != "" ? sprintf("%.2f", steps * workers * batch / ntrain) : "nan"
      lm = ln ? l / ln : 0; ls = ln > 1 ? sqrt(max0((lq - ln * lm * lm) / (ln - 1))) : 0
      am = ka ? a / ka : 0; as = ka > 1 ? sqrt(max0((aq - ka * am * am) / (ka - 1))) : 0
      printf "%s,%s,\"%s\",%s,\"%s\",\"%s\",%s,%s,%s,%d,%d,%s,%s,%s,%s,%.0f,%.0f,%s,%s,%s\n", part, name, label,
        method, compressor, model, workers, (steps != "" ? steps : "nan"), epochs, k, div,
        (ln ? sprintf("%.4f", lm) : "nan"), (ln ? sprintf("%.4f", ls) : "nan"),
        (ka ? sprintf("%.4f", am) : "nan"), (ka ? sprintf("%.4f", as) : "nan"), up / k, down / k,
        (ks ? sprintf("%.1f", sps / ks) : "nan"), dataset, at
    }
    function max0(v) { return v < 0 ? 0 : v }'
}

# gnuplot to a PNG; fails if gnuplot fails or the file is empty.
plot_png() {
  local name=$1 script=$2
  gnuplot <<EOF
set terminal pngcairo size 1000,640 enhanced font 'DejaVu Sans,11'
set output '$out/plots/$name.png'
set grid lc rgb '#dddddd'
set key outside right top spacing 1.1
set style fill transparent solid 0.15 noborder
$script
EOF
  [ -s "$out/plots/$name.png" ] || { echo "reproduce: plot $name.png was not written" >&2; exit 1; }
}

# Line style of a configuration: colour by operator, dash by method.
style_of() {
  local ini=$conf/$1.ini method comp colour dash
  method=$(sed -n 's/^method="\(.*\)"/\1/p' "$ini")
  comp=$(sed -n 's/^compressor="\(.*\)"/\1/p' "$ini")
  case $comp in
    sign*) colour='#1f77b4' ;;
    topk*) colour='#d62728' ;;
    qsgd*) colour='#2ca02c' ;;
    randomk*unbiased*) colour='#9467bd' ;;
    randomk*) colour='#ff7f0e' ;;
    *) colour='#000000' ;;
  esac
  case $method in
    sgd) colour='#000000'; dash=1 ;;
    compressed) dash=2 ;;
    ef-worker) dash=4 ;;
    *) dash=1 ;;
  esac
  echo "lc rgb '$colour' dt $dash lw 2"
}

# CSV on stdin with quoted fields -> the same with commas inside quotes turned into \034 and the
# quotes dropped, so that awk -F, sees the columns.
flatten_csv() { awk -F'"' '{ line = ""; for (i = 1; i <= NF; i++) { f = $i; if (i % 2 == 0) gsub(",", "\034", f); line = line f }; print line }'; }

# Markdown table from a CSV file with a header (quoted fields keep their commas).
csv_to_markdown() {
  awk -F'"' '{
      line = ""
      for (i = 1; i <= NF; i++) { f = $i; if (i % 2 == 1) gsub(",", "\t", f); line = line f }
      n = split(line, cell, "\t"); row = "|"
      for (j = 1; j <= n; j++) row = row " " cell[j] " |"
      print row
      if (NR == 1) { sep = "|"; for (j = 1; j <= n; j++) sep = sep "---|"; print sep }
    }' "$1"
}

# The readable form of a summary CSV: mean ± std, accuracy in %, bytes per step in kB.
summary_markdown() {
  flatten_csv <"$1" | awk -F, '
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i
              print "| run | model | workers | epochs | seeds | final train loss | test accuracy (%) | kB up / step | kB down / step | steps/s |"
              print "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"; next }
    function v(name) { x = $(col[name]); gsub("\034", ",", x); return x }
    {
      d = v("diverged") + 0; k = v("seeds") + 0; at = v("diverged_at_steps"); gsub(" ", ", ", at)
      where = at == "" ? "" : (d > 1 ? ", at steps " : ", at step ") at
      loss = sprintf("%.4f ± %.4f", v("final_train_loss_mean"), v("final_train_loss_std"))
      if (d >= k && d > 0) loss = sprintf("diverged (%d of %d seeds%s)", d, k, where)
      else if (d > 0) loss = sprintf("%s (%d of %d seeds diverged%s)", loss, d, k, where)
      acc = v("test_accuracy_mean") == "nan" ? "-" : sprintf("%.2f ± %.2f", 100 * v("test_accuracy_mean"), 100 * v("test_accuracy_std"))
      sps = v("steps_per_s") == "nan" ? "-" : sprintf("%.0f", v("steps_per_s"))
      printf "| %s | %s | %s | %s | %s | %s | %s | %.1f | %.1f | %s |\n", v("label"), v("model"), v("workers"),
        (v("epochs") == "nan" ? "-" : v("epochs")), v("seeds"), loss, acc, v("bytes_up_per_step") / 1000,
        v("bytes_down_per_step") / 1000, sps
    }'
}

# --- RQ1 / RQ3: methods and operators, loss and accuracy curves ----------------------------
rq1_configs="rq1-sgd rq1-compressed-sign rq1-compressed-topk rq1-compressed-qsgd rq1-ef-worker-sign rq1-doublesqueeze-sign rq1-doublesqueeze-topk rq1-doublesqueeze-qsgd"
rq4_extra="rq4-compressed-randomk-unbiased rq4-doublesqueeze-randomk-unbiased"

# curves PART CONFIGS: loss/accuracy curve files data/PART-CONFIG.{loss,acc}.tsv
curves() {
  local part=$1 c files ntrain workers batch
  for c in $2; do
    mapfile -t files < <(completed "$part" "$c" csv)
    rm -f "$out/data/$part-$c.loss.tsv" "$out/data/$part-$c.acc.tsv"
    [ "${#files[@]}" -gt 0 ] || continue
    ntrain=$(train_size "${files[0]%.csv}.json")
    workers=$(field "${files[0]%.csv}.json" workers)
    batch=$(sed -n 's/^batch=//p' "$conf/$c.ini")
    binned_curve "$bin_steps" $((workers * batch)) "$ntrain" "${files[@]}" >"$out/data/$part-$c.loss.tsv"
    accuracy_curve $((workers * batch)) "$ntrain" "${files[@]}" >"$out/data/$part-$c.acc.tsv"
  done
}

# seeds_note: how the curves of the seeds combine, in words: one seed has no spread to show.
seeds_note() {
  local n
  n=$(wc -w <<<"$seeds")
  if [ "$n" -gt 1 ]; then echo "mean ± std over seeds ${seeds// /, }"; else echo "seed $seeds only: no spread shown"; fi
}

# why_no_curve PART CONFIG: why a configuration has no curve (or a short one), in words.
why_no_curve() {
  local part=$1 c=$2 s j at="" missing=0
  for s in $seeds; do
    j=$out/runs/$part/$c-s$s.json
    case $(outcome "$j") in
      diverged) at+="${at:+, }$(field "$j" diverged_at_step)" ;;
      completed) ;;
      *) missing=1 ;;
    esac
  done
  if [ -n "$at" ]; then
    echo "diverged at step $at"
  elif [ "$missing" -eq 1 ]; then
    echo "failed, see failed.txt"
  fi
}

# data_min COLUMN FILE...: the smallest finite value of COLUMN (tab-separated) over the files.
data_min() {
  local column=$1
  shift
  [ "$#" -gt 0 ] || return 0
  awk -F'\t' -v c="$column" "$awk_lib"'isnum($c) && (!seen || $c < m) { m = $c; seen = 1 } END { if (seen) print m }' "$@" 2>/dev/null
}

# curve_plots PART CONFIGS PREFIX TITLE: loss and accuracy vs epoch, loss vs bytes. A band of
# ± one std only with several seeds; a configuration that diverged or failed is named in the
# key with the reason (a point where it has one, no line); axes follow the data.
curve_plots() {
  local part=$1 configs=$2 prefix=$3 title=$4 c loss="" acc="" bytes="" band=0 any=0
  local accfiles=() notes=""
  [ "$(wc -w <<<"$seeds")" -le 1 ] || band=1
  for c in $configs; do
    local d=$out/data/$part-$c st lab why points
    st=$(style_of "$c")
    lab=$(label_of "$conf/$c.ini")
    why=$(why_no_curve "$part" "$c")
    points=$(grep -c . "$d.loss.tsv" 2>/dev/null || true)
    if [ "${points:-0}" -eq 0 ]; then
      # Nothing to draw: the key says so (an entry without a line), instead of a bare name.
      loss+="NaN with lines $st title '$lab: no curve (${why:-no data})', "
      acc+="NaN with lines $st title '$lab: no curve (${why:-no data})', "
      bytes+="NaN with lines $st title '$lab: no curve (${why:-no data})', "
      notes+="${notes:+; }$lab: ${why:-no data}"
      continue
    fi
    any=1
    [ -z "$why" ] || lab="$lab ($why)"
    if [ "$band" -eq 1 ]; then
      loss+="'$d.loss.tsv' using 1:(\$3-\$4):(\$3+\$4) with filledcurves $st notitle, "
      acc+="'$d.acc.tsv' using 1:(100*(\$3-\$4)):(100*(\$3+\$4)) with filledcurves $st notitle, "
    fi
    loss+="'$d.loss.tsv' using 1:3 with linespoints $st pt 7 ps 0.4 title '$lab', "
    if [ -s "$d.acc.tsv" ]; then
      acc+="'$d.acc.tsv' using 1:(100*\$3) with linespoints $st pt 7 ps 0.6 title '$lab', "
      accfiles+=("$d.acc.tsv")
    else
      acc+="NaN with lines $st title '$lab: no evaluation', "
    fi
    bytes+="'$d.loss.tsv' using 5:3 with linespoints $st pt 7 ps 0.4 title '$lab', "
  done
  [ "$any" -eq 1 ] || return 0 # no run of these completed: failed.txt says which
  # The accuracy axis: from 5 points below the lowest accuracy drawn (never below 0) to 100, so
  # that a short run's low accuracy is on the plot.
  local acc_lo=0 lowest
  lowest=$(data_min 3 ${accfiles[@]+"${accfiles[@]}"})
  if [ -n "$lowest" ]; then
    acc_lo=$(awk -v m="$lowest" 'BEGIN { lo = int(100 * m / 5) * 5 - 5; print (lo < 0 ? 0 : lo) }')
  fi
  local footnote=""
  [ -z "$notes" ] || footnote="set bmargin 5; set label 1 'not drawn: ${notes}' at screen 0.01, screen 0.02 font ',9' tc rgb '#aa0000'"
  plot_png "${prefix}_loss_vs_epoch" "set title '$title: training loss ($(seeds_note), bins of $bin_steps steps)'
set xlabel 'epoch'; set ylabel 'training loss (minibatch, binned)'; set logscale y; set yrange [*:10]
$footnote
plot ${loss%, }"
  plot_png "${prefix}_accuracy_vs_epoch" "set title '$title: test accuracy ($(seeds_note))'
set xlabel 'epoch'; set ylabel 'test accuracy (%)'; set yrange [$acc_lo:100]
$footnote
plot ${acc%, }"
  plot_png "${prefix}_loss_vs_bytes" "set title '$title: training loss vs bytes sent (up + down, all workers; $( [ "$band" -eq 1 ] && echo "mean over seeds ${seeds// /, }" || echo "seed $seeds only"))'
set xlabel 'bytes sent' ; set ylabel 'training loss (minibatch, binned)'; set logscale xy; set format x '10^{%T}'; set yrange [*:10]
$footnote
plot ${bytes%, }"
}

if wants rq1; then
  note "RQ1/RQ3: ${rq1_configs// /, } x seeds $seeds"
  for c in $rq1_configs; do
    for s in $seeds; do run_local rq1 "$c-s$s" "$conf/$c.ini" --seed="$s" ${rq1_args[@]+"${rq1_args[@]}"}; done
  done
fi

if wants rq1; then
  curves rq1 "$rq1_configs"
  curve_plots rq1 "$rq1_configs" rq1 "MLP on MNIST, 4 workers"
  {
    echo "$summary_header"
    for c in $rq1_configs; do
      mapfile -t js < <(completed rq1 "$c" json)
      [ "${#js[@]}" -eq 0 ] || summary_row rq1 "$c" "$(label_of "$conf/$c.ini")" "${js[@]}"
    done
  } >"$out/tables/rq1_summary.csv"
  summary_markdown "$out/tables/rq1_summary.csv" >"$out/tables/rq1_summary.md"

  # The acceptance checks of the issue, computed from the table above. The epochs and seeds
  # are those of the runs a claim compares (not of another row: a diverged configuration's
  # differ); a claim on a configuration that diverged in any seed does not hold.
  flatten_csv <"$out/tables/rq1_summary.csv" | awk -F, '
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    { acc[$2] = $(col["test_accuracy_mean"]); sd[$2] = $(col["test_accuracy_std"]); loss[$2] = $(col["final_train_loss_mean"])
      up[$2] = $(col["bytes_up_per_step"]); down[$2] = $(col["bytes_down_per_step"]); ep[$2] = $(col["epochs"])
      k[$2] = $(col["seeds"]); div[$2] = $(col["diverged"]) }
    function ok(c) { return (c in acc) && div[c] == 0 && acc[c] != "nan" }
    function runs(a, b) { return ep[a] == ep[b] && k[a] == k[b] ? sprintf("%s epochs (mean of %d seeds)", ep[a], k[a]) \
                            : sprintf("%s / %s epochs (mean of %d / %d seeds)", ep[a], ep[b], k[a], k[b]) }
    function why(a, b) { return sprintf("not measured: %s", (a in acc) && (b in acc) ? "a run diverged" : "a run is missing") }
    END {
      print "| claim | measured | holds |"
      print "|---|---|---|"
      ds = "rq1-doublesqueeze-sign"; cs = "rq1-compressed-sign"; sg = "rq1-sgd"
      d = 100 * (acc[ds] - acc[sg])
      if (ok(ds) && ok(sg))
        printf "| doublesqueeze-sign within 0.5 points of sgd test accuracy after %s | %.2f%% vs %.2f%% (%+.2f points) | %s |\n",
          runs(ds, sg), 100 * acc[ds], 100 * acc[sg], d, (d >= -0.5 ? "yes" : "no")
      else
        printf "| doublesqueeze-sign within 0.5 points of sgd test accuracy | %s | no |\n", why(ds, sg)
      d2 = 100 * (acc[cs] - acc[sg])
      worse = d2 < 0 && -d2 > 2 * 100 * (sd[cs] + sd[sg])
      if (ok(cs) && ok(sg))
        printf "| compressed-sign measurably worse than sgd (gap > 2 x the summed std) | %.2f%% vs %.2f%% (%+.2f points, std %.2f / %.2f); final loss %s vs %s | %s |\n",
          100 * acc[cs], 100 * acc[sg], d2, 100 * sd[cs], 100 * sd[sg], loss[cs], loss[sg], (worse ? "yes" : "no")
      else if ((cs in div) && div[cs] > 0 && ok(sg))
        printf "| compressed-sign measurably worse than sgd (gap > 2 x the summed std) | compressed-sign diverged in %d of %d seeds | yes |\n", div[cs], k[cs]
      else
        printf "| compressed-sign measurably worse than sgd (gap > 2 x the summed std) | %s | no |\n", why(cs, sg)
      ru = up["rq1-sgd"] / up["rq1-doublesqueeze-sign"]; rd = down["rq1-sgd"] / down["rq1-doublesqueeze-sign"]
      printf "| bytes per step with sign at most 1/25 of sgd each way | up %.0f vs %.0f B/step (1/%.1f), down %.0f vs %.0f (1/%.1f) | %s |\n",
        up["rq1-doublesqueeze-sign"], up["rq1-sgd"], ru, down["rq1-doublesqueeze-sign"], down["rq1-sgd"], rd, (ru >= 25 && rd >= 25 ? "yes" : "no")
    }' >"$out/tables/rq1_claims.md"
fi

# --- RQ4: operator zoo under compressed and doublesqueeze ------------------------------------
if wants rq4; then
  note "RQ4: ${rq4_extra// /, } x seeds $seeds (with the operators of RQ1)"
  for c in $rq4_extra; do
    for s in $seeds; do run_local rq4 "$c-s$s" "$conf/$c.ini" --seed="$s" ${rq1_args[@]+"${rq1_args[@]}"}; done
  done
  [ -s "$out/runs/rq1/rq1-sgd-s1.json" ] || { echo "reproduce: rq4 needs rq1's runs (run rq1 too)" >&2; exit 1; }
  {
    echo "operator,kind,compressed_final_loss,compressed_loss_std,compressed_test_accuracy,doublesqueeze_final_loss,doublesqueeze_loss_std,doublesqueeze_test_accuracy"
    while read -r op kind comp ds; do
      row=()
      for c in "$comp" "$ds"; do
        part=${c%%-*}
        mapfile -t js < <(completed "$part" "$c" json)
        if [ "${#js[@]}" -eq 0 ]; then
          row+=("$part,$c,x,,,,,,,0,0,nan,nan,nan,nan,,,,,")
        else
          row+=("$(summary_row "$part" "$c" x "${js[@]}")")
        fi
      done
      # A configuration that diverged in any seed: "diverged" (with how many seeds if not all)
      # and no std or accuracy, as the stopped models' are not results.
      printf '%s\n%s\n' "${row[0]}" "${row[1]}" | flatten_csv | awk -F, -v op="$op" -v kind="$kind" '
        { k[NR] = $10; div[NR] = $11; loss[NR] = $12; std[NR] = $13; acc[NR] = $14 }
        function cells(i) {
          if (div[i] == 0) return loss[i] "," std[i] "," acc[i]
          return (div[i] >= k[i] ? "diverged" : sprintf("diverged in %d of %d seeds", div[i], k[i])) ",,"
        }
        END { printf "%s,%s,%s,%s\n", op, kind, cells(1), cells(2) }'
    done <<EOF
sign biased rq1-compressed-sign rq1-doublesqueeze-sign
top-k_1% biased rq1-compressed-topk rq1-doublesqueeze-topk
random-k_1%_(scaled_d/k) unbiased rq4-compressed-randomk-unbiased rq4-doublesqueeze-randomk-unbiased
qsgd_s=16 unbiased rq1-compressed-qsgd rq1-doublesqueeze-qsgd
EOF
  } | sed 's/_/ /g; 1s/ /_/g' >"$out/tables/rq4_operators.csv"
  csv_to_markdown "$out/tables/rq4_operators.csv" >"$out/tables/rq4_operators.md"
  awk -F, "$awk_lib"'NR > 1 { c = isnum($3) ? $3 : "NaN"; d = isnum($6) ? $6 : "NaN"
                    printf "\"%s (%s)\"\t%s\t%s\n", $1, $2, c, d }' "$out/tables/rq4_operators.csv" >"$out/data/rq4.tsv"
  plot_png rq4_final_loss "set title 'Final training loss by operator (MLP, MNIST, 4 workers; $( [ "$(wc -w <<<"$seeds")" -gt 1 ] && echo "mean over seeds ${seeds// /, }" || echo "seed $seeds only"); no bar = diverged)'
set style data histograms; set style histogram clustered gap 1; set style fill solid 0.8 border -1
set boxwidth 0.9; set logscale y; set ylabel 'final training loss (whole training set)'
set xtics rotate by -20 scale 0; set key inside top left
plot '$out/data/rq4.tsv' using 2:xtic(1) title 'compressed (no error compensation)' lc rgb '#ff7f0e', '' using 3 title 'doublesqueeze' lc rgb '#1f77b4'"
fi

# --- RQ2: speedup in the number of workers -------------------------------------------------
if wants rq2; then
  note "RQ2: sgd and doublesqueeze-sign for workers $rq2_workers x seeds $seeds"
  for c in rq2-sgd rq2-doublesqueeze-sign; do
    for n in $rq2_workers; do
      for s in $seeds; do
        run_local rq2 "$c-n$n-s$s" "$conf/$c.ini" --workers="$n" --seed="$s" ${rq2_args[@]+"${rq2_args[@]}"}
      done
    done
  done
  # Smoothed curve of every run, then the target loss: the higher of the two methods'
  # 1-worker smoothed loss (mean over seeds) at 3/4 of the run, rounded to 3 digits.
  for c in rq2-sgd rq2-doublesqueeze-sign; do
    batch=$(sed -n 's/^batch=//p' "$conf/$c.ini")
    for n in $rq2_workers; do
      window=$(((rq2_window_samples + batch * n / 2) / (batch * n)))
      [ "$window" -ge 1 ] || window=1
      rm -f "$out"/data/rq2-$c-n$n-s*.tsv "$out/data/rq2-$c-n$n.tsv"
      mapfile -t files < <(completed rq2 "$c-n$n" csv)
      for f in ${files[@]+"${files[@]}"}; do
        binned_curve "$window" $((n * batch)) 60000 "$f" >"$out/data/rq2-$(basename "${f%.csv}").tsv"
      done
      [ "${#files[@]}" -eq 0 ] || binned_curve "$window" $((n * batch)) 60000 "${files[@]}" >"$out/data/rq2-$c-n$n.tsv"
    done
  done
  first_n=${rq2_workers%% *}
  target=$(for c in rq2-sgd rq2-doublesqueeze-sign; do
      [ -s "$out/data/rq2-$c-n$first_n.tsv" ] || continue
      awk '{ step[NR] = $2; loss[NR] = $3 } END { for (i = 1; i <= NR; i++) if (step[i] >= 0.75 * step[NR]) { print loss[i]; exit } }' \
        "$out/data/rq2-$c-n$first_n.tsv"
    done | awk 'NR == 1 || $1 > t { t = $1 } END { printf "%.3g\n", t }')
  {
    echo "method,workers,target_loss,steps_to_target_mean,steps_to_target_std,speedup,ideal"
    for c in rq2-sgd rq2-doublesqueeze-sign; do
      for n in $rq2_workers; do
        for f in "$out"/data/rq2-$c-n$n-s*.tsv; do
          [ -e "$f" ] || continue
          awk -v t="$target" '$3 <= t { print $2; found = 1; exit } END { if (!found) print "none" }' "$f"
        done | awk -v m="${c#rq2-}" -v n="$n" -v t="$target" '
          $1 == "none" { miss++; next } { s += $1; q += $1 * $1; k++ }
          END { if (miss || !k) { printf "%s,%d,%s,not reached,,,%d\n", m, n, t, n; exit }
                mean = s / k; v = k > 1 ? (q - k * mean * mean) / (k - 1) : 0
                printf "%s,%d,%s,%.1f,%.1f,,%d\n", m, n, t, mean, sqrt(v < 0 ? 0 : v), n }'
      done
    done
  } | awk -F, 'NR == 1 { print; next }
      { rows[NR] = $0; if ($2 == 1) base[$1] = $4 }
      END { for (i = 2; i <= NR; i++) { split(rows[i], f, ","); sp = (f[4] + 0 > 0 && base[f[1]] + 0 > 0) ? sprintf("%.2f", base[f[1]] / f[4]) : "-"
              printf "%s,%s,%s,%s,%s,%s,%s\n", f[1], f[2], f[3], f[4], f[5], sp, f[7] } }' >"$out/tables/rq2_speedup.csv"
  csv_to_markdown "$out/tables/rq2_speedup.csv" >"$out/tables/rq2_speedup.md"
  lines=""
  colours=('#1f77b4' '#2ca02c' '#ff7f0e' '#d62728' '#9467bd')
  i=0
  for n in $rq2_workers; do
    [ -s "$out/data/rq2-rq2-sgd-n$n.tsv" ] &&
      lines+="'$out/data/rq2-rq2-sgd-n$n.tsv' using 2:3 with lines lc rgb '${colours[$((i % 5))]}' dt 2 lw 2 title 'sgd, n=$n', "
    [ -s "$out/data/rq2-rq2-doublesqueeze-sign-n$n.tsv" ] &&
      lines+="'$out/data/rq2-rq2-doublesqueeze-sign-n$n.tsv' using 2:3 with lines lc rgb '${colours[$((i % 5))]}' dt 1 lw 2 title 'doublesqueeze sign, n=$n', "
    i=$((i + 1))
  done
  plot_png rq2_loss_vs_step "set title 'Training loss vs step, batch 32 per worker ($( [ "$(wc -w <<<"$seeds")" -gt 1 ] && echo "mean over seeds ${seeds// /, }" || echo "seed $seeds only"); $rq2_window_samples-sample windows)'
set xlabel 'step'; set ylabel 'training loss (minibatch, smoothed)'; set logscale y
set arrow from graph 0, first $target to graph 1, first $target nohead dt 3 lc rgb '#555555'
plot ${lines%, }"
  awk -F, 'NR > 1 && $6 != "-" { print $1 "\t" $2 "\t" $6 }' "$out/tables/rq2_speedup.csv" >"$out/data/rq2_speedup.tsv"
  # A method whose runs did not reach the target at some n has no speedup there: it gets no
  # point, and the plot says so (in the quick mode doublesqueeze may not reach sgd's target).
  speedup_lines="x with lines lc rgb '#888888' dt 3 title 'ideal (n)', "
  speedup_notes=""
  for m in sgd doublesqueeze-sign; do
    case $m in sgd) st="lc rgb '#000000' lw 2 pt 7"; lab=sgd ;; *) st="lc rgb '#1f77b4' lw 2 pt 5"; lab="doublesqueeze, sign" ;; esac
    # Without the 1-worker time to the target there is no speedup at any n: say that instead.
    missing=$(awk -F, -v m="$m" 'NR > 1 && $1 == m && $2 == 1 && $4 == "not reached" { base = 1 }
      NR > 1 && $1 == m && $4 == "not reached" { l = l (l == "" ? "" : ", ") $2 }
      END { if (base) print "1, the base: no speedup at any n"; else if (l != "") print l " (no speedup there)" }' "$out/tables/rq2_speedup.csv")
    awk -F'\t' -v m="$m" '$1 == m' "$out/data/rq2_speedup.tsv" >"$out/data/rq2_speedup-$m.tsv"
    if [ -s "$out/data/rq2_speedup-$m.tsv" ]; then
      speedup_lines+="'$out/data/rq2_speedup-$m.tsv' using 2:3 with linespoints $st title '$lab', "
    else
      speedup_lines+="NaN with linespoints $st title '$lab: no point', "
    fi
    [ -z "$missing" ] || speedup_notes+="${speedup_notes:+; }$lab: loss $target not reached with n = $missing"
  done
  speedup_label=""
  [ -z "$speedup_notes" ] || speedup_label="set bmargin 5; set label 1 '${speedup_notes}' at screen 0.01, screen 0.02 font ',9' tc rgb '#aa0000'"
  plot_png rq2_speedup "set title 'Speedup in steps to training loss $target over 1 worker'
set xlabel 'workers n'; set ylabel 'speedup'; set logscale xy 2; set key inside top left
$speedup_label
plot ${speedup_lines%, }"
fi

# --- RQ5: bandwidth ----------------------------------------------------------------------
rq5_can_run() {
  [ "$(id -u)" -eq 0 ] || { echo "needs root for network namespaces and tc"; return 1; }
  command -v ip >/dev/null && command -v tc >/dev/null || { echo "needs ip and tc (iproute2)"; return 1; }
  local probe=dsq-reproduce-probe-$$
  ip netns add "$probe" 2>/dev/null || { echo "cannot create a network namespace here"; return 1; }
  ip netns delete "$probe" 2>/dev/null || true
}
if wants rq5; then
  if ! reason=$(rq5_can_run); then
    skip rq5 "$reason (bench/network/bandwidth_bench.sh)"
  else
    note "RQ5: local runs for the steps to test accuracy $rq5_target, then bench/network/bandwidth_bench.sh"
    declare -A rq5_config=([sgd]=rq5-sgd [ef-sign]=rq5-ef-worker-sign [ds-sign]=rq5-doublesqueeze-sign)
    for m in $rq5_methods; do
      run_local rq5 "${rq5_config[$m]}-s1" "$conf/${rq5_config[$m]}.ini" --seed=1 ${rq5_args[@]+"${rq5_args[@]}"}
    done
    mkdir -p "$out/runs/rq5/bench"
    if [ "$reuse" -eq 1 ] && [ -s "$out/runs/rq5/bench/results.tsv" ]; then
      note "RQ5: reusing $out/runs/rq5/bench/results.tsv"
    elif ! env DSQ="$dsq" OUT="$out/runs/rq5/bench" RATES="$rq5_rates" METHODS="$rq5_methods" "${rq5_env[@]}" \
        bench/network/bandwidth_bench.sh >"$out/runs/rq5/bench.md" 2>"$out/runs/rq5/bench.log"; then
      echo "reproduce: bench/network/bandwidth_bench.sh failed:" >&2
      tail -n 20 "$out/runs/rq5/bench.log" >&2
      exit 1
    fi
    note "RQ5: bandwidth bench done"
    {
      echo "rate,method,mbit_per_s,s_per_step,mb_per_step,target_accuracy,steps_to_target,time_to_target_s"
      tail -n +2 "$out/runs/rq5/bench/results.tsv" | while IFS=$'\t' read -r rate m steps sps bps; do
        grep -qs '"completed": true' "$out/runs/rq5/${rq5_config[$m]}-s1.json" || continue
        to_target=$(awk -F, -v t="$rq5_target" "$awk_lib"'
          FNR == 1 { header(); next }
          { a = get("test_accuracy"); if (isnum(a) && a >= t) { print get("step"); found = 1; exit } }
          END { if (!found) print "none" }' "$out/runs/rq5/${rq5_config[$m]}-s1.csv")
        awk -v rate="$rate" -v m="$m" -v s="$sps" -v b="$bps" -v t="$rq5_target" -v k="$to_target" 'BEGIN {
          mbit = rate == "unlimited" ? "" : rate ~ /gbit$/ ? rate * 1000 : rate ~ /mbit$/ ? rate + 0 : rate / 1000
          printf "%s,%s,%s,%.4f,%.3f,%s,%s,%s\n", rate, m, mbit, s, b / 1e6, t, k, (k == "none" ? "not reached" : sprintf("%.1f", k * s)) }'
      done
    } >"$out/tables/rq5_bandwidth.csv"
    csv_to_markdown "$out/tables/rq5_bandwidth.csv" >"$out/tables/rq5_bandwidth.md"
    lines="" ttt=""
    for m in $rq5_methods; do
      case $m in sgd) st="lc rgb '#000000' lw 2 pt 7"; lab=sgd ;; ef-sign) st="lc rgb '#2ca02c' lw 2 pt 9"; lab="ef-worker, sign" ;;
        *) st="lc rgb '#1f77b4' lw 2 pt 5"; lab="doublesqueeze, sign" ;; esac
      awk -F, -v m="$m" '$2 == m && $3 != "" { print $3 "\t" $4 "\t" $8 }' "$out/tables/rq5_bandwidth.csv" >"$out/data/rq5-$m.tsv"
      unl=$(awk -F, -v m="$m" '$2 == m && $1 == "unlimited" { print $4 "\t" $8 }' "$out/tables/rq5_bandwidth.csv")
      lines+="'$out/data/rq5-$m.tsv' using 1:2 with linespoints $st title '$lab', "
      ttt+="'$out/data/rq5-$m.tsv' using 1:(\$3) with linespoints $st title '$lab', "
      if [ -n "$unl" ]; then
        lines+="$(echo "$unl" | cut -f1) with lines ${st% pt*} dt 3 title '$lab, unlimited', "
        case $(echo "$unl" | cut -f2) in ''|'not reached') ;; *) ttt+="$(echo "$unl" | cut -f2) with lines ${st% pt*} dt 3 title '$lab, unlimited', " ;; esac
      fi
    done
    model=$(field "$out/runs/rq5/${rq5_config[${rq5_methods%% *}]}-s1.json" model)
    # What the plots cannot show, said on them: a single limited rate makes single points (the
    # dotted lines are the unlimited runs), and a method that did not reach the target has no
    # time to it.
    rq5_notes=""
    limited=$(awk -F, 'NR > 1 && $3 != "" { print $1 }' "$out/tables/rq5_bandwidth.csv" | sort -u | wc -l)
    rq5_xrange="set xrange [*:*]"
    if [ "$limited" -lt 2 ]; then
      rq5_notes="one limited rate measured ($rq5_rates): one point per method, no trend; the full run measures 1gbit, 100mbit, 10mbit"
      # A decade each side of the one rate, so that the unlimited lines are lines, not dots.
      rq5_xrange=$(awk -F, 'NR > 1 && $3 != "" { printf "set xrange [%g:%g]", $3 / 10, $3 * 10; exit }' "$out/tables/rq5_bandwidth.csv")
    fi
    unreached=$(awk -F, 'NR > 1 && $8 == "not reached" { print $2 " (" $1 ")" }' "$out/tables/rq5_bandwidth.csv" | paste -sd, - | sed 's/,/, /g')
    rq5_label=""
    [ -z "$rq5_notes" ] || rq5_label="set bmargin 5; set label 1 '$rq5_notes' at screen 0.01, screen 0.02 font ',9' tc rgb '#aa0000'"
    ttt_label=$rq5_label
    if [ -n "$unreached" ]; then
      ttt_label="set bmargin 6; set label 1 '${rq5_notes:+$rq5_notes; }accuracy $rq5_target not reached (no point): $unreached' at screen 0.01, screen 0.02 font ',9' tc rgb '#aa0000'"
    fi
    plot_png rq5_step_time "set title 'Seconds per step vs link rate ($model, 4 worker processes, tbf-limited loopback)'
set xlabel 'link rate (Mbit/s)'; set ylabel 'seconds per step'; set logscale xy; ${rq5_xrange:-set xrange [*:*]}
$rq5_label
plot ${lines%, }"
    plot_png rq5_time_to_target "set title 'Time to test accuracy $rq5_target = steps to it (local run) x seconds per step'
set xlabel 'link rate (Mbit/s)'; set ylabel 'seconds'; set logscale xy; ${rq5_xrange:-set xrange [*:*]}
set datafile missing 'not reached'
$ttt_label
plot ${ttt%, }"
  fi
fi

# --- Staleness (asynchronous mode) ---------------------------------------------------------
if wants staleness; then
  # The help text is read whole first: `dsq ... | grep -q` would stop reading at the match,
  # dsq would die of SIGPIPE, and pipefail would turn that into "no asynchronous mode".
  dsq_help=$("$dsq" local --help 2>&1 || true)
  if ! grep -q -- '--staleness' <<<"$dsq_help"; then
    skip staleness "this dsq has no asynchronous mode yet (no --staleness in dsq local --help)"
  else
    note "staleness: TAU in $taus, one straggler"
    for tau in $taus; do
      run_local staleness "tau$tau-s1" "$conf/staleness.ini" --staleness="$tau" --seed=1 ${staleness_args[@]+"${staleness_args[@]}"}
    done
    # Every run makes the same number of pushes, so that final losses compare; the time to the
    # target accuracy is read from its metrics (wall_s of the first evaluation reaching it)
    # rather than ending the run there with --target-accuracy.
    {
      echo "tau,final_train_loss,test_accuracy,target_accuracy,time_to_target_s,max_staleness,mean_staleness,wall_s"
      for tau in $taus; do
        j=$out/runs/staleness/tau$tau-s1.json
        [ -n "$(outcome "$j")" ] || continue
        t=$(awk -F, -v a="$staleness_target" "$awk_lib"'
          FNR == 1 { header(); next }
          { x = get("test_accuracy"); if (isnum(x) && x >= a) { print get("wall_s"); found = 1; exit } }
          END { if (!found) print "not reached" }' "${j%.json}.csv")
        loss=$(field "$j" final_train_loss)
        [ "$(outcome "$j")" != diverged ] || loss="diverged at step $(field "$j" diverged_at_step)"
        echo "$tau,$loss,$(field "$j" test_accuracy),$staleness_target,$t,$(field "$j" max_staleness),$(field "$j" mean_staleness),$(field "$j" wall_s)"
      done
    } >"$out/tables/staleness.csv"
    csv_to_markdown "$out/tables/staleness.csv" >"$out/tables/staleness.md"
    awk -F, "$awk_lib"'NR > 1 { print $1 "\t" (isnum($2) ? $2 : "NaN") "\t" ($5 == "not reached" ? "NaN" : $5) }' "$out/tables/staleness.csv" >"$out/data/staleness.tsv"
    # Both axes start at 0, so that a difference of a few thousandths in the loss looks as
    # small as it is; a TAU without a point (diverged, or the target not reached) is named.
    stale_missing=$(awk -F'\t' '$2 == "NaN" || $3 == "NaN" { print $1 }' "$out/data/staleness.tsv" | paste -sd, - | sed 's/,/, /g')
    stale_label=""
    [ -z "$stale_missing" ] || stale_label="set bmargin 5; set label 1 'no point for TAU = $stale_missing (diverged, or accuracy $staleness_target not reached)' at screen 0.01, screen 0.02 font ',9' tc rgb '#aa0000'"
    plot_png staleness "set multiplot layout 1,2 title 'Asynchronous doublesqueeze (sign), one worker slowed down; staleness bound TAU'
set xlabel 'TAU'; set ylabel 'final training loss'; set key off; set yrange [0:*]
$stale_label
plot '$out/data/staleness.tsv' using 1:2 with linespoints lc rgb '#1f77b4' lw 2 pt 7
unset label 1
set ylabel 'seconds to test accuracy $staleness_target'; set yrange [0:*]
plot '$out/data/staleness.tsv' using 1:3 with linespoints lc rgb '#d62728' lw 2 pt 7
unset multiplot"
  fi
fi

# --- The convolutional network --------------------------------------------------------------
cnn_configs="cnn-sgd cnn-doublesqueeze-sign"
if wants cnn; then
  note "CNN: ${cnn_configs// /, }, seed 1"
  for c in $cnn_configs; do
    run_local cnn "$c-s1" "$conf/$c.ini" --seed=1 ${cnn_args[@]+"${cnn_args[@]}"}
  done
  seeds_saved=$seeds
  seeds=1
  curves cnn "$cnn_configs"
  curve_plots cnn "$cnn_configs" cnn "CNN on MNIST, 4 workers"
  {
    echo "$summary_header"
    for c in $cnn_configs; do
      mapfile -t js < <(completed cnn "$c" json) # a failed run is in failed.txt, not here
      [ "${#js[@]}" -eq 0 ] || summary_row cnn "$c" "$(label_of "$conf/$c.ini")" "${js[@]}"
    done
  } >"$out/tables/cnn_summary.csv"
  summary_markdown "$out/tables/cnn_summary.csv" >"$out/tables/cnn_summary.md"
  seeds=$seeds_saved
fi

# --- One table of every local run ----------------------------------------------------------
{
  echo "$summary_header"
  for f in "$out"/tables/*_summary.csv; do if [ -e "$f" ]; then tail -n +2 "$f"; fi; done
  if [ -d "$out/runs/rq4" ]; then
    for c in $rq4_extra; do
      mapfile -t js < <(completed rq4 "$c" json)
      [ "${#js[@]}" -eq 0 ] || summary_row rq4 "$c" "$(label_of "$conf/$c.ini")" "${js[@]}"
    done
  fi
} >"$out/tables/summary.csv"
summary_markdown "$out/tables/summary.csv" >"$out/tables/summary.md"

echo "total: $((SECONDS - start_time)) s" >>"$out/command.txt"
note "done in $((SECONDS - start_time)) s: tables in $out/tables, plots in $out/plots"
if [ -s "$out/skipped.txt" ]; then
  echo "reproduce: skipped:" >&2
  sed 's/^/  /' "$out/skipped.txt" >&2
fi
if [ -s "$out/failed.txt" ]; then
  echo "reproduce: FAILED runs (left out of the tables and plots):" >&2
  sed 's/^/  /' "$out/failed.txt" >&2
  exit 1
fi
}

main "$@"
