#pragma once

// The worker's half of the DoubleSqueeze update (steps 1, 2 and 4 of Algorithm 1): a replica of
// x, the uplink pass with the worker residual δ⁽ⁱ⁾, the sampler over its shard, its random
// stream. Free of CAF: the worker actor only moves its inputs and outputs.

#include "base/random.hpp"
#include "config/run_config.hpp"
#include "model/lr_schedule.hpp"
#include "model/minibatch_sampler.hpp"
#include "model/momentum.hpp"
#include "training/double_squeeze.hpp"
#include "training/membership.hpp"
#include "training/training_setup.hpp"

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

  /// Samples from `shard` from now on.
  void use_shard(const shard_assignment& shard);

  /// g⁽ⁱ⁾ = ∇F(x; ξ);  v = g + δ⁽ⁱ⁾;  c = C[v];  δ⁽ⁱ⁾ ← v − c.
  computed_gradient compute();

  /// x ← x − γ c for the update in `payload` (wire bytes from the server); version + 1.
  /// Throws std::runtime_error for bytes that are not an update of this model.
  void apply(std::span<const std::uint8_t> payload);

  std::uint64_t version() const { return version_; }
  const Eigen::VectorXf& x() const { return x_; }
  std::size_t shard_size() const { return sampler_->shard_size(); }
  const training_setup& setup() const { return setup_; }

private:
  run_config cfg_;
  training_setup setup_;
  std::uint32_t id_;
  std::uint64_t version_;
  Eigen::VectorXf x_, grad_, scratch_;
  std::optional<momentum> mom_;
  compression_pass uplink_;
  std::optional<minibatch_sampler> sampler_;
  lr_schedule schedule_;
  rng_engine rng_;
  Eigen::MatrixXf batch_x_;
  std::vector<std::int32_t> batch_y_;
};

} // namespace dsq
