#include "model/softmax_regression.hpp"

#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "model/cross_entropy.hpp"

namespace dsq {

namespace {

using const_matrix_view = Eigen::Map<const Eigen::MatrixXf>;
using const_vector_view = Eigen::Map<const Eigen::VectorXf>;

} // namespace

softmax_regression::softmax_regression(Eigen::Index input_dim, int num_classes, float l2)
    : input_dim_(input_dim), num_classes_(num_classes), l2_(l2) {
  if (input_dim < 1 || num_classes < 2 || !(l2 >= 0))
    throw std::invalid_argument(fmt::format(
        "softmax_regression: need input_dim >= 1, num_classes >= 2 and l2 >= 0 (got {}, {}, {})",
        input_dim, num_classes, l2));
}

std::size_t softmax_regression::num_parameters() const {
  return static_cast<std::size_t>(num_classes_) * static_cast<std::size_t>(input_dim_ + 1);
}

void softmax_regression::do_initialize(Eigen::Ref<Eigen::VectorXf> params, std::uint64_t) const {
  params.setZero();
}

Eigen::MatrixXf softmax_regression::logits(const Eigen::VectorXf& params,
                                           const Eigen::MatrixXf& x) const {
  const const_matrix_view w(params.data(), num_classes_, input_dim_);
  const const_vector_view b(params.data() + w.size(), num_classes_);
  Eigen::MatrixXf z(num_classes_, x.cols());
  z.noalias() = w * x;
  z.colwise() += b;
  return z;
}

float softmax_regression::penalty(const Eigen::VectorXf& params) const {
  if (l2_ == 0)
    return 0;
  return 0.5f * l2_ * params.head(num_classes_ * input_dim_).squaredNorm();
}

float softmax_regression::do_loss_and_gradient(const Eigen::VectorXf& params,
                                               const Eigen::MatrixXf& x,
                                               std::span<const std::int32_t> y,
                                               Eigen::Ref<Eigen::VectorXf> grad) const {
  Eigen::MatrixXf delta = logits(params, x);
  const float data_loss = cross_entropy_with_gradient(delta, y);
  Eigen::Map<Eigen::MatrixXf> grad_w(grad.data(), num_classes_, input_dim_);
  grad_w.noalias() = delta * x.transpose();
  if (l2_ != 0)
    grad_w += l2_ * const_matrix_view(params.data(), num_classes_, input_dim_);
  grad.tail(num_classes_) = delta.rowwise().sum();
  return data_loss + penalty(params);
}

float softmax_regression::do_loss(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                                  std::span<const std::int32_t> y) const {
  return static_cast<float>(total_cross_entropy(logits(params, x), y) / double(x.cols())) +
         penalty(params);
}

void softmax_regression::do_predict(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                                    std::span<std::int32_t> out) const {
  argmax_per_column(logits(params, x), out);
}

evaluation softmax_regression::do_evaluate_batch(const Eigen::VectorXf& params,
                                                 const Eigen::MatrixXf& x,
                                                 std::span<const std::int32_t> y) const {
  const auto z = logits(params, x);
  std::vector<std::int32_t> predicted(y.size());
  argmax_per_column(z, predicted);
  std::size_t correct = 0;
  for (std::size_t i = 0; i < y.size(); ++i)
    correct += predicted[i] == y[i];
  return {total_cross_entropy(z, y) / double(x.cols()) + penalty(params),
          double(correct) / double(y.size())};
}

std::string softmax_regression::spec() const {
  return l2_ == 0 ? std::string("softmax") : fmt::format("softmax:l2={:g}", l2_);
}

} // namespace dsq
