#pragma once

// A data set dsq does not have: Gaussian blobs, one per class, generated from the run's seed, so
// that every process of a run (the server and each worker, on any host) makes the same samples
// without a file to share.

#include <dsq/data.hpp>
#include <dsq/dataset.hpp>
#include <dsq/random.hpp>

#include <Eigen/Core>

#include <cmath>
#include <cstdint>
#include <memory>
#include <numeric>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace example {

/// What a blobs data set is made of (its spec: blobs:classes=4,features=16,...).
struct blobs_shape {
  int classes = 4;
  Eigen::Index features = 16;
  std::size_t train = 8000;
  std::size_t test = 2000;
  double noise = 1.0; ///< standard deviation around each class centre (which lie ~3 apart)
};

/// A uniform number in [0, 1) from the engine's top 24 bits.
inline float uniform01(dsq::rng_engine& rng) {
  return static_cast<float>(rng() >> 40) * 0x1p-24f;
}

/// `count` samples, labels cycling through the classes, drawn from stream `stream` of `seed`.
inline dsq::dataset make_blobs(const blobs_shape& shape, const Eigen::MatrixXf& centres,
                               std::size_t count, std::uint64_t seed, std::uint64_t stream) {
  dsq::rng_engine rng{dsq::stream_seed(seed, stream)};
  dsq::dataset data;
  data.num_classes = shape.classes;
  data.features.resize(shape.features, static_cast<Eigen::Index>(count));
  data.labels.resize(count);
  for (std::size_t j = 0; j < count; ++j) {
    const auto label = static_cast<std::int32_t>(j % static_cast<std::size_t>(shape.classes));
    data.labels[j] = label;
    for (Eigen::Index i = 0; i < shape.features; ++i) {
      // Box-Muller: the same numbers on every machine (std::normal_distribution is not).
      const float u = 1.0f - uniform01(rng), v = uniform01(rng);
      const float normal = std::sqrt(-2.0f * std::log(u)) * std::cos(6.2831853f * v);
      data.features(i, static_cast<Eigen::Index>(j)) =
          centres(i, label) + static_cast<float>(shape.noise) * normal;
    }
  }
  return data;
}

/// One worker's minibatches: its contiguous part of the training set, visited in an order that
/// is shuffled anew each epoch (--shard=shuffled) or in sequence. Its state is two words,
/// {epoch, position}: enough for a checkpoint to continue exactly where it stopped.
class blobs_batches final : public dsq::batch_source {
public:
  blobs_batches(std::shared_ptr<const dsq::dataset> train, const dsq::shard_spec& shard)
      : train_(std::move(train)), shard_(shard) {
    const std::size_t n = train_->size();
    first_ = n * shard.index / shard.count;
    size_ = n * (shard.index + 1) / shard.count - first_;
    if (size_ == 0)
      throw std::invalid_argument("blobs: shard " + std::to_string(shard.index) + " of " +
                                  std::to_string(shard.count) +
                                  " is empty: give the data set more train= samples");
    arrange();
  }

  void next(Eigen::MatrixXf& x, std::vector<std::int32_t>& y) override {
    const auto batch = static_cast<Eigen::Index>(shard_.batch);
    x.resize(train_->dimension(), batch); // no allocation once the sizes are right
    y.resize(shard_.batch);
    for (Eigen::Index b = 0; b < batch; ++b) {
      if (position_ == size_) {
        ++epoch_;
        position_ = 0;
        arrange();
      }
      const std::size_t sample = order_[position_++];
      x.col(b) = train_->features.col(static_cast<Eigen::Index>(sample));
      y[static_cast<std::size_t>(b)] = train_->labels[sample];
    }
  }

  std::vector<std::uint64_t> state() const override { return {epoch_, position_}; }

  void restore(std::span<const std::uint64_t> state) override {
    // The words come from a checkpoint file or the network: check them before trusting them.
    if (state.size() != 2 || state[1] > size_)
      throw std::invalid_argument("blobs: a sampler state of " + std::to_string(state.size()) +
                                  " words that this shard (" + std::to_string(size_) +
                                  " samples) cannot have written");
    epoch_ = state[0];
    position_ = static_cast<std::size_t>(state[1]);
    arrange();
  }

private:
  // This epoch's order of the shard's samples: a function of (seed, shard, epoch) only.
  void arrange() {
    order_.resize(size_);
    std::iota(order_.begin(), order_.end(), first_);
    if (!shard_.shuffled)
      return;
    dsq::rng_engine rng{dsq::mix_seed(dsq::stream_seed(shard_.seed, shard_.index), epoch_)};
    for (std::size_t i = size_; i > 1; --i)
      std::swap(order_[i - 1], order_[rng() % i]);
  }

  std::shared_ptr<const dsq::dataset> train_;
  dsq::shard_spec shard_;
  std::size_t first_ = 0, size_ = 0;
  std::uint64_t epoch_ = 0;
  std::size_t position_ = 0;
  std::vector<std::size_t> order_;
};

/// The data set as dsq sees it: the workers' shards and the sets the server evaluates on.
/// Immutable once built, so the actors of a process may share it.
class blobs final : public dsq::data_source {
public:
  blobs(const blobs_shape& shape, std::uint64_t seed) : shape_(shape) {
    // The class centres: stream 0 of the seed; the training set stream 1, the test set 2.
    dsq::rng_engine rng{dsq::stream_seed(seed, 0)};
    Eigen::MatrixXf centres(shape.features, shape.classes);
    for (Eigen::Index i = 0; i < centres.size(); ++i)
      centres(i) = 3.0f * (uniform01(rng) - 0.5f);
    train_ = std::make_shared<const dsq::dataset>(make_blobs(shape, centres, shape.train, seed, 1));
    test_ = make_blobs(shape, centres, shape.test, seed, 2);
  }

  Eigen::Index input_dim() const override { return shape_.features; }
  int num_classes() const override { return shape_.classes; }
  std::size_t train_size() const override { return shape_.train; }
  std::unique_ptr<dsq::batch_source> open_shard(const dsq::shard_spec& shard) const override {
    return std::make_unique<blobs_batches>(train_, shard);
  }
  const dsq::dataset* test_set() const override { return &test_; }
  const dsq::dataset* train_set() const override { return train_.get(); }
  std::string description() const override {
    return "blobs (" + std::to_string(shape_.train) + " train / " + std::to_string(shape_.test) +
           " test, " + std::to_string(shape_.features) + " features, " +
           std::to_string(shape_.classes) + " classes)";
  }

private:
  blobs_shape shape_;
  std::shared_ptr<const dsq::dataset> train_;
  dsq::dataset test_;
};

} // namespace example
