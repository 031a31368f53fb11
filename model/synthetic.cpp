#include "model/synthetic.hpp"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "model/data_rng.hpp"

namespace dsq {

namespace {

enum stream : std::uint64_t { centre_stream = 1, train_stream = 2, test_stream = 3 };

dataset draw_samples(const Eigen::MatrixXf& centres, std::size_t count, float noise, data_rng rng) {
  dataset data;
  data.num_classes = static_cast<int>(centres.cols());
  data.features.resize(centres.rows(), static_cast<Eigen::Index>(count));
  data.labels.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    const auto label = static_cast<std::int32_t>(rng.below(centres.cols()));
    data.labels[i] = label;
    auto column = data.features.col(static_cast<Eigen::Index>(i));
    for (Eigen::Index k = 0; k < centres.rows(); ++k)
      column(k) = centres(k, label) + noise * static_cast<float>(rng.normal());
  }
  return data;
}

} // namespace

train_test make_synthetic(const synthetic_options& options, std::uint64_t seed) {
  if (options.train_size == 0 || options.test_size == 0 || options.dimension < 1)
    throw std::invalid_argument("synthetic data: sizes and dimension must be positive");
  if (options.num_classes < 2)
    throw std::invalid_argument("synthetic data: need at least 2 classes");
  if (!(options.noise >= 0) || !(options.separation >= 0))
    throw std::invalid_argument("synthetic data: noise and separation must be >= 0");

  // Coordinates of variance separation^2 / d give centres of norm about `separation` whatever
  // the dimension, so the difficulty depends on noise / separation only.
  auto rng = data_rng::for_stream(seed, centre_stream);
  const double coordinate_scale = options.separation / std::sqrt(double(options.dimension));
  Eigen::MatrixXf centres(options.dimension, options.num_classes);
  for (Eigen::Index c = 0; c < centres.cols(); ++c)
    for (Eigen::Index k = 0; k < centres.rows(); ++k)
      centres(k, c) = static_cast<float>(coordinate_scale * rng.normal());

  train_test out;
  out.train = draw_samples(centres, options.train_size, options.noise,
                           data_rng::for_stream(seed, train_stream));
  out.test = draw_samples(centres, options.test_size, options.noise,
                          data_rng::for_stream(seed, test_stream));
  out.description = fmt::format(
      "synthetic Gaussian clusters ({} train / {} test, {} features, {} classes, noise {:g})",
      options.train_size, options.test_size, options.dimension, options.num_classes, options.noise);
  return out;
}

} // namespace dsq
