#include "compression/sample_indices.hpp"
#include "compression/uniform_below.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

using namespace dsq;

BOOST_AUTO_TEST_SUITE(random_draws)

BOOST_AUTO_TEST_CASE(uniform_below_stays_in_range_and_is_roughly_uniform) {
  rng_engine rng{7};
  for (std::uint32_t n : {1u, 2u, 3u, 1000u, 0xffffffffu})
    for (int i = 0; i < 1000; ++i)
      BOOST_TEST(uniform_below(rng, n) < n);

  constexpr std::uint32_t n = 10;
  constexpr int draws = 100000;
  std::vector<int> counts(n, 0);
  for (int i = 0; i < draws; ++i)
    ++counts[uniform_below(rng, n)];
  double chi_square = 0;
  for (const int c : counts)
    chi_square += (c - draws / double(n)) * (c - draws / double(n)) / (draws / double(n));
  // 9 degrees of freedom: P(chi² > 27.9) = 0.001.
  BOOST_TEST(chi_square < 27.9);
}

BOOST_AUTO_TEST_CASE(sample_indices_are_sorted_distinct_and_in_range) {
  rng_engine rng{3};
  for (std::uint32_t d : {1u, 2u, 63u, 64u, 65u, 1000u}) {
    for (std::uint32_t k : {0u, 1u, d / 2, d}) {
      const auto indices = sample_indices(rng, k, d);
      BOOST_TEST(indices.size() == k);
      BOOST_TEST(std::is_sorted(indices.begin(), indices.end(), std::less_equal<>{}));
      BOOST_TEST((indices.empty() || indices.back() < d));
    }
  }
}

BOOST_AUTO_TEST_CASE(sample_indices_picks_every_index_with_probability_k_over_d) {
  rng_engine rng{11};
  constexpr std::uint32_t d = 20, k = 5;
  constexpr int trials = 40000;
  std::vector<int> hits(d, 0);
  for (int t = 0; t < trials; ++t)
    for (const auto j : sample_indices(rng, k, d))
      ++hits[j];
  // Expected 10000 each, standard deviation about 87.
  for (const int h : hits)
    BOOST_TEST(std::abs(h - trials * int(k) / int(d)) < 450);
}

BOOST_AUTO_TEST_CASE(sample_indices_depends_only_on_the_seed) {
  rng_engine a{99}, b{99};
  BOOST_TEST(sample_indices(a, 100, 100000) == sample_indices(b, 100, 100000));
}

BOOST_AUTO_TEST_SUITE_END()
