#pragma once

#include <string_view>

#include <Eigen/Core>

#include "model/dataset.hpp"

namespace dsq {

// A per-feature affine map x' = (x - offset) * scale. It is fitted on the training set and
// applied unchanged to the test set: statistics taken from test data would leak into training.
struct feature_transform {
  Eigen::VectorXf offset, scale;

  void apply(feature_matrix& features) const;
};

// Maps each feature's training range [min, max] to [0, 1]. Constant features map to 0.
feature_transform fit_unit_range(const Eigen::Ref<const Eigen::MatrixXf>& features);

// Mean 0 and standard deviation 1 per feature (population deviation, computed in double).
// Constant features are only centred.
feature_transform fit_standardize(const Eigen::Ref<const Eigen::MatrixXf>& features);

enum class normalization { none, unit_range, standardize };

// "none", "unit" (unit_range) or "standardize"; anything else throws std::invalid_argument.
normalization parse_normalization(std::string_view name);

// Fits on data.train and applies to both parts.
void normalize(train_test& data, normalization how);

} // namespace dsq
