#include <boost/test/unit_test.hpp>

#include <cmath>
#include <numbers>

#include "model/lr_schedule.hpp"

namespace tt = boost::test_tools;

BOOST_AUTO_TEST_SUITE(lr_schedule)

BOOST_AUTO_TEST_CASE(constant_is_the_base_rate) {
  const auto s = dsq::parse_lr_schedule("constant");
  BOOST_TEST(s.at(0, 0.1f) == 0.1f);
  BOOST_TEST(s.at(123456, 0.1f) == 0.1f);
  BOOST_TEST(dsq::lr_schedule{}.at(5, 0.3f) == 0.3f);
}

BOOST_AUTO_TEST_CASE(step_multiplies_by_gamma_every_period) {
  const auto s = dsq::parse_lr_schedule("step:every=1000,gamma=0.1");
  BOOST_TEST(s.at(0, 1.0f) == 1.0f);
  BOOST_TEST(s.at(999, 1.0f) == 1.0f);
  BOOST_TEST(s.at(1000, 1.0f) == 0.1f, tt::tolerance(1e-6f));
  BOOST_TEST(s.at(2500, 1.0f) == 0.01f, tt::tolerance(1e-6f));
}

BOOST_AUTO_TEST_CASE(cosine_goes_from_base_to_min) {
  const auto s = dsq::parse_lr_schedule("cosine:total=100");
  BOOST_TEST(s.at(0, 0.2f) == 0.2f);
  BOOST_TEST(s.at(50, 0.2f) == 0.1f, tt::tolerance(1e-6f));
  BOOST_TEST(s.at(25, 0.2f) == 0.1f * (1 + std::cos(std::numbers::pi_v<float> / 4)),
             tt::tolerance(1e-6f));
  BOOST_TEST(s.at(100, 0.2f) == 0.0f);
  BOOST_TEST(s.at(1000, 0.2f) == 0.0f);
  const auto m = dsq::parse_lr_schedule("cosine:total=100,min=0.01");
  BOOST_TEST(m.at(100, 0.2f) == 0.01f, tt::tolerance(1e-6f));
  BOOST_TEST(m.at(50, 0.2f) == 0.105f, tt::tolerance(1e-6f));
}

BOOST_AUTO_TEST_CASE(warmup_ramps_linearly_to_the_schedule) {
  const auto s = dsq::parse_lr_schedule("constant:warmup=200");
  BOOST_TEST(s.at(0, 1.0f) == 1.0f / 200, tt::tolerance(1e-6f));
  BOOST_TEST(s.at(99, 1.0f) == 0.5f, tt::tolerance(1e-6f));
  BOOST_TEST(s.at(199, 1.0f) == 1.0f);
  BOOST_TEST(s.at(5000, 1.0f) == 1.0f);
  const auto c = dsq::parse_lr_schedule("cosine:total=1000,warmup=100");
  const float cosine_at_49 = 0.5f * (1 + std::cos(std::numbers::pi_v<float> * 49 / 1000));
  BOOST_TEST(c.at(49, 1.0f) == 0.5f * cosine_at_49, tt::tolerance(1e-6f));
}

BOOST_AUTO_TEST_CASE(spec_round_trips) {
  for (const char* text : {"constant", "constant:warmup=10", "step:every=1000,gamma=0.5",
                           "cosine:total=5000,min=0.001,warmup=200"})
    BOOST_TEST(dsq::parse_lr_schedule(text).spec() == text);
}

BOOST_AUTO_TEST_CASE(bad_schedules_are_rejected_with_a_clear_message) {
  for (const char* text :
       {"linear", "step", "step:every=0", "step:every=10,gamma=-1", "cosine",
        "cosine:total=10,min=-1", "constant:warmup=x", "cosine:total=10,max=3"}) {
    try {
      dsq::parse_lr_schedule(text);
      BOOST_ERROR("accepted " << text);
    } catch (const std::invalid_argument& e) {
      const std::string what = e.what();
      BOOST_TEST(what.find(text) != std::string::npos, what);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
