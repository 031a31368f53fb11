// The built-in data form (include/dsq/data.hpp): a train_test in memory, each worker's shard
// cut by shard_indices and sampled by minibatch_sampler, exactly as the worker did before the
// data_source interface existed, so that runs stay bit for bit.
#include <dsq/data.hpp>

#include "base/random.hpp"
#include "model/minibatch_sampler.hpp"
#include "model/sharding.hpp"

#include <fmt/format.h>

#include <stdexcept>
#include <utility>

namespace dsq {

namespace {

/// The seed of a shard's sampler: a new stream for every worker and every assignment.
std::uint64_t sampler_seed(const shard_spec& shard) {
  return mix_seed(shard.seed, (shard.generation << 20) + shard.worker);
}

class in_memory_batches final : public batch_source {
public:
  in_memory_batches(std::shared_ptr<const train_test> data, const shard_spec& shard)
      : data_(std::move(data)),
        sampler_(shard_indices(data_->train.size(), shard.index, shard.count,
                               shard.shuffled ? shard_mode::shuffled : shard_mode::contiguous,
                               shard.seed),
                 shard.batch, sampler_seed(shard)) {}

  void next(Eigen::MatrixXf& x, std::vector<std::int32_t>& y) override {
    gather(data_->train, sampler_.next(), x, y);
    prefetch(data_->train, sampler_.upcoming());
  }

  std::vector<std::uint64_t> state() const override {
    return {static_cast<std::uint64_t>(sampler_.epoch()),
            static_cast<std::uint64_t>(sampler_.position())};
  }

  void restore(std::span<const std::uint64_t> state) override {
    if (state.size() != 2)
      throw std::invalid_argument(fmt::format(
          "the sampler's state has {} words instead of 2 (epoch, position)", state.size()));
    sampler_.restore(state[0], static_cast<std::size_t>(state[1]));
  }

  std::size_t shard_size() const override { return sampler_.shard_size(); }

private:
  std::shared_ptr<const train_test> data_;
  minibatch_sampler sampler_;
};

class in_memory_source final : public data_source {
public:
  explicit in_memory_source(std::shared_ptr<const train_test> data) : data_(std::move(data)) {
    if (!data_)
      throw std::invalid_argument("in_memory_data: no data");
  }
  Eigen::Index input_dim() const override { return data_->train.dimension(); }
  int num_classes() const override { return data_->train.num_classes; }
  std::size_t train_size() const override { return data_->train.size(); }
  std::unique_ptr<batch_source> open_shard(const shard_spec& shard) const override {
    return std::make_unique<in_memory_batches>(data_, shard);
  }
  const dataset* test_set() const override { return &data_->test; }
  const dataset* train_set() const override { return &data_->train; }
  std::string description() const override { return data_->description; }

private:
  std::shared_ptr<const train_test> data_;
};

} // namespace

std::shared_ptr<const data_source> in_memory_data(std::shared_ptr<const train_test> data) {
  return std::make_shared<in_memory_source>(std::move(data));
}

} // namespace dsq
