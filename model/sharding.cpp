#include "model/sharding.hpp"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <string>

#include "model/data_rng.hpp"

namespace dsq {

std::vector<std::size_t> shard_indices(std::size_t num_samples, std::size_t shard,
                                       std::size_t num_shards, shard_mode mode,
                                       std::uint64_t seed) {
  if (num_shards == 0)
    throw std::invalid_argument("shard_indices: num_shards must be positive");
  if (shard >= num_shards)
    throw std::invalid_argument("shard_indices: shard " + std::to_string(shard) +
                                " out of range for " + std::to_string(num_shards) + " shards");
  const auto base = num_samples / num_shards;
  const auto extra = num_samples % num_shards;
  const auto begin = shard * base + std::min(shard, extra);
  const auto count = base + (shard < extra ? 1 : 0);

  std::vector<std::size_t> indices(count);
  if (mode == shard_mode::contiguous) {
    std::iota(indices.begin(), indices.end(), begin);
    return indices;
  }
  // Every shard computes the whole permutation and keeps its slice: O(N) per call, which is
  // cheap next to loading the data, and avoids any shared state.
  std::vector<std::size_t> permutation(num_samples);
  std::iota(permutation.begin(), permutation.end(), std::size_t{0});
  auto rng = data_rng::for_stream(seed, 0x5ba4d);
  seeded_shuffle(std::span<std::size_t>(permutation), rng);
  std::copy_n(permutation.begin() + std::ptrdiff_t(begin), count, indices.begin());
  return indices;
}

} // namespace dsq
