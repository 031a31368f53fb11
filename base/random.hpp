#pragma once
// Moved to the public header.
#include <dsq/random.hpp>

namespace dsq {

/// The seed of a server's downlink random stream (the draws of its downlink operator) for shard
/// `shard` of a run seeded `seed` (--servers=K): shard 0, which is also the one server of an
/// unsharded run, keeps mix_seed(seed, 999), the stream of every recorded run; shard k ≥ 1 draws
/// from mix_seed(mix_seed(seed, 999), k), a stream of its own, the same in every process.
constexpr std::uint64_t downlink_seed(std::uint64_t seed, std::uint32_t shard) noexcept {
  const std::uint64_t server = mix_seed(seed, 999);
  return shard == 0 ? server : mix_seed(server, shard);
}

} // namespace dsq
