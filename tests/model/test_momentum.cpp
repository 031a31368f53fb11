#include <boost/test/unit_test.hpp>

#include "model/data_rng.hpp"
#include "model/momentum.hpp"

#include <cmath>
#include <cstring>
#include <utility>

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

// A sharded run (--servers=K) applies each shard's slice update to its range: the slices,
// applied one by one at odd boundaries, give bit for bit the whole vector's step (classic and
// Nesterov), and a slice that does not fit the buffer is refused.
BOOST_AUTO_TEST_CASE(slices_applied_one_by_one_equal_the_whole_vector) {
  for (bool nesterov : {false, true}) {
    dsq::momentum whole(37, 0.9f, nesterov), sliced(37, 0.9f, nesterov);
    Eigen::VectorXf xa = Eigen::VectorXf::LinSpaced(37, -1.0f, 2.0f), xb = xa;
    for (int step = 0; step < 5; ++step) {
      Eigen::VectorXf u(37);
      for (Eigen::Index j = 0; j < 37; ++j)
        u[j] = std::sin(0.37f * static_cast<float>(j + 11 * step));
      whole.apply(xa, u, 0.05f);
      for (auto [begin, size] : {std::pair<Eigen::Index, Eigen::Index>{0, 5}, {5, 17}, {22, 15}})
        sliced.apply_slice(begin, xb.segment(begin, size), u.segment(begin, size), 0.05f);
    }
    BOOST_TEST(std::memcmp(xa.data(), xb.data(), 37 * sizeof(float)) == 0);
    BOOST_TEST(std::memcmp(whole.buffer().data(), sliced.buffer().data(), 37 * sizeof(float)) == 0);
  }
  dsq::momentum m(10, 0.5f);
  Eigen::VectorXf x = Eigen::VectorXf::Zero(4), u = Eigen::VectorXf::Zero(4);
  BOOST_CHECK_THROW(m.apply_slice(7, x, u, 0.1f), std::invalid_argument);
  BOOST_CHECK_THROW(m.apply_slice(-1, x, u, 0.1f), std::invalid_argument);
  BOOST_CHECK_THROW(m.apply_slice(0, x, Eigen::VectorXf::Zero(3), 0.1f), std::invalid_argument);
  BOOST_CHECK_NO_THROW(m.apply_slice(6, x, u, 0.1f));
}

BOOST_AUTO_TEST_SUITE_END()
