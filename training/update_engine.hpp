#pragma once

// The server's half of the DoubleSqueeze update (step 3 and its own copy of step 4): the model
// x, the downlink pass with the server residual δ, the momentum buffer, the step-size schedule,
// the server's random stream and the version. Both modes drive it; they differ only in which
// pushes make one update and with what weight (see round_policy.hpp).

#include "base/random.hpp"
#include "compression/compressed_message.hpp"
#include "config/aggregate_rule.hpp"
#include "config/run_config.hpp"
#include "model/lr_schedule.hpp"
#include "model/model.hpp"
#include "model/momentum.hpp"
#include "training/checkpoint.hpp"
#include "training/double_squeeze.hpp"
#include "training/shard/key_ranges.hpp"

#include <Eigen/Core>

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace dsq {

class update_engine {
public:
  /// x_0 from the model's seeded initialisation, δ = 0, version 0.
  update_engine(const run_config& cfg, const model& net);

  /// Shard `shard` of a sharded run (--servers=K), owning `range` of the model: x = that range
  /// of x_0 (the model's seeded initialisation), δ = 0 and momentum of the range's size, the
  /// downlink operator of the range (range_operator.hpp) and shard k's downlink random stream
  /// (downlink_seed in base/random.hpp), version 0. Shard 0 of K = 1 is the engine above.
  /// Throws std::invalid_argument if the range is empty or past the model's end.
  update_engine(const run_config& cfg, const model& net, const key_range& range,
                std::uint32_t shard);

  /// The same shard continuing from its slice of x_`version` (a follower's shard_setup):
  /// x = `slice`, the momentum buffer = `momentum` (zero when empty), δ = 0, in a model of
  /// `model_dim` coordinates. Throws std::invalid_argument if a size does not fit the range.
  update_engine(const run_config& cfg, std::uint64_t model_dim, const key_range& range,
                std::uint32_t shard, std::span<const float> slice, std::span<const float> momentum,
                std::uint64_t version);

  /// v = weight · Σ c⁽ⁱ⁾ + δ (or A(c⁽¹⁾..c⁽ⁿ⁾) + δ under a robust --aggregate);  c = C[v];
  /// δ ← v − c. Does not touch x or the version. The message is the engine's own, reused by
  /// the next call (so that a step allocates no message): valid until then.
  const compressed_message& aggregate(std::span<const compressed_message> pushes, float weight);

  /// x ← x − γ c (heavy ball with momentum), γ of the current version; version + 1.
  void apply(const compressed_message& c);

  /// The wire bytes of `c` (to_bytes), written into the buffer that recycle_payload() gave back
  /// if there is one, else into a fresh vector: the same bytes either way.
  std::vector<std::uint8_t> payload_of(const compressed_message& c);

  /// Gives back the payload of an earlier update once nobody needs it any more (the sender's
  /// ring dropped it and its message has no other holder): the next payload_of() writes there
  /// instead of into a fresh vector, so that an update maps no new pages (a fresh vector of
  /// 4 bytes per coordinate faults page by page). Keeps the larger of this and the one held.
  void recycle_payload(std::vector<std::uint8_t> bytes) noexcept;

  /// γ for the update that produces the next version.
  float lr() const;

  std::uint64_t version() const { return version_; }
  /// x at the current version (applying the updates apply() left for later first).
  const Eigen::VectorXf& x() const {
    settle();
    return x_;
  }
  std::size_t dim() const { return static_cast<std::size_t>(x_.size()); }
  /// The coordinates of the model that x holds: [0, d) unsharded.
  const key_range& range() const { return range_; }
  /// The momentum buffer every replica carries, or nullptr without momentum.
  const Eigen::VectorXf* momentum_buffer() const { return mom_ ? &mom_->buffer() : nullptr; }

  /// The state a checkpoint keeps: x, δ, momentum, version, and the random stream of the
  /// downlink operator. With it a restored engine aggregates and applies bit for bit what this
  /// one would have (the step size is a function of the version). The caller adds the spec,
  /// the membership and the workers' states.
  checkpoint snapshot() const;

  /// Continues from `ckpt` (already checked to fit the model). A checkpoint without a random
  /// stream (empty server_rng) keeps the engine's own. Throws std::runtime_error for a random
  /// stream that is not 4 words or is all zero.
  void restore(const checkpoint& ckpt);

private:
  /// Applies the updates apply() deferred, in order.
  void settle() const;

  /// Everything but x's values: x sized to `range`, the downlink of `downlink_spec`.
  update_engine(const run_config& cfg, const std::string& downlink_spec, const key_range& range,
                std::uint64_t rng_seed);

  key_range range_;
  float base_lr_;
  // x's own update waits for up to max_deferred sign updates without momentum: nobody reads
  // x between two steps but an evaluation, a welcome or a checkpoint, and x() applies them,
  // in order and with their step sizes, in one pass (add_scaled_in_turn) where each took one.
  static constexpr std::size_t max_deferred = 8;
  mutable Eigen::VectorXf x_;
  /// Buffers kept across steps; the first deferred_count_ are due, the last of them made
  /// version_ (so the k-th took x from version_ − deferred_count_ + k, with that version's γ).
  mutable std::vector<compressed_message> deferred_;
  mutable std::size_t deferred_count_ = 0;
  Eigen::VectorXf average_, scratch_;
  aggregate_rule rule_;
  std::vector<float> robust_scratch_; ///< the decoded pushes, for a robust rule
  std::optional<momentum> mom_;
  compression_pass downlink_;
  compressed_message update_; ///< aggregate()'s result, its buffers kept across steps
  /// A payload given back by recycle_payload(): the next update's bytes go there.
  std::vector<std::uint8_t> spare_payload_;
  lr_schedule schedule_;
  rng_engine rng_;
  std::uint64_t version_ = 0;
};

} // namespace dsq
