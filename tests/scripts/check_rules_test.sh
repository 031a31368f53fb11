#!/usr/bin/env bash
# CTest `check_rules`: scripts/check_rules.sh passes on a scratch copy of this tree, and fails,
# naming file and line, on each violation planted in it: an include that a folder's rule
# forbids (CAF below the actors, the actors from training/), a file in a folder with no rule,
# a badly formatted line, and a docs/architecture.md table that differs from the rules.
#
# usage: check_rules_test.sh SOURCE_DIR
set -euo pipefail
source_dir=$1
. "$(dirname "$0")/../support/script_checks.sh" check_rules

# The scratch copy: every C++ folder, the scripts, the docs and .clang-format; no build.
tree=$tmp/tree
mkdir -p "$tree"
(cd "$source_dir" && tar cf - --exclude='build*' --exclude=data --exclude=.git .) | tar xf - -C "$tree"

run() { # runs the script on the copy into $tmp/out; returns its exit status
  local rc=0
  bash "$tree/scripts/check_rules.sh" "$tree" >"$tmp/out" 2>&1 || rc=$?
  return $rc
}
expect_failure() { # what was planted, then grep -E patterns the output must hold
  local what=$1
  shift
  if run; then
    fail "passed with $what"
    return
  fi
  for pattern in "$@"; do
    grep -Eq -- "$pattern" "$tmp/out" || fail "$what: no line matching '$pattern' in: $(head -40 "$tmp/out")"
  done
}

# The tree as it is: clean.
run || fail "the clean tree fails: $(head -40 "$tmp/out")"

# Every kind of violation at once (one run, as clang-format over the tree takes seconds), each at
# a known file and line:
# - forbidden includes: the actors from training/ (line 3, a block of its own, so that it is
#   formatted), CAF in model/ (the last line);
{
  sed -n 1p "$tree/training/run_log.cpp"
  printf '\n#include "actors/worker.hpp"\n'
  sed 1d "$tree/training/run_log.cpp"
} >"$tmp/run_log.cpp"
mv "$tmp/run_log.cpp" "$tree/training/run_log.cpp"
sed -n 3p "$tree/training/run_log.cpp" | grep -q '^#include "actors/worker.hpp"$' ||
  fail "could not plant the include at line 3"
printf '#include <caf/actor.hpp>\n' >>"$tree/model/sharding.cpp"
caf_line=$(wc -l <"$tree/model/sharding.cpp")
# - a C++ file in a folder that has no rule;
mkdir -p "$tree/newfolder"
printf '#pragma once\n' >"$tree/newfolder/thing.hpp"
# - a badly formatted line at the end of a file;
printf 'int   badly_formatted ( ) ;\n' >>"$tree/compression/fp16.cpp"
bad_line=$(wc -l <"$tree/compression/fp16.cpp")
# - a rules table that docs/architecture.md does not show.
sed -i 's/^\(model  *base model.*\)$/\1 compression/' "$tree/scripts/include_rules.txt"
grep -q '^model .*compression$' "$tree/scripts/include_rules.txt" || fail "could not change the rules"
expect_failure "planted violations" \
  '^training/run_log\.cpp:3: training may not include actors \("actors/worker\.hpp"\)' \
  "^model/sharding\\.cpp:$caf_line: model may not include caf \\(<caf/actor\\.hpp>\\)" \
  '^newfolder/thing\.hpp:1: folder newfolder has no row' \
  "^compression/fp16\\.cpp:$bad_line:[0-9]+: not clang-format clean" \
  '^docs/architecture\.md:1: its include table differs'
# Nothing else is reported (clang-format may name several columns of the bad line).
[ "$(cut -d: -f1,2 "$tmp/out" | sort -u | wc -l)" -eq 5 ] ||
  fail "other places than the 5 planted ones reported: $(head -40 "$tmp/out")"

exit $status
