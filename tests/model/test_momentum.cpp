#include <boost/test/unit_test.hpp>

#include "model/data_rng.hpp"
#include "model/momentum.hpp"

namespace {

Eigen::VectorXf random_vector(Eigen::Index n, std::uint64_t seed) {
  dsq::data_rng rng(seed);
  Eigen::VectorXf v(n);
  for (auto& x : v)
    x = static_cast<float>(rng.normal());
  return v;
}

} // namespace

BOOST_AUTO_TEST_SUITE(momentum)

BOOST_AUTO_TEST_CASE(zero_momentum_is_plain_sgd_bit_for_bit) {
  for (bool nesterov : {false, true}) {
    dsq::momentum m(100, 0.0f, nesterov);
    Eigen::VectorXf x = random_vector(100, 1), reference = x;
    for (std::uint64_t t = 0; t < 10; ++t) {
      const Eigen::VectorXf u = random_vector(100, 10 + t);
      m.apply(x, u, 0.37f);
      reference -= 0.37f * u;
      BOOST_TEST((x == reference));
    }
  }
}

BOOST_AUTO_TEST_CASE(classic_momentum_accumulates_the_velocity) {
  dsq::momentum m(2, 0.9f);
  Eigen::VectorXf x = Eigen::VectorXf::Zero(2);
  Eigen::VectorXf u(2);
  u << 1, -2;
  m.apply(x, u, 0.1f); // m = u, x = -0.1 u
  m.apply(x, u, 0.1f); // m = 1.9 u, x = -0.29 u
  BOOST_TEST(m.buffer().isApprox(1.9f * u));
  BOOST_TEST(x.isApprox(-0.29f * u));
}

BOOST_AUTO_TEST_CASE(nesterov_momentum_looks_ahead) {
  dsq::momentum m(2, 0.9f, true);
  Eigen::VectorXf x = Eigen::VectorXf::Zero(2);
  Eigen::VectorXf u(2);
  u << 1, -2;
  m.apply(x, u, 0.1f); // m = u, step u + 0.9 u = 1.9 u
  BOOST_TEST(x.isApprox(-0.19f * u));
  m.apply(x, u, 0.1f); // m = 1.9 u, step u + 1.71 u = 2.71 u
  BOOST_TEST(x.isApprox(-0.19f * u - 0.271f * u));
}

BOOST_AUTO_TEST_CASE(invalid_momentum_is_rejected) {
  BOOST_CHECK_THROW(dsq::momentum(3, 1.0f), std::invalid_argument);
  BOOST_CHECK_THROW(dsq::momentum(3, -0.1f), std::invalid_argument);
  dsq::momentum m(3, 0.5f);
  Eigen::VectorXf x = Eigen::VectorXf::Zero(4), u = Eigen::VectorXf::Zero(4);
  BOOST_CHECK_THROW(m.apply(x, u, 0.1f), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
