// A sampler restored from (epoch, position) continues exactly where the original stood: the
// state a worker carries across a restart of its server.
#include <boost/test/unit_test.hpp>

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

std::vector<std::size_t> draw(dsq::minibatch_sampler& s, std::size_t batches) {
  std::vector<std::size_t> all;
  for (std::size_t b = 0; b < batches; ++b) {
    const auto batch = s.next();
    all.insert(all.end(), batch.begin(), batch.end());
  }
  return all;
}

} // namespace

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
