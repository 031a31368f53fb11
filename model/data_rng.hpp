#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <span>
#include <utility>

namespace dsq {

// The random generator behind every seeded choice of this library (initial weights, synthetic
// data, shuffles). It is written out here instead of using <random>'s distributions because
// those are implementation-defined: a seed must give the same data and the same model on every
// standard library, or runs cannot be compared across machines.
//
// xoshiro256** (Blackman and Vigna), its state filled by splitmix64 from the seed.
class data_rng {
public:
  using result_type = std::uint64_t;

  explicit data_rng(std::uint64_t seed) {
    for (auto& word : state_)
      word = splitmix64(seed);
  }

  // A generator for one independent stream of a seed, for example (seed, epoch): neighbouring
  // streams share no visible structure because the stream number is mixed, not added.
  static data_rng for_stream(std::uint64_t seed, std::uint64_t stream) {
    std::uint64_t s = seed;
    std::uint64_t mixed = splitmix64(s) ^ (stream * 0xd1342543de82ef95ULL + 0x9e3779b97f4a7c15ULL);
    return data_rng{splitmix64(mixed)};
  }

  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return std::numeric_limits<result_type>::max(); }

  result_type operator()() {
    const auto result = rotl(state_[1] * 5, 7) * 9;
    const auto t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  // Uniform in [0, 1), 53 random bits.
  double uniform() { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }

  // Uniform in [0, n) without modulo bias; n > 0.
  std::uint64_t below(std::uint64_t n) {
    // Reject the top partial copy of [0, n) in the 64-bit range.
    const auto limit = max() - max() % n;
    for (;;) {
      const auto r = (*this)();
      if (r < limit)
        return r % n;
    }
  }

  // Standard normal (Box-Muller; the second value of each pair is discarded to keep no state).
  double normal() {
    const double u1 = 1.0 - uniform(); // in (0, 1], so the log is finite
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }

private:
  static std::uint64_t splitmix64(std::uint64_t& s) {
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  std::uint64_t state_[4];
};

// Fisher-Yates with data_rng, so that the permutation of a seed is the same everywhere
// (std::shuffle's is not specified).
template <class T>
void seeded_shuffle(std::span<T> values, data_rng& rng) {
  for (std::size_t i = values.size(); i > 1; --i)
    std::swap(values[i - 1], values[rng.below(i)]);
}

} // namespace dsq
