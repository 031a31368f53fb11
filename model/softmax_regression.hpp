#pragma once

#include "model/model.hpp"

namespace dsq {

// Multinomial logistic regression: logits = W x + b, trained with softmax cross-entropy.
//
// Parameter layout: W (num_classes x input_dim, column-major), then b (num_classes).
// The loss adds (l2 / 2) * ||W||^2; the bias is not regularised, as is usual, since shrinking
// it only biases the class priors.
class softmax_regression final : public model {
public:
  // Throws std::invalid_argument for input_dim < 1, num_classes < 2 or l2 < 0.
  softmax_regression(Eigen::Index input_dim, int num_classes, float l2 = 0.0f);

  std::size_t num_parameters() const override;
  Eigen::Index input_dim() const override { return input_dim_; }
  int num_classes() const override { return num_classes_; }
  std::string spec() const override;

private:
  const char* name() const override { return "softmax_regression"; }
  // All zeros: the loss is convex, so the seed is not needed to break any symmetry.
  void do_initialize(Eigen::Ref<Eigen::VectorXf> params, std::uint64_t seed) const override;
  float do_loss_and_gradient(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                             std::span<const std::int32_t> y,
                             Eigen::Ref<Eigen::VectorXf> grad) const override;
  float do_loss(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                std::span<const std::int32_t> y) const override;
  void do_predict(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                  std::span<std::int32_t> out) const override;
  evaluation do_evaluate_batch(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                               std::span<const std::int32_t> y) const override;
  Eigen::MatrixXf logits(const Eigen::VectorXf& params, const Eigen::MatrixXf& x) const;
  float penalty(const Eigen::VectorXf& params) const;

  Eigen::Index input_dim_;
  int num_classes_;
  float l2_;
};

} // namespace dsq
