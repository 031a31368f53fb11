#include "training/worker_engine.hpp"

#include "compression/wire.hpp"
#include "config/method.hpp"
#include "model/sharding.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace dsq {

namespace {

std::size_t checked_dim(const training_setup& setup, std::span<const float> model) {
  const auto d = setup.net->num_parameters();
  if (model.size() != d)
    throw std::runtime_error(fmt::format("the server's model has {} parameters, this worker's "
                                         "{} (different data or model?)",
                                         model.size(), d));
  return d;
}

} // namespace

worker_engine::worker_engine(const run_config& cfg, training_setup setup, std::uint32_t id,
                             std::uint64_t version, std::span<const float> model,
                             std::span<const float> momentum_buffer, const shard_assignment& shard)
    : cfg_(cfg), setup_(std::move(setup)), id_(id), version_(version),
      // δ⁽ⁱ⁾ starts at zero, also for a worker that joins mid-run (ALGORITHM.md, membership).
      uplink_(resolve_method(cfg).uplink, resolve_method(cfg).uplink_residual,
              checked_dim(setup_, model)),
      schedule_(parse_lr_schedule(cfg.lr_schedule)), rng_(mix_seed(cfg.seed, 1000 + id)) {
  const auto d = static_cast<Eigen::Index>(model.size());
  x_ = Eigen::Map<const Eigen::VectorXf>(model.data(), d);
  grad_.resize(d);
  if (cfg.momentum > 0) {
    mom_.emplace(model.size(), static_cast<float>(cfg.momentum));
    if (momentum_buffer.size() == model.size())
      mom_->buffer() = Eigen::Map<const Eigen::VectorXf>(momentum_buffer.data(), d);
  }
  use_shard(shard);
}

void worker_engine::use_shard(const shard_assignment& shard) {
  auto mode = cfg_.shard == "contiguous" ? shard_mode::contiguous : shard_mode::shuffled;
  auto indices =
      shard_indices(setup_.data->train.size(), shard.index, shard.count, mode, cfg_.seed);
  sampler_.emplace(std::move(indices), cfg_.batch,
                   mix_seed(cfg_.seed, (shard.generation << 20) + id_));
}

computed_gradient worker_engine::compute() {
  auto idx = sampler_->next();
  gather(setup_.data->train, idx, batch_x_, batch_y_);
  computed_gradient out;
  out.step = version_;
  out.loss = setup_.net->loss_and_gradient(x_, batch_x_, batch_y_, grad_);
  auto c = uplink_.compress({grad_.data(), static_cast<std::size_t>(grad_.size())}, rng_);
  out.payload = to_bytes(c);
  return out;
}

void worker_engine::apply(std::span<const std::uint8_t> payload) {
  decode_limits limits;
  limits.max_dimension = static_cast<std::uint32_t>(x_.size());
  auto c = from_bytes(payload, limits);
  if (c.dimension() != static_cast<std::size_t>(x_.size()))
    throw std::runtime_error("update of the wrong dimension from the server");
  float lr = schedule_.at(version_, static_cast<float>(cfg_.lr));
  apply_update(c, lr, mom_ ? &*mom_ : nullptr, x_, scratch_);
  ++version_;
}

} // namespace dsq
