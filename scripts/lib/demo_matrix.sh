# shellcheck shell=bash
# What the demos that print a Markdown matrix of runs share (demos/fault_scenarios.sh,
# demos/attack_matrix.sh): their arguments, their run directory and the table's head. Sourced;
# each function takes the calling tool's name (TOOL) for its messages.

# matrix_args TOOL ARGS...: reads --out=DIR, --only=a,b (into `out` and `only`, the names
# separated by blanks) and -h/--help (prints the script's header comment up to `set -euo` and
# exits 0); any other argument exits 2.
matrix_args() {
  local tool=$1 arg
  shift
  out=""
  only=""
  for arg in "$@"; do
    case $arg in
      --out=*) out=${arg#--out=} ;;
      --only=*) only=${arg#--only=}; only=${only//,/ } ;;
      -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
      *) echo "$tool: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
    esac
  done
}

# matrix_executable TOOL PATH HINT: exits 2 unless PATH is an executable ("build it, or HINT").
matrix_executable() {
  if [[ ! -x $2 ]]; then
    echo "$1: $2 is not an executable (build it, or $3)" >&2
    exit 2
  fi
}

# matrix_out_dir TAG [ON_EXIT]: `out` made absolute (from `caller`) and created, or without
# --out a new ${TMPDIR:-/tmp}/dsq-TAG.XXXXXX removed at exit; ON_EXIT (a command) runs at exit
# either way, before the removal.
matrix_out_dir() {
  local tag=$1 on_exit=${2:-}
  if [[ -z $out ]]; then
    out=$(mktemp -d "${TMPDIR:-/tmp}/dsq-$tag.XXXXXX")
    trap "${on_exit:+$on_exit; }"'rm -rf "$out"' EXIT
  else
    [[ $out == /* ]] || out=$caller/$out
    mkdir -p "$out"
    [[ -z $on_exit ]] || trap "$on_exit" EXIT
  fi
}

# matrix_keep TOOL TAG [ON_EXIT]: after a failure, a temporary `out` (see matrix_out_dir) is
# kept and named; ON_EXIT still runs at exit.
matrix_keep() {
  local tool=$1 tag=$2 on_exit=${3:-}
  if [[ $out == "${TMPDIR:-/tmp}"/dsq-$tag.* ]]; then
    if [[ -n $on_exit ]]; then trap "$on_exit" EXIT; else trap - EXIT; fi
    echo "$tool: kept $out" >&2
  fi
}

# matrix_head COLUMN...: the table's first two lines; a column named with a trailing ':' is
# right-aligned (numbers), the ':' not shown.
matrix_head() {
  local head="|" rule="|" c
  for c in "$@"; do
    if [[ $c == *: ]]; then head+=" ${c%:} |"; rule+="---:|"; else head+=" $c |"; rule+="---|"; fi
  done
  echo "$head"
  echo "$rule"
}
