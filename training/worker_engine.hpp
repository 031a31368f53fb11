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
#include "model/momentum.hpp"
#include "training/double_squeeze.hpp"
#include "training/membership.hpp"
#include "training/shard/key_ranges.hpp"
#include "training/training_setup.hpp"
#include "training/worker_snapshot.hpp"

#include <dsq/data.hpp>

#include <Eigen/Core>

#include <memory>

#include <optional>
#include <span>
#include <stdexcept>
#include <vector>

namespace dsq {

/// What a model returned that the runtime cannot use (a loss or gradient entry that is not
/// finite): the worker stops with this one-line message, and the run does not succeed.
class model_output_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

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

  /// A sharded run (--servers=K, the welcome's `shards.ranges`): from now on compute() compresses
  /// each range with its own uplink pass (the operator of range_operator.hpp, its own slice of
  /// δ⁽ⁱ⁾, the worker's one random stream drawn in range order) and returns the K payloads in one
  /// sliced_payload container, and apply() takes such a container of the K slice updates. The
  /// residual carries over (each range takes its slice). Empty or one range: the unsharded
  /// engine, unchanged. Throws std::runtime_error, and changes nothing, unless the ranges cover
  /// [0, d) contiguously.
  void use_ranges(std::span<const key_range> ranges);

  /// The key ranges of a sharded run; empty when unsharded.
  const std::vector<key_range>& ranges() const { return ranges_; }

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
  /// none, or none where it keeps one), a malformed random stream or shard, or sampler state
  /// words the data source refuses.
  void restore(const worker_snapshot& state);

  /// Resync: x ← `model`, the momentum buffer ← `momentum` (zero when empty), at `version`.
  /// Keeps δ⁽ⁱ⁾, the sampler and the random stream. Throws std::runtime_error, and changes
  /// nothing, if a size does not fit the model.
  void reset_model(std::uint64_t version, std::span<const float> model,
                   std::span<const float> momentum);

  /// g⁽ⁱ⁾ = ∇F(x; ξ);  v = g + δ⁽ⁱ⁾;  c = C[v];  δ⁽ⁱ⁾ ← v − c (per range when sharded). If the
  /// model's loss or a gradient entry is not finite, the batch is tried at the initial parameters
  /// x_0: finite there, training diverged and the push goes (the server ends the run as diverged);
  /// not finite there too, the model is broken: throws model_output_error naming the model spec,
  /// the step and the fix, and sends nothing (the worker stops; with a sign uplink, whose pass
  /// over g is the check, δ⁽ⁱ⁾ holds that pass's v).
  computed_gradient compute();

  /// Gives back the payload of an earlier compute() once nobody needs it any more (the push was
  /// acknowledged and its message released): the next unsharded compute() writes its bytes
  /// into that buffer instead of a fresh one, so that a step maps no new pages (a fresh 40 MB
  /// vector faults page by page, which made a push of d = 10^7 cost 50 times its encoding).
  /// Keeps the larger of this and the buffer it already holds.
  void recycle_payload(std::vector<std::uint8_t> bytes) noexcept;

  /// x ← x − γ c for the update in `payload` (wire bytes from the server; sharded: the container
  /// of the K slice updates, each applied to its range); version + 1. Throws std::runtime_error
  /// for bytes that are not an update of this model, before x changes.
  void apply(std::span<const std::uint8_t> payload);

  std::uint64_t version() const { return version_; }
  std::uint32_t id() const { return id_; }
  /// The shard it samples from.
  const shard_assignment& shard() const { return shard_; }
  /// The momentum buffer, or nullptr without momentum.
  const Eigen::VectorXf* momentum_buffer() const { return mom_ ? &mom_->buffer() : nullptr; }
  /// δ⁽ⁱ⁾ (sharded: the ranges' residuals in range order), or an empty span when the uplink
  /// keeps no residual. Valid until the next call of a non-const member.
  std::span<const float> residual() const;
  const Eigen::VectorXf& x() const { return x_; }
  /// The samples of the shard (0: the data source does not say).
  std::size_t shard_size() const { return batches_->shard_size(); }
  const training_setup& setup() const { return setup_; }

private:
  /// Throws model_output_error if the model's output on the current batch is not finite at x_0
  /// either; `loss` is what it returned at x.
  void check_model_at_start(float loss) const;
  /// apply() of a sharded run: the container of the K slice updates.
  void apply_slices(std::span<const std::uint8_t> payload);
  /// The batches of `shard` for this worker, from the start.
  std::unique_ptr<batch_source> open(const shard_assignment& shard) const;

  run_config cfg_;
  training_setup setup_;
  std::shared_ptr<const data_source> source_;
  std::uint32_t id_;
  std::uint64_t version_;
  Eigen::VectorXf x_, grad_, scratch_;
  std::optional<momentum> mom_;
  compression_pass uplink_;
  /// The last push's message and the last update's, their buffers kept across steps so that
  /// a step allocates no message (only the bytes that leave with the push).
  compressed_message push_, update_;
  /// A payload given back by recycle_payload(): the next push's bytes go there.
  std::vector<std::uint8_t> spare_payload_;
  std::vector<key_range> ranges_;              ///< sharded: the K ranges; empty: unsharded
  std::vector<compression_pass> range_passes_; ///< sharded: the uplink of each range
  mutable std::vector<float> joined_residual_; ///< sharded: residual()'s concatenation
  shard_assignment shard_;
  std::unique_ptr<batch_source> batches_;
  lr_schedule schedule_;
  rng_engine rng_;
  Eigen::MatrixXf batch_x_;
  std::vector<std::int32_t> batch_y_;
};

} // namespace dsq
