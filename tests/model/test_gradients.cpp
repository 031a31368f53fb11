// Analytic gradients against central finite differences, on instances small enough to check
// every coordinate.
#include <boost/test/unit_test.hpp>

#include "each_simd_level.hpp"
#include "gradient_check.hpp"

#include <cmath>
#include <vector>

#include "model/data_rng.hpp"
#include "model/multilayer_perceptron.hpp"
#include "model/softmax_regression.hpp"

namespace {

Eigen::VectorXf random_params(const dsq::model& m, std::uint64_t seed) {
  Eigen::VectorXf p(static_cast<Eigen::Index>(m.num_parameters()));
  dsq::data_rng rng(seed);
  for (auto& v : p)
    v = static_cast<float>(0.5 * rng.normal());
  return p;
}

} // namespace

BOOST_AUTO_TEST_SUITE(gradients)

BOOST_AUTO_TEST_CASE(softmax_gradient_matches_finite_differences) {
  dsq::softmax_regression m(6, 4);
  dsq::test::check_gradient(m, random_params(m, 1), dsq::test::random_batch(6, 9, 4, 2));
}

BOOST_AUTO_TEST_CASE(softmax_gradient_with_l2_matches_finite_differences) {
  dsq::softmax_regression m(6, 4, 0.3f);
  dsq::test::check_gradient(m, random_params(m, 3), dsq::test::random_batch(6, 9, 4, 4));
}

BOOST_AUTO_TEST_CASE(mlp_gradient_matches_finite_differences) {
  dsq::multilayer_perceptron m(5, {7, 6}, 3);
  Eigen::VectorXf params(static_cast<Eigen::Index>(m.num_parameters()));
  m.initialize(params, 5);
  params += random_params(m, 6) * 0.2f; // non-zero biases, so every term of the gradient counts
  dsq::test::at_every_simd_level(
      [&] { dsq::test::check_gradient(m, params, dsq::test::random_batch(5, 8, 3, 7)); });
}

BOOST_AUTO_TEST_CASE(mlp_gradient_with_l2_matches_finite_differences) {
  dsq::multilayer_perceptron m(5, {6}, 4, 0.2f);
  Eigen::VectorXf params(static_cast<Eigen::Index>(m.num_parameters()));
  m.initialize(params, 8);
  params += random_params(m, 9) * 0.2f;
  dsq::test::at_every_simd_level(
      [&] { dsq::test::check_gradient(m, params, dsq::test::random_batch(5, 8, 4, 10)); });
}

BOOST_AUTO_TEST_CASE(l2_adds_l2_times_weights_but_nothing_to_biases) {
  const float l2 = 0.5f;
  dsq::multilayer_perceptron plain(4, {3}, 2), regularised(4, {3}, 2, l2);
  Eigen::VectorXf params = random_params(plain, 11);
  const auto b = dsq::test::random_batch(4, 5, 2, 12);
  Eigen::VectorXf g_plain(params.size()), g_reg(params.size());
  const float loss_plain = plain.loss_and_gradient(params, b.x, b.y, g_plain);
  const float loss_reg = regularised.loss_and_gradient(params, b.x, b.y, g_reg);
  // Layout: W1 (3x4), b1 (3), W2 (2x3), b2 (2).
  Eigen::VectorXf expected = g_plain;
  expected.segment(0, 12) += l2 * params.segment(0, 12);
  expected.segment(15, 6) += l2 * params.segment(15, 6);
  BOOST_TEST((g_reg - expected).cwiseAbs().maxCoeff() <= 1e-6f);
  const float penalty =
      0.5f * l2 * (params.segment(0, 12).squaredNorm() + params.segment(15, 6).squaredNorm());
  BOOST_TEST(std::abs(loss_reg - loss_plain - penalty) <= 1e-5f);
}

BOOST_AUTO_TEST_CASE(loss_is_stable_for_huge_logits) {
  dsq::softmax_regression m(2, 3);
  Eigen::VectorXf params = Eigen::VectorXf::Zero(9);
  params(0) = 1e4f; // class 0 weight on feature 0: logits of order 1e4 overflow a naive exp
  Eigen::MatrixXf x(2, 2);
  x << 1, 1, 0, 0;
  std::vector<std::int32_t> y{0, 1};
  Eigen::VectorXf grad(9);
  const float loss = m.loss_and_gradient(params, x, y, grad);
  BOOST_TEST(std::isfinite(loss));
  BOOST_TEST(grad.allFinite());
  // Sample 0 is classified with certainty (loss 0), sample 1 is wrong by 1e4.
  BOOST_TEST(std::abs(loss - 0.5f * 1e4f) <= 1.0f);
}

BOOST_AUTO_TEST_CASE(mlp_initialization_is_seeded_he) {
  dsq::multilayer_perceptron m(400, {300}, 10);
  Eigen::VectorXf a(static_cast<Eigen::Index>(m.num_parameters())), b(a.size()), c(a.size());
  m.initialize(a, 42);
  m.initialize(b, 42);
  m.initialize(c, 43);
  BOOST_TEST((a == b));
  BOOST_TEST((a != c));
  // First layer: 300 x 400 weights with variance 2 / 400, then 300 zero biases.
  const auto w1 = a.head(120000);
  const double variance = w1.squaredNorm() / 120000.0;
  BOOST_TEST(std::abs(variance - 2.0 / 400.0) <= 0.05 * 2.0 / 400.0);
  BOOST_TEST(a.segment(120000, 300).isZero());
}

BOOST_AUTO_TEST_CASE(wrong_sizes_are_rejected) {
  dsq::multilayer_perceptron m(4, {3}, 2);
  Eigen::VectorXf params = Eigen::VectorXf::Zero(Eigen::Index(m.num_parameters()));
  Eigen::VectorXf grad(params.size());
  Eigen::MatrixXf x = Eigen::MatrixXf::Zero(4, 2);
  std::vector<std::int32_t> y{0, 1};
  Eigen::VectorXf short_params = Eigen::VectorXf::Zero(params.size() - 1);
  BOOST_CHECK_THROW(m.loss(short_params, x, y), std::invalid_argument);
  Eigen::MatrixXf wide = Eigen::MatrixXf::Zero(5, 2);
  BOOST_CHECK_THROW(m.loss(params, wide, y), std::invalid_argument);
  std::vector<std::int32_t> bad_label{0, 2};
  BOOST_CHECK_THROW(m.loss_and_gradient(params, x, bad_label, grad), std::invalid_argument);
  std::vector<std::int32_t> out(3);
  BOOST_CHECK_THROW(m.predict(params, x, out), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
