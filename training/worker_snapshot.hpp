#pragma once

// A worker's own state at a step boundary. With the shared model (x, momentum buffer, version)
// it is everything the worker needs to continue bit for bit: the server collects it into its
// checkpoints and gives it back to a worker that returns after the server was restarted.

#include "training/membership.hpp"

#include <dsq/data.hpp>

#include <cstdint>
#include <vector>

namespace dsq {

/// A worker's own state at a step boundary: what it needs, with the shared model, to continue
/// bit for bit.
struct worker_snapshot {
  std::uint32_t worker_id = 0;
  std::uint64_t version = 0;      ///< the replica held x_version; taken before gradient `version`
  std::vector<float> residual;    ///< δ⁽ⁱ⁾ (empty when the uplink keeps no residual)
  std::vector<std::uint64_t> rng; ///< the worker's random stream (rng_engine state words)
  shard_assignment shard;         ///< the shard it samples from (training/membership.hpp)
  /// The batch source's state words (batch_source::state(), at most max_state_words): for the
  /// built-in data {epoch in progress, next entry of the epoch's permutation}.
  std::vector<std::uint64_t> sampler_state;

  /// Equal in every field (the residuals compared value by value).
  friend bool operator==(const worker_snapshot&, const worker_snapshot&) = default;
};

} // namespace dsq
