#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "model/feature_matrix.hpp"

namespace dsq {

// A labelled classification data set held in memory.
struct dataset {
  // d x N, one sample per column: column-major storage keeps every sample contiguous, so a
  // minibatch is gathered by copying whole columns. Owned, or a view of a mapped data cache.
  feature_matrix features;
  // Class of each sample, in [0, num_classes).
  std::vector<std::int32_t> labels;
  int num_classes = 0;

  std::size_t size() const { return labels.size(); }
  Eigen::Index dimension() const { return features.rows(); }
};

struct train_test {
  dataset train, test;
  // For logs, e.g. "MNIST (60000 train / 10000 test, 784 features)".
  std::string description;
  // What the data cache (model/data_cache.hpp) did, for a log line; empty without a cache.
  std::string cache_note;
  // True when the cache's note is a warning (a damaged file rebuilt, or none written).
  bool cache_warning = false;
};

// The samples at `indices`, in that order (indices may repeat). Throws std::out_of_range for
// an index >= data.size().
dataset subset(const dataset& data, std::span<const std::size_t> indices);

// Throws std::invalid_argument unless features and labels agree in count and every label lies
// in [0, num_classes). `what` names the data set in the message.
void check_consistent(const dataset& data, const std::string& what);

} // namespace dsq
