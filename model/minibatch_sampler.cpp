#include "model/minibatch_sampler.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "model/data_rng.hpp"

namespace dsq {

minibatch_sampler::minibatch_sampler(std::vector<std::size_t> indices, std::size_t batch_size,
                                     std::uint64_t seed)
    : shard_(std::move(indices)), seed_(seed) {
  if (shard_.empty())
    throw std::invalid_argument("minibatch_sampler: empty shard");
  if (batch_size == 0)
    throw std::invalid_argument("minibatch_sampler: batch size must be positive");
  batch_.resize(std::min(batch_size, shard_.size()));
  start_epoch();
}

void minibatch_sampler::start_epoch() {
  order_ = shard_;
  auto rng = data_rng::for_stream(seed_, epoch_);
  seeded_shuffle(std::span<std::size_t>(order_), rng);
  position_ = 0;
}

void minibatch_sampler::restore(std::uint64_t epoch, std::size_t position) {
  if (position >= shard_.size())
    throw std::invalid_argument("minibatch_sampler: position " + std::to_string(position) +
                                " is outside a shard of " + std::to_string(shard_.size()) +
                                " samples");
  epoch_ = static_cast<std::size_t>(epoch);
  start_epoch();
  position_ = position;
}

std::span<const std::size_t> minibatch_sampler::next() {
  for (std::size_t filled = 0; filled < batch_.size();) {
    const auto take = std::min(batch_.size() - filled, order_.size() - position_);
    std::copy_n(order_.begin() + std::ptrdiff_t(position_), take,
                batch_.begin() + std::ptrdiff_t(filled));
    filled += take;
    position_ += take;
    if (position_ == order_.size()) {
      ++epoch_;
      start_epoch();
    }
  }
  return batch_;
}

std::span<const std::size_t> minibatch_sampler::upcoming() const {
  const auto take = std::min(batch_.size(), order_.size() - position_);
  return std::span<const std::size_t>{order_}.subspan(position_, take);
}

void prefetch(const dataset& data, std::span<const std::size_t> idx) noexcept {
  constexpr std::size_t line = 64;
  const auto bytes = static_cast<std::size_t>(data.dimension()) * sizeof(float);
  for (const auto i : idx) {
    if (i >= data.size())
      continue;
    const auto* first = reinterpret_cast<const char*>(data.features.col(Eigen::Index(i)).data());
    for (std::size_t at = 0; at < bytes; at += line)
      __builtin_prefetch(first + at, 0, 3);
  }
}

void gather(const dataset& data, std::span<const std::size_t> idx, Eigen::MatrixXf& x,
            std::vector<std::int32_t>& y) {
  x.resize(data.dimension(), static_cast<Eigen::Index>(idx.size()));
  y.resize(idx.size());
  for (std::size_t j = 0; j < idx.size(); ++j) {
    if (idx[j] >= data.size())
      throw std::out_of_range("gather: index " + std::to_string(idx[j]) +
                              " out of range for a data set of " + std::to_string(data.size()) +
                              " samples");
    x.col(Eigen::Index(j)) = data.features.col(Eigen::Index(idx[j]));
    y[j] = data.labels[idx[j]];
  }
}

} // namespace dsq
