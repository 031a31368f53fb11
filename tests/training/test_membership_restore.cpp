// A membership restored from a checkpoint: the members of the checkpoint return under their
// ids, and when exactly they are back they get exactly the shards they had.
#define BOOST_TEST_MODULE membership_restore
#include <boost/test/unit_test.hpp>

#include "training/membership.hpp"

#include <stdexcept>

using namespace dsq;

namespace {

/// A run's membership after some history: ids 0..4 admitted, 1 and 3 left, so 0, 2, 4 are
/// members under the assignment that followed the departures.
membership<int> with_history() {
  membership<int> m{0, 1000};
  for (int h = 0; h < 5; ++h)
    m.admit(100 + h, "host");
  m.assign_shards();
  m.enter_joiners();
  m.remove(1);
  m.remove(3);
  m.assign_shards();
  return m;
}

/// Restores `s` in a fresh membership and brings back the ids in `returning` (handle 200 + id).
membership<int> resumed(const membership_snapshot& s, std::initializer_list<std::uint32_t> back) {
  membership<int> m{0, 1000};
  m.restore(s);
  for (auto id : back)
    BOOST_TEST((m.admit_returning(id, 200 + static_cast<int>(id), "back") ==
                std::optional<std::uint32_t>{id}));
  return m;
}

} // namespace

BOOST_AUTO_TEST_CASE(the_snapshot_holds_next_id_generation_and_each_members_shard) {
  auto m = with_history();
  auto s = m.snapshot();
  BOOST_TEST(s.next_id == 5u);
  BOOST_TEST(s.generation == 2u);
  BOOST_TEST(s.members.size() == 3u);
  BOOST_TEST((s.members.at(0) == shard_assignment{2, 0, 3}));
  BOOST_TEST((s.members.at(2) == shard_assignment{2, 1, 3}));
  BOOST_TEST((s.members.at(4) == shard_assignment{2, 2, 3}));
  m.admit(105, "joiner"); // joiners have not trained yet: not in a snapshot, but their id is
  auto with_joiner = m.snapshot();
  BOOST_TEST((with_joiner.members == s.members));
  BOOST_TEST(with_joiner.next_id == 6u);
}

BOOST_AUTO_TEST_CASE(exactly_the_returning_members_get_their_old_shards_back) {
  const auto s = with_history().snapshot();
  auto m = resumed(s, {4, 0, 2});
  BOOST_TEST(m.expected().empty());
  BOOST_TEST(m.ids_given() == 5u);
  BOOST_TEST(m.generation() == 2u);
  BOOST_TEST(m.needs_reshard()); // they wait in joining like any joiner
  BOOST_TEST(m.joining().size() == 3u);
  auto shards = m.assign_shards();
  BOOST_TEST((shards == s.members));
  BOOST_TEST(m.generation() == 2u);
  auto entered = m.enter_joiners();
  BOOST_TEST(entered.at(2).handle == 202);
  BOOST_TEST((m.snapshot() == s));
  // The next change is an ordinary one: a new generation.
  m.remove(2);
  auto next = m.assign_shards();
  BOOST_TEST((next.at(4) == shard_assignment{3, 1, 2}));
}

BOOST_AUTO_TEST_CASE(a_missing_member_or_a_newcomer_gets_a_new_generation) {
  const auto s = with_history().snapshot();
  {
    auto m = resumed(s, {0, 4}); // 2 does not come back
    BOOST_TEST((m.expected() == std::set<std::uint32_t>{2}));
    auto shards = m.assign_shards();
    BOOST_TEST((shards.at(0) == shard_assignment{3, 0, 2}));
    BOOST_TEST((shards.at(4) == shard_assignment{3, 1, 2}));
  }
  {
    auto m = resumed(s, {0, 2, 4});
    auto newcomer = m.admit(300, "new");
    BOOST_TEST(newcomer == 5u); // ids continue after the checkpoint's
    auto shards = m.assign_shards();
    BOOST_TEST(shards.size() == 4u);
    BOOST_TEST((shards.at(newcomer) == shard_assignment{3, 3, 4}));
    BOOST_TEST(shards.at(0).generation == 3u);
  }
}

BOOST_AUTO_TEST_CASE(only_the_first_assignment_after_the_restore_may_keep_the_generation) {
  const auto s = with_history().snapshot();
  auto m = resumed(s, {0, 4});
  m.assign_shards(); // without 2: generation 3
  m.enter_joiners();
  BOOST_TEST((m.admit_returning(2, 202, "late") == std::optional<std::uint32_t>{2}));
  auto shards = m.assign_shards(); // the same ids as the snapshot, but a new assignment
  BOOST_TEST((shards.at(2) == shard_assignment{4, 1, 3}));
}

BOOST_AUTO_TEST_CASE(unknown_or_returned_ids_are_not_admitted_as_returning) {
  const auto s = with_history().snapshot();
  membership<int> m{0, 1000};
  m.restore(s);
  BOOST_TEST(!m.admit_returning(1, 1, "left before the checkpoint").has_value());
  BOOST_TEST(!m.admit_returning(7, 7, "never existed").has_value());
  BOOST_TEST(m.admit_returning(0, 10, "back").has_value());
  BOOST_TEST(!m.admit_returning(0, 11, "a second one claiming 0").has_value());
  BOOST_TEST((m.expected() == std::set<std::uint32_t>{2, 4}));
  m.stop_expecting();
  BOOST_TEST(m.expected().empty());
  BOOST_TEST(!m.admit_returning(2, 12, "too late").has_value());
}

BOOST_AUTO_TEST_CASE(a_returning_worker_that_drops_before_entering_is_expected_again) {
  const auto s = with_history().snapshot();
  auto m = resumed(s, {0, 2});
  BOOST_TEST((m.remove(2) == membership<int>::removal::joiner));
  BOOST_TEST((m.expected() == std::set<std::uint32_t>{2, 4}));
  BOOST_TEST(m.admit_returning(2, 222, "again").has_value());
  BOOST_TEST(m.admit_returning(4, 204, "back").has_value());
  BOOST_TEST((m.assign_shards() == s.members));
}

// A snapshot taken after a member left but before the shards were assigned anew: the
// uninterrupted run computed its step with the old shards (one of them orphaned) and assigned
// new ones at its next step. The resumed one does the same, and gets the same new ones.
BOOST_AUTO_TEST_CASE(a_snapshot_with_a_pending_reshard_reshards_when_the_run_would_have) {
  auto original = with_history();
  original.remove(2);
  const auto s = original.snapshot();
  BOOST_TEST((s.members.at(4) == shard_assignment{2, 2, 3})); // not yet reassigned
  auto m = resumed(s, {0, 4});
  BOOST_TEST((m.assign_shards() == s.members)); // the step of the checkpoint: old shards
  m.enter_joiners();
  BOOST_TEST(m.needs_reshard()); // still pending, as in the original
  BOOST_TEST(original.needs_reshard());
  auto shards = m.assign_shards();
  auto expected = original.assign_shards();
  BOOST_TEST((shards == expected));
  BOOST_TEST((shards.at(4) == shard_assignment{3, 1, 2}));
  BOOST_TEST(!m.needs_reshard());
}

BOOST_AUTO_TEST_CASE(restore_needs_an_empty_membership_and_a_consistent_snapshot) {
  auto m = with_history();
  BOOST_CHECK_THROW(m.restore(m.snapshot()), std::logic_error);
  membership_snapshot bad;
  bad.next_id = 2;
  bad.members[2] = shard_assignment{1, 0, 1};
  membership<int> fresh{0, 1000};
  BOOST_CHECK_THROW(fresh.restore(bad), std::invalid_argument);
  BOOST_CHECK_NO_THROW(fresh.restore(membership_snapshot{})); // an empty one: nothing expected
  BOOST_TEST(fresh.expected().empty());
  fresh.admit(1, "a");
  BOOST_TEST(fresh.assign_shards().at(0).generation == 1u);
}
