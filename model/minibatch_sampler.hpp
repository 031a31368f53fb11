#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <Eigen/Core>

#include "model/dataset.hpp"

namespace dsq {

// Draws minibatches from one worker's shard, epoch after epoch. Each epoch is a fresh seeded
// permutation of the shard (stream (seed, epoch)), and the batches are consecutive slices of
// the concatenated epochs: every batch has exactly batch_size samples (equal-sized batches keep
// the gradient noise of all workers alike), so a batch may straddle two epochs, and still each
// epoch visits every sample of the shard exactly once.
//
// If batch_size >= the shard size, every batch is the whole shard (in a new order each time)
// and every call completes one epoch: repeating samples inside one batch would only weight
// some of them twice.
class minibatch_sampler {
public:
  // Throws std::invalid_argument for an empty shard or batch_size == 0.
  minibatch_sampler(std::vector<std::size_t> indices, std::size_t batch_size, std::uint64_t seed);

  // Sample indices of the next batch; valid until the next call.
  std::span<const std::size_t> next();

  // Number of complete passes over the shard so far, which is also the number of the epoch in
  // progress (the next one starts as soon as one completes).
  std::size_t epoch() const { return epoch_; }
  // The next entry of the current epoch's permutation that next() hands out; < shard_size().
  std::size_t position() const { return position_; }

  // Continues as the sampler over the same shard, batch size and seed that stood at
  // (epoch(), position()) = (epoch, position): the epoch's permutation is recomputed from its
  // seed, so the batches that follow are the ones that sampler would have drawn. Throws
  // std::invalid_argument if position >= shard_size().
  void restore(std::uint64_t epoch, std::size_t position);
  std::size_t shard_size() const { return order_.size(); }
  // The size of every batch: min(batch_size, shard_size()).
  std::size_t batch_size() const { return batch_.size(); }
  // The first indices that the next call of next() returns, as far as the current epoch's
  // permutation holds them (those of the next epoch are drawn only when it starts): what a caller
  // can prefetch. Changes nothing.
  std::span<const std::size_t> upcoming() const;

private:
  void start_epoch();

  std::vector<std::size_t> shard_;
  std::vector<std::size_t> order_; // the current epoch's permutation of shard_
  std::vector<std::size_t> batch_;
  std::size_t position_ = 0; // next unused entry of order_
  std::size_t epoch_ = 0;
  std::uint64_t seed_;
};

// Copies the samples at idx into x (d x idx.size()) and y, reusing their storage: the form
// model::loss_and_gradient takes. Throws std::out_of_range for an index >= data.size().
void gather(const dataset& data, std::span<const std::size_t> idx, Eigen::MatrixXf& x,
            std::vector<std::int32_t>& y);

// Asks the CPU to fetch the features of the samples at idx into its caches, without waiting for
// them: called with the next batch's indices while this batch's gradient is computed, the next
// gather copies from cache instead of waiting on memory for samples spread over the whole data
// set. Indices >= data.size() are skipped (gather reports them).
void prefetch(const dataset& data, std::span<const std::size_t> idx) noexcept;

} // namespace dsq
