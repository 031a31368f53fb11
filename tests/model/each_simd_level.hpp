#pragma once

// Runs a test body at every SIMD level the machine has, for the models whose products are
// compiled per level (model/kernels/gemm.hpp).

#include <boost/test/unit_test.hpp>

#include "base/simd/machine_levels.hpp"
#include "base/simd/simd_dispatch.hpp"

namespace dsq::test {

/// Calls body() once at each level this machine supports (force_simd_level), inside a test
/// context naming the level, then restores the level the process ran at.
template <class Body>
void at_every_simd_level(Body body) {
  const simd_level before = active_simd_level();
  for (const auto level : all_simd_levels) {
    if (!machine_simd_levels().contains(level))
      continue;
    force_simd_level(level);
    BOOST_TEST_CONTEXT("SIMD level " << name(level)) {
      body();
    }
  }
  force_simd_level(before);
}

} // namespace dsq::test
