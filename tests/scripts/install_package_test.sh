#!/usr/bin/env bash
# CTest `install_package` (issue 25): the installed package is all a program needs.
#   1. `cmake --install` of this build into a fresh prefix (it copies what is built: build the
#      `dsq` target first) installs the program, the libraries, include/dsq and lib/cmake/dsq;
#   2. the package config names no path of the source or build tree;
#   3. a consumer (package_consumer/, copied out of the source tree) configures with
#      CMAKE_PREFIX_PATH=the prefix only, builds, and runs; every installed header compiles in a
#      translation unit of its own; its compile and link lines mention neither tree, and its
#      include directories are the prefix's and Eigen's only (no CAF, fmt, cereal);
#   4. the version rule: find_package(dsq 0.9) finds it, 0.10 and 1.0 do not;
#   5. once the headers the example needs are installed, the example (demos/example) builds
#      against the prefix and trains in one process and across processes; until then it is
#      reported as skipped.
#
# usage: install_package_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
source_dir=$(cd "$1" && pwd -P)
build_dir=$(cd "$2" && pwd -P)
. "$(dirname "$0")/../support/script_checks.sh" install_package
prefix=$tmp/prefix
jobs=${DSQ_TEST_JOBS:-2}

# 1. Install (copies only; a missing file means the build is not complete).
if [ ! -x "$build_dir/dsq" ]; then
  fail "$build_dir/dsq is not built: build the dsq target (it builds every installed library)"
  exit $status
fi
if ! cmake --install "$build_dir" --prefix "$prefix" >"$tmp/install.log" 2>&1; then
  fail "cmake --install failed: $(tail -5 "$tmp/install.log")"
  exit $status
fi
for file in bin/dsq include/dsq/version.hpp include/dsq/spec_args.hpp lib/libdsq_base.a \
  lib/cmake/dsq/dsqConfig.cmake lib/cmake/dsq/dsqConfigVersion.cmake lib/cmake/dsq/dsqTargets.cmake; do
  [ -e "$prefix/$file" ] || fail "not installed: $file"
done
"$prefix/bin/dsq" --version | grep -Eq '^dsq [0-9]+\.[0-9]+\.[0-9]+$' ||
  fail "the installed dsq --version prints '$("$prefix/bin/dsq" --version 2>&1)'"
# Only public headers: everything under include/ is include/dsq/*.hpp.
extra=$(cd "$prefix/include" && find . -type f ! -path './dsq/*.hpp')
[ -z "$extra" ] || fail "installed besides the public headers: $extra"

# 2. The package names neither tree.
if grep -rlF -e "$source_dir" -e "$build_dir" "$prefix/lib/cmake/dsq" >"$tmp/leaks"; then
  fail "the package config names the source or build tree: $(cat "$tmp/leaks")"
fi

# 3. The consumer, out of the source tree, against the prefix only.
cp -r "$source_dir/tests/scripts/package_consumer" "$tmp/consumer"
consumer_build=$tmp/consumer-build
if ! cmake -S "$tmp/consumer" -B "$consumer_build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >"$tmp/configure.log" 2>&1; then
  fail "the consumer does not configure: $(tail -20 "$tmp/configure.log")"
elif ! cmake --build "$consumer_build" -j "$jobs" >"$tmp/build.log" 2>&1; then
  fail "the consumer does not build: $(grep -m5 -E 'error|Error' "$tmp/build.log")"
else
  out=$("$consumer_build/consumer" 2>&1) || fail "the consumer failed: $out"
  grep -q "^consumer: dsq $("$prefix/bin/dsq" --version | cut -d' ' -f2)," <<<"$out" ||
    fail "the consumer printed '$out'"
  # What the compiler and the linker were given: neither tree.
  lines=$(cat "$consumer_build/compile_commands.json" $(find "$consumer_build" -name link.txt))
  if grep -qF -e "$source_dir" -e "$build_dir" <<<"$lines"; then
    fail "the consumer's compile or link lines name the source or build tree: $(grep -F -e "$source_dir" -e "$build_dir" <<<"$lines" | head -3)"
  fi
  # Its include directories: the prefix's and Eigen's, nothing internal.
  dirs=$(grep -oE -- '-(I|isystem) ?[^ "]+' "$consumer_build/compile_commands.json" |
    sed -E 's/^-(I|isystem) ?//' | sort -u)
  while read -r dir; do
    [ -z "$dir" ] && continue
    case $dir in
    "$prefix/include" | */eigen3 | "$consumer_build"*) ;;
    *) fail "the consumer is compiled with an include directory that is not the package's: $dir" ;;
    esac
  done <<<"$dirs"
  headers=$(find "$prefix/include/dsq" -name '*.hpp' | wc -l)
  units=$(find "$consumer_build" -path '*headers_alone*' -name '*.o' | wc -l)
  [ "$headers" -gt 0 ] && [ "$units" -eq "$headers" ] ||
    fail "$units of $headers installed headers compiled on their own"
fi

# 4. The version rule (SameMinorVersion): the checks fail before the config is read, so these
#    projects need no compiler.
mkdir -p "$tmp/version"
cat >"$tmp/version/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.20)
project(version_check LANGUAGES NONE)
find_package(dsq ${WANTED} REQUIRED)
CMAKE
installed=$("$prefix/bin/dsq" --version | cut -d' ' -f2)
major=${installed%%.*}
minor=${installed#*.}
minor=${minor%%.*}
for wanted in "$major.$((minor + 1))" "$((major + 1)).0"; do
  if cmake -S "$tmp/version" -B "$tmp/version-build-$wanted" -DWANTED="$wanted" \
    -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/version.log" 2>&1; then
    fail "find_package(dsq $wanted) accepted version $installed"
  elif ! tr -s ' \n' '  ' <"$tmp/version.log" | grep -q "compatible with requested version"; then
    fail "find_package(dsq $wanted) failed, but not for the version: $(tail -5 "$tmp/version.log")"
  fi
done

# 5. The example, once the public headers it uses are installed.
missing=
for header in operator.hpp model.hpp data.hpp registry.hpp run.hpp; do
  [ -e "$prefix/include/dsq/$header" ] || missing="$missing $header"
done
if [ -n "$missing" ]; then
  echo "install_package: the example (demos/example) is skipped: not installed:$missing"
else
  bash "$source_dir/demos/example/run_example.sh" "$source_dir/demos/example" "$prefix" "$tmp/example" ||
    fail "the example (demos/example/run_example.sh) failed"
fi

[ $status -eq 0 ] && echo "install_package: passed"
exit $status
