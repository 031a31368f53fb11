#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <vector>

#include "model/sharding.hpp"

namespace {

// Checks that the shards of all num_shards partition [0, n) with sizes differing by <= 1.
void check_partition(std::size_t n, std::size_t num_shards, dsq::shard_mode mode,
                     std::uint64_t seed) {
  std::vector<int> seen(n, 0);
  std::size_t smallest = n, largest = 0;
  for (std::size_t s = 0; s < num_shards; ++s) {
    const auto shard = dsq::shard_indices(n, s, num_shards, mode, seed);
    smallest = std::min(smallest, shard.size());
    largest = std::max(largest, shard.size());
    for (auto i : shard) {
      BOOST_TEST_REQUIRE(i < n);
      ++seen[i];
    }
  }
  BOOST_TEST(std::all_of(seen.begin(), seen.end(), [](int c) { return c == 1; }),
             "n=" << n << " shards=" << num_shards);
  BOOST_TEST(largest - smallest <= 1u);
}

} // namespace

BOOST_AUTO_TEST_SUITE(sharding)

BOOST_AUTO_TEST_CASE(shards_cover_every_sample_exactly_once) {
  for (auto mode : {dsq::shard_mode::contiguous, dsq::shard_mode::shuffled})
    for (std::size_t n : {0u, 1u, 5u, 100u, 1001u, 60000u})
      for (std::size_t shards : {1u, 2u, 3u, 7u, 16u})
        check_partition(n, shards, mode, 11);
}

BOOST_AUTO_TEST_CASE(resharding_for_a_new_count_is_again_a_partition) {
  // A worker leaves (4 -> 3) and two join (3 -> 5): the same call with the new count.
  for (auto mode : {dsq::shard_mode::contiguous, dsq::shard_mode::shuffled}) {
    check_partition(1000, 4, mode, 3);
    check_partition(1000, 3, mode, 3);
    check_partition(1000, 5, mode, 3);
  }
}

BOOST_AUTO_TEST_CASE(sharding_is_deterministic_and_seeded) {
  using dsq::shard_mode;
  const auto a = dsq::shard_indices(1000, 2, 4, shard_mode::shuffled, 7);
  BOOST_TEST(a == dsq::shard_indices(1000, 2, 4, shard_mode::shuffled, 7),
             boost::test_tools::per_element());
  BOOST_TEST((a != dsq::shard_indices(1000, 2, 4, shard_mode::shuffled, 8)));
  // The contiguous shard is the range [500, 750), whatever the seed.
  const auto c = dsq::shard_indices(1000, 2, 4, shard_mode::contiguous, 7);
  BOOST_TEST(c.front() == 500u);
  BOOST_TEST(c.back() == 749u);
  BOOST_TEST((c == dsq::shard_indices(1000, 2, 4, shard_mode::contiguous, 99)));
  // A shuffled shard is not a range.
  BOOST_TEST(!std::is_sorted(a.begin(), a.end()));
}

BOOST_AUTO_TEST_CASE(larger_shards_come_first) {
  // 10 = 4 + 3 + 3
  BOOST_TEST(dsq::shard_indices(10, 0, 3, dsq::shard_mode::contiguous, 0).size() == 4u);
  BOOST_TEST(dsq::shard_indices(10, 2, 3, dsq::shard_mode::contiguous, 0).size() == 3u);
}

BOOST_AUTO_TEST_CASE(invalid_shard_arguments_are_rejected) {
  BOOST_CHECK_THROW(dsq::shard_indices(10, 0, 0, dsq::shard_mode::contiguous, 0),
                    std::invalid_argument);
  BOOST_CHECK_THROW(dsq::shard_indices(10, 3, 3, dsq::shard_mode::shuffled, 0),
                    std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
