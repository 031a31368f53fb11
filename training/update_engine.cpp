#include "training/update_engine.hpp"

#include "compression/sign.hpp"
#include "compression/wire.hpp"
#include "config/method.hpp"
#include "training/shard/range_operator.hpp"
#include "training/training_setup.hpp"

#include <fmt/format.h>

#include <array>
#include <stdexcept>
#include <string>

namespace dsq {

namespace {

/// `range`, checked to be a non-empty part of a model of `dim` coordinates.
key_range checked_range(const key_range& range, std::uint64_t dim) {
  if (range.begin >= range.end || range.end > dim)
    throw std::invalid_argument(fmt::format(
        "a shard's key range [{}, {}) is not a part of the model's {} coordinates (ranges come "
        "from split_keys over the same model)",
        range.begin, range.end, dim));
  return range;
}

} // namespace

update_engine::update_engine(const run_config& cfg, const std::string& downlink_spec,
                             const key_range& range, std::uint64_t rng_seed)
    : range_(range), base_lr_(static_cast<float>(cfg.lr)),
      rule_(parse_aggregate_rule(cfg.aggregate)),
      downlink_(downlink_spec, resolve_method(cfg).downlink_residual, range.size()),
      schedule_(parse_lr_schedule(cfg.lr_schedule)), rng_(rng_seed) {
  const auto d = static_cast<Eigen::Index>(range.size());
  x_.resize(d);
  average_.resize(d);
  if (cfg.momentum > 0)
    mom_.emplace(range.size(), static_cast<float>(cfg.momentum));
}

update_engine::update_engine(const run_config& cfg, const model& net)
    : update_engine(cfg, resolve_method(cfg).downlink, key_range{0, net.num_parameters()},
                    downlink_seed(cfg.seed, 0)) {
  net.initialize(x_, cfg.seed);
}

update_engine::update_engine(const run_config& cfg, const model& net, const key_range& range,
                             std::uint32_t shard)
    : update_engine(cfg,
                    range_operator_spec(resolve_method(cfg).downlink, net.num_parameters(),
                                        checked_range(range, net.num_parameters())),
                    range, downlink_seed(cfg.seed, shard)) {
  Eigen::VectorXf x0(static_cast<Eigen::Index>(net.num_parameters()));
  net.initialize(x0, cfg.seed);
  x_ = x0.segment(static_cast<Eigen::Index>(range.begin), static_cast<Eigen::Index>(range.size()));
}

update_engine::update_engine(const run_config& cfg, std::uint64_t model_dim, const key_range& range,
                             std::uint32_t shard, std::span<const float> slice,
                             std::span<const float> momentum, std::uint64_t version)
    : update_engine(cfg,
                    range_operator_spec(resolve_method(cfg).downlink, model_dim,
                                        checked_range(range, model_dim)),
                    range, downlink_seed(cfg.seed, shard)) {
  if (slice.size() != range.size())
    throw std::invalid_argument(fmt::format("shard {}: a slice of {} values for a key range of {}",
                                            shard, slice.size(), range.size()));
  if (!momentum.empty() && momentum.size() != range.size())
    throw std::invalid_argument(
        fmt::format("shard {}: a momentum slice of {} values for a key range of {}", shard,
                    momentum.size(), range.size()));
  x_ = Eigen::Map<const Eigen::VectorXf>(slice.data(), static_cast<Eigen::Index>(slice.size()));
  if (mom_ && !momentum.empty())
    mom_->buffer() = Eigen::Map<const Eigen::VectorXf>(momentum.data(),
                                                       static_cast<Eigen::Index>(momentum.size()));
  version_ = version;
}

const compressed_message& update_engine::aggregate(std::span<const compressed_message> pushes,
                                                   float weight) {
  server_aggregate_into(pushes, weight, rule_, downlink_, average_, robust_scratch_, rng_, update_);
  return update_;
}

std::vector<std::uint8_t> update_engine::payload_of(const compressed_message& c) {
  std::vector<std::uint8_t> out = std::move(spare_payload_);
  spare_payload_ = {};
  to_bytes(c, out);
  return out;
}

void update_engine::recycle_payload(std::vector<std::uint8_t> bytes) noexcept {
  if (bytes.capacity() > spare_payload_.capacity())
    spare_payload_ = std::move(bytes);
}

void update_engine::apply(const compressed_message& c) {
  if (mom_ || c.op != operator_id::sign) {
    settle();
    apply_update(c, lr(), mom_ ? &*mom_ : nullptr, x_, scratch_);
  } else {
    if (deferred_count_ == max_deferred)
      settle();
    if (deferred_.size() <= deferred_count_)
      deferred_.resize(deferred_count_ + 1);
    deferred_[deferred_count_] = c; // capacity kept from earlier steps: no allocation
    ++deferred_count_;
  }
  ++version_;
}

void update_engine::settle() const {
  if (deferred_count_ == 0)
    return;
  std::array<float, max_deferred> scales; // apply_update's −γ, γ of the version each started
  const std::uint64_t first = version_ - deferred_count_;
  for (std::size_t k = 0; k < deferred_count_; ++k)
    scales[k] = -schedule_.at(first + k, base_lr_);
  add_scaled_in_turn(std::span{deferred_}.first(deferred_count_),
                     std::span{scales}.first(deferred_count_),
                     {x_.data(), static_cast<std::size_t>(x_.size())});
  deferred_count_ = 0;
}

float update_engine::lr() const {
  return schedule_.at(version_, base_lr_);
}

checkpoint update_engine::snapshot() const {
  settle();
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
  deferred_count_ = 0; // x is the checkpoint's
  x_ = ckpt.model;
  version_ = ckpt.version;
  downlink_.restore_residual(
      {ckpt.server_residual.data(), static_cast<std::size_t>(ckpt.server_residual.size())});
  if (mom_ && ckpt.momentum.size() == x_.size())
    mom_->buffer() = ckpt.momentum;
}

} // namespace dsq
