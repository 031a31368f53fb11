// A follower shard's rules without actors (training/shard/shard_core.hpp): a fake leader and fake
// workers send events with a fake clock, and each test checks the effects that come out.
#define BOOST_TEST_MODULE shard_core
#include <boost/test/unit_test.hpp>

#include "compression/compressor.hpp"
#include "compression/make_compressor.hpp"
#include "compression/wire.hpp"
#include "config/method.hpp"
#include "training/double_squeeze.hpp"
#include "training/robust_aggregate.hpp"
#include "training/shard/shard_core.hpp"
#include "training/training_setup.hpp"

#include "shard_core_support.hpp"

#include <chrono>
#include <limits>
#include <span>
#include <string>
#include <vector>

using namespace dsq;
using namespace std::chrono_literals;
using namespace dsq::shard_test;

namespace {

run_config small_run(const std::string& mode = "sync") {
  run_config cfg;
  cfg.dataset = "synthetic:n=200,d=8,classes=2";
  cfg.model = "softmax";
  cfg.workers = 2;
  cfg.steps = 10;
  cfg.batch = 4;
  cfg.eval_every = 0;
  cfg.seed = 1;
  cfg.mode = mode;
  cfg.staleness = 1;
  cfg.momentum = 0.5;
  return cfg;
}

template <class M>
std::vector<std::pair<peer_id, M>> sent(const shard_effects& fx) {
  std::vector<std::pair<peer_id, M>> out;
  for (const auto& e : fx)
    if (const auto* s = std::get_if<send_to>(&e))
      if (const auto* m = std::get_if<M>(&s->what))
        out.emplace_back(s->peer, *m);
  return out;
}

registration hello(peer_id peer, std::uint32_t id) {
  registration r;
  r.peer = peer;
  r.host = "test";
  r.returning = true;
  r.previous_id = id;
  return r;
}

/// A follower set up, with workers 0 and 1 (peers 10 and 11) announced at 0 and registered.
struct follower {
  run_config cfg;
  shard_setup setup;
  shard_core core{1, 2, "127.0.0.1:7001"};
  std::size_t dim;
  explicit follower(run_config c = small_run()) : cfg(std::move(c)), setup(setup_of(cfg)) {
    dim = setup.ranges[1].size();
    core.set_up(setup, t0);
    for (std::uint32_t id : {0u, 1u}) {
      core.member_changed(member_change{id, 0, true}, t0);
      core.registered(hello(10 + id, id), t0);
    }
  }
};

round_commit commit_of(std::uint64_t v, std::vector<std::uint32_t> workers,
                       std::vector<std::uint64_t> keys, float weight) {
  round_commit c;
  c.version = v;
  c.workers = std::move(workers);
  c.keys = std::move(keys);
  c.weight = weight;
  return c;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_follower_starts_by_joining_its_leader) {
  shard_core core{2, 3, "10.0.0.2:7002"};
  auto joins = to_lead<shard_join>(core.start());
  BOOST_REQUIRE(joins.size() == 1u);
  BOOST_TEST(joins[0].shard == 2u);
  BOOST_TEST(joins[0].shards == 3u);
  BOOST_TEST(joins[0].protocol == protocol_version);
  BOOST_TEST(joins[0].endpoint == "10.0.0.2:7002");
}

BOOST_AUTO_TEST_CASE(a_setup_for_another_shard_count_stops_the_follower) {
  auto cfg = small_run();
  shard_core core{1, 3, ""};
  auto fx = core.set_up(setup_of(cfg), t0); // ranges for 2 shards
  auto stops = effects<stop_shard>(fx);
  BOOST_REQUIRE(stops.size() == 1u);
  BOOST_TEST(stops[0].failed);
  BOOST_TEST(stops[0].error.find("--servers") != std::string::npos);
  BOOST_TEST(!core.is_set_up());
}

BOOST_AUTO_TEST_CASE(only_announced_workers_are_welcomed_with_their_entry_slice) {
  auto cfg = small_run();
  shard_core core{1, 2, ""};
  auto s = setup_of(cfg);
  core.set_up(s, t0);
  // A new worker (not returning) is refused: workers register with the leader first.
  registration stranger;
  stranger.peer = 5;
  auto refused = sent<farewell_msg>(core.registered(stranger, t0));
  BOOST_REQUIRE(refused.size() == 1u);
  BOOST_TEST(refused[0].second.reject);
  // A registration before the leader's notice waits for it.
  auto early = core.registered(hello(10, 0), t0);
  BOOST_TEST(sent<welcome_msg>(early).empty());
  auto fx = core.member_changed(member_change{0, 0, true}, t0);
  auto welcomes = sent<welcome_msg>(fx);
  BOOST_REQUIRE(welcomes.size() == 1u);
  BOOST_TEST(welcomes[0].first == 10u);
  const auto& w = welcomes[0].second.w;
  BOOST_TEST(w.worker_id == 0u);
  BOOST_TEST(w.from_shard == 1u);
  BOOST_TEST(w.version == 0u);
  BOOST_TEST(w.model == s.slice);
  BOOST_TEST(w.momentum == s.momentum);
  BOOST_TEST(effects<watch>(fx).size() == 1u);
  BOOST_TEST((core.worker_of(10) == std::optional<std::uint32_t>{0}));
}

BOOST_AUTO_TEST_CASE(a_slice_push_is_acked_and_held_and_a_resend_only_acked_again) {
  follower f;
  auto fx = f.core.pushed(10, slice_push(f.cfg, 0, 0, f.dim), t0);
  auto acks = sent<ack_msg>(fx);
  BOOST_REQUIRE(acks.size() == 1u);
  BOOST_TEST(acks[0].first == 10u);
  BOOST_TEST(acks[0].second.key == 0u);
  auto held = to_lead<slice_held>(fx);
  BOOST_REQUIRE(held.size() == 1u);
  BOOST_TEST(held[0].shard == 1u);
  BOOST_TEST(held[0].worker == 0u);
  BOOST_TEST(held[0].key == 0u);
  BOOST_TEST(f.core.held(0) == 1u);
  auto again = f.core.pushed(10, slice_push(f.cfg, 0, 0, f.dim), t0 + 1s);
  BOOST_TEST(sent<ack_msg>(again).size() == 1u);
  BOOST_TEST(to_lead<slice_held>(again).empty());
  BOOST_TEST(f.core.held(0) == 1u);
}

BOOST_AUTO_TEST_CASE(pushes_of_strangers_or_under_another_id_are_ignored) {
  follower f;
  BOOST_TEST(f.core.pushed(99, slice_push(f.cfg, 0, 0, f.dim), t0).empty());
  BOOST_TEST(f.core.pushed(11, slice_push(f.cfg, 0, 0, f.dim), t0).empty()); // peer 11 is id 1
  BOOST_TEST(f.core.pushed(std::nullopt, slice_push(f.cfg, 0, 0, f.dim), t0).empty());
  BOOST_TEST(f.core.held(0) == 0u);
}

BOOST_AUTO_TEST_CASE(a_push_of_the_wrong_shape_shard_or_norm_is_refused_to_the_leader) {
  follower f;
  auto wrong_dim = f.core.pushed(10, slice_push(f.cfg, 0, 0, f.dim + 1), t0);
  auto refused = to_lead<slice_refused>(wrong_dim);
  BOOST_REQUIRE(refused.size() == 1u);
  BOOST_TEST(refused[0].worker == 0u);
  BOOST_TEST(refused[0].shard == 1u);
  BOOST_TEST(sent<ack_msg>(wrong_dim).empty());
  auto other_shard = slice_push(f.cfg, 0, 1, f.dim);
  other_shard.shard = 0;
  BOOST_TEST(to_lead<slice_refused>(f.core.pushed(10, other_shard, t0)).size() == 1u);
  auto huge = f.core.pushed(11, slice_push(f.cfg, 1, 0, f.dim, 1e30f), t0);
  BOOST_TEST(to_lead<slice_refused>(huge).size() == 1u);
  BOOST_TEST(f.core.held(0) == 0u);
  BOOST_TEST(f.core.held(1) == 0u);
}

// Push validation per slice: a follower checks each slice push as the server checks a whole
// push (training/push_check.hpp) against its range: the operator, finite values, bytes that
// decode; a key older than one in hand is a resend (acknowledged, never held twice).
BOOST_AUTO_TEST_CASE(a_slice_of_another_operator_not_finite_or_damaged_is_refused) {
  follower f;
  const auto uplink = resolve_method(f.cfg).uplink;
  auto other = slice_push(f.cfg, 0, 0, f.dim);
  {
    std::vector<float> g(f.dim, 0.01f);
    rng_engine rng{1};
    other.payload =
        to_bytes(make_compressor(uplink == "identity" ? "sign" : "identity")->compress(g, rng));
  }
  auto refused = to_lead<slice_refused>(f.core.pushed(10, other, t0));
  BOOST_REQUIRE(refused.size() == 1u);
  BOOST_TEST(refused[0].worker == 0u);
  auto not_finite = slice_push(f.cfg, 0, 0, f.dim);
  auto m = from_bytes(not_finite.payload);
  for (auto& v : m.values)
    v = std::numeric_limits<float>::quiet_NaN();
  for (auto& h : m.halves)
    h = 0x7E00; // an fp16 NaN
  not_finite.payload = to_bytes(m);
  refused = to_lead<slice_refused>(f.core.pushed(10, not_finite, t0));
  BOOST_REQUIRE(refused.size() == 1u);
  BOOST_TEST(refused[0].why.find("NaN") != std::string::npos, refused[0].why);
  auto damaged = slice_push(f.cfg, 1, 0, f.dim);
  damaged.payload[1] ^= 0x5A; // the wire format's magic byte
  BOOST_TEST(to_lead<slice_refused>(f.core.pushed(11, damaged, t0)).size() == 1u);
  BOOST_TEST(f.core.held(0) == 0u);
  BOOST_TEST(f.core.held(1) == 0u);
  // Keys in order: step 2 is held; then step 1, older than a key in hand, is only acknowledged.
  BOOST_TEST(to_lead<slice_held>(f.core.pushed(10, slice_push(f.cfg, 0, 2, f.dim), t0)).size() ==
             1u);
  auto older = f.core.pushed(10, slice_push(f.cfg, 0, 1, f.dim), t0);
  BOOST_TEST(to_lead<slice_held>(older).empty());
  BOOST_TEST(to_lead<slice_refused>(older).empty());
  BOOST_TEST(sent<ack_msg>(older).size() == 1u);
  BOOST_TEST(f.core.held(0) == 1u);
}

// --verify-replicas with shards: each slice push carries the worker's digest of that range of
// x_step, and the follower checks it against its own range, as the server checks its model.
BOOST_AUTO_TEST_CASE(a_slice_whose_range_digest_differs_is_refused_naming_the_replica) {
  follower f;
  const auto digest = replica_digest(std::span<const float>{f.setup.slice});
  auto good = slice_push(f.cfg, 0, 0, f.dim);
  good.model_digest = digest;
  BOOST_TEST(to_lead<slice_held>(f.core.pushed(10, good, t0)).size() == 1u);
  auto bad = slice_push(f.cfg, 1, 0, f.dim);
  bad.model_digest = digest ^ 1;
  auto refused = to_lead<slice_refused>(f.core.pushed(11, bad, t0));
  BOOST_REQUIRE(refused.size() == 1u);
  BOOST_TEST(refused[0].worker == 1u);
  BOOST_TEST(refused[0].why.find("replica differs from shard 1's range at step 0") !=
                 std::string::npos,
             refused[0].why);
  BOOST_TEST(f.core.held(1) == 0u);
}

BOOST_AUTO_TEST_CASE(a_worker_holds_a_bounded_number_of_uncommitted_pushes) {
  follower f{small_run("async")};
  for (std::uint64_t grant = 1; grant <= held_pushes_max; ++grant)
    BOOST_TEST(
        to_lead<slice_held>(f.core.pushed(10, slice_push(f.cfg, 0, 0, f.dim, 0.01f, grant), t0))
            .size() == 1u);
  auto over = f.core.pushed(10, slice_push(f.cfg, 0, 0, f.dim, 0.01f, held_pushes_max + 1), t0);
  BOOST_TEST(to_lead<slice_refused>(over).size() == 1u);
  BOOST_TEST(f.core.held(0) == held_pushes_max);
}

BOOST_AUTO_TEST_CASE(a_commit_sums_the_named_pushes_in_its_order_and_sends_the_update) {
  follower f;
  auto a = slice_push(f.cfg, 0, 0, f.dim, 0.01f);
  auto b = slice_push(f.cfg, 1, 0, f.dim, -0.03f);
  f.core.pushed(10, a, t0);
  f.core.pushed(11, b, t0);
  // The leader's order: worker 1 first.
  auto fx = f.core.committed(commit_of(1, {1, 0}, {0, 0}, 0.5f), t0);
  BOOST_TEST(f.core.version() == 1u);
  // The reference: the same engine, the same pushes in the same order.
  update_engine ref{
      f.cfg, f.setup.ranges.back().end, f.setup.ranges[1], 1, f.setup.slice, f.setup.momentum, 0};
  std::vector<compressed_message> cs{from_bytes(b.payload), from_bytes(a.payload)};
  auto c = ref.aggregate(cs, 0.5f);
  ref.apply(c);
  auto updates = effects<new_update>(fx);
  BOOST_REQUIRE(updates.size() == 1u);
  BOOST_TEST(updates[0].version == 1u);
  BOOST_TEST((updates[0].payload == to_bytes(c)));
  std::vector<float> expected(ref.x().data(), ref.x().data() + ref.x().size());
  BOOST_TEST(f.core.slice() == expected);
  auto to_members = sent<update_msg>(fx);
  BOOST_REQUIRE(to_members.size() == 2u);
  BOOST_TEST(to_members[0].second.version == 1u);
  auto to_leader_updates = to_lead<slice_update_msg>(fx);
  BOOST_REQUIRE(to_leader_updates.size() == 1u);
  BOOST_TEST(to_leader_updates[0].version == 1u);
  // Protocol 10: then what the version moved through this shard, for the leader's row.
  auto traffic = to_lead<slice_traffic>(fx);
  BOOST_REQUIRE(traffic.size() == 1u);
  BOOST_TEST(traffic[0].shard == 1u);
  BOOST_TEST(traffic[0].version == 1u);
  BOOST_TEST(traffic[0].bytes_in == a.payload.size() + b.payload.size());
  BOOST_TEST(traffic[0].bytes_out == 2 * updates[0].payload.size()); // to both members
  BOOST_TEST(f.core.held(0) == 0u);
  BOOST_TEST(f.core.held(1) == 0u);
}

BOOST_AUTO_TEST_CASE(commits_apply_strictly_in_version_order) {
  follower f{small_run("async")};
  f.core.pushed(10, slice_push(f.cfg, 0, 0, f.dim, 0.01f, 1), t0);
  f.core.pushed(11, slice_push(f.cfg, 1, 0, f.dim, 0.02f, 1), t0);
  auto early = f.core.committed(commit_of(2, {1}, {1}, 0.5f), t0);
  BOOST_TEST(effects<new_update>(early).empty());
  BOOST_TEST(f.core.version() == 0u);
  auto both = f.core.committed(commit_of(1, {0}, {1}, 0.5f), t0);
  auto updates = effects<new_update>(both);
  BOOST_REQUIRE(updates.size() == 2u);
  BOOST_TEST(updates[0].version == 1u);
  BOOST_TEST(updates[1].version == 2u);
  BOOST_TEST(f.core.version() == 2u);
}

BOOST_AUTO_TEST_CASE(a_commit_naming_a_push_not_held_stops_the_follower_as_failed) {
  follower f;
  auto fx = f.core.committed(commit_of(1, {0}, {0}, 1.0f), t0);
  auto stops = effects<stop_shard>(fx);
  BOOST_REQUIRE(stops.size() == 1u);
  BOOST_TEST(stops[0].failed);
  BOOST_TEST(stops[0].error.find("does not hold") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_joiner_gets_the_slice_of_its_entry_version_then_the_updates_after_it) {
  follower f;
  f.core.pushed(10, slice_push(f.cfg, 0, 0, f.dim), t0);
  f.core.pushed(11, slice_push(f.cfg, 1, 0, f.dim), t0);
  f.core.committed(commit_of(1, {0, 1}, {0, 0}, 0.5f), t0);
  const auto at_1 = f.core.slice();
  // Worker 2 joins at version 1; it registers only after version 2 was made here.
  BOOST_TEST(sent<welcome_msg>(f.core.member_changed(member_change{2, 1, true}, t0)).empty());
  f.core.pushed(10, slice_push(f.cfg, 0, 1, f.dim), t0);
  f.core.pushed(11, slice_push(f.cfg, 1, 1, f.dim), t0);
  f.core.committed(commit_of(2, {0, 1}, {1, 1}, 0.5f), t0);
  auto fx = f.core.registered(hello(12, 2), t0);
  auto welcomes = sent<welcome_msg>(fx);
  BOOST_REQUIRE(welcomes.size() == 1u);
  BOOST_TEST(welcomes[0].second.w.version == 1u);
  BOOST_TEST(welcomes[0].second.w.model == at_1);
  auto catch_up = sent<update_msg>(fx);
  BOOST_REQUIRE(catch_up.size() == 1u);
  BOOST_TEST(catch_up[0].first == 12u);
  BOOST_TEST(catch_up[0].second.version == 2u);
}

BOOST_AUTO_TEST_CASE(a_join_announced_before_its_commit_waits_for_that_version) {
  follower f;
  // The leader's notice for version 1 comes before the commit of 1 was applied here (commit 1
  // waits for nothing, but say it is still on its way): the slice is taken at 1, not at 0.
  f.core.registered(hello(12, 2), t0);
  BOOST_TEST(sent<welcome_msg>(f.core.member_changed(member_change{2, 1, true}, t0)).empty());
  f.core.pushed(10, slice_push(f.cfg, 0, 0, f.dim), t0);
  f.core.pushed(11, slice_push(f.cfg, 1, 0, f.dim), t0);
  auto fx = f.core.committed(commit_of(1, {0, 1}, {0, 0}, 0.5f), t0);
  auto welcomes = sent<welcome_msg>(fx);
  BOOST_REQUIRE(welcomes.size() == 1u);
  BOOST_TEST(welcomes[0].first == 12u);
  BOOST_TEST(welcomes[0].second.w.version == 1u);
  BOOST_TEST(welcomes[0].second.w.model == f.core.slice());
}

BOOST_AUTO_TEST_CASE(a_probe_is_answered_with_ack_or_resend_then_the_version) {
  follower f;
  f.core.pushed(10, slice_push(f.cfg, 0, 0, f.dim), t0);
  auto in_hand = f.core.probed(10, 1, t0);
  BOOST_TEST(sent<ack_msg>(in_hand).size() == 1u);
  BOOST_TEST(sent<sent_msg>(in_hand).size() == 1u);
  auto lost = f.core.probed(11, 1, t0);
  auto resends = sent<resend_msg>(lost);
  BOOST_REQUIRE(resends.size() == 1u);
  BOOST_TEST(resends[0].second.key == 0u);
  BOOST_TEST(f.core.probed(99, 1, t0).empty()); // a stranger
}

BOOST_AUTO_TEST_CASE(a_status_gets_the_missing_updates_from_the_ring) {
  follower f;
  f.core.pushed(10, slice_push(f.cfg, 0, 0, f.dim), t0);
  f.core.pushed(11, slice_push(f.cfg, 1, 0, f.dim), t0);
  f.core.committed(commit_of(1, {0, 1}, {0, 0}, 0.5f), t0);
  auto fx = f.core.status(10, 0, t0);
  auto updates = sent<update_msg>(fx);
  BOOST_REQUIRE(updates.size() == 1u);
  BOOST_TEST(updates[0].first == 10u);
  BOOST_TEST(updates[0].second.version == 1u);
  BOOST_TEST(f.core.status(10, 1, t0).empty());
}

BOOST_AUTO_TEST_CASE(a_departed_worker_is_forgotten_with_its_pushes) {
  follower f;
  f.core.pushed(10, slice_push(f.cfg, 0, 0, f.dim), t0);
  f.core.member_changed(member_change{0, 0, false}, t0);
  BOOST_TEST(f.core.held(0) == 0u);
  BOOST_TEST(!f.core.worker_of(10));
  BOOST_TEST(f.core.pushed(10, slice_push(f.cfg, 0, 1, f.dim), t0).empty());
}

BOOST_AUTO_TEST_CASE(the_end_sends_the_report_and_stops) {
  follower f;
  auto p = slice_push(f.cfg, 0, 0, f.dim);
  f.core.pushed(10, p, t0);
  f.core.pushed(11, slice_push(f.cfg, 1, 0, f.dim), t0);
  auto commit = f.core.committed(commit_of(1, {0, 1}, {0, 0}, 0.5f), t0);
  auto fx = f.core.ended(shard_end{}, t0);
  auto reports = to_lead<shard_report>(fx);
  BOOST_REQUIRE(reports.size() == 1u);
  BOOST_TEST(reports[0].shard == 1u);
  BOOST_TEST(reports[0].updates == 1u);
  BOOST_TEST(reports[0].bytes_in == 2 * p.payload.size());
  BOOST_TEST(reports[0].bytes_out == 2 * effects<new_update>(commit)[0].payload.size());
  auto stops = effects<stop_shard>(fx);
  BOOST_REQUIRE(stops.size() == 1u);
  BOOST_TEST(!stops[0].failed);
  // Each member hears, before this shard's connection closes, that the run ended (no error):
  // the leader's own farewell may come after that close (a run stopped early).
  auto byes = sent<farewell_msg>(fx);
  BOOST_REQUIRE(byes.size() == 2u);
  for (const auto& [peer, bye] : byes) {
    BOOST_TEST((peer == 10u || peer == 11u));
    BOOST_TEST(!bye.bye.error);
    BOOST_TEST(!bye.reject);
  }
  BOOST_TEST(f.core.pushed(10, slice_push(f.cfg, 0, 1, f.dim), t0).empty());
}

BOOST_AUTO_TEST_CASE(losing_the_leader_stops_the_follower_as_failed) {
  follower f;
  auto stops = effects<stop_shard>(f.core.leader_lost("connection closed"));
  BOOST_REQUIRE(stops.size() == 1u);
  BOOST_TEST(stops[0].failed);
  BOOST_TEST(stops[0].error.find("leader") != std::string::npos);
}

namespace {

/// Makes versions 1..`last` from worker 0's pushes alone (a ring of 256 then lacks version 1).
void commit_alone(follower& f, std::uint64_t first, std::uint64_t last) {
  for (auto v = first; v <= last; ++v) {
    f.core.pushed(10, slice_push(f.cfg, 0, v - 1, f.dim), t0);
    f.core.committed(commit_of(v, {0}, {v - 1}, 1.0f), t0);
  }
}

} // namespace

BOOST_AUTO_TEST_CASE(a_worker_past_the_ring_is_no_resync_of_its_own_the_leader_is_asked) {
  follower f;
  commit_alone(f, 1, 300);
  BOOST_REQUIRE(f.core.version() == 300u);
  // Worker 1 holds x_0: this shard's ring no longer has version 1.
  auto fx = f.core.status(11, 0, t0);
  BOOST_TEST(sent<welcome_msg>(fx).empty());
  BOOST_TEST(sent<update_msg>(fx).empty());
  auto asks = to_lead<slice_refused>(fx);
  BOOST_REQUIRE(asks.size() == 1u);
  BOOST_TEST(asks[0].resync);
  BOOST_TEST(asks[0].worker == 1u);
  BOOST_TEST(asks[0].shard == 1u);
  BOOST_TEST(asks[0].key == 0u);
  // Asked once per version: the next status at this version waits for the leader's order.
  auto again = f.core.status(11, 0, t0);
  BOOST_TEST(to_lead<slice_refused>(again).empty());
  BOOST_TEST(sent<welcome_msg>(again).empty());
  BOOST_TEST((f.core.worker_of(11) == std::optional<std::uint32_t>{1}));
}

BOOST_AUTO_TEST_CASE(an_ordered_resync_sends_the_slice_at_the_leaders_version) {
  follower f;
  commit_alone(f, 1, 3);
  // At the version reached: sent at once, as a resync, the worker stays a member.
  auto now = f.core.member_changed(member_change{1, 3, true, true}, t0);
  auto at_3 = sent<welcome_msg>(now);
  BOOST_REQUIRE(at_3.size() == 1u);
  BOOST_TEST(at_3[0].first == 11u);
  BOOST_TEST(at_3[0].second.resync);
  BOOST_TEST(at_3[0].second.w.worker_id == 1u);
  BOOST_TEST(at_3[0].second.w.from_shard == 1u);
  BOOST_TEST(at_3[0].second.w.version == 3u);
  BOOST_TEST(at_3[0].second.w.model == f.core.slice());
  BOOST_TEST(at_3[0].second.w.momentum.size() == f.dim);
  BOOST_TEST(effects<watch>(now).empty());
  BOOST_TEST((f.core.worker_of(11) == std::optional<std::uint32_t>{1}));
  // Ordered at a version this shard has not made yet: the slice is kept at that version.
  BOOST_TEST(sent<welcome_msg>(f.core.member_changed(member_change{1, 4, true, true}, t0)).empty());
  f.core.pushed(10, slice_push(f.cfg, 0, 3, f.dim), t0);
  auto fx = f.core.committed(commit_of(4, {0}, {3}, 1.0f), t0);
  auto at_4 = sent<welcome_msg>(fx);
  BOOST_REQUIRE(at_4.size() == 1u);
  BOOST_TEST(at_4[0].second.resync);
  BOOST_TEST(at_4[0].second.w.version == 4u);
  BOOST_TEST(at_4[0].second.w.model == f.core.slice());
  // Once only.
  f.core.pushed(10, slice_push(f.cfg, 0, 4, f.dim), t0);
  BOOST_TEST(sent<welcome_msg>(f.core.committed(commit_of(5, {0}, {4}, 1.0f), t0)).empty());
  // A worker that is no member here (not registered) gets no part.
  BOOST_TEST(f.core.member_changed(member_change{7, 5, true, true}, t0).empty());
}

// -- Krum with K > 1 (protocol 10): the follower's partial distances ---------------------------

namespace {

/// Worker `id`'s slice push for shard 1 whose coordinate i is `value` + i / 1000.
gradient_push ramp_push(const run_config& cfg, std::uint32_t id, std::size_t dim, float value) {
  std::vector<float> g(dim);
  for (std::size_t i = 0; i < dim; ++i)
    g[i] = value + static_cast<float>(i) / 1000.0f;
  rng_engine rng{1};
  gradient_push p;
  p.worker_id = id;
  p.step = 0;
  p.shard = 1;
  p.payload = to_bytes(make_compressor(resolve_method(cfg).uplink)->compress(g, rng));
  return p;
}

distance_query query_of(std::uint64_t v, std::vector<std::uint32_t> workers,
                        std::vector<std::uint64_t> keys) {
  distance_query q;
  q.version = v;
  q.workers = std::move(workers);
  q.keys = std::move(keys);
  return q;
}

run_config krum_run() {
  auto cfg = small_run();
  cfg.aggregate = "krum:f=1";
  cfg.workers = 5;
  cfg.method = "sgd"; // identity both ways: an update is the pushes' aggregate itself
  return cfg;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_distance_query_is_answered_with_the_distances_of_this_range_in_its_order) {
  follower f{krum_run()};
  auto a = ramp_push(f.cfg, 0, f.dim, 0.01f);
  auto b = ramp_push(f.cfg, 1, f.dim, -0.5f);
  f.core.pushed(10, a, t0);
  f.core.pushed(11, b, t0);
  auto fx = f.core.distances_asked(query_of(1, {1, 0}, {0, 0}), t0);
  auto replies = to_lead<distance_reply>(fx);
  BOOST_REQUIRE(replies.size() == 1u);
  BOOST_TEST(replies[0].shard == 1u);
  BOOST_TEST(replies[0].version == 1u);
  BOOST_TEST(replies[0].refused.empty());
  // The reference: the decoded slices in the query's order, summed as unsharded Krum sums.
  std::vector<float> rows(2 * f.dim);
  decompress(from_bytes(b.payload), std::span<float>{rows.data(), f.dim});
  decompress(from_bytes(a.payload), std::span<float>{rows.data() + f.dim, f.dim});
  BOOST_TEST(replies[0].distances == pairwise_squared_distances(rows, 2),
             boost::test_tools::per_element());
  BOOST_TEST(replies[0].distances[0] > 0.0);
  // Nothing is applied or sent to workers: only the commit makes a version.
  BOOST_TEST(effects<new_update>(fx).empty());
  BOOST_TEST(f.core.version() == 0u);
}

BOOST_AUTO_TEST_CASE(a_distance_query_for_a_push_not_held_is_refused_naming_it) {
  follower f{krum_run()};
  f.core.pushed(10, ramp_push(f.cfg, 0, f.dim, 0.01f), t0);
  auto fx = f.core.distances_asked(query_of(1, {0, 1}, {0, 0}), t0);
  auto replies = to_lead<distance_reply>(fx);
  BOOST_REQUIRE(replies.size() == 1u);
  BOOST_TEST(replies[0].distances.empty());
  BOOST_TEST(replies[0].refused ==
             "shard 1 refused the distance query of version 1: it names push 0 of worker 1, "
             "which this shard does not hold");
  // A refusal is the leader's to act on: the follower goes on.
  BOOST_TEST(effects<stop_shard>(fx).empty());
  // A query for a version this shard made already is refused too.
  auto old = to_lead<distance_reply>(f.core.distances_asked(query_of(0, {0}, {0}), t0));
  BOOST_REQUIRE(old.size() == 1u);
  BOOST_TEST(old[0].refused.find("made version 0 already") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_queried_pushes_outlive_a_departure_and_the_commit_takes_the_chosen_whole) {
  follower f{krum_run()};
  auto a = ramp_push(f.cfg, 0, f.dim, 0.01f);
  auto b = ramp_push(f.cfg, 1, f.dim, -0.5f);
  f.core.pushed(10, a, t0);
  f.core.pushed(11, b, t0);
  f.core.distances_asked(query_of(1, {0, 1}, {0, 0}), t0);
  // Worker 1 leaves while the leader waits for the distances: its queried push stays.
  f.core.member_changed(member_change{1, 0, false}, t0);
  auto c = commit_of(1, {0, 1}, {0, 0}, 0.5f);
  c.chosen = {1};
  auto fx = f.core.committed(c, t0);
  BOOST_TEST(effects<stop_shard>(fx).empty());
  BOOST_TEST(f.core.version() == 1u);
  // The reference: the engine under Krum given the chosen push alone (A of one push is it).
  update_engine ref{
      f.cfg, f.setup.ranges.back().end, f.setup.ranges[1], 1, f.setup.slice, f.setup.momentum, 0};
  std::vector<compressed_message> chosen{from_bytes(b.payload)};
  auto expected = ref.aggregate(chosen, 0.5f);
  auto updates = effects<new_update>(fx);
  BOOST_REQUIRE(updates.size() == 1u);
  BOOST_TEST((updates[0].payload == to_bytes(expected)));
  // The update is push b's slice: the weight plays no part under Krum.
  std::vector<float> got(f.dim), pushed_b(f.dim);
  decompress(from_bytes(updates[0].payload), got);
  decompress(from_bytes(b.payload), pushed_b);
  BOOST_TEST(got == pushed_b, boost::test_tools::per_element());
  BOOST_TEST(f.core.held(0) == 0u);
  // Both pushes counted as taken: a commit choosing an index past its pushes breaks the protocol.
  f.core.pushed(10, slice_push(f.cfg, 0, 1, f.dim), t0);
  auto bad = commit_of(2, {0}, {1}, 1.0f);
  bad.chosen = {3};
  auto stops = effects<stop_shard>(f.core.committed(bad, t0));
  BOOST_REQUIRE(stops.size() == 1u);
  BOOST_TEST(stops[0].error.find("chooses push 3 of 1") != std::string::npos);
}

// run_config's inspection leaves --aggregate out (the server's own option), so a follower of a
// process run gets the rule from shard_setup::aggregate: here the config says mean, the set-up
// Krum, and the commit's chosen push is taken whole (the mean would have halved it).
BOOST_AUTO_TEST_CASE(the_rule_comes_from_the_setup_not_from_the_config_that_lacks_it) {
  auto cfg = krum_run();
  auto s = setup_of(cfg);
  s.config.aggregate = "mean"; // as the config arrives over the network
  s.aggregate = "krum:f=1";
  shard_core core{1, 2, ""};
  core.set_up(s, t0);
  for (std::uint32_t id : {0u, 1u}) {
    core.member_changed(member_change{id, 0, true}, t0);
    core.registered(hello(10 + id, id), t0);
  }
  const auto dim = s.ranges[1].size();
  auto a = ramp_push(cfg, 0, dim, 0.01f);
  auto b = ramp_push(cfg, 1, dim, -0.5f);
  core.pushed(10, a, t0);
  core.pushed(11, b, t0);
  core.distances_asked(query_of(1, {0, 1}, {0, 0}), t0);
  auto c = commit_of(1, {0, 1}, {0, 0}, 0.5f);
  c.chosen = {1};
  auto updates = effects<new_update>(core.committed(c, t0));
  BOOST_REQUIRE(updates.size() == 1u);
  std::vector<float> got(dim), pushed_b(dim);
  decompress(from_bytes(updates[0].payload), got);
  decompress(from_bytes(b.payload), pushed_b);
  BOOST_TEST(got == pushed_b, boost::test_tools::per_element());
}
