#pragma once

#include <cstddef>
#include <cstdint>

#include <Eigen/Core>

#include "model/dataset.hpp"

namespace dsq {

// A classification problem that needs no files: one Gaussian cluster per class. Class centres
// are random with norm about `separation`, and each sample is its centre plus isotropic noise
// of standard deviation `noise` per coordinate. With the defaults the classes are well
// separated but overlap a little, so accuracy climbs to the high 90s rather than to 100% at
// once, which keeps the curves of different training methods apart.
struct synthetic_options {
  std::size_t train_size = 20000;
  std::size_t test_size = 4000;
  Eigen::Index dimension = 64;
  int num_classes = 10;
  float noise = 1.0f;
  float separation = 4.0f;
};

// Deterministic given the seed: the centres come from one stream of the seed, the training
// and test samples from two others (so test_size does not change the training set). Classes
// are drawn uniformly per sample. Throws std::invalid_argument for empty sizes, fewer than 2
// classes or a negative noise.
train_test make_synthetic(const synthetic_options& options, std::uint64_t seed);

} // namespace dsq
