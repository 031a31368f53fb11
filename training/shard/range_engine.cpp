#include "training/shard/range_engine.hpp"

#include "config/method.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace dsq {

std::uint64_t shard_downlink_seed(std::uint64_t run_seed, std::uint32_t shard) {
  const auto unsharded = mix_seed(run_seed, 999); // update_engine's stream
  return shard == 0 ? unsharded : mix_seed(unsharded, shard);
}

range_engine::range_engine(const run_config& cfg, key_range range, std::uint32_t shard,
                           std::span<const float> slice, std::span<const float> momentum_slice,
                           std::uint64_t version)
    : range_(range), base_lr_(static_cast<float>(cfg.lr)),
      rule_(parse_aggregate_rule(cfg.aggregate)),
      downlink_(resolve_method(cfg).downlink, resolve_method(cfg).downlink_residual,
                static_cast<std::size_t>(range.size())),
      schedule_(parse_lr_schedule(cfg.lr_schedule)), rng_(shard_downlink_seed(cfg.seed, shard)),
      version_(version) {
  const auto n = static_cast<Eigen::Index>(range.size());
  if (slice.size() != range.size())
    throw std::invalid_argument(fmt::format("shard {}: a slice of {} coordinates for a range of {}",
                                            shard, slice.size(), range.size()));
  x_ = Eigen::Map<const Eigen::VectorXf>(slice.data(), n);
  average_.resize(n);
  if (cfg.momentum > 0) {
    mom_.emplace(static_cast<std::size_t>(n), static_cast<float>(cfg.momentum));
    if (!momentum_slice.empty()) {
      if (momentum_slice.size() != range.size())
        throw std::invalid_argument(
            fmt::format("shard {}: a momentum slice of {} coordinates for a range of {}", shard,
                        momentum_slice.size(), range.size()));
      mom_->buffer() = Eigen::Map<const Eigen::VectorXf>(momentum_slice.data(), n);
    }
  }
}

compressed_message range_engine::aggregate(std::span<const compressed_message> pushes,
                                           float weight) {
  return server_aggregate(pushes, weight, rule_, downlink_, average_, robust_scratch_, rng_);
}

void range_engine::apply(const compressed_message& c) {
  apply_update(c, lr(), mom_ ? &*mom_ : nullptr, x_, scratch_);
  ++version_;
}

float range_engine::lr() const {
  return schedule_.at(version_, base_lr_);
}

} // namespace dsq
