#include "model/model.hpp"

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace dsq {

namespace {

// Enough columns to keep the matrix products efficient, few enough that an MLP's activations
// for one chunk stay at a few megabytes whatever the size of the data set.
constexpr Eigen::Index evaluation_chunk = 1024;

} // namespace

evaluation model::evaluate_batch(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                                 std::span<const std::int32_t> y) const {
  std::vector<std::int32_t> predicted(y.size());
  predict(params, x, predicted);
  std::size_t correct = 0;
  for (std::size_t i = 0; i < y.size(); ++i)
    correct += predicted[i] == y[i];
  return {loss(params, x, y), y.empty() ? 0.0 : double(correct) / double(y.size())};
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
