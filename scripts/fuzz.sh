#!/usr/bin/env bash
# Fuzzes what dsq decodes from the network with libFuzzer under AddressSanitizer and
# UndefinedBehaviorSanitizer.
#
#   scripts/fuzz.sh [seconds] [target]    run for that long (default 20); non-zero on any finding
#
# Targets:
#   decode          the compression wire decoder (tests/compression/fuzz_decode.cpp; default)
#   worker_hello    CAF's deserializer into the body of a registration
#   gradient_push   ... into the body of a push, then the server's push_check
#   message         a whole caf::message as the middleman hands it to the server
#                   (the last three: tests/net/fuzz_messages.cpp, linked against libcaf_core)
#
# Builds into build-fuzz/ (FUZZ_BUILD_DIR overrides), rebuilding only when a source changed;
# each target's corpus grows in build-fuzz/corpus[-TARGET] and crashing inputs land in
# build-fuzz/ as TARGET-crash-*. Needs clang++ with libFuzzer (Debian: clang,
# libclang-rt-14-dev); FUZZ_CXX picks the compiler.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-20}"
target="${2:-decode}"
cxx="${FUZZ_CXX:-clang++}"
out="${FUZZ_BUILD_DIR:-build-fuzz}"
case "$target" in
  decode | worker_hello | gradient_push | message) ;;
  *) echo "fuzz: unknown target '$target' (decode, worker_hello, gradient_push, message)" >&2; exit 2 ;;
esac
mkdir -p "$out/obj" "$out/seeds"
# CTest runs the targets in parallel over one build directory: one build at a time (the lock is
# released when the fuzzer starts, by exec's closing of descriptor 9).
exec 9>"$out/.build-lock"
flock 9

common=(-std=c++20 -I. -Iinclude -isystem /usr/include/eigen3 -march=x86-64-v2 -g -O1 -fno-omit-frame-pointer)
sanitize=(-fsanitize=address,undefined -fno-sanitize-recover=undefined)
sources=(compression/*.cpp)
[ -d base ] && sources+=(base/*.cpp base/simd/*.cpp)
# base/version.cpp includes the version header that CMake generates into its build tree; the
# fuzzers do not need the version.
kept=()
for src in "${sources[@]}"; do [ "$src" = base/version.cpp ] || kept+=("$src"); done
sources=("${kept[@]}")
if [ "$target" != decode ]; then
  sources+=(training/push_check.cpp net/protocol/register_types.cpp net/transport/basp_screen.cpp)
fi
# Headers a library object may depend on: any change rebuilds it (coarse, but safe).
header_dirs=(compression base training net config)

# Library objects are shared by the fuzzers and the seed writers: both only need them
# sanitized, and -fsanitize=fuzzer-no-link adds the coverage the fuzzer steers by.
objects=()
for src in "${sources[@]}"; do
  obj="$out/obj/$(dirname "$src" | tr / _)_$(basename "${src%.cpp}").o"
  objects+=("$obj")
  existing=()
  for d in "${header_dirs[@]}"; do [ -d "$d" ] && existing+=("$d"); done
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] ||
     [ -n "$(find "${existing[@]}" -name '*.hpp' -newer "$obj" 2>/dev/null | head -1)" ]; then
    echo "fuzz: compiling $src"
    "$cxx" "${common[@]}" "${sanitize[@]}" -fsanitize=fuzzer-no-link -c "$src" -o "$obj" &
    # Two at a time: the machines this runs on have two cores shared with other work.
    while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n; done
  fi
done
wait

link_if_stale() { # target, main source, extra flags...
  local binary=$1 main=$2
  shift 2
  local stale=0
  [ -f "$binary" ] || stale=1
  for dep in "$main" "${objects[@]}"; do
    [ "$dep" -nt "$binary" ] && stale=1
  done
  if [ "$stale" -eq 1 ]; then
    echo "fuzz: linking $binary"
    "$cxx" "${common[@]}" "${sanitize[@]}" "$@" "$main" "${objects[@]}" -lfmt -o "$binary"
  fi
}

if [ "$target" = decode ]; then
  mkdir -p "$out/corpus"
  link_if_stale "$out/fuzz_decode" tests/compression/fuzz_decode.cpp -fsanitize=fuzzer
  link_if_stale "$out/fuzz_seeds" tests/compression/fuzz_seeds.cpp
  "$out/fuzz_seeds" "$out/seeds"
  echo "fuzz: running decode for ${seconds}s"
  exec 9>&-
  exec "$out/fuzz_decode" "$out/corpus" "$out/seeds" \
    -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$out/" -print_final_stats=1
fi

caf=(-lcaf_core -lpthread)
link_if_stale "$out/fuzz_messages" tests/net/fuzz_messages.cpp -fsanitize=fuzzer "${caf[@]}"
link_if_stale "$out/fuzz_message_seeds" tests/net/fuzz_message_seeds.cpp "${caf[@]}"
"$out/fuzz_message_seeds" "$out/message-seeds" >/dev/null
mkdir -p "$out/corpus-$target"
echo "fuzz: running $target for ${seconds}s"
exec 9>&-
# CAF keeps caches (type names, node ids) for the life of the process: not leaks of an input.
DSQ_FUZZ_TARGET="$target" exec "$out/fuzz_messages" "$out/corpus-$target" "$out/message-seeds/$target" \
  -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 -detect_leaks=0 \
  -artifact_prefix="$out/$target-" -print_final_stats=1
