#pragma once

#include "base/random.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <span>
#include <utility>

namespace dsq {

/// The random draws behind every seeded choice of this library (initial weights, synthetic
/// data, shuffles): the project's xoshiro256** engine with the distributions written out,
/// because <random>'s are implementation-defined and a seed must give the same data and the
/// same model on every standard library, or runs cannot be compared across machines.
class data_rng {
public:
  /// What operator() returns (UniformRandomBitGenerator).
  using result_type = std::uint64_t;

  /// A generator seeded with `seed`.
  explicit data_rng(std::uint64_t seed) : engine_(seed) {}

  /// A generator for one independent stream of a seed, for example (seed, epoch).
  static data_rng for_stream(std::uint64_t seed, std::uint64_t stream) {
    return data_rng{stream_seed(seed, stream)};
  }

  /// The smallest value operator() returns.
  static constexpr result_type min() { return rng_engine::min(); }
  /// The largest value operator() returns.
  static constexpr result_type max() { return rng_engine::max(); }

  /// The next 64 random bits.
  result_type operator()() { return engine_(); }

  /// Uniform in [0, 1), 53 random bits.
  double uniform() { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }

  /// Uniform in [0, n) without modulo bias; n > 0.
  std::uint64_t below(std::uint64_t n) {
    // Reject the top partial copy of [0, n) in the 64-bit range.
    const auto limit = max() - max() % n;
    for (;;) {
      const auto r = (*this)();
      if (r < limit)
        return r % n;
    }
  }

  /// Standard normal (Box-Muller; the second value of each pair is discarded to keep no state).
  double normal() {
    const double u1 = 1.0 - uniform(); // in (0, 1], so the log is finite
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }

private:
  rng_engine engine_;
};

// Fisher-Yates with data_rng, so that the permutation of a seed is the same everywhere
// (std::shuffle's is not specified).
template <class T>
void seeded_shuffle(std::span<T> values, data_rng& rng) {
  for (std::size_t i = values.size(); i > 1; --i)
    std::swap(values[i - 1], values[rng.below(i)]);
}

} // namespace dsq
