#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace dsq {

enum class shard_mode {
  contiguous, // shard k holds one consecutive range of sample indices
  shuffled,   // shard k holds one consecutive range of a seeded permutation of the indices
};

// The sample indices of shard `shard` out of `num_shards`. For fixed (num_samples, num_shards,
// mode, seed) the shards partition [0, num_samples) exactly, and their sizes differ by at most
// one (the first num_samples % num_shards shards get the extra sample). The permutation of
// shuffled mode depends on the seed only, not on num_shards: re-sharding after a worker joins
// or leaves is calling this again with the new count, and every process computes the same
// assignment without communicating. Indices come back in increasing order in contiguous mode
// and in permutation order in shuffled mode.
//
// Throws std::invalid_argument if num_shards == 0 or shard >= num_shards. A shard may be empty
// when num_samples < num_shards.
std::vector<std::size_t> shard_indices(std::size_t num_samples, std::size_t shard,
                                       std::size_t num_shards, shard_mode mode, std::uint64_t seed);

} // namespace dsq
