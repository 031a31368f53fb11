#include "compression/half.hpp"

#include <boost/test/unit_test.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

using namespace dsq;

BOOST_AUTO_TEST_SUITE(half)

BOOST_AUTO_TEST_CASE(every_finite_half_survives_a_round_trip_through_float) {
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    const auto half = static_cast<std::uint16_t>(h);
    if ((half & 0x7c00u) == 0x7c00u && (half & 0x03ffu) != 0)
      continue; // NaN payloads are not preserved
    BOOST_TEST_REQUIRE(float_to_half(half_to_float(half)) == half, "half 0x" << std::hex << h);
  }
}

BOOST_AUTO_TEST_CASE(midpoints_between_neighbouring_halves_round_to_the_even_one) {
  // Every pair of positive finite neighbours, subnormals included; their midpoint is exact
  // in float.
  for (std::uint16_t h = 0; h < half_max_bits; ++h) {
    const float low = half_to_float(h);
    const float high = half_to_float(static_cast<std::uint16_t>(h + 1));
    const float mid = (low + high) / 2;
    const std::uint16_t even = (h % 2 == 0) ? h : static_cast<std::uint16_t>(h + 1);
    BOOST_TEST_REQUIRE(float_to_half(mid) == even, "midpoint after 0x" << std::hex << h);
    BOOST_TEST_REQUIRE(float_to_half(std::nextafter(mid, 0.0f)) == h);
    BOOST_TEST_REQUIRE(float_to_half(std::nextafter(mid, 1e9f)) == h + 1);
    BOOST_TEST_REQUIRE(float_to_half(-mid) == (even | 0x8000u));
  }
}

BOOST_AUTO_TEST_CASE(finite_overflow_saturates_and_infinities_and_nan_are_kept) {
  BOOST_TEST(half_to_float(float_to_half(65504.0f)) == 65504.0f);
  BOOST_TEST(half_to_float(float_to_half(65519.0f)) == 65504.0f);
  BOOST_TEST(half_to_float(float_to_half(65520.0f)) == 65504.0f);
  BOOST_TEST(half_to_float(float_to_half(1e30f)) == 65504.0f);
  BOOST_TEST(half_to_float(float_to_half(-1e30f)) == -65504.0f);
  const float inf = std::numeric_limits<float>::infinity();
  BOOST_TEST(half_to_float(float_to_half(inf)) == inf);
  BOOST_TEST(half_to_float(float_to_half(-inf)) == -inf);
  BOOST_TEST(std::isnan(half_to_float(float_to_half(std::numeric_limits<float>::quiet_NaN()))));
}

BOOST_AUTO_TEST_CASE(subnormals_and_signed_zero_are_exact) {
  BOOST_TEST(half_to_float(0x0001) == 0x1p-24f);
  BOOST_TEST(half_to_float(0x03ff) == 1023 * 0x1p-24f);
  BOOST_TEST(float_to_half(0x1p-24f) == 0x0001);
  BOOST_TEST(float_to_half(0x1p-25f) == 0x0000);        // tie between 0 and 2^-24: even
  BOOST_TEST(float_to_half(0x1.000002p-25f) == 0x0001); // just above the tie
  BOOST_TEST(float_to_half(1e-30f) == 0x0000);
  BOOST_TEST(float_to_half(-0.0f) == 0x8000);
  BOOST_TEST(std::signbit(half_to_float(0x8000)));
}

BOOST_AUTO_TEST_SUITE_END()
