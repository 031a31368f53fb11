#!/usr/bin/env bash
# The rules of the tree that a machine checks (issue 24; docs/architecture.md):
#   1. every `#include "dir/..."` and `#include <caf/...>` of a C++ file is allowed by the row of
#      the file's folder in scripts/include_rules.txt (which folder may include which); the
#      public headers `<dsq/...>` (include/dsq) are floor 0, which every folder may include;
#   2. every C++ file is clang-format clean (the repository's .clang-format, clang-format 14);
#   3. docs/architecture.md shows the same table as scripts/include_rules.txt.
# Prints one line per violation, naming the file and the line, and exits 1 if there is any.
#
# usage: scripts/check_rules.sh [ROOT]    ROOT: the tree to check (default: this repository)
# CLANG_FORMAT names the clang-format binary (default: clang-format).
set -euo pipefail
root=${1:-"$(dirname "$0")/.."}
cd "$root"
rules=scripts/include_rules.txt
clang_format=${CLANG_FORMAT:-clang-format}
status=0

# The C++ files of the tree, as relative paths: not build directories, not data/.
mapfile -t files < <(find . \( -name 'build*' -o -name data -o -name .git \) -prune -o \
  -type f \( -name '*.cpp' -o -name '*.hpp' \) -print | sed 's|^\./||' | LC_ALL=C sort)
if [ "${#files[@]}" -eq 0 ]; then
  echo "check_rules: no C++ files under $root" >&2
  exit 1
fi

# 1. Includes. A folder is the longest row of the table that is a prefix of a directory.
if ! awk '
  function folder_of(dir,    best, f) {
    best = ""
    for (f in allowed)
      if ((dir == f || index(dir, f "/") == 1) && length(f) > length(best))
        best = f
    return best
  }
  function may_include(from, to,    n, list, i, e) {
    n = split(allowed[from], list, " ")
    for (i = 1; i <= n; i++) {
      e = list[i]
      if (e == to || e == "*")
        return 1
      if (e ~ /\/\*$/ && index(to, substr(e, 1, length(e) - 1)) == 1)
        return 1
    }
    return 0
  }
  FNR == NR {
    if ($0 ~ /^[ \t]*(#|$)/)
      next
    row = $1
    $1 = ""
    sub(/^[ \t]+/, "")
    allowed[row] = $0
    next
  }
  FNR == 1 {
    dir = FILENAME
    sub(/\/[^\/]*$/, "", dir)
    if (dir == FILENAME)
      dir = "."
    from = folder_of(dir)
    if (from == "" && !(dir in unruled)) {
      unruled[dir] = 1
      printf "%s:1: folder %s has no row in %s: add one (which folders may it include?)\n",
        FILENAME, dir, rules
      bad = 1
    }
  }
  /^[ \t]*#[ \t]*include[ \t]*["<]/ {
    if (from == "")
      next
    line = $0
    sub(/^[ \t]*#[ \t]*include[ \t]*/, "", line)
    if (line ~ /^<caf\//) {
      target = "caf"
      header = line
      sub(/>.*/, ">", header)
    } else if (line ~ /^<dsq\//) {
      # The public headers (include/dsq): floor 0, which every folder may include.
      target = "include/dsq"
      header = line
      sub(/>.*/, ">", header)
      if (from != "include/dsq")
        next
    } else if (line ~ /^"[^".][^"]*\/[^"]*"/) {
      header = line
      sub(/^"/, "", header)
      sub(/".*/, "", header)
      dir = header
      sub(/\/[^\/]*$/, "", dir)
      target = folder_of(dir)
      if (target == "") {
        target = dir
        sub(/\/.*/, "", target)
      }
      header = "\"" header "\""
    } else
      next
    if (!may_include(from, target)) {
      printf "%s:%d: %s may not include %s (%s): the row of %s in %s allows %s\n",
        FILENAME, FNR, from, target, header, from, rules, allowed[from]
      bad = 1
    }
  }
  END { exit bad }
' rules="$rules" "$rules" "${files[@]}"; then
  status=1
fi

# 2. Format: clang-format names file:line:column of each line it would change.
if ! command -v "$clang_format" >/dev/null 2>&1; then
  echo "check_rules: $clang_format not found (scripts/setup.sh installs clang-format)" >&2
  status=1
else
  format_status=0
  format_out=$("$clang_format" --dry-run --Werror "${files[@]}" 2>&1) || format_status=$?
  if [ "$format_status" -ne 0 ]; then
    status=1
    sed -n 's/: error: code should be clang-formatted.*/: not clang-format clean (clang-format -i fixes it)/p' <<<"$format_out" | grep . ||
      printf '%s\n' "$format_out" # not a formatting difference: show what clang-format said
  fi
fi

# 3. The table of docs/architecture.md: the rows of scripts/include_rules.txt, verbatim, in the
# code block that follows the line `<!-- include-rules -->`.
doc=docs/architecture.md
if [ -f "$doc" ]; then
  if ! diff <(grep -Ev '^[[:space:]]*(#|$)' "$rules") \
    <(awk '/<!-- include-rules -->/ { on = 1; next } on && /^```/ { if (started) exit; started = 1; next } started' "$doc" |
      grep -Ev '^[[:space:]]*(#|$)') >/dev/null; then
    echo "$doc:1: its include table differs from $rules: copy the rows over"
    status=1
  fi
else
  echo "$doc:1: missing (it shows the include table of $rules)"
  status=1
fi

exit $status
