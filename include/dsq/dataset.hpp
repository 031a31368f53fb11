#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <Eigen/Core>

#include <dsq/feature_matrix.hpp>

namespace dsq {

/// A labelled classification data set held in memory.
struct dataset {
  /// d x N, one sample per column: column-major storage keeps every sample contiguous, so a
  /// minibatch is gathered by copying whole columns. Used as an Eigen::MatrixXf; the built-in
  /// readers may hand out a read-only view of a memory-mapped data cache (feature_matrix.hpp).
  feature_matrix features;
  /// Class of each sample, in [0, num_classes).
  std::vector<std::int32_t> labels;
  /// The number of classes; labels lie in [0, num_classes).
  int num_classes = 0;

  /// The number of samples.
  std::size_t size() const { return labels.size(); }
  /// The number of features of a sample.
  Eigen::Index dimension() const { return features.rows(); }
};

/// A training set and a test set, as the built-in readers load them.
struct train_test {
  /// The samples the workers train on, and the set the server evaluates on.
  dataset train, test;
  /// For logs, e.g. "MNIST (60000 train / 10000 test, 784 features)".
  std::string description;
  /// What the built-in readers' data cache did ("data from the cache FILE"), for a log line;
  /// empty without a cache (a program's own data).
  std::string cache_note;
  /// True when cache_note is a warning (a damaged cache rebuilt, or none written).
  bool cache_warning = false;
};

/// The samples at `indices`, in that order (indices may repeat). Throws std::out_of_range for
/// an index >= data.size().
dataset subset(const dataset& data, std::span<const std::size_t> indices);

/// Throws std::invalid_argument unless features and labels agree in count and every label lies
/// in [0, num_classes). `what` names the data set in the message.
void check_consistent(const dataset& data, const std::string& what);

} // namespace dsq
