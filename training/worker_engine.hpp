#pragma once

// The worker's half of the DoubleSqueeze update (steps 1, 2 and 4 of Algorithm 1): a replica of
// x, the uplink pass with the worker residual δ⁽ⁱ⁾, the sampler over its shard, its random
// stream. Free of CAF: the worker actor only moves its inputs and outputs.
//
// snapshot() and restore() carry the worker's own state (δ⁽ⁱ⁾, random stream, shard and sampler
// position) across a restart of the server: with the model of the same version, a restored
// engine computes bit for bit what the original would have.

#include "base/random.hpp"
#include "config/run_config.hpp"
#include "model/lr_schedule.hpp"
#include "model/minibatch_sampler.hpp"
#include "model/momentum.hpp"
#include "training/double_squeeze.hpp"
#include "training/membership.hpp"
#include "training/training_setup.hpp"
#include "training/worker_snapshot.hpp"

#include <Eigen/Core>

#include <optional>
#include <span>
#include <vector>

namespace dsq {

/// One computed gradient, compressed and ready to push.
struct computed_gradient {
  std::uint64_t step = 0;            ///< the version of the replica it was computed on
  float loss = 0;                    ///< minibatch loss at x_step
  std::vector<std::uint8_t> payload; ///< c⁽ⁱ⁾ = C[g⁽ⁱ⁾ + δ⁽ⁱ⁾] in its wire format
};

class worker_engine {
public:
  /// Worker `id` starts from x_`version` = `model` (and the replicas' momentum buffer, empty if
  /// none) with δ⁽ⁱ⁾ = 0, sampling from `shard`. Throws std::runtime_error if the model does
  /// not fit the setup's.
  worker_engine(const run_config& cfg, training_setup setup, std::uint32_t id,
                std::uint64_t version, std::span<const float> model,
                std::span<const float> momentum_buffer, const shard_assignment& shard);

  /// Samples from `shard` from now on, from the start of its first epoch. The shard it already
  /// samples from changes nothing: a welcome that gives back the shard of a restored snapshot
  /// keeps the restored sampler position.
  void use_shard(const shard_assignment& shard);

  /// The worker's own state now, at a step boundary (call it before compute() of the step it
  /// belongs to): with x, the momentum buffer and the version it is everything compute()
  /// depends on.
  worker_snapshot snapshot() const;

  /// Continues from `state` (δ⁽ⁱ⁾, random stream, shard, sampler position). The engine must
  /// already hold the model of state.version (constructor or reset_model()). Throws
  /// std::runtime_error naming the problem, and changes nothing, if `state` belongs to another
  /// worker or version, has a residual of the wrong dimension (or one where the uplink keeps
  /// none, or none where it keeps one), a malformed random stream or shard, or a sampler
  /// position outside the shard.
  void restore(const worker_snapshot& state);

  /// Resync: x ← `model`, the momentum buffer ← `momentum` (zero when empty), at `version`.
  /// Keeps δ⁽ⁱ⁾, the sampler and the random stream. Throws std::runtime_error, and changes
  /// nothing, if a size does not fit the model.
  void reset_model(std::uint64_t version, std::span<const float> model,
                   std::span<const float> momentum);

  /// g⁽ⁱ⁾ = ∇F(x; ξ);  v = g + δ⁽ⁱ⁾;  c = C[v];  δ⁽ⁱ⁾ ← v − c.
  computed_gradient compute();

  /// x ← x − γ c for the update in `payload` (wire bytes from the server); version + 1.
  /// Throws std::runtime_error for bytes that are not an update of this model.
  void apply(std::span<const std::uint8_t> payload);

  std::uint64_t version() const { return version_; }
  std::uint32_t id() const { return id_; }
  /// The shard it samples from.
  const shard_assignment& shard() const { return shard_; }
  /// The momentum buffer, or nullptr without momentum.
  const Eigen::VectorXf* momentum_buffer() const { return mom_ ? &mom_->buffer() : nullptr; }
  /// δ⁽ⁱ⁾, or an empty span when the uplink keeps no residual.
  std::span<const float> residual() const { return uplink_.residual(); }
  const Eigen::VectorXf& x() const { return x_; }
  std::size_t shard_size() const { return sampler_->shard_size(); }
  const training_setup& setup() const { return setup_; }

private:
  minibatch_sampler make_sampler(const shard_assignment& shard) const;

  run_config cfg_;
  training_setup setup_;
  std::uint32_t id_;
  std::uint64_t version_;
  Eigen::VectorXf x_, grad_, scratch_;
  std::optional<momentum> mom_;
  compression_pass uplink_;
  /// The last push's message and the last update's, their buffers kept across steps so that
  /// a step allocates no message (only the bytes that leave with the push).
  compressed_message push_, update_;
  shard_assignment shard_;
  std::optional<minibatch_sampler> sampler_;
  lr_schedule schedule_;
  rng_engine rng_;
  Eigen::MatrixXf batch_x_;
  std::vector<std::int32_t> batch_y_;
};

} // namespace dsq
