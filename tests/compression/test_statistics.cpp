// Unbiasedness and variance, measured with fixed seeds. Each tolerance is set from the
// estimator's own variance, and each test also shows that a biased operator fails it, so
// none of them passes by being loose.

#include "compression/make_compressor.hpp"
#include "test_support.hpp"
#include "user_operators.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>

using namespace dsq;
using namespace dsq::test;

namespace {

struct sample_moments {
  std::vector<float> mean; ///< (1/N) Σ C[v]
  double mean_error = 0;   ///< (1/N) Σ ‖C[v] − v‖²
};

sample_moments measure(const compressor& op, std::span<const float> v, int trials,
                       std::uint64_t seed) {
  rng_engine rng{seed};
  std::vector<double> sum(v.size(), 0.0);
  double error = 0;
  for (int t = 0; t < trials; ++t) {
    const auto c = decoded(op.compress(v, rng));
    for (std::size_t j = 0; j < v.size(); ++j)
      sum[j] += c[j];
    error += squared_distance(c, v);
  }
  sample_moments moments;
  for (const double s : sum)
    moments.mean.push_back(static_cast<float>(s / trials));
  moments.mean_error = error / trials;
  return moments;
}

// ‖mean − target‖² relative to ‖v‖².
double relative_bias(std::span<const float> mean, std::span<const float> target) {
  return squared_distance(mean, target) / squared_norm(target);
}

constexpr int trials = 40000;
constexpr std::size_t d = 64;

} // namespace

BOOST_AUTO_TEST_SUITE(statistics)

BOOST_AUTO_TEST_CASE(unbiased_randomk_averages_to_v_and_unscaled_randomk_does_not) {
  const auto v = normal_vector(d, 31);
  // E‖mean − v‖² = (d/k − 1)‖v‖² / N for the unbiased operator; allow four times that.
  const double tolerance = 4 * (64.0 / 8 - 1) / trials;
  const auto unbiased = measure(*make_compressor("randomk:k=8,unbiased=1"), v, trials, 1);
  BOOST_TEST(relative_bias(unbiased.mean, v) < tolerance);
  // Without the d/k factor the mean is (k/d) v, off by (1 − k/d)² ≈ 0.77 ‖v‖².
  const auto biased = measure(*make_compressor("randomk:k=8"), v, trials, 1);
  BOOST_TEST(relative_bias(biased.mean, v) > 100 * tolerance);
  // And the biased one does average to (k/d) v, with a quarter of the spread.
  std::vector<float> shrunk(v.begin(), v.end());
  for (auto& x : shrunk)
    x *= 8.0f / 64.0f;
  BOOST_TEST(squared_distance(biased.mean, shrunk) / squared_norm(v) < tolerance);
}

BOOST_AUTO_TEST_CASE(randomk_error_matches_its_expectation) {
  const auto v = normal_vector(d, 32);
  const double norm2 = squared_norm(v);
  const auto unbiased = measure(*make_compressor("randomk:k=8,unbiased=1"), v, trials, 2);
  BOOST_TEST(unbiased.mean_error / norm2 == 64.0 / 8 - 1, boost::test_tools::tolerance(0.05));
  const auto biased = measure(*make_compressor("randomk:k=8"), v, trials, 2);
  BOOST_TEST(biased.mean_error / norm2 == 1 - 8.0 / 64, boost::test_tools::tolerance(0.05));
}

BOOST_AUTO_TEST_CASE(qsgd_averages_to_v_and_a_five_percent_bias_would_show) {
  for (const std::uint32_t s : {1u, 4u, 16u}) {
    const auto v = normal_vector(d, 33 + s);
    const auto op = make_compressor("qsgd:s=" + std::to_string(s));
    const auto moments = measure(*op, v, trials, s);
    const double variance_bound = std::min(double(d) / (s * s), std::sqrt(double(d)) / s);
    const double tolerance = 4 * variance_bound / trials;
    BOOST_TEST(relative_bias(moments.mean, v) < tolerance, "s = " << s);
    // The same test fails for an operator whose output is 5% too small.
    std::vector<float> shrunk_mean = moments.mean;
    for (auto& x : shrunk_mean)
      x *= 0.95f;
    BOOST_TEST(relative_bias(shrunk_mean, v) > tolerance, "s = " << s);
  }
}

BOOST_AUTO_TEST_CASE(qsgd_variance_is_within_min_of_d_over_s2_and_sqrt_d_over_s) {
  // A spread-out vector (all magnitudes equal) is the worst case for the d/s² term, a normal
  // one a typical case; the bound must hold for both and for every s.
  std::vector<float> flat(d, 1.0f);
  for (std::size_t j = 0; j < d; j += 2)
    flat[j] = -1.0f;
  for (const auto& v : {flat, normal_vector(d, 40)}) {
    for (const std::uint32_t s : {1u, 2u, 4u, 16u}) {
      const auto moments = measure(*make_compressor("qsgd:s=" + std::to_string(s)), v, 2000, s);
      const double bound = std::min(double(d) / (s * s), std::sqrt(double(d)) / s);
      BOOST_TEST(moments.mean_error <= bound * squared_norm(v), "s = " << s);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_user_operator_declared_unbiased_averages_to_v_and_a_biased_one_does_not) {
  register_test_operators();
  const auto v = normal_vector(d, 41);
  const auto op = make_compressor("round8:levels=3");
  BOOST_TEST_REQUIRE(op->unbiased());
  const auto unbiased = measure(*op, v, trials, 5);
  // Independent draws: E‖mean − v‖² = E‖C[v] − v‖² / N; allow four times the measured value.
  const double tolerance = 4 * unbiased.mean_error / trials / squared_norm(v);
  BOOST_TEST(relative_bias(unbiased.mean, v) < tolerance);
  // The test can fail: scaled_sign declares itself biased, and its mean is far from v.
  const auto sign = make_compressor("scaled_sign");
  BOOST_TEST_REQUIRE(!sign->unbiased());
  BOOST_TEST(relative_bias(measure(*sign, v, 100, 5).mean, v) > 100 * tolerance);
}

BOOST_AUTO_TEST_CASE(unbiased_flags_match_the_operators) {
  BOOST_TEST(make_compressor("identity")->unbiased());
  BOOST_TEST(make_compressor("qsgd:s=4")->unbiased());
  BOOST_TEST(make_compressor("randomk:k=0.1,unbiased=1")->unbiased());
  BOOST_TEST(!make_compressor("randomk:k=0.1")->unbiased());
  BOOST_TEST(!make_compressor("topk:k=0.1")->unbiased());
  BOOST_TEST(!make_compressor("sign")->unbiased());
  BOOST_TEST(!make_compressor("fp16")->unbiased());
}

BOOST_AUTO_TEST_SUITE_END()
