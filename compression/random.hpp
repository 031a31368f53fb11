#pragma once

#include <cstdint>
#include <limits>

namespace dsq {

/// One step of splitmix64: advances `state` and returns a well-mixed 64-bit value. Also what
/// derives independent seeds from (seed, stream) pairs elsewhere.
constexpr std::uint64_t splitmix64(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

/// xoshiro256** (Blackman & Vigna), seeded through splitmix64.
///
/// Chosen over std::mt19937_64 because it is several times faster, has a 32-byte state, and its
/// output is fixed by its definition on every platform, which matters here: a random-k message
/// with a shared seed is decoded by regenerating the encoder's draws on another machine.
class xoshiro256 {
public:
  using result_type = std::uint64_t;

  explicit xoshiro256(std::uint64_t seed = 0) noexcept { this->seed(seed); }

  void seed(std::uint64_t seed) noexcept {
    // splitmix64 spreads any seed (including 0) over the whole state, which must not be all zero.
    for (auto& word : state_)
      word = splitmix64(seed);
  }

  static constexpr result_type min() noexcept { return 0; }
  static constexpr result_type max() noexcept { return std::numeric_limits<result_type>::max(); }

  result_type operator()() noexcept {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  friend bool operator==(const xoshiro256&, const xoshiro256&) = default;

private:
  static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept {
    return (x << k) | (x >> (64 - k));
  }

  std::uint64_t state_[4];
};

/// The engine every compressor draws from.
using rng_engine = xoshiro256;

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
