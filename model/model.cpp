#include "model/model.hpp"

#include "model/product_blocking.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace dsq {

namespace {

// Enough columns to keep the matrix products efficient, few enough that an MLP's activations
// for one chunk stay at a few megabytes whatever the size of the data set.
constexpr Eigen::Index evaluation_chunk = 1024;

// Argument checks of the public methods. A wrong size would otherwise surface as an Eigen
// assertion in debug builds and as silent memory corruption in release builds.

void check_parameter_count(const char* who, const char* method, Eigen::Index given,
                           std::size_t expected) {
  if (static_cast<std::size_t>(given) != expected)
    throw std::invalid_argument(fmt::format(
        "{}::{}: parameter vector has {} entries, the model has {}", who, method, given, expected));
}

void check_inputs(const char* who, const char* method, const Eigen::MatrixXf& x,
                  Eigen::Index input_dim) {
  if (x.rows() != input_dim)
    throw std::invalid_argument(fmt::format("{}::{}: inputs have {} features, the model expects {}",
                                            who, method, x.rows(), input_dim));
  if (x.cols() == 0)
    throw std::invalid_argument(fmt::format("{}::{}: empty batch", who, method));
}

void check_labels(const char* who, const char* method, const Eigen::MatrixXf& x,
                  std::span<const std::int32_t> y, int num_classes) {
  if (static_cast<std::size_t>(x.cols()) != y.size())
    throw std::invalid_argument(
        fmt::format("{}::{}: {} samples but {} labels", who, method, x.cols(), y.size()));
  for (auto label : y)
    if (label < 0 || label >= num_classes)
      throw std::invalid_argument(
          fmt::format("{}::{}: label {} outside [0, {})", who, method, label, num_classes));
}

} // namespace

model::model() {
  pin_product_blocking();
}

void model::check_batch(const char* method, const Eigen::VectorXf& params,
                        const Eigen::MatrixXf& x) const {
  check_parameter_count(name(), method, params.size(), num_parameters());
  check_inputs(name(), method, x, input_dim());
}

void model::check_labelled_batch(const char* method, const Eigen::VectorXf& params,
                                 const Eigen::MatrixXf& x, std::span<const std::int32_t> y) const {
  check_batch(method, params, x);
  check_labels(name(), method, x, y, num_classes());
}

void model::initialize(Eigen::Ref<Eigen::VectorXf> params, std::uint64_t seed) const {
  check_parameter_count(name(), "initialize", params.size(), num_parameters());
  do_initialize(params, seed);
}

float model::loss_and_gradient(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                               std::span<const std::int32_t> y,
                               Eigen::Ref<Eigen::VectorXf> grad) const {
  check_labelled_batch("loss_and_gradient", params, x, y);
  check_parameter_count(name(), "loss_and_gradient", grad.size(), num_parameters());
  return do_loss_and_gradient(params, x, y, grad);
}

float model::loss(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                  std::span<const std::int32_t> y) const {
  check_labelled_batch("loss", params, x, y);
  return do_loss(params, x, y);
}

void model::predict(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                    std::span<std::int32_t> out) const {
  check_batch("predict", params, x);
  if (out.size() != static_cast<std::size_t>(x.cols()))
    throw std::invalid_argument(fmt::format("{}::predict: {} samples but room for {} predictions",
                                            name(), x.cols(), out.size()));
  do_predict(params, x, out);
}

evaluation model::evaluate_batch(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                                 std::span<const std::int32_t> y) const {
  check_labelled_batch("evaluate_batch", params, x, y);
  return do_evaluate_batch(params, x, y);
}

evaluation model::do_evaluate_batch(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                                    std::span<const std::int32_t> y) const {
  std::vector<std::int32_t> predicted(y.size());
  do_predict(params, x, predicted);
  std::size_t correct = 0;
  for (std::size_t i = 0; i < y.size(); ++i)
    correct += predicted[i] == y[i];
  return {do_loss(params, x, y), y.empty() ? 0.0 : double(correct) / double(y.size())};
}

evaluation evaluate(const model& m, const Eigen::VectorXf& params, const dataset& data) {
  if (static_cast<std::size_t>(data.features.cols()) != data.labels.size())
    throw std::invalid_argument("evaluate: data set has " + std::to_string(data.features.cols()) +
                                " feature columns but " + std::to_string(data.labels.size()) +
                                " labels");
  const auto n = static_cast<Eigen::Index>(data.size());
  if (n == 0)
    return {0.0, 0.0};
  double loss_sum = 0, correct_sum = 0;
  Eigen::MatrixXf chunk;
  for (Eigen::Index start = 0; start < n; start += evaluation_chunk) {
    const auto count = std::min(evaluation_chunk, n - start);
    chunk = data.features.middleCols(start, count);
    const auto e = m.evaluate_batch(
        params, chunk,
        std::span(data.labels).subspan(static_cast<std::size_t>(start), std::size_t(count)));
    // Weighting by chunk size turns the per-chunk means into means over the whole set.
    loss_sum += e.loss * double(count);
    correct_sum += e.accuracy * double(count);
  }
  return {loss_sum / double(n), correct_sum / double(n)};
}

} // namespace dsq
