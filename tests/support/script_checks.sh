# Shared by the CTest shell scripts: sourced as `. script_checks.sh TEST_NAME`. Gives `$tmp`, a
# fresh directory removed on exit, and `fail MESSAGE`, which reports a failed check and makes
# the script's final `exit $status` non-zero while the remaining checks still run.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dsq-$1-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
status=0
check_name=$1
fail() {
  echo "$check_name: FAIL: $*" >&2
  status=1
}
