#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "model/minibatch_sampler.hpp"

namespace {

std::vector<std::size_t> shard_of(std::size_t first, std::size_t count) {
  std::vector<std::size_t> v(count);
  std::iota(v.begin(), v.end(), first);
  return v;
}

// Draws `batches` batches and returns all indices in order.
std::vector<std::size_t> draw(dsq::minibatch_sampler& s, std::size_t batches) {
  std::vector<std::size_t> all;
  for (std::size_t b = 0; b < batches; ++b) {
    const auto batch = s.next();
    all.insert(all.end(), batch.begin(), batch.end());
  }
  return all;
}

} // namespace

BOOST_AUTO_TEST_SUITE(minibatch_sampler)

BOOST_AUTO_TEST_CASE(sampler_is_deterministic_given_the_seed) {
  dsq::minibatch_sampler a(shard_of(100, 50), 8, 3), b(shard_of(100, 50), 8, 3),
      c(shard_of(100, 50), 8, 4);
  const auto drawn_a = draw(a, 20);
  BOOST_TEST(drawn_a == draw(b, 20), boost::test_tools::per_element());
  BOOST_TEST((drawn_a != draw(c, 20)));
}

BOOST_AUTO_TEST_CASE(every_epoch_covers_the_shard_exactly_once) {
  // 50 is not a multiple of 8: batches straddle epochs, yet each epoch is a permutation.
  for (std::size_t batch : {1u, 7u, 8u, 10u, 50u}) {
    dsq::minibatch_sampler s(shard_of(100, 50), batch, 9);
    const auto stream = draw(s, 4 * 50 / batch + 1);
    for (std::size_t e = 0; e < 4; ++e) {
      std::vector<std::size_t> epoch(stream.begin() + std::ptrdiff_t(50 * e),
                                     stream.begin() + std::ptrdiff_t(50 * (e + 1)));
      std::sort(epoch.begin(), epoch.end());
      BOOST_TEST(epoch == shard_of(100, 50), boost::test_tools::per_element());
    }
  }
}

BOOST_AUTO_TEST_CASE(epochs_are_counted_and_reshuffled) {
  dsq::minibatch_sampler s(shard_of(0, 20), 10, 1);
  BOOST_TEST(s.epoch() == 0u);
  const auto first = draw(s, 2);
  BOOST_TEST(s.epoch() == 1u);
  const auto second = draw(s, 2);
  BOOST_TEST(s.epoch() == 2u);
  BOOST_TEST((first != second));
  BOOST_TEST(s.shard_size() == 20u);
}

BOOST_AUTO_TEST_CASE(every_batch_has_the_batch_size) {
  dsq::minibatch_sampler s(shard_of(0, 23), 5, 2);
  for (int i = 0; i < 30; ++i)
    BOOST_TEST(s.next().size() == 5u);
}

BOOST_AUTO_TEST_CASE(batch_larger_than_the_shard_is_the_whole_shard) {
  dsq::minibatch_sampler s(shard_of(10, 6), 100, 2);
  BOOST_TEST(s.batch_size() == 6u);
  for (std::size_t e = 1; e <= 3; ++e) {
    const auto batch = s.next();
    std::vector<std::size_t> sorted(batch.begin(), batch.end());
    std::sort(sorted.begin(), sorted.end());
    BOOST_TEST(sorted == shard_of(10, 6), boost::test_tools::per_element());
    BOOST_TEST(s.epoch() == e);
  }
}

BOOST_AUTO_TEST_CASE(empty_shard_or_zero_batch_is_rejected) {
  BOOST_CHECK_THROW(dsq::minibatch_sampler({}, 4, 0), std::invalid_argument);
  BOOST_CHECK_THROW(dsq::minibatch_sampler(shard_of(0, 4), 0, 0), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(gather_copies_the_chosen_columns_and_labels) {
  dsq::dataset data;
  data.features.resize(2, 4);
  data.features << 0, 1, 2, 3, //
      10, 11, 12, 13;
  data.labels = {5, 6, 7, 8};
  data.num_classes = 9;
  Eigen::MatrixXf x;
  std::vector<std::int32_t> y;
  const std::vector<std::size_t> idx{3, 0, 3};
  dsq::gather(data, idx, x, y);
  Eigen::MatrixXf expected(2, 3);
  expected << 3, 0, 3, //
      13, 10, 13;
  BOOST_TEST((x == expected));
  BOOST_TEST(y == (std::vector<std::int32_t>{8, 5, 8}), boost::test_tools::per_element());
  const std::vector<std::size_t> bad{4};
  BOOST_CHECK_THROW(dsq::gather(data, bad, x, y), std::out_of_range);
}

// upcoming() names what next() returns, up to the end of the epoch in progress (the next
// epoch's order is drawn only when it starts), and asking changes nothing.
BOOST_AUTO_TEST_CASE(upcoming_is_the_next_batch_as_far_as_the_epoch_goes) {
  dsq::minibatch_sampler s{shard_of(100, 23), 7, 42};
  dsq::minibatch_sampler twin{shard_of(100, 23), 7, 42};
  for (int b = 0; b < 10; ++b) {
    const auto ahead = s.upcoming();
    const std::vector<std::size_t> seen(ahead.begin(), ahead.end());
    BOOST_TEST(seen.size() == std::min<std::size_t>(7, 23 - s.position()));
    const auto batch = s.next();
    BOOST_TEST(std::equal(seen.begin(), seen.end(), batch.begin()), "batch " << b);
    const auto same = twin.next();
    BOOST_TEST(std::equal(same.begin(), same.end(), batch.begin()), "upcoming() moved batch " << b);
  }
}

BOOST_AUTO_TEST_SUITE_END()

// A sampler restored from (epoch, position) continues exactly where the original stood: the
// state a worker carries across a restart of its server.
BOOST_AUTO_TEST_SUITE(minibatch_sampler_restore)

// Batches of 7 over 23 samples straddle epoch boundaries; every stop point 0..40 is checked,
// including the ones right before, at and after a boundary.
BOOST_AUTO_TEST_CASE(restored_sampler_draws_the_same_batches_from_every_stop_point) {
  for (std::size_t stop = 0; stop <= 40; ++stop) {
    dsq::minibatch_sampler original(shard_of(100, 23), 7, 5);
    draw(original, stop);
    const auto epoch = original.epoch();
    const auto position = original.position();
    BOOST_TEST(position < original.shard_size());
    dsq::minibatch_sampler resumed(shard_of(100, 23), 7, 5);
    resumed.restore(epoch, position);
    BOOST_TEST(resumed.epoch() == epoch);
    BOOST_TEST(resumed.position() == position);
    const auto expected = draw(original, 12);
    const auto got = draw(resumed, 12);
    BOOST_TEST(got == expected, boost::test_tools::per_element());
  }
}

BOOST_AUTO_TEST_CASE(a_batch_straddling_two_epochs_is_restored_across_the_boundary) {
  dsq::minibatch_sampler original(shard_of(0, 10), 4, 9);
  draw(original, 2); // 8 of 10 used: the next batch takes 2 from epoch 0 and 2 from epoch 1
  BOOST_TEST(original.epoch() == 0u);
  BOOST_TEST(original.position() == 8u);
  dsq::minibatch_sampler resumed(shard_of(0, 10), 4, 9);
  resumed.restore(0, 8);
  const auto expected = draw(original, 1);
  BOOST_TEST(draw(resumed, 1) == expected, boost::test_tools::per_element());
  BOOST_TEST(resumed.epoch() == 1u);
  BOOST_TEST(resumed.position() == 2u);
}

BOOST_AUTO_TEST_CASE(restoring_a_late_epoch_needs_no_replay) {
  // Epoch 1000 of a 6-sample shard: the permutation comes from the epoch's seed alone.
  dsq::minibatch_sampler original(shard_of(0, 6), 6, 3);
  draw(original, 1000);
  BOOST_TEST(original.epoch() == 1000u);
  dsq::minibatch_sampler resumed(shard_of(0, 6), 6, 3);
  resumed.restore(1000, 0);
  const auto expected = draw(original, 3);
  BOOST_TEST(draw(resumed, 3) == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_position_outside_the_shard_is_refused) {
  dsq::minibatch_sampler s(shard_of(0, 6), 4, 3);
  BOOST_CHECK_THROW(s.restore(0, 6), std::invalid_argument);
  BOOST_TEST(s.position() == 0u); // unchanged
}

BOOST_AUTO_TEST_SUITE_END()
