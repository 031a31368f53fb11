#include "training/update_engine.hpp"

#include "config/method.hpp"
#include "training/training_setup.hpp"

#include <stdexcept>
#include <string>

namespace dsq {

update_engine::update_engine(const run_config& cfg, const model& net)
    : base_lr_(static_cast<float>(cfg.lr)), rule_(parse_aggregate_rule(cfg.aggregate)),
      downlink_(resolve_method(cfg).downlink, resolve_method(cfg).downlink_residual,
                net.num_parameters()),
      schedule_(parse_lr_schedule(cfg.lr_schedule)), rng_(mix_seed(cfg.seed, 999)) {
  const auto d = static_cast<Eigen::Index>(net.num_parameters());
  x_.resize(d);
  net.initialize(x_, cfg.seed);
  average_.resize(d);
  if (cfg.momentum > 0)
    mom_.emplace(net.num_parameters(), static_cast<float>(cfg.momentum));
}

const compressed_message& update_engine::aggregate(std::span<const compressed_message> pushes,
                                                   float weight) {
  server_aggregate_into(pushes, weight, rule_, downlink_, average_, robust_scratch_, rng_, update_);
  return update_;
}

void update_engine::apply(const compressed_message& c) {
  apply_update(c, lr(), mom_ ? &*mom_ : nullptr, x_, scratch_);
  ++version_;
}

float update_engine::lr() const {
  return schedule_.at(version_, base_lr_);
}

checkpoint update_engine::snapshot() const {
  checkpoint ckpt;
  ckpt.version = version_;
  ckpt.model = x_;
  auto delta = downlink_.residual();
  ckpt.server_residual =
      Eigen::Map<const Eigen::VectorXf>(delta.data(), static_cast<Eigen::Index>(delta.size()));
  if (mom_)
    ckpt.momentum = mom_->buffer();
  auto words = rng_.state();
  ckpt.server_rng.assign(words.begin(), words.end());
  return ckpt;
}

void update_engine::restore(const checkpoint& ckpt) {
  rng_engine rng = rng_;
  if (!ckpt.server_rng.empty()) {
    if (ckpt.server_rng.size() != 4)
      throw std::runtime_error("checkpoint: the server's random stream has " +
                               std::to_string(ckpt.server_rng.size()) + " words instead of 4");
    try {
      rng.set_state(
          {ckpt.server_rng[0], ckpt.server_rng[1], ckpt.server_rng[2], ckpt.server_rng[3]});
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error(std::string{"checkpoint: "} + e.what());
    }
  }
  rng_ = rng;
  x_ = ckpt.model;
  version_ = ckpt.version;
  downlink_.restore_residual(
      {ckpt.server_residual.data(), static_cast<std::size_t>(ckpt.server_residual.size())});
  if (mom_ && ckpt.momentum.size() == x_.size())
    mom_->buffer() = ckpt.momentum;
}

} // namespace dsq
