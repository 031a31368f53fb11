// The server's half of the resender without actors: the ring of recent updates (its bounds and
// the catch-up decision) and the ledger of accepted pushes (what is a resend).
#define BOOST_TEST_MODULE resend_server
#include <boost/test/unit_test.hpp>

#include "training/resend/push_ledger.hpp"
#include "training/resend/update_ring.hpp"

#include <vector>

using namespace dsq;

using versions = std::vector<std::uint64_t>;

BOOST_AUTO_TEST_CASE(a_worker_behind_gets_the_updates_it_lacks_in_order) {
  update_ring ring{8, 1000};
  for (std::uint64_t v = 1; v <= 5; ++v)
    ring.remember(v, 10);
  auto plan = ring.catch_up(2, 5);
  BOOST_TEST(!plan.resync);
  BOOST_TEST((plan.versions == versions{3, 4, 5}));
}

BOOST_AUTO_TEST_CASE(a_worker_up_to_date_gets_nothing) {
  update_ring ring{8, 1000};
  ring.remember(1, 10);
  auto plan = ring.catch_up(1, 1);
  BOOST_TEST(!plan.resync);
  BOOST_TEST(plan.versions.empty());
  BOOST_TEST(ring.catch_up(3, 1).versions.empty()); // ahead (a stale probe): nothing either
}

BOOST_AUTO_TEST_CASE(the_count_bound_evicts_the_oldest_and_an_older_gap_is_a_resync) {
  update_ring ring{3, 1000};
  for (std::uint64_t v = 1; v <= 5; ++v)
    ring.remember(v, 10);
  BOOST_TEST(ring.size() == 3u);
  BOOST_TEST(ring.oldest() == 3u);
  BOOST_TEST(ring.bytes() == 30u);
  BOOST_TEST((ring.catch_up(2, 5).versions == versions{3, 4, 5})); // 3 is still there
  BOOST_TEST(ring.catch_up(1, 5).resync);                          // 2 is gone
}

BOOST_AUTO_TEST_CASE(the_byte_bound_evicts_the_oldest_but_keeps_the_newest) {
  update_ring ring{100, 25};
  ring.remember(1, 10);
  ring.remember(2, 10);
  BOOST_TEST(ring.size() == 2u);
  ring.remember(3, 10); // 30 > 25: 1 goes
  BOOST_TEST(ring.oldest() == 2u);
  ring.remember(4, 100); // larger than the bound alone: only it stays
  BOOST_TEST(ring.size() == 1u);
  BOOST_TEST(ring.oldest() == 4u);
  BOOST_TEST(ring.bytes() == 100u);
}

BOOST_AUTO_TEST_CASE(an_empty_ring_resyncs_a_worker_behind) {
  update_ring ring{8, 1000}; // a resumed server has sent nothing yet
  BOOST_TEST(ring.catch_up(0, 3).resync);
}

BOOST_AUTO_TEST_CASE(a_push_key_not_newer_than_the_last_accepted_is_in_hand) {
  push_ledger ledger;
  BOOST_TEST(!ledger.in_hand(0, 0)); // nothing accepted yet
  ledger.accepted(0, 4);
  BOOST_TEST(ledger.in_hand(0, 4));
  BOOST_TEST(ledger.in_hand(0, 2));
  BOOST_TEST(!ledger.in_hand(0, 5));
  BOOST_TEST(!ledger.in_hand(1, 4)); // per worker
}

BOOST_AUTO_TEST_CASE(a_departed_worker_is_forgotten) {
  push_ledger ledger;
  ledger.accepted(3, 7);
  ledger.forget(3);
  BOOST_TEST(!ledger.in_hand(3, 0)); // a new worker under the id starts afresh
}
