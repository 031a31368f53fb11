#include "model/normalize.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace dsq {

void feature_transform::apply(feature_matrix& features) const {
  if (features.rows() != offset.size())
    throw std::invalid_argument("feature_transform: fitted on " + std::to_string(offset.size()) +
                                " features, applied to " + std::to_string(features.rows()));
  features = (features.colwise() - offset).array().colwise() * scale.array();
}

feature_transform fit_unit_range(const Eigen::Ref<const Eigen::MatrixXf>& features) {
  feature_transform t;
  t.offset = features.rowwise().minCoeff();
  const Eigen::VectorXf range = features.rowwise().maxCoeff() - t.offset;
  t.scale = range.unaryExpr([](float r) { return r > 0 ? 1.0f / r : 1.0f; });
  return t;
}

feature_transform fit_standardize(const Eigen::Ref<const Eigen::MatrixXf>& features) {
  const Eigen::MatrixXd x = features.cast<double>();
  const Eigen::VectorXd mean = x.rowwise().mean();
  const Eigen::VectorXd variance = (x.colwise() - mean).array().square().rowwise().sum() /
                                   double(std::max<Eigen::Index>(x.cols(), 1));
  feature_transform t;
  t.offset = mean.cast<float>();
  t.scale =
      variance.unaryExpr([](double v) { return v > 0 ? 1.0 / std::sqrt(v) : 1.0; }).cast<float>();
  return t;
}

normalization parse_normalization(std::string_view name) {
  if (name == "none")
    return normalization::none;
  if (name == "unit")
    return normalization::unit_range;
  if (name == "standardize")
    return normalization::standardize;
  throw std::invalid_argument("unknown normalization '" + std::string(name) +
                              "' (known: none, unit, standardize)");
}

void normalize(train_test& data, normalization how) {
  if (how == normalization::none)
    return;
  const auto t = how == normalization::unit_range ? fit_unit_range(data.train.features)
                                                  : fit_standardize(data.train.features);
  t.apply(data.train.features);
  t.apply(data.test.features);
}

} // namespace dsq
