#pragma once

// Analytic gradients against central finite differences, for every model's tests.

#include <boost/test/unit_test.hpp>

#include "model/data_rng.hpp"
#include "model/model.hpp"

#include <Eigen/Core>

#include <cmath>
#include <cstdint>
#include <vector>

namespace dsq::test {

/// A minibatch: samples as columns, and their labels.
struct labelled_batch {
  Eigen::MatrixXf x;
  std::vector<std::int32_t> y;
};

/// `batch` samples of `rows` standard-normal features with labels below `classes`.
inline labelled_batch random_batch(Eigen::Index rows, Eigen::Index batch, int classes,
                                   std::uint64_t seed) {
  dsq::data_rng rng(seed);
  labelled_batch b;
  b.x.resize(rows, batch);
  for (auto& v : b.x.reshaped())
    v = static_cast<float>(rng.normal());
  for (Eigen::Index i = 0; i < batch; ++i)
    b.y.push_back(static_cast<std::int32_t>(rng.below(std::uint64_t(classes))));
  return b;
}

/// Compares every coordinate of the analytic gradient with (L(p + h e_k) - L(p - h e_k)) / 2h.
/// The step suits float: the rounding error of the loss (about 1e-7 relative) contributes some
/// 1e-4 to the estimate and the truncation error about h^2, both far below what a wrong
/// gradient gives (a missing 1/B, a sign, a dropped ReLU mask, a transposed layer). A kink
/// (ReLU at 0, tied max-pooling inputs) within h of a perturbation would spoil one coordinate;
/// callers fix their batches by seeds that put none there. At most 10 bad coordinates are named.
inline void check_gradient(const dsq::model& m, const Eigen::VectorXf& params,
                           const labelled_batch& b) {
  Eigen::VectorXf grad(params.size());
  const float loss = m.loss_and_gradient(params, b.x, b.y, grad);
  BOOST_TEST(std::abs(loss - m.loss(params, b.x, b.y)) <= 1e-5f * std::abs(loss));

  const float h = 2e-3f;
  Eigen::VectorXf numeric(params.size());
  Eigen::VectorXf probe = params;
  for (Eigen::Index k = 0; k < params.size(); ++k) {
    probe(k) = params(k) + h;
    const double up = m.loss(probe, b.x, b.y);
    probe(k) = params(k) - h;
    const double down = m.loss(probe, b.x, b.y);
    probe(k) = params(k);
    numeric(k) = static_cast<float>((up - down) / (2.0 * h));
  }
  int bad = 0;
  for (Eigen::Index k = 0; k < params.size(); ++k)
    if (!(std::abs(grad(k) - numeric(k)) <= 2e-3f + 2e-2f * std::abs(numeric(k))) && ++bad <= 10)
      BOOST_ERROR("coordinate " << k << ": analytic " << grad(k) << ", numeric " << numeric(k));
  BOOST_TEST(bad == 0);
  BOOST_TEST((grad - numeric).norm() <= 1e-2f * numeric.norm());
  BOOST_TEST(numeric.norm() > 1e-3f); // a zero gradient would match trivially
}

} // namespace dsq::test
