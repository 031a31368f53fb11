#include "model/cross_entropy.hpp"

#include <cmath>

namespace dsq {

float cross_entropy_with_gradient(Eigen::MatrixXf& logits, std::span<const std::int32_t> y) {
  const auto batch = logits.cols();
  const Eigen::RowVectorXf column_max = logits.colwise().maxCoeff();
  logits.rowwise() -= column_max;
  double loss = 0;
  // -log softmax(z)_y = log(sum exp(z - max)) - (z_y - max); the second term must be read
  // before exp() overwrites it.
  for (Eigen::Index i = 0; i < batch; ++i)
    loss -= logits(y[std::size_t(i)], i);
  logits = logits.array().exp();
  const Eigen::RowVectorXf sums = logits.colwise().sum();
  loss += sums.array().log().cast<double>().sum();
  logits.array().rowwise() /= sums.array();
  for (Eigen::Index i = 0; i < batch; ++i)
    logits(y[std::size_t(i)], i) -= 1.0f;
  logits /= static_cast<float>(batch);
  return static_cast<float>(loss / double(batch));
}

double total_cross_entropy(const Eigen::MatrixXf& logits, std::span<const std::int32_t> y) {
  const Eigen::RowVectorXf column_max = logits.colwise().maxCoeff();
  const Eigen::RowVectorXf log_sums =
      (logits.rowwise() - column_max).array().exp().colwise().sum().log();
  double total = 0;
  for (Eigen::Index i = 0; i < logits.cols(); ++i)
    total += double(log_sums(i)) - double(logits(y[std::size_t(i)], i) - column_max(i));
  return total;
}

void argmax_per_column(const Eigen::MatrixXf& logits, std::span<std::int32_t> out) {
  for (Eigen::Index i = 0; i < logits.cols(); ++i) {
    Eigen::Index best;
    logits.col(i).maxCoeff(&best);
    out[std::size_t(i)] = static_cast<std::int32_t>(best);
  }
}

} // namespace dsq
