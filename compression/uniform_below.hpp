#pragma once

#include "base/random.hpp"

#include <cstdint>

namespace dsq {

/// Uniform integer in [0, n), n >= 1, without modulo bias.
///
/// std::uniform_int_distribution is not specified bit for bit, so its draws may differ between
/// standard libraries; shared-seed decoding needs draws that never differ. This is Lemire's
/// multiply-and-reject method, which almost never needs a division.
inline std::uint32_t uniform_below(rng_engine& rng, std::uint32_t n) noexcept {
  std::uint64_t product = (rng() >> 32) * std::uint64_t{n};
  auto low = static_cast<std::uint32_t>(product);
  if (low < n) {
    const std::uint32_t threshold = static_cast<std::uint32_t>(-n) % n;
    while (low < threshold) {
      product = (rng() >> 32) * std::uint64_t{n};
      low = static_cast<std::uint32_t>(product);
    }
  }
  return static_cast<std::uint32_t>(product >> 32);
}

} // namespace dsq
