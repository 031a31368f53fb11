#include "compression/error_feedback.hpp"
#include "compression/make_compressor.hpp"
#include "test_support.hpp"

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>

using namespace dsq;
using namespace dsq::test;
namespace bdata = boost::unit_test::data;

namespace {

// Operators whose every output coordinate is v_j or 0, so that v − c is exact in float.
const std::vector<std::string> exact_specs = {"identity", "topk:k=0.05", "topk:k=3",
                                              "randomk:k=0.1", "randomk:k=0.1,shared_seed=1"};
const std::vector<std::string> rounding_specs = {"fp16", "sign", "sign:block=100", "qsgd:s=4",
                                                 "randomk:k=0.1,unbiased=1"};

} // namespace

BOOST_AUTO_TEST_SUITE(error_feedback_suite)

BOOST_DATA_TEST_CASE(residual_plus_compressed_equals_input_exactly_when_c_is_v_or_zero,
                     bdata::make(exact_specs), spec) {
  const auto op = make_compressor(spec);
  error_feedback feedback{1000};
  rng_engine rng{1};
  for (std::uint64_t step = 0; step < 10; ++step) {
    const auto g = normal_vector(1000, step);
    std::vector<float> v(1000);
    for (std::size_t j = 0; j < v.size(); ++j)
      v[j] = g[j] + feedback.residual()[j];
    const auto c = decoded(feedback.compress(*op, g, rng));
    for (std::size_t j = 0; j < v.size(); ++j)
      BOOST_TEST_REQUIRE(c[j] + feedback.residual()[j] == v[j]);
  }
}

BOOST_DATA_TEST_CASE(residual_plus_compressed_equals_input_within_one_rounding_otherwise,
                     bdata::make(rounding_specs), spec) {
  const auto op = make_compressor(spec);
  error_feedback feedback{1000};
  rng_engine rng{2};
  for (std::uint64_t step = 0; step < 10; ++step) {
    const auto g = normal_vector(1000, step);
    std::vector<float> v(1000);
    for (std::size_t j = 0; j < v.size(); ++j)
      v[j] = g[j] + feedback.residual()[j];
    const auto c = decoded(feedback.compress(*op, g, rng));
    for (std::size_t j = 0; j < v.size(); ++j) {
      // δ = fl(v − c) is off by at most half an ulp of |v − c| ≤ |v| + |c|.
      const double slack =
          (std::fabs(v[j]) + std::fabs(c[j])) * 0.5 * std::numeric_limits<float>::epsilon();
      BOOST_TEST_REQUIRE(std::fabs(double(c[j]) + double(feedback.residual()[j]) - double(v[j])) <=
                         slack);
    }
  }
}

BOOST_DATA_TEST_CASE(over_many_steps_all_sent_plus_final_residual_equals_all_gradients,
                     bdata::make(exact_specs) + bdata::make(rounding_specs), spec) {
  // Σ_t c_t + δ_T = Σ_t g_t: nothing is lost, only delayed.
  constexpr std::size_t d = 500;
  constexpr int steps = 200;
  const auto op = make_compressor(spec);
  error_feedback feedback{d};
  rng_engine rng{3};
  std::vector<double> sent(d, 0.0), given(d, 0.0);
  double magnitude = 0;
  for (int t = 0; t < steps; ++t) {
    const auto g = normal_vector(d, 100 + t);
    const auto c = decoded(feedback.compress(*op, g, rng));
    for (std::size_t j = 0; j < d; ++j) {
      sent[j] += c[j];
      given[j] += g[j];
      magnitude = std::max({magnitude, std::fabs(double(c[j])), std::fabs(double(g[j]))});
    }
  }
  // Each step rounds v = g + δ and δ = v − c once each, at the scale of the largest values.
  const double slack = 4 * steps * magnitude * std::numeric_limits<float>::epsilon();
  for (std::size_t j = 0; j < d; ++j)
    BOOST_TEST_REQUIRE(std::fabs(sent[j] + feedback.residual()[j] - given[j]) <= slack);
}

BOOST_AUTO_TEST_CASE(identity_leaves_no_residual_and_reset_clears_it) {
  error_feedback feedback{100};
  rng_engine rng{0};
  const auto g = normal_vector(100, 1);
  BOOST_TEST(decoded(feedback.compress(*make_compressor("identity"), g, rng)) == g,
             boost::test_tools::per_element());
  for (const float r : feedback.residual())
    BOOST_TEST_REQUIRE(r == 0.0f);

  feedback.compress(*make_compressor("topk:k=1"), g, rng);
  BOOST_TEST(squared_norm(feedback.residual()) > 0);
  feedback.reset();
  BOOST_TEST(squared_norm(feedback.residual()) == 0);
}

BOOST_AUTO_TEST_CASE(the_residual_carries_what_topk_dropped_into_the_next_step) {
  error_feedback feedback{3};
  rng_engine rng{0};
  const auto topk = make_compressor("topk:k=1");
  const std::vector<float> g = {3.0f, 2.0f, 0.0f};
  BOOST_TEST(decoded(feedback.compress(*topk, g, rng)) == (std::vector<float>{3, 0, 0}),
             boost::test_tools::per_element());
  // v = (3, 4, 0) now: the 2 dropped last time wins.
  BOOST_TEST(decoded(feedback.compress(*topk, g, rng)) == (std::vector<float>{0, 4, 0}),
             boost::test_tools::per_element());
  BOOST_TEST((std::vector<float>(feedback.residual().begin(), feedback.residual().end()) ==
              std::vector<float>{3, 0, 0}));
}

BOOST_AUTO_TEST_CASE(an_input_of_the_wrong_size_is_rejected) {
  error_feedback feedback{10};
  rng_engine rng{0};
  const std::vector<float> g(11, 1.0f);
  BOOST_CHECK_THROW(feedback.compress(*make_compressor("sign"), g, rng), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
