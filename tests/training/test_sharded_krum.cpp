// Krum over K shards (training/server/sharded_krum.hpp; net/PROTOCOL.md "Shards", rule 7): the
// leader adds the shards' partial squared distances in shard order and chooses as unsharded
// Krum does. The property: for random pushes and K ∈ {1, 2, 3}, the sharded choice is the
// unsharded one; and the answers' arrival order changes nothing, bit for bit.
#define BOOST_TEST_MODULE sharded_krum
#include <boost/test/unit_test.hpp>

#include "training/robust_aggregate.hpp"
#include "training/server/sharded_krum.hpp"
#include "training/shard/key_ranges.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <vector>

using namespace dsq;

namespace {

/// Row i's coordinates [r.begin, r.end) of the n rows of `rows` (n × d), as shard r holds them.
std::vector<float> slices(const std::vector<float>& rows, std::size_t n, std::size_t d,
                          key_range r) {
  std::vector<float> out;
  for (std::size_t i = 0; i < n; ++i)
    out.insert(out.end(), rows.begin() + static_cast<std::ptrdiff_t>(i * d + r.begin),
               rows.begin() + static_cast<std::ptrdiff_t>(i * d + r.end));
  return out;
}

distance_query query_for(std::size_t n) {
  distance_query q;
  q.version = 7;
  for (std::size_t i = 0; i < n; ++i) {
    q.workers.push_back(static_cast<std::uint32_t>(i));
    q.keys.push_back(6);
  }
  return q;
}

/// The sharded choice over `ranges`, the followers answering in `order` (shards 1..K−1).
std::size_t sharded_choice(std::size_t f, const std::vector<float>& rows, std::size_t n,
                           std::size_t d, const std::vector<key_range>& ranges,
                           const std::vector<std::uint32_t>& order,
                           std::vector<double>* total = nullptr) {
  const auto k = static_cast<std::uint32_t>(ranges.size());
  sharded_krum krum{f, k};
  BOOST_REQUIRE(krum.chooses(n));
  const auto q = query_for(n);
  krum.ask(q, pairwise_squared_distances(slices(rows, n, d, ranges[0]), n));
  if (k == 1) {
    // No follower to wait for: an answer of any version settles nothing, and the leader's own
    // distances are the whole. server_core asks only with followers; the arithmetic is the same.
    const auto all = pairwise_squared_distances(slices(rows, n, d, ranges[0]), n);
    if (total)
      *total = all;
    return krum_choice_of(f, all, n);
  }
  std::optional<std::size_t> chosen;
  for (auto s : order) {
    BOOST_REQUIRE(!chosen);
    distance_reply r;
    r.shard = s;
    r.version = q.version;
    r.distances = pairwise_squared_distances(slices(rows, n, d, ranges[s]), n);
    chosen = krum.answered(r);
  }
  BOOST_REQUIRE(chosen.has_value());
  BOOST_TEST(!krum.waiting());
  if (total)
    *total = krum.total();
  return *chosen;
}

} // namespace

BOOST_AUTO_TEST_CASE(the_sharded_choice_is_the_unsharded_choice_for_random_pushes) {
  std::mt19937_64 gen{20261206};
  std::size_t differed_distances = 0, cases = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const std::size_t n = 5 + gen() % 10;            // 5..14 pushes
    const std::size_t f = 1 + gen() % ((n - 3) / 2); // n >= 2F + 3
    const std::size_t d = 8 + gen() % 200;
    std::normal_distribution<float> normal{0.0f, 1.0f};
    std::vector<float> rows(n * d);
    for (auto& v : rows)
      v = normal(gen);
    // Up to F liars far away, in varied directions and scales.
    const std::size_t liars = gen() % (f + 1);
    for (std::size_t liar = 0; liar < liars; ++liar) {
      const auto at = gen() % n;
      const float scale = trial % 2 ? 50.0f : 1e20f;
      for (std::size_t j = 0; j < d; ++j)
        rows[at * d + j] = scale * (1.0f + normal(gen));
    }
    // Two equal honest rows now and then: an exact tie, which breaks for the first in both.
    if (trial % 5 == 0)
      std::copy_n(rows.begin(), d, rows.begin() + static_cast<std::ptrdiff_t>(d));
    const auto unsharded = krum_choice(f, rows, n);
    for (std::uint32_t k : {1u, 2u, 3u}) {
      const auto ranges = split_keys(d, k);
      std::vector<std::uint32_t> order;
      for (std::uint32_t s = 1; s < k; ++s)
        order.push_back(s);
      std::vector<double> total;
      BOOST_TEST(sharded_choice(f, rows, n, d, ranges, order, &total) == unsharded,
                 "trial " << trial << ", n " << n << ", F " << f << ", d " << d << ", K " << k);
      ++cases;
      const auto whole = pairwise_squared_distances(rows, n);
      if (k == 1)
        BOOST_TEST(std::memcmp(total.data(), whole.data(), whole.size() * sizeof(double)) == 0);
      else if (std::memcmp(total.data(), whole.data(), whole.size() * sizeof(double)) != 0)
        ++differed_distances; // the last bits of a double sum may differ: the choice does not
    }
  }
  BOOST_TEST_MESSAGE(cases << " sharded choices; in " << differed_distances
                           << " the summed distances differed from the unsharded ones in the "
                              "last bits");
}

BOOST_AUTO_TEST_CASE(the_answers_order_changes_nothing_bit_for_bit) {
  std::mt19937_64 gen{7};
  std::normal_distribution<float> normal{0.0f, 1.0f};
  const std::size_t n = 9, d = 97;
  std::vector<float> rows(n * d);
  for (auto& v : rows)
    v = normal(gen);
  const auto ranges = split_keys(d, 3);
  std::vector<double> forward, backward;
  const auto a = sharded_choice(2, rows, n, d, ranges, {1, 2}, &forward);
  const auto b = sharded_choice(2, rows, n, d, ranges, {2, 1}, &backward);
  BOOST_TEST(a == b);
  BOOST_REQUIRE(forward.size() == backward.size());
  BOOST_TEST(std::memcmp(forward.data(), backward.data(), forward.size() * sizeof(double)) == 0);
}

BOOST_AUTO_TEST_CASE(krum_chooses_only_among_2f_plus_3_pushes_or_more) {
  sharded_krum krum{2, 2};
  BOOST_TEST(!krum.chooses(6));
  BOOST_TEST(krum.chooses(7));
  BOOST_TEST(!krum.waiting());
}

BOOST_AUTO_TEST_CASE(a_refusal_a_bad_size_a_stranger_or_a_second_answer_is_an_error) {
  const std::size_t n = 5;
  auto fresh = [&] {
    auto k = std::make_unique<sharded_krum>(1, 3);
    k->ask(query_for(n), std::vector<double>(row_pairs(n), 1.0));
    return k;
  };
  distance_reply good;
  good.shard = 1;
  good.version = 7;
  good.distances.assign(row_pairs(n), 2.0);

  auto k = fresh();
  // Another version: nothing is asked for it, nothing happens.
  auto other = good;
  other.version = 8;
  BOOST_TEST(!k->answered(other).has_value());
  BOOST_TEST(k->waiting());
  BOOST_TEST(k->version() == 7u);
  BOOST_TEST(!k->answered(good).has_value());                  // shard 2 is missing
  BOOST_CHECK_THROW(k->answered(good), std::invalid_argument); // twice
  auto refused = good;
  refused.shard = 2;
  refused.distances.clear();
  refused.refused = "shard 2 refused the distance query of version 7: it names push 6 of worker 1";
  try {
    k->answered(refused);
    BOOST_FAIL("a refusal was taken");
  } catch (const std::invalid_argument& e) {
    BOOST_TEST(std::string{e.what()} == refused.refused);
  }
  auto small = good;
  small.shard = 2;
  small.distances.pop_back();
  BOOST_CHECK_THROW(fresh()->answered(small), std::invalid_argument);
  auto stranger = good;
  stranger.shard = 3;
  BOOST_CHECK_THROW(fresh()->answered(stranger), std::invalid_argument);
  stranger.shard = 0;
  BOOST_CHECK_THROW(fresh()->answered(stranger), std::invalid_argument);
  // One round at a time.
  BOOST_CHECK_THROW(fresh()->ask(query_for(n), std::vector<double>(row_pairs(n))),
                    std::logic_error);
  auto dropped = fresh();
  dropped->drop();
  BOOST_TEST(!dropped->waiting());
  BOOST_TEST(!dropped->answered(good).has_value());
}
