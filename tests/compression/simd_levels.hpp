#pragma once

// What the tests that compare SIMD levels share: the levels this machine runs, and a guard that
// gives the process its active level back.

#include "base/simd/machine_levels.hpp"
#include "base/simd/simd_dispatch.hpp"

#include <vector>

namespace dsq::test {

/// Every level this machine can run, v2 (the reference) included.
inline std::vector<simd_level> supported_levels() {
  std::vector<simd_level> levels;
  for (const simd_level level : all_simd_levels)
    if (machine_simd_levels().contains(level))
      levels.push_back(level);
  return levels;
}

/// Restores the process's active level when a test that forces levels ends.
struct active_level_guard {
  simd_level saved = active_simd_level();
  ~active_level_guard() { force_simd_level(saved); }
};

} // namespace dsq::test
