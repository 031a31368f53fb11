#!/usr/bin/env bash
# Fuzzes the compression wire decoder (tests/compression/fuzz_decode.cpp) with libFuzzer under
# AddressSanitizer and UndefinedBehaviorSanitizer.
#
#   scripts/fuzz.sh [seconds]      run for that long (default 20); exits non-zero on any finding
#
# Builds into build-fuzz/ (FUZZ_BUILD_DIR overrides), rebuilding only when a source changed;
# the corpus grows in build-fuzz/corpus and crashing inputs land in build-fuzz/ as crash-*.
# Needs clang++ with libFuzzer (Debian: clang, libclang-rt-14-dev); FUZZ_CXX picks the compiler.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-20}"
cxx="${FUZZ_CXX:-clang++}"
out="${FUZZ_BUILD_DIR:-build-fuzz}"
mkdir -p "$out/obj" "$out/corpus" "$out/seeds"

common=(-std=c++20 -I. -march=x86-64-v2 -g -O1 -fno-omit-frame-pointer)
sanitize=(-fsanitize=address,undefined -fno-sanitize-recover=undefined)
sources=(compression/*.cpp)

# Library objects are shared by the fuzzer and the seed writer: both only need them sanitized,
# and -fsanitize=fuzzer-no-link adds the coverage the fuzzer steers by.
objects=()
for src in "${sources[@]}"; do
  obj="$out/obj/$(basename "${src%.cpp}").o"
  objects+=("$obj")
  if [ ! -f "$obj" ] || [ -n "$(find "$src" compression -name '*.hpp' -newer "$obj" 2>/dev/null | head -1)" ] ||
     [ "$src" -nt "$obj" ]; then
    echo "fuzz: compiling $src"
    "$cxx" "${common[@]}" "${sanitize[@]}" -fsanitize=fuzzer-no-link -c "$src" -o "$obj" &
    # Two at a time: the machines this runs on have two cores shared with other work.
    while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n; done
  fi
done
wait

link_if_stale() { # target, main source, extra flags...
  local target=$1 main=$2
  shift 2
  local stale=0
  [ -f "$target" ] || stale=1
  for dep in "$main" "${objects[@]}"; do
    [ "$dep" -nt "$target" ] && stale=1
  done
  if [ "$stale" -eq 1 ]; then
    echo "fuzz: linking $target"
    "$cxx" "${common[@]}" "${sanitize[@]}" "$@" "$main" "${objects[@]}" -lfmt -o "$target"
  fi
}
link_if_stale "$out/fuzz_decode" tests/compression/fuzz_decode.cpp -fsanitize=fuzzer
link_if_stale "$out/fuzz_seeds" tests/compression/fuzz_seeds.cpp

"$out/fuzz_seeds" "$out/seeds"
echo "fuzz: running for ${seconds}s"
exec "$out/fuzz_decode" "$out/corpus" "$out/seeds" \
  -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$out/" -print_final_stats=1
