#include "base/simd/simd_dispatch.hpp"

#include "base/simd/machine_levels.hpp"

#include <atomic>
#include <cstdlib>
#include <string>

namespace dsq {

namespace {

// What a level needs, for the error that refuses it.
const char* features_of(simd_level level) noexcept {
  switch (level) {
  case simd_level::v2:
    return "SSE4.2 and POPCNT";
  case simd_level::v3:
    return "AVX2, FMA, BMI2 and F16C";
  case simd_level::v4:
    return "AVX-512 F/BW/DQ/VL";
  }
  return "?";
}

// -1 until the first active_simd_level(); a simd_level afterwards.
std::atomic<int> active{-1};

} // namespace

simd_level choose_simd_level(simd_level_set machine, const char* forced) {
  const auto best = machine.best();
  const std::string best_name = best ? name(*best) : "none";
  if (forced == nullptr || *forced == '\0') {
    if (!best)
      throw simd_level_error("this machine supports no SIMD level dsq was built for (x86-64-v2: "
                             "SSE4.2 and POPCNT)");
    return *best;
  }
  const auto level = parse_simd_level(forced);
  if (!level)
    throw simd_level_error("DSQ_SIMD='" + std::string{forced} +
                           "' is no SIMD level: use v2, v3 or v4, or unset DSQ_SIMD to run at "
                           "the best this machine supports (" +
                           best_name + ")");
  if (!machine.contains(*level))
    throw simd_level_error("DSQ_SIMD=" + std::string{forced} + " needs " + features_of(*level) +
                           ", which this machine lacks (it supports " + machine.to_string() +
                           "): set DSQ_SIMD=" + best_name + " or unset it");
  return *level;
}

simd_level active_simd_level() {
  int current = active.load(std::memory_order_acquire);
  if (current < 0) {
    const simd_level chosen = choose_simd_level(machine_simd_levels(), std::getenv("DSQ_SIMD"));
    // Another thread may have chosen (or forced) meanwhile: the first to store wins.
    int expected = -1;
    active.compare_exchange_strong(expected, static_cast<int>(chosen), std::memory_order_acq_rel);
    current = active.load(std::memory_order_acquire);
  }
  return static_cast<simd_level>(current);
}

void force_simd_level(simd_level level) {
  if (!machine_simd_levels().contains(level))
    throw simd_level_error(std::string{"cannot run at SIMD level "} + name(level) + ": it needs " +
                           features_of(level) + ", which this machine lacks (it supports " +
                           machine_simd_levels().to_string() + ")");
  active.store(static_cast<int>(level), std::memory_order_release);
}

} // namespace dsq
