#pragma once

// A model dsq does not have: linear least squares used as a classifier. Scores s = W x + b, one
// per class; the loss is half the squared distance of s to the one-hot label (plus an L2 term),
// and the predicted class is the largest score.

#include <dsq/model.hpp>
#include <dsq/random.hpp>

#include <Eigen/Core>

#include <cstdint>
#include <span>
#include <string>

namespace example {

/// W (classes x features, column-major) then b (classes): one flat vector, as dsq keeps every
/// model's parameters, so that they can be compressed, averaged and sent as they are.
class least_squares final : public dsq::model {
public:
  /// `spec` is the text it was built from, which spec() gives back (make_model rebuilds it).
  least_squares(Eigen::Index features, int classes, double l2, std::string spec)
      : features_(features), classes_(classes), l2_(static_cast<float>(l2)),
        spec_(std::move(spec)) {}

  std::size_t num_parameters() const override {
    return static_cast<std::size_t>(classes_ * features_ + classes_);
  }
  Eigen::Index input_dim() const override { return features_; }
  int num_classes() const override { return classes_; }
  std::string spec() const override { return spec_; }

private:
  using matrix_view = Eigen::Map<const Eigen::MatrixXf>;
  using vector_view = Eigen::Map<const Eigen::VectorXf>;

  const char* name() const override { return "least_squares"; }

  // Small uniform weights from the seed only: the same seed gives the same start everywhere.
  void do_initialize(Eigen::Ref<Eigen::VectorXf> params, std::uint64_t seed) const override {
    dsq::rng_engine rng{seed};
    for (Eigen::Index i = 0; i < params.size(); ++i)
      params[i] = 0.02f * (static_cast<float>(rng() >> 40) * 0x1p-24f - 0.5f);
  }

  // The scores minus the one-hot labels: classes x batch.
  Eigen::MatrixXf residual(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                           std::span<const std::int32_t> y) const {
    const matrix_view w(params.data(), classes_, features_);
    const vector_view b(params.data() + classes_ * features_, classes_);
    Eigen::MatrixXf r = (w * x).colwise() + b;
    for (Eigen::Index j = 0; j < x.cols(); ++j)
      r(y[static_cast<std::size_t>(j)], j) -= 1.0f;
    return r;
  }

  float penalty(const Eigen::VectorXf& params) const {
    return 0.5f * l2_ * params.head(classes_ * features_).squaredNorm();
  }

  float do_loss_and_gradient(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                             std::span<const std::int32_t> y,
                             Eigen::Ref<Eigen::VectorXf> grad) const override {
    const Eigen::MatrixXf r = residual(params, x, y);
    const float batch = static_cast<float>(x.cols());
    const matrix_view w(params.data(), classes_, features_);
    Eigen::Map<Eigen::MatrixXf>(grad.data(), classes_, features_) =
        r * x.transpose() / batch + l2_ * w;
    grad.tail(classes_) = r.rowwise().sum() / batch;
    return 0.5f * r.squaredNorm() / batch + penalty(params);
  }

  float do_loss(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                std::span<const std::int32_t> y) const override {
    return 0.5f * residual(params, x, y).squaredNorm() / static_cast<float>(x.cols()) +
           penalty(params);
  }

  void do_predict(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                  std::span<std::int32_t> out) const override {
    const matrix_view w(params.data(), classes_, features_);
    const vector_view b(params.data() + classes_ * features_, classes_);
    const Eigen::MatrixXf scores = (w * x).colwise() + b;
    for (Eigen::Index j = 0; j < x.cols(); ++j) {
      Eigen::Index best = 0;
      scores.col(j).maxCoeff(&best);
      out[static_cast<std::size_t>(j)] = static_cast<std::int32_t>(best);
    }
  }

  Eigen::Index features_;
  int classes_;
  float l2_;
  std::string spec_;
};

} // namespace example
