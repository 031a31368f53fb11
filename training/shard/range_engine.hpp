#pragma once

// The server's half of the DoubleSqueeze update on one key range (key_ranges.hpp) of a sharded
// run: the slice of x, the downlink pass with the slice's residual δ_k, the momentum slice, the
// step-size schedule, the shard's own random stream and the version. update_engine is this on
// the whole model; a shard runs it on its range, and the leader keeps one per range (without
// downlink use) as its replica of the other shards' slices.
//
// Until update_engine gains its constructor on a range (helper S1, wt-shardmath), the follower
// (shard_core) and the leader use this one; its arithmetic is update_engine's, call for call.

#include "base/random.hpp"
#include "compression/compressed_message.hpp"
#include "config/aggregate_rule.hpp"
#include "config/run_config.hpp"
#include "model/lr_schedule.hpp"
#include "model/momentum.hpp"
#include "training/double_squeeze.hpp"
#include "training/shard/key_ranges.hpp"

#include <Eigen/Core>

#include <optional>
#include <span>
#include <vector>

namespace dsq {

/// The seed of shard `shard`'s downlink random stream: the unsharded server's for shard 0, a
/// stream of its own for each other shard.
std::uint64_t shard_downlink_seed(std::uint64_t run_seed, std::uint32_t shard);

class range_engine {
public:
  /// Shard `shard`'s engine on `range`, holding `slice` (x_version on the range) and `momentum`
  /// (its momentum slice; empty: zero, or none without --momentum). Throws std::invalid_argument
  /// when a slice does not have the range's size.
  range_engine(const run_config& cfg, key_range range, std::uint32_t shard,
               std::span<const float> slice, std::span<const float> momentum,
               std::uint64_t version);

  /// v = weight · Σ c⁽ⁱ⁾ + δ (or the coordinate-wise --aggregate); c = C[v]; δ ← v − c.
  compressed_message aggregate(std::span<const compressed_message> pushes, float weight);
  /// x ← x − γ c (heavy ball with momentum), γ of the current version; version + 1.
  void apply(const compressed_message& c);
  /// γ for the update that produces the next version.
  float lr() const;

  std::uint64_t version() const { return version_; }
  const Eigen::VectorXf& x() const { return x_; }
  key_range range() const { return range_; }
  /// The momentum slice, or nullptr without momentum.
  const Eigen::VectorXf* momentum_buffer() const { return mom_ ? &mom_->buffer() : nullptr; }

private:
  key_range range_;
  float base_lr_;
  Eigen::VectorXf x_, average_, scratch_;
  aggregate_rule rule_;
  std::vector<float> robust_scratch_;
  std::optional<momentum> mom_;
  compression_pass downlink_;
  lr_schedule schedule_;
  rng_engine rng_;
  std::uint64_t version_ = 0;
};

} // namespace dsq
