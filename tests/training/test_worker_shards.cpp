// The worker's shard multiplexer (training/shard/worker_shards.hpp) between a real worker_core
// and K fake shards: each test hands the multiplexer what shard k would send, with the time of
// a fake clock, and checks what goes to which shard and what the core then holds.
#define BOOST_TEST_MODULE worker_shards
#include <boost/test/unit_test.hpp>

#include "model/make_model.hpp"
#include "model/synthetic.hpp"
#include "synthetic_setup.hpp"
#include "training/shard/key_ranges.hpp"
#include "training/shard/sliced_payload.hpp"
#include "training/shard/worker_shards.hpp"
#include "training/update_engine.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

using namespace dsq;
using namespace std::chrono_literals;
using time_point = worker_core::time_point;
namespace fx = worker_effect;
namespace sfx = worker_shard_effect;

namespace {

const time_point t0 = time_point{} + 1h; ///< the fake clock's start

training_setup small_setup() {
  return synthetic_setup(40, 5, 6, 3, 3);
}

run_config config(const std::string& mode, const std::string& op = "sign") {
  run_config cfg;
  cfg.mode = mode;
  cfg.batch = 4;
  cfg.seed = 7;
  cfg.compressor = op;
  return cfg;
}

/// The messages among `effects` that go to shard `shard`, as worker_core's effects.
std::vector<any_worker_effect> sent_to(const worker_shard_effects& effects, std::uint32_t shard) {
  std::vector<any_worker_effect> out;
  for (const auto& e : effects)
    if (const auto* s = std::get_if<sfx::send_to>(&e); s && s->shard == shard)
      out.push_back(s->effect);
  return out;
}

template <class T>
std::vector<T> all_of(const std::vector<any_worker_effect>& effects) {
  std::vector<T> out;
  for (const auto& e : effects)
    if (const auto* x = std::get_if<T>(&e))
      out.push_back(*x);
  return out;
}

/// The pushes sent to `shard` among `effects`.
std::vector<gradient_push> pushes_to(const worker_shard_effects& effects, std::uint32_t shard) {
  std::vector<gradient_push> out;
  for (const auto& p : all_of<fx::send_push>(sent_to(effects, shard)))
    out.push_back(p.push);
  return out;
}

/// The stop among `effects`, if any.
std::optional<fx::stop> stop_of(const worker_shard_effects& effects) {
  for (const auto& e : effects)
    if (const auto* l = std::get_if<sfx::local>(&e))
      if (const auto* s = std::get_if<fx::stop>(&l->effect))
        return *s;
  return std::nullopt;
}

std::vector<std::uint8_t> bytes(std::initializer_list<int> values) {
  std::vector<std::uint8_t> out;
  for (int v : values)
    out.push_back(static_cast<std::uint8_t>(v));
  return out;
}

/// A worker_core behind a multiplexer and K fake shards, with the server's model of a small
/// softmax (21 coordinates) and a fake clock.
struct rig {
  run_config cfg;
  training_setup setup = small_setup();
  update_engine server;
  std::vector<key_range> ranges;
  time_point now = t0;
  worker_core core;
  worker_shards mux;

  rig(std::uint32_t shards, const std::string& mode = "sync", const std::string& op = "sign")
      : cfg(config(mode, op)), server(cfg, *setup.net), ranges(split_keys(server.dim(), shards)),
        core(settings(setup), t0), mux(core, 5s) {}

  static worker_settings settings(const training_setup& setup) {
    worker_settings s;
    s.setup = setup;
    s.server_timeout = 5s;
    return s;
  }

  std::uint32_t count() const { return static_cast<std::uint32_t>(ranges.size()); }

  std::vector<float> slice(std::uint32_t k) const {
    const auto* x = server.x().data();
    return {x + ranges[k].begin, x + ranges[k].end};
  }

  /// Shard k's welcome of worker `id` at `version`.
  welcome welcome_of(std::uint32_t k, std::uint32_t id, std::uint64_t version = 0,
                     std::uint64_t total = 100) const {
    welcome w;
    w.worker_id = id;
    w.config = cfg;
    w.version = version;
    w.total_steps = total;
    w.model = slice(k);
    w.shard = shard_assignment{1, 0, 1};
    w.from_shard = k;
    if (k == 0) {
      w.shards.ranges = ranges;
      w.shards.endpoints.push_back("");
      for (std::uint32_t s = 1; s < count(); ++s)
        w.shards.endpoints.push_back("host" + std::to_string(s) + ":700" + std::to_string(s));
    }
    return w;
  }

  worker_shard_effects welcome_from(std::uint32_t k, welcome w) {
    return mux.on_welcome(k, w, now);
  }

  /// The whole assembly: the leader's welcome, the connections, the followers' welcomes.
  worker_shard_effects join(std::uint32_t id, std::uint64_t version = 0) {
    welcome_from(0, welcome_of(0, id, version));
    worker_shard_effects out;
    for (std::uint32_t k = 1; k < count(); ++k) {
      mux.on_shard_connected(k, now);
      out = welcome_from(k, welcome_of(k, id, version));
    }
    return out;
  }

  /// A push of `step` whose K slices are the given bytes.
  gradient_push push_of(std::uint32_t id, std::uint64_t step,
                        const std::vector<std::vector<std::uint8_t>>& slices) const {
    gradient_push p;
    p.worker_id = id;
    p.step = step;
    p.loss = 0.5f;
    for (std::uint32_t k = 0; k < count(); ++k) // --verify-replicas: one digest per range
      p.range_digests.push_back(42 + k);
    p.has_state = true;
    p.state.worker_id = id;
    p.payload = join_slices(slices);
    return p;
  }

  /// K distinct small slices.
  std::vector<std::vector<std::uint8_t>> slices() const {
    std::vector<std::vector<std::uint8_t>> out;
    for (std::uint32_t k = 0; k < count(); ++k)
      out.push_back(bytes({static_cast<int>(k + 1), 7, static_cast<int>(k + 3)}));
    return out;
  }

  worker_shard_effects update_from(std::uint32_t k, std::uint64_t version,
                                   std::vector<std::uint8_t> payload = bytes({1})) {
    model_update u{version, std::move(payload), k};
    return mux.on_update(k, u, now);
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(welcome_assembly)

BOOST_AUTO_TEST_CASE(the_leaders_welcome_connects_and_registers_with_each_follower) {
  rig r{3};
  auto out = r.welcome_from(0, r.welcome_of(0, 4, 2));
  BOOST_TEST(r.mux.count() == 3u);
  BOOST_TEST(r.mux.assembling());
  BOOST_TEST(!r.core.joined());
  BOOST_REQUIRE(out.size() == 2u);
  const auto* c1 = std::get_if<sfx::connect>(&out[0]);
  BOOST_REQUIRE(c1);
  BOOST_TEST(c1->shard == 1u);
  BOOST_TEST(c1->endpoint == "host1:7001");
  BOOST_TEST(std::get<sfx::connect>(out[1]).endpoint == "host2:7002");
  // Connected: register as returning under the leader's id.
  out = r.mux.on_shard_connected(2, r.now);
  const auto reg = all_of<fx::send_register>(sent_to(out, 2));
  BOOST_REQUIRE(reg.size() == 1u);
  BOOST_TEST(reg[0].returning);
  BOOST_TEST(reg[0].previous_id == 4u);
}

BOOST_AUTO_TEST_CASE(the_k_slices_join_in_range_order_into_one_welcome) {
  rig r{3};
  r.welcome_from(0, r.welcome_of(0, 4, 2));
  r.mux.on_shard_connected(1, r.now);
  r.mux.on_shard_connected(2, r.now);
  // The followers answer in any order; the core is welcomed with the last.
  BOOST_TEST(!r.mux.welcome_completes(1, r.welcome_of(1, 4, 2)));
  r.welcome_from(2, r.welcome_of(2, 4, 2));
  BOOST_TEST(!r.core.joined());
  BOOST_TEST(r.mux.welcome_completes(1, r.welcome_of(1, 4, 2)));
  auto out = r.welcome_from(1, r.welcome_of(1, 4, 2));
  BOOST_TEST(!stop_of(out).has_value());
  BOOST_REQUIRE(r.core.joined());
  BOOST_TEST(!r.mux.assembling());
  BOOST_TEST(r.core.version() == 2u);
  const auto& x = r.core.engine().x();
  BOOST_REQUIRE(static_cast<std::size_t>(x.size()) == r.server.dim());
  for (std::size_t i = 0; i < r.server.dim(); ++i)
    BOOST_TEST(x[static_cast<Eigen::Index>(i)] == r.server.x()[static_cast<Eigen::Index>(i)]);
}

BOOST_AUTO_TEST_CASE(a_follower_naming_another_worker_or_version_stops_the_worker) {
  {
    rig r{2};
    r.welcome_from(0, r.welcome_of(0, 4, 2));
    auto out = r.welcome_from(1, r.welcome_of(1, 5, 2));
    const auto stop = stop_of(out);
    BOOST_REQUIRE(stop);
    BOOST_TEST(stop->error);
    BOOST_TEST(stop->reason.find("shard 1 of 2 (host1:7001) welcomed worker 5 at version 2, the "
                                 "leader worker 4") != std::string::npos,
               stop->reason);
    BOOST_TEST(!r.core.joined());
    BOOST_TEST(r.mux.stopped());
  }
  {
    rig r{2};
    r.welcome_from(0, r.welcome_of(0, 4, 2));
    const auto stop = stop_of(r.welcome_from(1, r.welcome_of(1, 4, 3)));
    BOOST_REQUIRE(stop);
    BOOST_TEST(stop->reason.find("at version 3") != std::string::npos, stop->reason);
  }
  {
    rig r{2};
    r.welcome_from(0, r.welcome_of(0, 4, 2));
    auto w = r.welcome_of(1, 4, 2);
    w.model.pop_back(); // not its range's size
    BOOST_TEST(stop_of(r.welcome_from(1, w)).has_value());
  }
}

BOOST_AUTO_TEST_CASE(updates_before_the_assembly_are_kept) {
  rig r{2};
  r.welcome_from(0, r.welcome_of(0, 4, 2));
  r.update_from(0, 2); // old: the welcome is x_2
  r.update_from(0, 3);
  r.update_from(1, 4);
  BOOST_TEST(r.mux.held_versions() == 2u);
  r.mux.on_shard_connected(1, r.now);
  r.welcome_from(1, r.welcome_of(1, 4, 2));
  BOOST_TEST(r.core.joined());
  BOOST_TEST(r.mux.held_versions() == 2u); // 3 and 4 still wait for a slice each
}

BOOST_AUTO_TEST_CASE(removed_and_welcomed_anew_it_registers_with_the_followers_it_is_connected_to) {
  rig r{2};
  r.join(4);
  auto out = r.mux.on_shutdown(0, farewell{"no message", false, true}, r.now);
  BOOST_TEST(all_of<fx::send_register>(sent_to(out, 0)).size() == 1u); // to the leader only
  BOOST_TEST(sent_to(out, 1).empty());
  BOOST_TEST(!r.core.joined());
  out = r.welcome_from(0, r.welcome_of(0, 7, 5));
  BOOST_REQUIRE(out.size() == 1u); // no new connection
  const auto reg = all_of<fx::send_register>(sent_to(out, 1));
  BOOST_REQUIRE(reg.size() == 1u);
  BOOST_TEST(reg[0].previous_id == 7u);
  r.welcome_from(1, r.welcome_of(1, 7, 5));
  BOOST_TEST(r.core.joined());
  BOOST_TEST(r.core.version() == 5u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(pushes)

BOOST_AUTO_TEST_CASE(a_push_splits_into_k_slice_pushes_each_with_its_ranges_digest_state_on_0s) {
  rig r{3};
  r.join(4);
  const auto slices = r.slices();
  auto out = r.mux.push(r.push_of(4, 0, slices), r.now, r.now);
  for (std::uint32_t k = 0; k < 3; ++k) {
    const auto p = pushes_to(out, k);
    BOOST_REQUIRE(p.size() == 1u);
    BOOST_TEST(p[0].shard == k);
    BOOST_TEST(p[0].worker_id == 4u);
    BOOST_TEST(p[0].step == 0u);
    BOOST_TEST(p[0].loss == 0.5f);
    BOOST_TEST(p[0].payload == slices[k]);
    BOOST_TEST(p[0].model_digest == 42u + k);
    BOOST_TEST(p[0].has_state == (k == 0));
  }
  BOOST_TEST((r.core.retransmit().unacknowledged() == 0u));
}

BOOST_AUTO_TEST_CASE(the_core_hears_an_ack_only_when_every_shard_acked) {
  rig r{3};
  r.join(4);
  r.mux.push(r.push_of(4, 0, r.slices()), r.now, r.now);
  r.mux.on_ack(0, 0, r.now);
  r.mux.on_ack(2, 0, r.now);
  BOOST_TEST((r.core.retransmit().unacknowledged() == 0u));
  r.mux.on_ack(1, 0, r.now);
  BOOST_TEST(!r.core.retransmit().unacknowledged());
}

BOOST_AUTO_TEST_CASE(async_a_granted_push_goes_to_every_shard_and_is_acked_by_all) {
  rig r{2, "async", "identity"};
  r.join(4);
  r.mux.on_grant(0, 0, 1, r.now);
  BOOST_REQUIRE(r.core.gradient_due());
  auto out = r.mux.push(r.core.compute(), r.now, r.now);
  for (std::uint32_t k = 0; k < 2; ++k) {
    const auto p = pushes_to(out, k);
    BOOST_REQUIRE(p.size() == 1u);
    BOOST_TEST(p[0].grant == 1u);
  }
  BOOST_TEST((r.core.retransmit().unacknowledged() == 1u)); // async: the grant number
  r.mux.on_ack(1, 1, r.now);
  BOOST_TEST((r.core.retransmit().unacknowledged() == 1u));
  r.mux.on_ack(0, 1, r.now);
  BOOST_TEST(!r.core.retransmit().unacknowledged());
  // Each shard's slice of the push, echoed, makes version 1.
  r.update_from(1, 1, pushes_to(out, 1)[0].payload);
  r.update_from(0, 1, pushes_to(out, 0)[0].payload);
  BOOST_TEST(r.core.version() == 1u);
}

BOOST_AUTO_TEST_CASE(a_grant_during_the_welcomes_assembly_reaches_the_core_once_welcomed) {
  rig r{2, "async", "identity"};
  r.welcome_from(0, r.welcome_of(0, 4));
  r.mux.on_shard_connected(1, r.now);
  // The leader grants before the follower's welcome is in: kept, nothing sent yet.
  BOOST_TEST(r.mux.on_grant(0, 0, 1, r.now).empty());
  BOOST_TEST(!r.core.joined());
  auto out = r.welcome_from(1, r.welcome_of(1, 4));
  BOOST_TEST(!stop_of(out).has_value());
  BOOST_REQUIRE(r.core.joined());
  // worker_core took it right after its welcome: a push is due without another grant.
  BOOST_REQUIRE(r.core.gradient_due());
  auto pushed = r.mux.push(r.core.compute(), r.now, r.now);
  for (std::uint32_t k = 0; k < 2; ++k) {
    const auto p = pushes_to(pushed, k);
    BOOST_REQUIRE(p.size() == 1u);
    BOOST_TEST(p[0].grant == 1u);
  }
}

BOOST_AUTO_TEST_CASE(a_resend_from_shard_k_sends_slice_k_again_the_same_bytes) {
  rig r{3};
  r.join(4);
  const auto slices = r.slices();
  r.mux.push(r.push_of(4, 0, slices), r.now, r.now);
  auto out = r.mux.on_resend(1, 0, r.now);
  BOOST_TEST(pushes_to(out, 0).empty());
  BOOST_TEST(pushes_to(out, 2).empty());
  const auto again = pushes_to(out, 1);
  BOOST_REQUIRE(again.size() == 1u);
  BOOST_TEST(again[0].payload == slices[1]);
  BOOST_TEST(again[0].shard == 1u);
  BOOST_TEST(r.mux.on_resend(1, 7, r.now).empty()); // no such push: nothing
}

BOOST_AUTO_TEST_CASE(probes_ask_each_shard_for_what_it_lacks_and_status_goes_to_all) {
  rig r{2};
  r.join(4);
  r.mux.push(r.push_of(4, 0, r.slices()), r.now, r.now);
  r.mux.on_ack(0, 0, r.now);
  // The retry timer fires long after: a probe to each shard; only shard 1 is asked for the push.
  r.now += 2s;
  auto out = r.mux.on_retry_timer(r.now);
  const auto p0 = all_of<fx::send_probe>(sent_to(out, 0));
  const auto p1 = all_of<fx::send_probe>(sent_to(out, 1));
  BOOST_REQUIRE(p0.size() == 1u);
  BOOST_REQUIRE(p1.size() == 1u);
  BOOST_TEST(p0[0].pushed == 0u);
  BOOST_TEST(p1[0].pushed == 1u); // key 0, + 1
  // "sent" answers: the core hears the least, once both answered; its status goes to both.
  BOOST_TEST(r.mux.on_sent(0, 3, r.now).empty());
  out = r.mux.on_sent(1, 2, r.now);
  for (std::uint32_t k = 0; k < 2; ++k) {
    const auto s = all_of<fx::send_status>(sent_to(out, k));
    BOOST_REQUIRE(s.size() == 1u);
    BOOST_TEST(s[0].version == 0u);
  }
}

BOOST_AUTO_TEST_CASE(before_the_welcome_only_the_leader_is_probed_and_its_answer_counts) {
  rig r{2};
  auto out = r.mux.route(r.core.start(true, r.now), r.now);
  BOOST_TEST(all_of<fx::send_register>(sent_to(out, 0)).size() == 1u);
  r.welcome_from(0, r.welcome_of(0, 4));
  r.mux.on_shard_connected(1, r.now);
  r.now += 1s;
  out = r.mux.on_retry_timer(r.now);
  BOOST_TEST(all_of<fx::send_probe>(sent_to(out, 0)).size() == 1u);
  BOOST_TEST(sent_to(out, 1).empty()); // shard 1 does not know this worker yet
  BOOST_TEST(r.core.retransmit().unanswered_since().has_value());
  r.mux.on_sent(0, 0, r.now); // the leader is there: the core's silence count stops
  BOOST_TEST(!r.core.retransmit().unanswered_since().has_value());
}

BOOST_AUTO_TEST_CASE(heartbeats_leave_and_registration_go_to_the_leader_only) {
  rig r{2};
  r.join(4);
  auto out = r.mux.route(r.core.on_heartbeat_timer(), r.now);
  BOOST_TEST(all_of<fx::send_heartbeat>(sent_to(out, 0)).size() == 1u);
  BOOST_TEST(sent_to(out, 1).empty());
  out = r.mux.route(r.core.on_leave(), r.now);
  BOOST_TEST(all_of<fx::send_leave>(sent_to(out, 0)).size() == 1u);
  BOOST_TEST(sent_to(out, 1).empty());
}

BOOST_AUTO_TEST_CASE(a_push_that_is_not_split_stops_the_worker) {
  rig r{2};
  r.join(4);
  auto p = r.push_of(4, 0, r.slices());
  p.payload = bytes({1, 2, 3});
  const auto stop = stop_of(r.mux.push(std::move(p), r.now, r.now));
  BOOST_REQUIRE(stop);
  BOOST_TEST(stop->reason.find("not split over the shards") != std::string::npos, stop->reason);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(updates)

BOOST_AUTO_TEST_CASE(a_version_waits_for_every_shards_slice) {
  rig r{3};
  r.join(4);
  r.update_from(2, 1);
  r.update_from(0, 2);
  r.update_from(0, 1);
  BOOST_TEST(r.mux.held_versions() == 2u);
  r.update_from(1, 2);
  r.update_from(2, 2); // version 2 is whole: the core has it (and waits for 1 in its sequencer)
  BOOST_TEST(r.mux.held_versions() == 1u);
  BOOST_TEST(r.update_from(2, 2).empty()); // a duplicate of a slice already given
  BOOST_TEST(r.update_from(0, 1).empty()); // a duplicate of a slice held
  BOOST_TEST(r.mux.held_versions() == 1u);
}

BOOST_AUTO_TEST_CASE(a_shard_far_ahead_of_the_others_stops_the_worker) {
  rig r{2};
  r.join(4, 10);
  BOOST_TEST(!stop_of(r.update_from(1, 10 + worker_shards::max_versions_ahead)).has_value());
  const auto stop = stop_of(r.update_from(1, 11 + worker_shards::max_versions_ahead));
  BOOST_REQUIRE(stop);
  BOOST_TEST(stop->reason.find("shard 1 of 2 (host1:7001) sent version 1035 while this worker "
                               "holds version 10") != std::string::npos,
             stop->reason);
}

BOOST_AUTO_TEST_CASE(an_update_marked_for_another_shard_stops_the_worker) {
  rig r{2};
  r.join(4);
  model_update u{1, bytes({1}), 0};
  BOOST_TEST(stop_of(r.mux.on_update(1, u, r.now)).has_value());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(resync)

BOOST_AUTO_TEST_CASE(the_k_resync_slices_of_one_version_join_into_one_resync) {
  rig r{2};
  r.join(4);
  auto part = [&](std::uint32_t k, std::uint64_t version, float value) {
    auto w = r.welcome_of(k, 4, version);
    std::fill(w.model.begin(), w.model.end(), value + static_cast<float>(k));
    return w;
  };
  auto w = part(1, 5, 1.0f);
  r.mux.on_resync(1, w, r.now);
  w = part(0, 6, 2.0f); // another version: no match for shard 1's
  r.mux.on_resync(0, w, r.now);
  BOOST_TEST(r.core.version() == 0u);
  w = part(0, 5, 1.0f);
  auto out = r.mux.on_resync(0, w, r.now);
  BOOST_TEST(!stop_of(out).has_value());
  BOOST_TEST(r.core.version() == 5u);
  const auto& x = r.core.engine().x();
  for (std::uint32_t k = 0; k < 2; ++k)
    for (auto i = r.ranges[k].begin; i < r.ranges[k].end; ++i)
      BOOST_TEST(x[static_cast<Eigen::Index>(i)] == 1.0f + static_cast<float>(k));
}

BOOST_AUTO_TEST_CASE(a_resync_slice_of_the_wrong_size_stops_the_worker) {
  rig r{2};
  r.join(4);
  auto w = r.welcome_of(1, 4, 5);
  w.model.push_back(0);
  BOOST_TEST(stop_of(r.mux.on_resync(1, w, r.now)).has_value());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(losses_and_farewells)

BOOST_AUTO_TEST_CASE(a_follower_gone_once_the_run_is_over_is_no_error) {
  rig r{2};
  r.welcome_from(0, r.welcome_of(0, 4, 100, 100)); // joins at the last version
  r.mux.on_shard_connected(1, r.now);
  r.welcome_from(1, r.welcome_of(1, 4, 100, 100));
  BOOST_REQUIRE(r.core.joined());
  BOOST_TEST(r.mux.on_shard_lost(1, r.now).empty());
  BOOST_TEST(!r.mux.stopped());
  // The leader's farewell ends the worker as without shards.
  const auto stop = stop_of(r.mux.on_shutdown(0, farewell{"the run is over", false, false}, r.now));
  BOOST_REQUIRE(stop);
  BOOST_TEST(!stop->error);
}

// A run stopped early (a signal to the leader): every follower says the run ended (no error)
// before it closes, and that farewell and the close may come before the leader's own farewell,
// which travels on another connection. The worker waits for the leader's word.
BOOST_AUTO_TEST_CASE(a_follower_that_said_the_run_ended_may_go_before_the_leaders_farewell) {
  rig r{2};
  r.join(4);
  BOOST_TEST(r.mux.on_shutdown(1, farewell{"the run ended", false, false}, r.now).empty());
  BOOST_TEST(r.mux.on_shard_lost(1, r.now).empty());
  BOOST_TEST(!r.mux.stopped());
  const auto stop =
      stop_of(r.mux.on_shutdown(0, farewell{"stopped at step 4", false, false}, r.now));
  BOOST_REQUIRE(stop);
  BOOST_TEST(!stop->error);
}

BOOST_AUTO_TEST_CASE(grants_and_data_from_a_follower_are_ignored) {
  rig r{2, "async"};
  r.join(4);
  BOOST_TEST(r.mux.on_grant(1, 0, 1, r.now).empty());
  BOOST_TEST(!r.core.gradient_due()); // no grant taken
  r.mux.on_grant(0, 0, 1, r.now);
  BOOST_TEST(r.core.gradient_due());
}

BOOST_AUTO_TEST_CASE(a_lost_follower_stops_the_worker_naming_it) {
  rig r{3};
  r.join(4);
  const auto stop = stop_of(r.mux.on_shard_lost(2, r.now));
  BOOST_REQUIRE(stop);
  BOOST_TEST(stop->error);
  BOOST_TEST(stop->reason.find("lost shard 2 of 3 (host2:7002)") == 0u, stop->reason);
  BOOST_TEST(r.update_from(0, 1).empty()); // stopped: nothing more is done
}

BOOST_AUTO_TEST_CASE(a_followers_farewell_stops_the_worker_naming_it) {
  rig r{2};
  r.join(4);
  const auto stop = stop_of(r.mux.on_reject(1, farewell{"not a member", true, false}, r.now));
  BOOST_REQUIRE(stop);
  BOOST_TEST(stop->reason.find("shard 1 of 2 (host1:7001) declined this worker: not a member") ==
                 0u,
             stop->reason);
}

BOOST_AUTO_TEST_CASE(a_lost_follower_during_the_assembly_stops_the_worker) {
  rig r{2};
  r.welcome_from(0, r.welcome_of(0, 4));
  BOOST_TEST(stop_of(r.mux.on_shard_lost(1, r.now)).has_value());
}

BOOST_AUTO_TEST_CASE(a_silent_follower_stops_the_worker_after_the_server_timeout) {
  rig r{2};
  r.join(4);
  r.mux.push(r.push_of(4, 0, r.slices()), r.now, r.now);
  r.now += 1s;
  auto out = r.mux.on_retry_timer(r.now); // probes both
  BOOST_TEST(all_of<fx::send_probe>(sent_to(out, 1)).size() == 1u);
  r.mux.on_sent(0, 0, r.now); // the leader answers, shard 1 never does
  r.now += 6s;
  const auto stop = stop_of(r.mux.on_retry_timer(r.now));
  BOOST_REQUIRE(stop);
  BOOST_TEST(stop->reason.find("shard 1 of 2 (host1:7001) has not answered for 6 s") == 0u,
             stop->reason);
}

BOOST_AUTO_TEST_CASE(the_leaders_loss_is_the_cores) {
  rig r{2};
  r.join(4);
  const auto stop = stop_of(r.mux.on_shard_lost(0, r.now));
  BOOST_REQUIRE(stop);
  BOOST_TEST(stop->reason == "lost the connection to the server");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(with_the_sharded_engine)

/// The replica after each of `steps` steps of one worker whose server echoes its push as the next
/// update (the identity aggregation of one worker, which is what an identity or fp16 downlink
/// makes of it): unsharded (`shards` = 1, worker_core alone), or through the multiplexer with
/// `shards` fake shards, each echoing its slice, the last shard's first.
std::vector<std::vector<float>> echo_run(std::uint32_t shards, const std::string& op,
                                         double momentum, std::uint64_t steps) {
  rig r{shards, "sync", op};
  r.cfg.momentum = momentum;
  std::vector<std::vector<float>> replicas;
  auto record = [&] {
    const auto& x = r.core.engine().x();
    replicas.emplace_back(x.data(), x.data() + x.size());
  };
  if (shards == 1) {
    auto w = r.welcome_of(0, 3, 0, steps);
    w.shards = {};
    r.core.on_welcome(w);
  } else {
    r.join(3);
  }
  BOOST_REQUIRE(r.core.joined());
  for (std::uint64_t s = 0; s < steps; ++s) {
    BOOST_REQUIRE(r.core.gradient_due());
    auto p = r.core.compute();
    BOOST_REQUIRE(p.step == s);
    if (shards == 1) {
      auto sent = r.core.push(std::move(p), r.now, r.now);
      auto push = std::get<fx::send_push>(sent.front()).push;
      model_update u{s + 1, std::move(push.payload)};
      const auto applied = r.core.on_update(u, r.now);
      BOOST_TEST(applied.empty());
    } else {
      auto out = r.mux.push(std::move(p), r.now, r.now);
      for (auto k = shards; k-- > 0;) {
        const auto slice = pushes_to(out, k);
        BOOST_REQUIRE(slice.size() == 1u);
        BOOST_TEST(!stop_of(r.update_from(k, s + 1, slice[0].payload)).has_value());
      }
    }
    BOOST_REQUIRE(r.core.version() == s + 1);
    record();
  }
  return replicas;
}

BOOST_AUTO_TEST_CASE(through_k_shards_the_worker_applies_what_an_unsharded_worker_applies) {
  for (const std::string op : {"identity", "fp16"})
    for (const double momentum : {0.0, 0.9}) {
      BOOST_TEST_CONTEXT(op << ", momentum " << momentum) {
        const auto one = echo_run(1, op, momentum, 6);
        BOOST_TEST(one.front() != one.back()); // the model moves
        for (std::uint32_t k : {2u, 3u})
          BOOST_TEST((echo_run(k, op, momentum, 6) == one), k << " shards");
      }
    }
}

BOOST_AUTO_TEST_CASE(versions_out_of_order_across_shards_apply_in_order) {
  rig r{2, "sync", "identity"};
  r.join(3);
  // Two valid updates of the sharded model: pushes of another worker's sharded engine.
  const std::vector<float> model(r.server.x().data(), r.server.x().data() + r.server.dim());
  worker_engine helper(r.cfg, r.setup, 9, 0, model, {}, shard_assignment{});
  helper.use_ranges(r.ranges);
  const auto g1 = helper.compute().payload;
  const auto g2 = helper.compute().payload;
  auto s1 = split_slices(g1, 2);
  auto s2 = split_slices(g2, 2);
  auto vec = [](std::span<const std::uint8_t> b) {
    return std::vector<std::uint8_t>(b.begin(), b.end());
  };
  r.update_from(1, 2, vec(s2[1]));
  r.update_from(0, 1, vec(s1[0]));
  r.update_from(0, 2, vec(s2[0])); // version 2 is whole: the core keeps it until 1 is
  BOOST_TEST(r.core.version() == 0u);
  r.update_from(1, 1, vec(s1[1]));
  BOOST_TEST(r.core.version() == 2u);
  BOOST_TEST(r.mux.held_versions() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
