#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>

namespace dsq {

/// One step of splitmix64: advances `state` and returns a well-mixed 64-bit value. It seeds
/// xoshiro256 and is the core of both seed mixers below.
constexpr std::uint64_t splitmix64(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

/// xoshiro256** (Blackman & Vigna), seeded through splitmix64: the one generator behind every
/// seeded choice of the project (weights, synthetic data, shuffles, compressor draws).
///
/// Written out instead of std::mt19937_64 because it is several times faster, has a 32-byte
/// state, and its output is fixed by its definition on every platform, which matters here: a
/// random-k message with a shared seed is decoded by regenerating the encoder's draws on another
/// machine, and a seed must give the same data and model everywhere.
class xoshiro256 {
public:
  /// What operator() returns (UniformRandomBitGenerator).
  using result_type = std::uint64_t;

  /// An engine whose state is filled from `seed` by splitmix64.
  explicit xoshiro256(std::uint64_t seed = 0) noexcept { this->seed(seed); }

  /// Restarts the engine as if it had just been built from `seed`.
  void seed(std::uint64_t seed) noexcept {
    // splitmix64 spreads any seed (including 0) over the whole state, which must not be all zero.
    for (auto& word : state_)
      word = splitmix64(seed);
  }

  /// The smallest value operator() returns.
  static constexpr result_type min() noexcept { return 0; }
  /// The largest value operator() returns.
  static constexpr result_type max() noexcept { return std::numeric_limits<result_type>::max(); }

  /// The next 64 random bits.
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

  /// The four state words: with set_state() they continue this engine's sequence elsewhere
  /// (checkpoints, a worker resumed after its server restarted).
  std::array<std::uint64_t, 4> state() const noexcept {
    return {state_[0], state_[1], state_[2], state_[3]};
  }

  /// Continues the sequence of the engine whose state() was `words`. Throws
  /// std::invalid_argument for all-zero words, the one state xoshiro never reaches (it would
  /// stay zero forever): such words are damage, not a stream.
  void set_state(const std::array<std::uint64_t, 4>& words) {
    if ((words[0] | words[1] | words[2] | words[3]) == 0)
      throw std::invalid_argument("xoshiro256: an all-zero state is not a random stream");
    for (std::size_t i = 0; i < 4; ++i)
      state_[i] = words[i];
  }

  /// Equal engines produce equal sequences.
  friend bool operator==(const xoshiro256&, const xoshiro256&) = default;

private:
  static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept {
    return (x << k) | (x >> (64 - k));
  }

  std::uint64_t state_[4];
};

/// The engine every compressor and every model draws from.
using rng_engine = xoshiro256;

// Two seed mixers, because the outputs of both are part of reproducible results: mix_seed
// picks the draws of each actor of a run, stream_seed the synthetic data, initial weights and
// shuffles of a seed. Merging them would change every recorded run.

/// Mixes a seed with a stream number (worker id, shard generation, ...): independent streams
/// that are the same in every process, so that distributed runs are reproducible.
constexpr std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t stream) noexcept {
  // A splitmix64 step from a state that combines both: nearby inputs give unrelated outputs.
  std::uint64_t state = seed + 0x9e3779b97f4a7c15ULL * stream;
  return splitmix64(state);
}

/// The seed of one independent stream of `seed` for data and models, e.g. (seed, epoch).
constexpr std::uint64_t stream_seed(std::uint64_t seed, std::uint64_t stream) noexcept {
  // The stream number is mixed, not added, so that neighbouring streams share no structure.
  std::uint64_t state = seed;
  std::uint64_t mixed =
      splitmix64(state) ^ (stream * 0xd1342543de82ef95ULL + 0x9e3779b97f4a7c15ULL);
  return splitmix64(mixed);
}

} // namespace dsq
