// The parameter server's rules without actors (training/server/server_core.hpp): events go in
// with the time they happened (a fake clock), and each test checks the effects that come out.
#define BOOST_TEST_MODULE server_core
#include <boost/test/unit_test.hpp>

#include "base/simd/simd_dispatch.hpp"
#include "compression/compressor.hpp"
#include "compression/make_compressor.hpp"
#include "compression/wire.hpp"
#include "config/method.hpp"
#include "model/dataset_bytes.hpp"
#include "training/robust_aggregate.hpp"
#include "training/server/server_core.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

using namespace dsq;
using namespace std::chrono_literals;

namespace {

const server_core::time_point t0 = server_core::time_point{} + 1h;

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
  cfg.worker_timeout_s = 10;
  return cfg;
}

server_setup setup_of(const run_config& cfg) {
  server_setup s;
  s.cfg = cfg;
  s.setup = load_training(cfg);
  s.verbose = false;
  s.log = std::make_shared<run_log>("");
  return s;
}

/// The messages of type M sent in `fx`, with their recipients, in order.
template <class M>
std::vector<std::pair<peer_id, M>> sent(const server_effects& fx) {
  std::vector<std::pair<peer_id, M>> out;
  for (const auto& e : fx)
    if (const auto* s = std::get_if<send_to>(&e))
      if (const auto* m = std::get_if<M>(&s->what))
        out.emplace_back(s->peer, *m);
  return out;
}

/// The effects of type E in `fx`.
template <class E>
std::vector<E> effects(const server_effects& fx) {
  std::vector<E> out;
  for (const auto& e : fx)
    if (const auto* x = std::get_if<E>(&e))
      out.push_back(*x);
  return out;
}

/// A push of worker `id` on x_step, as an honest worker of `cfg` makes it.
gradient_push push_of(const run_config& cfg, std::uint32_t id, std::uint64_t step,
                      std::uint64_t grant = 0) {
  const auto d = load_training(cfg).net->num_parameters();
  std::vector<float> g(d, 0.01f);
  rng_engine rng{1};
  gradient_push p;
  p.worker_id = id;
  p.step = step;
  p.loss = 0.5f;
  p.grant = grant;
  p.payload = to_bytes(make_compressor(resolve_method(cfg).uplink)->compress(g, rng));
  return p;
}

registration hello(peer_id peer) {
  registration r;
  r.peer = peer;
  r.host = "test";
  return r;
}

/// A core of `cfg` whose two workers (peers 1 and 2, ids 0 and 1) registered at t0.
struct started {
  run_config cfg;
  server_core core;
  server_effects at_start;
  explicit started(run_config c) : cfg(std::move(c)), core(setup_of(cfg), t0) {
    core.start();
    core.registered(hello(1), t0);
    at_start = core.registered(hello(2), t0);
  }
};

} // namespace

BOOST_AUTO_TEST_CASE(training_starts_when_the_quorum_has_registered) {
  auto cfg = small_run();
  server_core core{setup_of(cfg), t0};
  auto first = core.registered(hello(1), t0);
  BOOST_TEST(effects<watch>(first).size() == 1u);
  BOOST_TEST(sent<welcome_msg>(first).empty()); // 1 of 2: it waits
  BOOST_TEST((core.now_in() == server_core::phase::waiting));
  auto second = core.registered(hello(2), t0);
  auto welcomes = sent<welcome_msg>(second);
  BOOST_REQUIRE(welcomes.size() == 2u);
  BOOST_TEST(welcomes[0].first == 1u);
  BOOST_TEST(welcomes[0].second.w.worker_id == 0u);
  BOOST_TEST(welcomes[1].second.w.worker_id == 1u);
  BOOST_TEST(welcomes[1].second.w.shard.count == 2u);
  BOOST_TEST(effects<evaluation_request>(second).size() == 1u); // the initial row
  BOOST_TEST((core.now_in() == server_core::phase::training));
}

BOOST_AUTO_TEST_CASE(a_refused_registration_is_told_why) {
  auto cfg = small_run();
  server_core core{setup_of(cfg), t0};
  auto r = hello(1);
  r.protocol = protocol_version + 1;
  auto fx = core.registered(r, t0);
  auto refusals = sent<farewell_msg>(fx);
  BOOST_REQUIRE(refusals.size() == 1u);
  BOOST_TEST(refusals[0].second.reject);
  BOOST_TEST(refusals[0].second.bye.reason.find("protocol version") != std::string::npos);
  BOOST_TEST(!core.knows(1));
}

BOOST_AUTO_TEST_CASE(a_sync_round_waits_for_every_member_and_is_sent_to_all) {
  started s{small_run()};
  auto first = s.core.pushed(1, push_of(s.cfg, 0, 0), t0 + 1s);
  BOOST_TEST(effects<new_update>(first).empty());
  BOOST_TEST(s.core.version() == 0u);
  auto second = s.core.pushed(2, push_of(s.cfg, 1, 0), t0 + 1s);
  BOOST_REQUIRE(effects<new_update>(second).size() == 1u);
  BOOST_TEST(effects<new_update>(second)[0].version == 1u);
  auto updates = sent<update_msg>(second);
  BOOST_REQUIRE(updates.size() == 2u);
  BOOST_TEST(updates[0].first == 1u);
  BOOST_TEST(updates[1].first == 2u);
  BOOST_TEST(updates[0].second.version == 1u);
  BOOST_TEST(s.core.version() == 1u);
  // The new update is made known before it is sent.
  BOOST_TEST(std::holds_alternative<new_update>(second.front()));
}

BOOST_AUTO_TEST_CASE(an_async_round_is_applied_at_once_and_grants_follow) {
  started s{small_run("async")};
  auto grants = sent<grant_msg>(s.at_start);
  BOOST_REQUIRE(grants.size() == 2u); // τ = 1: two outstanding grants
  const auto g = grants[0].second;
  auto fx = s.core.pushed(grants[0].first, push_of(s.cfg, 0, g.version, g.number), t0 + 1s);
  BOOST_TEST(s.core.version() == 1u);
  BOOST_TEST(sent<update_msg>(fx).size() == 2u); // to both members, no boundary
  BOOST_TEST(sent<reshard_msg>(fx).empty());
  BOOST_TEST(sent<grant_msg>(fx).size() == 1u); // worker 0 may compute again
}

BOOST_AUTO_TEST_CASE(a_resent_push_is_acknowledged_and_the_missing_update_sent_again) {
  started s{small_run()};
  s.core.pushed(1, push_of(s.cfg, 0, 0), t0);
  s.core.pushed(2, push_of(s.cfg, 1, 0), t0); // version 1
  auto fx = s.core.pushed(1, push_of(s.cfg, 0, 0), t0 + 1s);
  auto acks = sent<ack_msg>(fx);
  BOOST_REQUIRE(acks.size() == 1u);
  BOOST_TEST(acks[0].second.key == 0u);
  auto resent = sent<update_msg>(fx);
  BOOST_REQUIRE(resent.size() == 1u);
  BOOST_TEST(resent[0].second.version == 1u);
  BOOST_TEST(s.core.version() == 1u); // never applied twice
  BOOST_TEST(s.core.totals().retransmissions == 2u);
}

BOOST_AUTO_TEST_CASE(a_probe_is_answered_with_ack_or_resend_then_the_version_sent) {
  started s{small_run()};
  s.core.pushed(1, push_of(s.cfg, 0, 0), t0);
  auto in_hand = s.core.probed(1, 0 + 1, t0 + 1s); // push key 0 + 1
  BOOST_TEST(sent<ack_msg>(in_hand).size() == 1u);
  BOOST_REQUIRE(std::holds_alternative<send_to>(in_hand.back()));
  BOOST_TEST(sent<sent_msg>(in_hand).at(0).second.version == 0u);
  auto lost = s.core.probed(2, 0 + 1, t0 + 1s); // worker 1's push never came
  BOOST_TEST(sent<resend_msg>(lost).at(0).second.key == 0u);
  BOOST_TEST(sent<ack_msg>(lost).empty());
}

BOOST_AUTO_TEST_CASE(a_status_with_missing_updates_gets_them_from_the_ring) {
  started s{small_run()};
  for (std::uint64_t step = 0; step < 3; ++step) {
    s.core.pushed(1, push_of(s.cfg, 0, step), t0);
    s.core.pushed(2, push_of(s.cfg, 1, step), t0);
  }
  auto fx = s.core.status(2, 1, t0 + 1s);
  auto resent = sent<update_msg>(fx);
  BOOST_REQUIRE(resent.size() == 2u);
  BOOST_TEST(resent[0].second.version == 2u);
  BOOST_TEST(resent[1].second.version == 3u);
  BOOST_TEST(s.core.status(99, 1, t0).empty()); // a stranger gets nothing
}

BOOST_AUTO_TEST_CASE(a_silent_worker_is_removed_after_the_timeout_and_the_round_goes_on) {
  started s{small_run()};
  auto early = s.core.tick(t0 + 5s);
  BOOST_TEST(sent<farewell_msg>(early).empty());
  BOOST_TEST(effects<arm_timer>(early).size() == 1u); // the next look
  s.core.pushed(2, push_of(s.cfg, 1, 0), t0 + 9s);    // worker 1 is alive and pushed
  auto late = s.core.tick(t0 + 11s);
  auto byes = sent<farewell_msg>(late);
  BOOST_REQUIRE(byes.size() == 1u);
  BOOST_TEST(byes[0].first == 1u);
  BOOST_TEST(byes[0].second.bye.may_rejoin);
  BOOST_TEST(byes[0].second.bye.reason.find("--worker-timeout") != std::string::npos);
  BOOST_TEST(s.core.totals().timeouts == 1u);
  BOOST_TEST(s.core.version() == 1u); // worker 1's push completes the step alone
  BOOST_TEST(!s.core.knows(1));
}

BOOST_AUTO_TEST_CASE(a_worker_that_owes_a_push_is_removed_despite_heartbeats) {
  started s{small_run()};
  s.core.heartbeat(1, t0 + 8s);
  s.core.heartbeat(2, t0 + 8s);
  s.core.pushed(2, push_of(s.cfg, 1, 0), t0 + 8s);
  auto fx = s.core.tick(t0 + 11s);
  auto byes = sent<farewell_msg>(fx);
  BOOST_REQUIRE(byes.size() == 1u);
  BOOST_TEST(byes[0].second.bye.reason.find("no push") != std::string::npos);
}

/// The farewells in `fx` sent to `peer`.
std::vector<farewell_msg> farewells_to(const server_effects& fx, peer_id peer) {
  std::vector<farewell_msg> out;
  for (const auto& [to, m] : sent<farewell_msg>(fx))
    if (to == peer)
      out.push_back(m);
  return out;
}

BOOST_AUTO_TEST_CASE(a_worker_starting_up_is_not_timed_out_until_it_has_started) {
  // A loaded machine: worker 0 took its welcome at t0 and needs 40 s to load its data, four
  // times --worker-timeout; it said so (starting) before it went quiet.
  started s{small_run()};
  s.core.starting(1, t0 + 1s);
  s.core.pushed(2, push_of(s.cfg, 1, 0), t0 + 5s);
  BOOST_TEST(farewells_to(s.core.tick(t0 + 11s), 1).empty());
  s.core.heartbeat(2, t0 + 30s);
  BOOST_TEST(farewells_to(s.core.tick(t0 + 35s), 1).empty());
  // Started: its next message ends the start-up, and the push clock starts there.
  s.core.heartbeat(1, t0 + 41s);
  s.core.heartbeat(1, t0 + 48s);
  s.core.heartbeat(2, t0 + 48s);
  BOOST_TEST(farewells_to(s.core.tick(t0 + 50s), 1).empty());
  auto late = farewells_to(s.core.tick(t0 + 52s), 1);
  BOOST_REQUIRE(late.size() == 1u);
  BOOST_TEST(late[0].bye.reason.find("no push") != std::string::npos);
  BOOST_TEST(s.core.totals().timeouts == 1u);
}

BOOST_AUTO_TEST_CASE(a_start_up_that_never_ends_is_timed_out_after_its_allowance) {
  started s{small_run()}; // --worker-timeout 10 s: the start-up may take 120 s
  s.core.starting(1, t0);
  s.core.heartbeat(2, t0 + 100s);
  BOOST_TEST(farewells_to(s.core.tick(t0 + 110s), 1).empty());
  auto gone = farewells_to(s.core.tick(t0 + 121s), 1);
  BOOST_REQUIRE(gone.size() == 1u);
  BOOST_TEST(gone[0].bye.reason.find("start-up") != std::string::npos);
  BOOST_TEST(gone[0].bye.may_rejoin);
}

BOOST_AUTO_TEST_CASE(starting_counts_only_for_a_member) {
  auto cfg = small_run();
  server_core core{setup_of(cfg), t0};
  core.registered(hello(1), t0); // waiting for a second worker: not a member yet
  core.starting(1, t0);
  auto fx = core.tick(t0 + 11s);
  BOOST_TEST(sent<farewell_msg>(fx).size() == 1u); // silent for the timeout while waiting
}

BOOST_AUTO_TEST_CASE(a_joiner_during_a_sync_round_enters_at_the_next_boundary) {
  started s{small_run()};
  s.core.pushed(1, push_of(s.cfg, 0, 0), t0);
  auto join = s.core.registered(hello(3), t0);
  BOOST_TEST(sent<welcome_msg>(join).empty()); // the step is in progress
  BOOST_TEST(s.core.totals().joins == 1u);
  auto fx = s.core.pushed(2, push_of(s.cfg, 1, 0), t0);
  // Re-shard the members, send them the update, then welcome the joiner with x_1.
  std::vector<int> order;
  for (const auto& e : fx)
    if (const auto* m = std::get_if<send_to>(&e))
      order.push_back(static_cast<int>(m->what.index()));
  const std::vector<int> expected{2, 2, 3, 3, 0}; // reshard, reshard, update, update, welcome
  BOOST_TEST(order == expected, boost::test_tools::per_element());
  auto welcomes = sent<welcome_msg>(fx);
  BOOST_TEST(welcomes.at(0).first == 3u);
  BOOST_TEST(welcomes.at(0).second.w.version == 1u);
  BOOST_TEST(welcomes.at(0).second.w.shard.count == 3u);
}

BOOST_AUTO_TEST_CASE(a_push_for_a_departed_worker_is_ignored) {
  started s{small_run()};
  auto fx = s.core.left(1, 0, t0);
  auto byes = sent<farewell_msg>(fx);
  BOOST_REQUIRE(byes.size() == 1u);
  BOOST_TEST(byes[0].second.bye.reason == "left");
  BOOST_TEST(!byes[0].second.bye.error);
  auto late = s.core.pushed(1, push_of(s.cfg, 0, 0), t0);
  BOOST_TEST(late.empty());
  BOOST_TEST(s.core.totals().ignored_pushes == 1u);
  BOOST_TEST(s.core.left(2, 0, t0).empty()); // nobody leaves for another
  s.core.pushed(2, push_of(s.cfg, 1, 0), t0);
  BOOST_TEST(s.core.version() == 1u); // the remaining worker makes the step
}

BOOST_AUTO_TEST_CASE(a_lost_connection_departs_one_turn_later) {
  started s{small_run()};
  auto closed = s.core.connection_closed(1, "connection lost: x", t0);
  BOOST_REQUIRE(effects<defer_loss>(closed).size() == 1u);
  BOOST_TEST(s.core.knows(1)); // not yet
  s.core.connection_lost(1, "connection lost: x", t0);
  BOOST_TEST(!s.core.knows(1));
  BOOST_TEST(s.core.totals().departures == 1u);
}

// -- issue 29: a worker whose model fails tells the server why ----------------------------------

/// A dsq server core (elastic) of `cfg` whose two workers (peers 1 and 2, ids 0 and 1) have
/// registered, its console lines kept in `lines`.
struct elastic_started {
  run_config cfg;
  std::vector<std::string> lines;
  std::shared_ptr<run_outcome> outcome;
  std::optional<server_core> core;
  explicit elastic_started(run_config c) : cfg(std::move(c)) {
    auto setup = setup_of(cfg);
    setup.elastic = true;
    setup.verbose = true;
    setup.on_line = [this](std::string_view line) { lines.emplace_back(line); };
    outcome = setup.outcome;
    core.emplace(setup, t0);
    core->start();
    core->registered(hello(1), t0);
    core->registered(hello(2), t0);
    core->evaluated(0, false, 0.69, 0.5, 0); // the initial row
  }
  bool said(const std::string& text) const {
    for (const auto& l : lines)
      if (l.find(text) != std::string::npos)
        return true;
    return false;
  }
};

const std::string nan_reason = "worker 0: model 'lsq_nan' returned a gradient that is not finite "
                               "(entry 0 is nan) at step 1, and on the same batch at its initial "
                               "parameters too: its loss_and_gradient is broken";

BOOST_AUTO_TEST_CASE(a_failed_worker_is_logged_and_counted_and_the_others_go_on) {
  elastic_started s{small_run()};
  s.core->pushed(1, push_of(s.cfg, 0, 0), t0);
  s.core->pushed(2, push_of(s.cfg, 1, 0), t0);
  BOOST_REQUIRE(s.core->version() == 1u);
  auto fx = s.core->worker_failed(1, 0, nan_reason, t0);
  auto byes = sent<farewell_msg>(fx);
  BOOST_REQUIRE(byes.size() == 1u); // the worker waits for it before it quits
  BOOST_TEST(byes[0].first == 1u);
  BOOST_TEST(!s.core->knows(1));
  BOOST_TEST(s.core->totals().worker_failures == 1u);
  BOOST_TEST(s.core->totals().departures == 1u);
  BOOST_TEST(s.said("worker 0 failed at step 1: model 'lsq_nan' returned a gradient"));
  BOOST_TEST((s.core->now_in() == server_core::phase::training)); // worker 1 goes on
  s.core->pushed(2, push_of(s.cfg, 1, 1), t0);
  BOOST_TEST(s.core->version() == 2u);
  BOOST_TEST(s.outcome->error.empty());
}

BOOST_AUTO_TEST_CASE(a_server_whose_last_worker_failed_ends_with_its_reason) {
  elastic_started s{small_run()};
  s.core->worker_failed(1, 0, nan_reason, t0);
  BOOST_TEST((s.core->now_in() == server_core::phase::training));
  s.core->worker_failed(2, 1, "worker 1: model 'lsq_nan' returned a loss of nan", t0);
  BOOST_TEST((s.core->now_in() == server_core::phase::finishing));
  BOOST_TEST(s.core->totals().worker_failures == 2u);
  BOOST_TEST(
      s.outcome->error ==
      "worker 1 failed at step 0: model 'lsq_nan' returned a loss of nan; no worker is left");
  BOOST_TEST(!s.outcome->summary.completed);
}

BOOST_AUTO_TEST_CASE(only_a_worker_itself_may_say_that_it_failed) {
  elastic_started s{small_run()};
  BOOST_TEST(s.core->worker_failed(2, 0, nan_reason, t0).empty());            // another member
  BOOST_TEST(s.core->worker_failed(std::nullopt, 0, nan_reason, t0).empty()); // a stranger
  BOOST_TEST(s.core->knows(1));
  BOOST_TEST(s.core->totals().worker_failures == 0u);
}

// dsq local's workers are this process's own code: the first that fails fails the run.
BOOST_AUTO_TEST_CASE(a_local_run_fails_with_its_first_failed_worker) {
  auto cfg = small_run();
  auto setup = setup_of(cfg);
  BOOST_REQUIRE(!setup.elastic);
  auto outcome = setup.outcome;
  server_core core{setup, t0};
  core.registered(hello(1), t0);
  core.registered(hello(2), t0);
  core.evaluated(0, false, 0.69, 0.5, 0);
  core.worker_failed(1, 0, nan_reason, t0);
  BOOST_TEST((core.now_in() == server_core::phase::finishing));
  BOOST_TEST(core.totals().worker_failures == 1u);
  BOOST_TEST(outcome->error.rfind("worker 0 failed at step 0: model 'lsq_nan'", 0) == 0u,
             outcome->error);
}

BOOST_AUTO_TEST_CASE(the_goodbye_wait_lasts_while_workers_are_heard_from) {
  auto cfg = small_run();
  auto setup = setup_of(cfg);
  setup.await_goodbyes = true;
  server_core core{setup, t0};
  core.registered(hello(1), t0);
  core.registered(hello(2), t0);
  auto fx = core.stop_requested(t0 + 1s);
  BOOST_TEST(sent<farewell_msg>(fx).size() == 2u);
  BOOST_REQUIRE(effects<arm_timer>(fx).size() == 1u);
  BOOST_TEST((effects<arm_timer>(fx)[0].which == server_timer::goodbye));
  BOOST_TEST(effects<stop_server>(core.evaluated(0, false, 1, 0.5, 0)).empty()); // waits
  core.heartbeat(1, t0 + 2s);
  auto still = core.goodbye_tick(t0 + 3s);
  BOOST_TEST(effects<stop_server>(still).empty()); // worker 0 is still receiving
  BOOST_TEST(effects<arm_timer>(still).at(0).after == 500ms);
  auto closed = core.connection_closed(2, "gone", t0 + 3s);
  BOOST_TEST(effects<stop_server>(closed).empty());
  auto over = core.goodbye_tick(t0 + 5s); // nobody heard from within 2 s
  BOOST_REQUIRE(effects<stop_server>(over).size() == 1u);
  BOOST_TEST(!effects<stop_server>(over)[0].failed);
}

BOOST_AUTO_TEST_CASE(a_resumed_wait_gives_up_on_missing_workers_after_the_timeout) {
  // A checkpoint with workers' states of members 0 and 1: the run waits for both.
  auto cfg = small_run();
  auto setup = setup_of(cfg);
  update_engine engine{cfg, *setup.setup.net};
  auto ckpt = engine.snapshot();
  ckpt.members.next_id = 2;
  ckpt.members.generation = 1;
  ckpt.members.members = {{0, {1, 0, 2}}, {1, {1, 1, 2}}};
  ckpt.workers[0] = worker_snapshot{};
  ckpt.workers[1] = worker_snapshot{};
  setup.resume_from = ckpt;
  server_core core{setup, t0};
  auto back = hello(1);
  back.returning = true;
  back.previous_id = 0;
  core.registered(back, t0 + 1s);
  BOOST_TEST((core.now_in() == server_core::phase::waiting)); // worker 1 is missing
  core.heartbeat(1, t0 + 9s);
  core.tick(t0 + 9s);
  BOOST_TEST((core.now_in() == server_core::phase::waiting));
  auto fx = core.tick(t0 + 11s);
  BOOST_TEST((core.now_in() == server_core::phase::training));
  auto welcomes = sent<welcome_msg>(fx);
  BOOST_REQUIRE(welcomes.size() == 1u);
  BOOST_TEST(welcomes[0].second.w.worker_id == 0u);
  BOOST_TEST(!welcomes[0].second.w.has_state); // given up: the states are dropped
}

BOOST_AUTO_TEST_CASE(losing_the_network_stops_at_once_as_a_failure) {
  auto cfg = small_run();
  auto setup = setup_of(cfg);
  auto outcome = setup.outcome;
  server_core core{setup, t0};
  auto fx = core.network_lost("no network");
  BOOST_REQUIRE(effects<stop_server>(fx).size() == 1u);
  BOOST_TEST(effects<stop_server>(fx)[0].failed);
  BOOST_TEST(outcome->network_lost);
  BOOST_TEST(outcome->error == "no network");
}

BOOST_AUTO_TEST_CASE(a_sync_checkpoint_collects_the_members_states_before_the_update) {
  auto cfg = small_run();
  const auto dir =
      std::filesystem::temp_directory_path() / ("dsq_server_core_" + std::to_string(::getpid()));
  cfg.checkpoint = dir.string();
  cfg.checkpoint_every = 1;
  started s{cfg};
  auto welcomes = sent<welcome_msg>(s.at_start);
  BOOST_REQUIRE(welcomes.size() == 2u);
  BOOST_TEST(welcomes[0].second.w.state_every == 1u); // attach states to every push
  const auto d = load_training(cfg).net->num_parameters();
  for (std::uint32_t id = 0; id < 2; ++id) {
    auto p = push_of(cfg, id, 0);
    p.has_state = true;
    p.state.worker_id = id;
    p.state.version = 0;
    p.state.residual.assign(d, 0.0f);
    p.state.rng = {1, 2, 3, 4};
    p.state.shard = welcomes[id].second.w.shard;
    s.core.pushed(id + 1, p, t0);
  }
  BOOST_TEST(s.core.version() == 1u);
  auto ckpt = read_checkpoint(cfg.checkpoint);
  BOOST_TEST(ckpt.version == 0u); // x_0 and both states, written before the update
  BOOST_TEST(ckpt.workers.size() == 2u);
  BOOST_TEST(ckpt.members.members.size() == 2u);
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(an_injected_crash_stops_at_once_after_the_update_is_sent) {
  auto cfg = small_run();
  auto setup = setup_of(cfg);
  setup.crash_hook = [](std::uint64_t version) { return version == 1; };
  server_core core{setup, t0};
  core.registered(hello(1), t0);
  core.registered(hello(2), t0);
  core.pushed(1, push_of(cfg, 0, 0), t0);
  auto fx = core.pushed(2, push_of(cfg, 1, 0), t0);
  BOOST_REQUIRE(!fx.empty());
  const auto* stop = std::get_if<stop_server>(&fx.back());
  BOOST_REQUIRE(stop != nullptr);
  BOOST_TEST(stop->killed);
  BOOST_TEST(sent<update_msg>(fx).size() == 2u); // the workers got x_1; nobody was told
  BOOST_TEST(sent<farewell_msg>(fx).empty());
}

// -- issue 29: pushes never issued, evaluated divergence --------------------------------------

BOOST_AUTO_TEST_CASE(an_async_push_under_a_grant_never_issued_is_refused) {
  started s{small_run("async")};
  auto grants = sent<grant_msg>(s.at_start);
  BOOST_REQUIRE(grants.size() == 2u);
  const auto g = grants[0].second;
  const auto peer = grants[0].first;
  const auto id = *s.core.worker_of(peer);
  auto forged = s.core.pushed(peer, push_of(s.cfg, id, g.version, g.number + 1000), t0 + 1s);
  BOOST_TEST(s.core.version() == 0u); // not applied
  BOOST_TEST(sent<ack_msg>(forged).empty());
  BOOST_TEST(s.core.totals().ignored_pushes == 1u);
  // The worker's real push is taken, not acknowledged as a resend of the forged one.
  auto real = s.core.pushed(peer, push_of(s.cfg, id, g.version, g.number), t0 + 2s);
  BOOST_TEST(sent<ack_msg>(real).empty());
  BOOST_TEST(s.core.version() == 1u);
  BOOST_TEST(s.core.totals().retransmissions == 0u);
  // Another worker's grant number is not this worker's either.
  const auto other = grants[1].second;
  s.core.pushed(peer, push_of(s.cfg, id, other.version, other.number), t0 + 3s);
  BOOST_TEST(s.core.version() == 1u);
  BOOST_TEST(s.core.totals().ignored_pushes == 2u);
}

BOOST_AUTO_TEST_CASE(a_sync_push_for_a_step_ahead_of_the_model_is_refused) {
  started s{small_run()};
  s.core.pushed(1, push_of(s.cfg, 0, 5), t0 + 1s); // the server is at step 0
  BOOST_TEST(s.core.totals().ignored_pushes == 1u);
  s.core.pushed(2, push_of(s.cfg, 1, 0), t0 + 1s);
  BOOST_TEST(s.core.version() == 0u); // worker 0 still owes step 0
  auto fx = s.core.pushed(1, push_of(s.cfg, 0, 0), t0 + 2s);
  BOOST_TEST(sent<ack_msg>(fx).empty()); // a new push, not a resend
  BOOST_TEST(s.core.version() == 1u);
}

BOOST_AUTO_TEST_CASE(an_evaluated_loss_far_above_the_start_ends_the_run_as_diverged) {
  auto cfg = small_run();
  cfg.eval_every = 1;
  auto setup = setup_of(cfg);
  setup.elastic = true; // dsq server: its members may lie
  auto outcome = setup.outcome;
  server_core core{setup, t0};
  core.registered(hello(1), t0);
  core.registered(hello(2), t0);
  core.evaluated(0, false, 0.69, 0.5, 0); // the initial row: healthy
  core.pushed(1, push_of(cfg, 0, 0), t0);
  core.pushed(2, push_of(cfg, 1, 0), t0);
  BOOST_REQUIRE(core.version() == 1u);
  // Pushes that passed every check; the model's test loss says otherwise.
  auto fx = core.evaluated(1, false, 7e6, 0.7, 0);
  BOOST_TEST((core.now_in() == server_core::phase::finishing));
  BOOST_TEST(sent<farewell_msg>(fx).size() == 2u);
  BOOST_REQUIRE(effects<evaluation_request>(fx).size() == 1u); // the final one
  auto end = core.evaluated(1, true, 7e6, 0.7, 7e6);
  BOOST_REQUIRE(effects<stop_server>(end).size() == 1u);
  BOOST_TEST(effects<stop_server>(end)[0].failed);
  BOOST_TEST(outcome->summary.diverged);
  BOOST_TEST(*outcome->summary.diverged_at_step == 1u);
  BOOST_TEST(!outcome->summary.completed);
  BOOST_TEST(outcome->error.find("test loss") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_final_evaluation_far_above_the_start_makes_a_finished_run_diverged) {
  auto cfg = small_run();
  cfg.steps = 1;
  auto setup = setup_of(cfg);
  setup.elastic = true;
  auto outcome = setup.outcome;
  server_core core{setup, t0};
  core.registered(hello(1), t0);
  core.registered(hello(2), t0);
  core.evaluated(0, false, 0.69, 0.5, 0);
  core.pushed(1, push_of(cfg, 0, 0), t0);
  auto fx = core.pushed(2, push_of(cfg, 1, 0), t0); // the last step: the run finishes
  BOOST_REQUIRE((core.now_in() == server_core::phase::finishing));
  auto end = core.evaluated(1, true, std::numeric_limits<double>::quiet_NaN(), 0.1, 1);
  BOOST_REQUIRE(effects<stop_server>(end).size() == 1u);
  BOOST_TEST(outcome->summary.diverged);
  BOOST_TEST(!outcome->ok);
}

// -- issue 29: registrations ----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_huge_host_name_is_cut_and_made_printable_before_it_is_kept) {
  started s{small_run()};
  auto r = hello(3);
  r.host = "evil\n\x1b[2J" + std::string(std::size_t{1} << 20, 'h');
  s.core.registered(r, t0);
  auto id = s.core.worker_of(3);
  BOOST_REQUIRE(id.has_value());
  const auto* m = s.core.members().get(*id);
  BOOST_REQUIRE(m != nullptr);
  BOOST_TEST(m->host.size() < 100u);
  BOOST_TEST(m->host.find('\n') == std::string::npos);
  BOOST_TEST(m->host.find('\x1b') == std::string::npos);
  BOOST_TEST(m->host.find("bytes, cut") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(without_max_workers_the_server_gives_256_seats) {
  auto big = small_run();
  big.dataset = "synthetic:n=2000,d=8,classes=2"; // a sample for every seat
  started s{big};                                 // 2 members
  for (peer_id peer = 3; peer <= 256; ++peer)
    BOOST_TEST(sent<farewell_msg>(s.core.registered(hello(peer), t0)).empty());
  auto full = sent<farewell_msg>(s.core.registered(hello(257), t0));
  BOOST_REQUIRE(full.size() == 1u);
  BOOST_TEST(full[0].second.reject);
  BOOST_TEST(full[0].second.bye.reason.find("full (256 workers)") != std::string::npos);
  // A run that asks for more workers than that gets them.
  auto cfg = small_run();
  cfg.workers = 300;
  BOOST_TEST(worker_cap(cfg) == 300u);
  cfg.max_workers = 3;
  BOOST_TEST(worker_cap(cfg) == 3u);
}

// -- issue 29: a dsq server left without workers ----------------------------------------------

BOOST_AUTO_TEST_CASE(a_server_left_without_workers_checkpoints_and_fails_after_the_idle_timeout) {
  auto cfg = small_run();
  cfg.idle_timeout_s = 300;
  const auto dir =
      std::filesystem::temp_directory_path() / ("dsq_server_idle_" + std::to_string(::getpid()));
  cfg.checkpoint = dir.string();
  auto setup = setup_of(cfg);
  setup.elastic = true; // dsq server
  auto outcome = setup.outcome;
  server_core core{setup, t0};
  BOOST_TEST(effects<arm_timer>(core.start()).size() == 1u);
  core.registered(hello(1), t0);
  core.registered(hello(2), t0);
  core.evaluated(0, false, 0.69, 0.5, 0);
  core.pushed(1, push_of(cfg, 0, 0), t0);
  core.pushed(2, push_of(cfg, 1, 0), t0);
  BOOST_REQUIRE(core.version() == 1u);
  core.connection_lost(1, "gone", t0 + 1s);
  core.connection_lost(2, "gone", t0 + 2s);                    // no worker from here on
  BOOST_TEST((core.now_in() == server_core::phase::training)); // elastic: it waits
  BOOST_TEST(effects<stop_server>(core.tick(t0 + 2s + 299s)).empty());
  // A worker that comes and goes again restarts the count.
  core.registered(hello(3), t0 + 2s + 299s);
  core.connection_lost(3, "gone", t0 + 2s + 300s);
  BOOST_TEST(effects<stop_server>(core.tick(t0 + 2s + 301s)).empty());
  BOOST_TEST((core.now_in() == server_core::phase::training));
  auto fx = core.tick(t0 + 2s + 600s);
  BOOST_TEST((core.now_in() == server_core::phase::finishing));
  BOOST_REQUIRE(effects<evaluation_request>(fx).size() == 1u); // the final one
  auto end = core.evaluated(1, true, 0.6, 0.6, 0.6);
  BOOST_REQUIRE(effects<stop_server>(end).size() == 1u);
  BOOST_TEST(effects<stop_server>(end)[0].failed);
  BOOST_TEST(outcome->error.find("--idle-timeout") != std::string::npos, outcome->error);
  BOOST_TEST(read_checkpoint(cfg.checkpoint).version == 1u);
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(an_idle_timeout_of_0_waits_for_ever) {
  auto cfg = small_run();
  cfg.idle_timeout_s = 0;
  cfg.worker_timeout_s = 0;
  auto setup = setup_of(cfg);
  setup.elastic = true;
  server_core core{setup, t0};
  BOOST_TEST(effects<arm_timer>(core.start()).empty()); // no timer at all, as before
  core.registered(hello(1), t0);
  core.registered(hello(2), t0);
  core.connection_lost(1, "gone", t0);
  core.connection_lost(2, "gone", t0);
  BOOST_TEST(effects<stop_server>(core.tick(t0 + 100h)).empty());
  BOOST_TEST((core.now_in() == server_core::phase::training));
}

// dsq local's workers are its own code, but a method that wrecks the model (error feedback with
// qsgd:s=4 took a small MLP's test loss from 1.7 to 1.6e6) has diverged there too: it never ends
// as a success.
BOOST_AUTO_TEST_CASE(a_local_run_whose_evaluated_loss_explodes_ends_as_diverged) {
  auto cfg = small_run();
  cfg.steps = 5;
  auto setup = setup_of(cfg);
  BOOST_REQUIRE(!setup.elastic);
  auto outcome = setup.outcome;
  server_core core{setup, t0};
  core.registered(hello(1), t0);
  core.registered(hello(2), t0);
  core.evaluated(0, false, 0.69, 0.5, 0);
  core.pushed(1, push_of(cfg, 0, 0), t0);
  core.pushed(2, push_of(cfg, 1, 0), t0);
  BOOST_REQUIRE(core.version() == 1u);
  auto fx = core.evaluated(1, false, 7e6, 0.1, 0);
  BOOST_TEST((core.now_in() == server_core::phase::finishing));
  BOOST_REQUIRE(effects<evaluation_request>(fx).size() == 1u); // the final one
  core.evaluated(1, true, 7e6, 0.1, 7e6);
  BOOST_TEST(outcome->summary.diverged);
  BOOST_TEST(outcome->summary.diverged_at_step.value_or(0) == 1u);
  BOOST_TEST(!outcome->summary.completed);
  BOOST_TEST(outcome->error.find("test loss") != std::string::npos, outcome->error);
}

// -- issue 29: what a worker may ask to be sent again -------------------------------------------

BOOST_AUTO_TEST_CASE(a_status_flood_without_pushes_is_answered_up_to_the_budget_then_expelled) {
  started s{small_run()};
  s.core.pushed(1, push_of(s.cfg, 0, 0), t0);
  s.core.pushed(2, push_of(s.cfg, 1, 0), t0); // version 1
  std::size_t resent = 0;
  for (std::uint64_t i = 0; i < catch_up_limit; ++i)
    resent += sent<update_msg>(s.core.status(2, 0, t0 + 1s)).size();
  BOOST_TEST(resent == catch_up_limit); // each answered: the worker may have lost them
  BOOST_TEST(s.core.knows(2));
  auto over = s.core.status(2, 0, t0 + 1s);
  BOOST_TEST(sent<update_msg>(over).empty());
  auto byes = sent<farewell_msg>(over);
  BOOST_REQUIRE(byes.size() == 1u);
  BOOST_TEST(byes[0].second.bye.reason.find("without a new push") != std::string::npos);
  BOOST_TEST(!s.core.knows(2));
}

BOOST_AUTO_TEST_CASE(a_push_taken_renews_the_budget) {
  started s{small_run()};
  s.core.pushed(1, push_of(s.cfg, 0, 0), t0);
  s.core.pushed(2, push_of(s.cfg, 1, 0), t0); // version 1
  for (std::uint64_t i = 0; i < catch_up_limit; ++i)
    s.core.status(2, 0, t0);
  s.core.pushed(2, push_of(s.cfg, 1, 1), t0); // an honest push: the budget starts again
  BOOST_TEST(sent<update_msg>(s.core.status(2, 0, t0)).size() == 1u);
  BOOST_TEST(s.core.knows(2));
}

BOOST_AUTO_TEST_CASE(a_worker_gets_at_most_one_resync_per_version) {
  catch_up_budget budget{3};
  BOOST_TEST(budget.may_resync(0, 5));
  BOOST_TEST(!budget.may_resync(0, 5)); // one is on its way
  BOOST_TEST(budget.may_resync(1, 5));  // another worker's own
  BOOST_TEST(budget.may_resync(0, 6));
  BOOST_TEST(budget.ask(0));
  BOOST_TEST(budget.ask(0));
  BOOST_TEST(budget.ask(0));
  BOOST_TEST(!budget.ask(0));
  budget.forget(0);
  BOOST_TEST(budget.ask(0));
  BOOST_TEST(budget.may_resync(0, 6));
}

BOOST_AUTO_TEST_CASE(an_allowance_gives_its_burst_then_refills_at_its_rate_up_to_the_burst) {
  resend_allowance a{1000, 100.0}; // 1000 bytes at once, 100 a second
  BOOST_TEST(a.take(0, 600, t0));
  BOOST_TEST(a.take(0, 400, t0));
  BOOST_TEST(!a.take(0, 1, t0));        // empty
  BOOST_TEST(a.take(1, 1000, t0));      // another worker's bucket is its own
  BOOST_TEST(!a.take(0, 200, t0 + 1s)); // 100 refilled
  BOOST_TEST(a.take(0, 100, t0 + 1s));
  BOOST_TEST(!a.take(0, 1001, t0 + 1h)); // never more than the burst at once
  BOOST_TEST(a.take(0, 1000, t0 + 1h));
  BOOST_TEST(!a.take(0, 1, t0 + 1h - 1s)); // an earlier time refills nothing
  a.forget(0);
  BOOST_TEST(a.take(0, 1000, t0 + 1h)); // a new worker under that id: full
}

BOOST_AUTO_TEST_CASE(a_runs_allowance_is_16_models_at_once_and_4_a_second_at_least_1_mib) {
  auto small = run_resend_allowance(1000);
  BOOST_TEST(small.burst() == std::uint64_t{1} << 20);
  BOOST_TEST(small.rate() == 256.0 * 1024);
  auto large = run_resend_allowance(1'000'000);
  BOOST_TEST(large.burst() == 64'000'000u);
  BOOST_TEST(large.rate() == 16e6);
}

// A member that probes 20,000 times at once (each probe gets up to three answers) asks for more
// than its allowance: it is expelled, with the reason, before the flood is over.
BOOST_AUTO_TEST_CASE(a_probe_flood_is_answered_up_to_the_allowance_then_expelled) {
  started s{small_run()};
  s.core.pushed(1, push_of(s.cfg, 0, 0), t0);
  std::size_t answered = 0;
  std::optional<std::string> reason;
  for (int i = 0; i < 20000 && !reason; ++i) {
    auto fx = s.core.probed(2, 0, t0 + 1s);
    answered += sent<sent_msg>(fx).size();
    if (auto byes = sent<farewell_msg>(fx); !byes.empty())
      reason = byes[0].second.bye.reason;
  }
  BOOST_REQUIRE(reason.has_value());
  BOOST_TEST(reason->find("allowance") != std::string::npos, *reason);
  BOOST_TEST(answered * 3 * small_answer_bytes <= (std::uint64_t{1} << 20));
  BOOST_TEST(!s.core.knows(2));
  BOOST_TEST(s.core.totals().floods_expelled == 1u);
}

// An honest worker probes about once a second while it waits: never near its allowance.
BOOST_AUTO_TEST_CASE(probes_at_an_honest_pace_are_always_answered) {
  started s{small_run()};
  s.core.pushed(1, push_of(s.cfg, 0, 0), t0);
  for (int i = 0; i < 5000; ++i)
    BOOST_REQUIRE(sent<sent_msg>(s.core.probed(2, 0, t0 + i * 100ms)).size() == 1u);
  BOOST_TEST(s.core.knows(2));
  BOOST_TEST(s.core.totals().floods_expelled == 0u);
}

BOOST_AUTO_TEST_CASE(the_header_names_the_workers_the_run_starts_with_and_the_simd_level) {
  auto cfg = small_run();
  cfg.workers = 4;
  cfg.min_workers = 2;
  server_core core{setup_of(cfg), t0};
  const auto header = core.header();
  BOOST_TEST(header.find("starts with 2 workers") != std::string::npos, header);
  BOOST_TEST(header.find("4 workers") == std::string::npos, header);
  BOOST_TEST(header.find(std::string{", simd "} + name(active_simd_level())) != std::string::npos,
             header);
  cfg.min_workers = 0;
  BOOST_TEST(server_core(setup_of(cfg), t0).header().find("starts with 4 workers") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_summary_counts_the_workers_that_trained_not_the_ids_given) {
  auto cfg = small_run();
  auto setup = setup_of(cfg);
  auto outcome = setup.outcome;
  server_core core{setup, t0};
  core.registered(hello(1), t0);
  core.registered(hello(2), t0);
  core.registered(hello(3), t0); // joins: welcomed at the next boundary
  core.pushed(1, push_of(cfg, 0, 0), t0 + 1s);
  auto boundary = core.pushed(2, push_of(cfg, 1, 0), t0 + 1s);
  BOOST_REQUIRE(sent<welcome_msg>(boundary).size() == 1u); // worker 2 entered...
  core.connection_closed(3, "the server's model has 9 parameters, this worker's 8", t0 + 1s);
  core.connection_lost(3, "the server's model has 9 parameters, this worker's 8", t0 + 1s);
  BOOST_TEST(!core.knows(3)); // ...and failed before its first push
  core.registered(hello(4), t0 + 1s);
  core.connection_closed(4, "gone", t0 + 1s); // admitted, never entered
  core.connection_lost(4, "gone", t0 + 1s);
  core.pushed(1, push_of(cfg, 0, 1), t0 + 2s);
  core.pushed(2, push_of(cfg, 1, 1), t0 + 2s);
  BOOST_REQUIRE(core.version() == 2u);
  core.stop_requested(t0 + 3s);
  core.evaluated(0, false, 0.5, 0.5, 0); // the initial row's
  core.evaluated(2, true, 0.5, 0.5, 0.5);
  BOOST_TEST(outcome->summary.workers == 2u); // ids 0..3 were given, two workers trained
  BOOST_TEST(outcome->summary.simd == name(active_simd_level()));
}

// -- the data from the server ----------------------------------------------------------------

namespace {

/// Worker `peer`'s request for chunk `index` (of the smallest size) of the run's training set.
data_request chunk_request(const started& s, std::uint64_t index, std::uint64_t received) {
  return data_request{load_training(s.cfg).identity.train_fingerprint, index, data_chunk_min,
                      received};
}

} // namespace

BOOST_AUTO_TEST_CASE(a_member_gets_the_training_set_chunk_by_chunk_as_it_is_held_in_memory) {
  started s{small_run()};
  const auto loaded = load_training(s.cfg);
  const auto total = dataset_bytes_size(8, 200);
  std::vector<std::uint8_t> got;
  for (std::uint64_t i = 0; got.size() < total; ++i) {
    auto chunks = sent<data_chunk_msg>(s.core.data_requested(1, chunk_request(s, i, i), t0));
    BOOST_REQUIRE(chunks.size() == 1u);
    BOOST_TEST(chunks[0].first == 1u);
    const auto& c = chunks[0].second.chunk;
    BOOST_TEST(c.index == i);
    BOOST_TEST(c.offset == got.size());
    BOOST_TEST(c.total == total);
    got.insert(got.end(), c.bytes.begin(), c.bytes.end());
  }
  BOOST_TEST(got.size() == total);
  BOOST_TEST(data_fingerprint(read_dataset_bytes(got)) == loaded.identity.train_fingerprint);
  // Past the end: nothing.
  BOOST_TEST(s.core.data_requested(1, chunk_request(s, 99, 99), t0).empty());
}

BOOST_AUTO_TEST_CASE(strangers_other_data_sets_and_a_full_window_get_no_answer) {
  auto cfg = small_run();
  cfg.dataset = "synthetic:n=2000,d=8,classes=2"; // 18 chunks
  started s{cfg};
  BOOST_TEST(s.core.data_requested(std::nullopt, chunk_request(s, 0, 0), t0).empty());
  BOOST_TEST(s.core.data_requested(77, chunk_request(s, 0, 0), t0).empty()); // not registered
  auto other = chunk_request(s, 0, 0);
  other.fingerprint ^= 1;
  BOOST_TEST(s.core.data_requested(1, other, t0).empty());
  // A worker that registered but was not welcomed (the run waits for a second) gets nothing.
  server_core waiting{setup_of(s.cfg), t0};
  waiting.registered(hello(1), t0);
  BOOST_TEST(waiting.data_requested(1, chunk_request(s, 0, 0), t0).empty());
  // At most data_window chunks ahead of what the worker says it holds.
  for (std::uint64_t i = 0; i < data_window; ++i)
    BOOST_TEST(sent<data_chunk_msg>(s.core.data_requested(1, chunk_request(s, i, 0), t0)).size() ==
               1u);
  BOOST_TEST(s.core.data_requested(1, chunk_request(s, data_window, 0), t0).empty());
  BOOST_TEST(
      sent<data_chunk_msg>(s.core.data_requested(1, chunk_request(s, data_window, 1), t0)).size() ==
      1u);
  // A worker cannot claim more than it was sent to widen its window.
  BOOST_TEST(s.core.data_requested(2, chunk_request(s, 0, 1000), t0).size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_worker_getting_the_data_still_starts_up_until_all_of_it_went_out) {
  // Worker 0 gets the data from the server for 60 s, six times --worker-timeout, heartbeating
  // meanwhile: its start-up lasts until the last chunk went out.
  started s{small_run()};
  s.core.starting(1, t0 + 1s);
  s.core.data_requested(1, chunk_request(s, 0, 0), t0 + 2s);
  s.core.pushed(2, push_of(s.cfg, 1, 0), t0 + 5s);
  s.core.heartbeat(1, t0 + 30s);
  s.core.heartbeat(2, t0 + 30s);
  BOOST_TEST(farewells_to(s.core.tick(t0 + 35s), 1).empty());
  const auto chunks = (dataset_bytes_size(8, 200) + data_chunk_min - 1) / data_chunk_min;
  for (std::uint64_t i = 1; i < chunks; ++i)
    s.core.data_requested(1, chunk_request(s, i, i), t0 + 60s);
  s.core.heartbeat(1, t0 + 61s); // ends the start-up: the push clock starts
  s.core.heartbeat(1, t0 + 68s);
  s.core.heartbeat(2, t0 + 68s);
  BOOST_TEST(farewells_to(s.core.tick(t0 + 70s), 1).empty());
  auto late = farewells_to(s.core.tick(t0 + 72s), 1);
  BOOST_REQUIRE(late.size() == 1u);
  BOOST_TEST(late[0].bye.reason.find("no push") != std::string::npos);
}

// -- issue 25: the run's observer (server_setup::on_row, on_line) ------------------------------

BOOST_AUTO_TEST_CASE(the_observer_sees_every_row_once_final_in_step_order) {
  auto cfg = small_run();
  cfg.steps = 3;
  auto setup = setup_of(cfg);
  std::vector<step_record> seen;
  setup.on_row = [&](const step_record& row) {
    seen.push_back(row);
    return true;
  };
  auto outcome = setup.outcome;
  server_core core{setup, t0};
  core.registered(hello(1), t0);
  core.registered(hello(2), t0);
  core.pushed(1, push_of(cfg, 0, 0), t0);
  core.pushed(2, push_of(cfg, 1, 0), t0);
  BOOST_TEST(seen.empty()); // row 0 waits for its evaluation, and row 1 behind it
  core.evaluated(0, false, 0.69, 0.5, 0);
  BOOST_REQUIRE(seen.size() == 2u);
  BOOST_TEST(seen[0].step == 0u);
  BOOST_TEST(seen[0].evaluated);
  BOOST_TEST(seen[0].test_loss == 0.69);
  BOOST_TEST(seen[1].step == 1u);
  core.pushed(1, push_of(cfg, 0, 1), t0);
  core.pushed(2, push_of(cfg, 1, 1), t0);
  BOOST_TEST(seen.size() == 3u); // nothing waits: the row is shown as it is recorded
  core.pushed(1, push_of(cfg, 0, 2), t0);
  core.pushed(2, push_of(cfg, 1, 2), t0); // the last: its row waits for the final evaluation
  BOOST_TEST(seen.size() == 3u);
  core.evaluated(3, true, 0.5, 0.75, 0.4);
  BOOST_REQUIRE(seen.size() == 4u);
  BOOST_TEST(seen[3].step == 3u);
  BOOST_TEST(seen[3].test_accuracy == 0.75);
  BOOST_TEST(outcome->ok);
  BOOST_TEST(outcome->summary.completed);
}

BOOST_AUTO_TEST_CASE(an_observer_returning_false_stops_the_run_at_that_step_as_a_stop_does) {
  auto cfg = small_run();
  cfg.steps = 10;
  auto setup = setup_of(cfg);
  std::vector<std::uint64_t> seen;
  setup.on_row = [&](const step_record& row) {
    seen.push_back(row.step);
    return row.step < 2;
  };
  auto outcome = setup.outcome;
  server_core core{setup, t0};
  core.registered(hello(1), t0);
  core.registered(hello(2), t0);
  core.evaluated(0, false, 0.69, 0.5, 0);
  for (std::uint64_t step = 0; step < 2; ++step) {
    core.pushed(1, push_of(cfg, 0, step), t0);
    core.pushed(2, push_of(cfg, 1, step), t0);
  }
  BOOST_TEST(core.version() == 2u);
  BOOST_TEST((core.now_in() == server_core::phase::finishing));
  auto end = core.evaluated(2, true, 0.6, 0.6, 0.6);
  BOOST_REQUIRE(effects<stop_server>(end).size() == 1u);
  BOOST_TEST(!effects<stop_server>(end)[0].failed);
  BOOST_TEST(outcome->ok);
  BOOST_TEST(!outcome->summary.completed);
  BOOST_TEST(outcome->summary.steps == 2u);
  BOOST_TEST(outcome->summary.note == "stopped at step 2 of 10");
  BOOST_TEST((seen == std::vector<std::uint64_t>{0, 1, 2}));
}

BOOST_AUTO_TEST_CASE(an_observer_that_throws_fails_the_run_with_its_message) {
  auto cfg = small_run();
  auto setup = setup_of(cfg);
  setup.on_row = [](const step_record& row) -> bool {
    if (row.step == 1)
      throw std::runtime_error("plot window closed");
    return true;
  };
  auto outcome = setup.outcome;
  server_core core{setup, t0};
  core.registered(hello(1), t0);
  core.registered(hello(2), t0);
  core.evaluated(0, false, 0.69, 0.5, 0);
  core.pushed(1, push_of(cfg, 0, 0), t0);
  core.pushed(2, push_of(cfg, 1, 0), t0);
  core.evaluated(1, true, 0.6, 0.6, 0.6);
  BOOST_TEST(!outcome->ok);
  BOOST_TEST(outcome->error == "the run's observer failed at row 1: plot window closed");
}

BOOST_AUTO_TEST_CASE(console_lines_go_to_the_line_sink_when_one_is_given) {
  auto cfg = small_run();
  cfg.steps = 1;
  auto setup = setup_of(cfg);
  setup.verbose = true;
  std::vector<std::string> lines;
  setup.on_line = [&](std::string_view line) { lines.emplace_back(line); };
  server_core core{setup, t0};
  core.start();
  core.registered(hello(1), t0);
  core.registered(hello(2), t0);
  core.evaluated(0, false, 0.69, 0.5, 0);
  core.pushed(1, push_of(cfg, 0, 0), t0);
  core.pushed(2, push_of(cfg, 1, 0), t0);
  core.evaluated(1, true, 0.6, 0.6, 0.6);
  BOOST_REQUIRE(!lines.empty());
  BOOST_TEST(lines.front() == core.header());
  BOOST_TEST(lines.back().rfind("done: 1 steps in", 0) == 0u);
  for (const auto& line : lines)
    BOOST_TEST(line.find('\n') == std::string::npos);
}

// -- the leader of a sharded run (--servers=K > 1): fake followers and fake workers -------------

namespace {

/// The messages to followers of type M in `fx`, with their shard, in order.
template <class M>
std::vector<std::pair<std::uint32_t, M>> to_shards(const server_effects& fx) {
  std::vector<std::pair<std::uint32_t, M>> out;
  for (const auto& e : fx)
    if (const auto* s = std::get_if<send_to_shard>(&e))
      if (const auto* m = std::get_if<M>(&s->what))
        out.emplace_back(s->shard, *m);
  return out;
}

/// A leader of `cfg` over `shards` shards whose two workers (peers 1 and 2) registered at t0,
/// before its followers joined.
struct leading {
  run_config cfg;
  std::shared_ptr<run_outcome> outcome = std::make_shared<run_outcome>();
  server_core core;
  std::vector<key_range> ranges;
  std::map<std::uint32_t, shard_setup> setups; ///< what each follower was set up with
  explicit leading(run_config c, std::uint32_t shards = 2)
      : cfg(std::move(c)), core(sharded_setup(cfg, shards, outcome), t0), ranges(core.ranges()) {
    core.start();
    core.registered(hello(1), t0);
    core.registered(hello(2), t0);
  }
  static server_setup sharded_setup(const run_config& cfg, std::uint32_t shards,
                                    std::shared_ptr<run_outcome> outcome = nullptr) {
    auto s = setup_of(cfg);
    s.shards = shards;
    if (outcome)
      s.outcome = std::move(outcome);
    return s;
  }
  /// Follower k joins from peer 100 + k.
  server_effects join(std::uint32_t k) {
    shard_join j;
    j.shard = k;
    j.shards = static_cast<std::uint32_t>(ranges.size());
    j.endpoint = fmt::format("10.0.0.{}:7000", k);
    auto fx = core.shard_joined(100 + k, j, t0);
    for (auto& [shard, setup] : to_shards<shard_setup>(fx))
      setups.emplace(shard, setup);
    return fx;
  }
  /// Every follower joins; the effects of the last join (the start).
  server_effects join_all() {
    server_effects last;
    for (std::uint32_t k = 1; k < ranges.size(); ++k)
      last = join(k);
    return last;
  }
  /// Worker `id`'s slice push for shard 0.
  gradient_push push0(std::uint32_t id, std::uint64_t step, std::uint64_t grant = 0,
                      float value = 0.01f) const {
    std::vector<float> g(ranges[0].size(), value);
    rng_engine rng{1};
    gradient_push p;
    p.worker_id = id;
    p.step = step;
    p.loss = 0.5f;
    p.grant = grant;
    p.payload = to_bytes(make_compressor(resolve_method(cfg).uplink)->compress(g, rng));
    return p;
  }
  /// Every follower holds worker `id`'s push `key`; the effects of the last.
  server_effects held_everywhere(std::uint32_t id, std::uint64_t key) {
    server_effects last;
    for (std::uint32_t k = 1; k < ranges.size(); ++k)
      last = core.shard_held(slice_held{k, id, key}, t0);
    return last;
  }
};

/// The position in `fx` of the first effect that `is` says yes to (fx.size() if none).
template <class F>
std::size_t position(const server_effects& fx, F is) {
  for (std::size_t i = 0; i < fx.size(); ++i)
    if (is(fx[i]))
      return i;
  return fx.size();
}

/// Follower `k`'s update of `version`: every coordinate of its range moved by `value`.
model_update follower_update(const run_config& cfg, key_range r, std::uint32_t k,
                             std::uint64_t version, float value = 0.01f) {
  std::vector<float> c(r.size(), value);
  rng_engine rng{7};
  model_update u;
  u.version = version;
  u.shard = k;
  u.payload = to_bytes(make_compressor(resolve_method(cfg).downlink)->compress(c, rng));
  return u;
}

} // namespace

BOOST_AUTO_TEST_CASE(an_unsharded_run_says_nothing_to_shards) {
  started s{small_run()};
  BOOST_TEST(s.core.shard_count() == 1u);
  BOOST_TEST(effects<send_to_shard>(s.at_start).empty());
  auto fx = s.core.pushed(1, push_of(s.cfg, 0, 0), t0);
  fx = s.core.pushed(2, push_of(s.cfg, 1, 0), t0);
  BOOST_TEST(effects<new_update>(fx).size() == 1u);
  BOOST_TEST(effects<send_to_shard>(fx).empty());
  BOOST_TEST(sent<welcome_msg>(s.at_start)[0].second.w.shards.ranges.empty());
}

BOOST_AUTO_TEST_CASE(a_leader_starts_only_once_every_follower_joined_and_sets_each_up) {
  auto cfg = small_run();
  cfg.aggregate = "median";
  cfg.max_push_norm = 50;
  cfg.metrics = "/nonexistent/metrics.csv"; // the leader's own paths stay its own
  leading l{cfg, 3};
  BOOST_TEST((l.core.now_in() == server_core::phase::waiting)); // the workers are there
  auto first = l.join(1);
  auto setups = to_shards<shard_setup>(first);
  BOOST_REQUIRE(setups.size() == 1u);
  BOOST_TEST(setups[0].first == 1u);
  const auto& s = setups[0].second;
  BOOST_TEST(s.ranges.size() == 3u);
  BOOST_TEST(s.version == 0u);
  BOOST_TEST(s.slice.size() == l.ranges[1].size());
  BOOST_TEST(s.config.seed == l.cfg.seed);
  BOOST_TEST(s.config.aggregate == "median"); // a follower aggregates as the leader does
  BOOST_TEST(s.config.max_push_norm == 50.0);
  BOOST_TEST(s.config.metrics.empty());
  BOOST_TEST((l.core.now_in() == server_core::phase::waiting));
  auto again = l.join(1);
  BOOST_REQUIRE(effects<refuse_shard>(again).size() == 1u);
  BOOST_TEST(effects<refuse_shard>(again)[0].peer == 101u);
  BOOST_TEST(effects<refuse_shard>(again)[0].why.find("joined already") != std::string::npos);
  shard_join other_k{2, 4, protocol_version, ""};
  auto wrong = l.core.shard_joined(102, other_k, t0);
  BOOST_TEST(effects<refuse_shard>(wrong)[0].why.find("--servers") != std::string::npos);
  auto last = l.join(2);
  BOOST_TEST((l.core.now_in() == server_core::phase::training));
  BOOST_TEST(sent<welcome_msg>(last).size() == 2u);
  BOOST_TEST(effects<refuse_shard>(l.join(2)).size() == 1u); // the run has started
}

BOOST_AUTO_TEST_CASE(member_change_reaches_every_follower_before_the_welcome) {
  leading l{small_run(), 3};
  auto fx = l.join_all();
  for (std::uint32_t id : {0u, 1u}) {
    const auto notice = position(fx, [&](const server_effect& e) {
      const auto* s = std::get_if<send_to_shard>(&e);
      const auto* m = s ? std::get_if<member_change>(&s->what) : nullptr;
      return m && m->worker == id && m->joined && m->version == 0;
    });
    const auto welcome_at = position(fx, [&](const server_effect& e) {
      const auto* s = std::get_if<send_to>(&e);
      const auto* w = s ? std::get_if<welcome_msg>(&s->what) : nullptr;
      return w && w->w.worker_id == id;
    });
    BOOST_TEST(notice < welcome_at);
    BOOST_TEST(welcome_at < fx.size());
  }
  BOOST_TEST(to_shards<member_change>(fx).size() == 4u); // 2 workers x 2 followers
  auto w = sent<welcome_msg>(fx).at(0).second.w;
  BOOST_TEST(w.from_shard == 0u);
  BOOST_TEST(w.model.size() == l.ranges[0].size());
  BOOST_TEST(w.shards.ranges == l.ranges);
  BOOST_REQUIRE(w.shards.endpoints.size() == 3u);
  BOOST_TEST(w.shards.endpoints[2] == "10.0.0.2:7000");
}

BOOST_AUTO_TEST_CASE(a_sharded_sync_push_counts_only_when_every_follower_holds_its_slice) {
  leading l{small_run()};
  l.join_all();
  l.core.pushed(1, l.push0(0, 0), t0);
  auto fx = l.core.pushed(2, l.push0(1, 0), t0);
  BOOST_TEST(effects<new_update>(fx).empty()); // no follower said it holds them
  BOOST_TEST(l.core.version() == 0u);
  // A probe meanwhile: the leader holds its slice.
  BOOST_TEST(sent<ack_msg>(l.core.probed(1, 1, t0)).size() == 1u);
  BOOST_TEST(effects<new_update>(l.held_everywhere(1, 0)).empty());
  fx = l.held_everywhere(0, 0);
  BOOST_REQUIRE(effects<new_update>(fx).size() == 1u);
  BOOST_TEST(l.core.version() == 1u);
  auto commits = to_shards<round_commit>(fx);
  BOOST_REQUIRE(commits.size() == 1u);
  const auto& c = commits[0].second;
  BOOST_TEST(c.version == 1u);
  BOOST_TEST(c.weight == 0.5f);
  // The summation order of sync rounds (worker ids), not the order the slices arrived in.
  BOOST_TEST((c.workers == std::vector<std::uint32_t>{0, 1}));
  BOOST_TEST((c.keys == std::vector<std::uint64_t>{0, 0}));
  // Committed to the followers before the leader's own update is made known.
  const auto commit_at =
      position(fx, [](const server_effect& e) { return std::holds_alternative<send_to_shard>(e); });
  const auto update_at =
      position(fx, [](const server_effect& e) { return std::holds_alternative<new_update>(e); });
  BOOST_TEST(commit_at < update_at);
}

BOOST_AUTO_TEST_CASE(slices_held_before_the_leaders_own_count_when_it_arrives) {
  leading l{small_run()};
  l.join_all();
  l.held_everywhere(0, 0);
  l.held_everywhere(1, 0);
  l.core.pushed(1, l.push0(0, 0), t0);
  auto fx = l.core.pushed(2, l.push0(1, 0), t0);
  BOOST_TEST(effects<new_update>(fx).size() == 1u);
  BOOST_TEST(to_shards<round_commit>(fx).size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_sharded_async_round_commits_each_push_alone_in_its_order) {
  leading l{small_run("async")};
  auto start = l.join_all();
  auto grants = sent<grant_msg>(start);
  BOOST_REQUIRE(grants.size() == 2u);
  const auto g1 = grants[1].second; // worker 1's
  auto fx = l.core.pushed(grants[1].first, l.push0(1, g1.version, g1.number), t0);
  BOOST_TEST(effects<new_update>(fx).empty());
  fx = l.held_everywhere(1, g1.number);
  auto commits = to_shards<round_commit>(fx);
  BOOST_REQUIRE(commits.size() == 1u);
  BOOST_TEST((commits[0].second.workers == std::vector<std::uint32_t>{1}));
  BOOST_TEST((commits[0].second.keys == std::vector<std::uint64_t>{g1.number}));
  BOOST_TEST(commits[0].second.weight == 0.5f); // 1/n with n live workers
  BOOST_TEST(l.core.version() == 1u);
  BOOST_TEST(sent<grant_msg>(fx).size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_slice_a_follower_refused_expels_its_worker) {
  leading l{small_run()};
  l.join_all();
  l.core.pushed(1, l.push0(0, 0), t0);
  auto fx = l.core.shard_refused(slice_refused{1, 0, 0, "dimension 3, expected 9"}, t0);
  auto byes = sent<farewell_msg>(fx);
  BOOST_REQUIRE(byes.size() == 1u);
  BOOST_TEST(byes[0].first == 1u);
  BOOST_TEST(byes[0].second.bye.reason.find("shard 1 refused its push") != std::string::npos);
  BOOST_TEST(l.core.totals().rejected_pushes == 1u);
  auto gone = to_shards<member_change>(fx);
  BOOST_REQUIRE(gone.size() == 1u);
  BOOST_TEST(gone[0].second.worker == 0u);
  BOOST_TEST(!gone[0].second.joined);
}

BOOST_AUTO_TEST_CASE(a_departure_is_announced_to_every_follower) {
  leading l{small_run(), 3};
  l.join_all();
  auto fx = l.core.left(2, 1, t0);
  auto gone = to_shards<member_change>(fx);
  BOOST_REQUIRE(gone.size() == 2u);
  BOOST_TEST(gone[0].first == 1u);
  BOOST_TEST(gone[1].first == 2u);
  BOOST_TEST(gone[0].second.worker == 1u);
  BOOST_TEST(!gone[0].second.joined);
}

BOOST_AUTO_TEST_CASE(an_evaluation_waits_until_every_range_reached_its_step) {
  auto cfg = small_run();
  cfg.eval_every = 1;
  leading l{cfg, 3};
  auto start = l.join_all();
  BOOST_TEST(effects<evaluation_request>(start).size() == 1u); // x_0: every range is there
  l.core.pushed(1, l.push0(0, 0), t0);
  l.core.pushed(2, l.push0(1, 0), t0);
  l.held_everywhere(0, 0);
  auto fx = l.held_everywhere(1, 0);
  BOOST_TEST(l.core.version() == 1u);
  BOOST_TEST(effects<evaluation_request>(fx).empty());
  const auto u2 = follower_update(cfg, l.ranges[2], 2, 1);
  BOOST_TEST(effects<evaluation_request>(l.core.shard_updated(u2, t0)).empty());
  const auto u1 = follower_update(cfg, l.ranges[1], 1, 1);
  auto evals = effects<evaluation_request>(l.core.shard_updated(u1, t0));
  BOOST_REQUIRE(evals.size() == 1u);
  BOOST_TEST(evals[0].step == 1u);
  BOOST_REQUIRE(evals[0].params.size() == l.ranges.back().end);
  // Range 1 of the evaluated model is x_0's moved by follower 1's update, as a worker applies it.
  const auto& s1 = l.setups.at(1);
  update_engine ref{cfg, l.ranges.back().end, l.ranges[1], 1, s1.slice, s1.momentum, 0};
  ref.apply(from_bytes(u1.payload));
  const auto r1 = l.ranges[1];
  std::vector<float> got(evals[0].params.begin() + static_cast<std::ptrdiff_t>(r1.begin),
                         evals[0].params.begin() + static_cast<std::ptrdiff_t>(r1.end));
  BOOST_TEST(got == std::vector<float>(ref.x().data(), ref.x().data() + ref.x().size()),
             boost::test_tools::per_element());
  BOOST_TEST((got != s1.slice)); // the update moved it
}

BOOST_AUTO_TEST_CASE(losing_a_follower_fails_the_run_naming_it) {
  leading l{small_run()};
  l.join_all();
  l.core.evaluated(0, false, 0.7, 0.5, 0);
  auto fx = l.core.shard_lost(1, "connection closed", t0 + 1s);
  auto stops = effects<stop_server>(fx);
  BOOST_REQUIRE(stops.size() == 1u);
  BOOST_TEST(stops[0].failed);
  BOOST_TEST(stops[0].error.find("shard 1 is lost") != std::string::npos);
  BOOST_TEST(sent<farewell_msg>(fx).size() == 2u); // the workers are told
}

BOOST_AUTO_TEST_CASE(the_end_tells_the_followers_and_waits_for_their_reports) {
  leading l{small_run()};
  l.join_all();
  l.core.evaluated(0, false, 0.7, 0.5, 0);
  auto fx = l.core.stop_requested(t0 + 1s);
  BOOST_TEST(to_shards<shard_end>(fx).size() == 1u);
  BOOST_TEST(effects<stop_server>(fx).empty());
  auto timers = effects<arm_timer>(fx);
  BOOST_TEST(std::any_of(timers.begin(), timers.end(), [](const arm_timer& t) {
    return t.which == server_timer::shard_reports;
  }));
  shard_report r;
  r.shard = 1;
  r.bytes_in = 1000;
  r.bytes_out = 2000;
  auto done = l.core.shard_reported(r, t0 + 2s);
  auto stops = effects<stop_server>(done);
  BOOST_REQUIRE(stops.size() == 1u);
  BOOST_TEST(!stops[0].failed);
  const auto& s = l.outcome->summary;
  BOOST_TEST(s.shards == 2u);
  BOOST_REQUIRE(s.shard_bytes_up.size() == 2u);
  BOOST_TEST(s.shard_bytes_up[1] == 1000u);
  BOOST_TEST(s.shard_bytes_down[1] == 2000u);
  BOOST_TEST(s.bytes_up == s.shard_bytes_up[0] + 1000u);
}

// What works with one server works with K (checkpoints, faults, --verify-replicas, Krum); the
// one bound of its own: Krum's partial distances grow with the seats², so at most 512 of them.
BOOST_AUTO_TEST_CASE(a_sharded_krum_run_beyond_its_seat_bound_is_refused_in_one_line) {
  auto cfg = small_run();
  cfg.aggregate = "krum:f=1";
  cfg.workers = 5;
  cfg.max_workers = 600; // Krum with shards: at most 512 seats (partial distances grow with n²)
  BOOST_CHECK_EXCEPTION((server_core{leading::sharded_setup(cfg, 2), t0}), std::invalid_argument,
                        [](const std::invalid_argument& e) {
                          return std::string{e.what()}.find(
                                     "--aggregate=krum takes at most 512 seats, not 600") !=
                                 std::string::npos;
                        });
  cfg.max_workers = 0;
  BOOST_CHECK_NO_THROW((server_core{leading::sharded_setup(cfg, 2), t0}));
}

// A checkpoint of a sharded run is one cut: the order to every follower follows the commit of
// its step (and comes before any later one), and the leader's server.ckpt, naming each slice
// file's digest, is written only once every follower confirmed; a follower that could not write
// ends the run naming it.
BOOST_AUTO_TEST_CASE(a_sharded_checkpoint_is_written_once_every_follower_saved_its_slice) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("dsq_server_core_cut_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto cfg = small_run();
  cfg.checkpoint = dir.string();
  cfg.checkpoint_every = 1;
  leading l{cfg, 3};
  l.join_all();
  l.core.pushed(1, l.push0(0, 0), t0);
  l.core.pushed(2, l.push0(1, 0), t0);
  l.held_everywhere(0, 0);
  auto fx = l.held_everywhere(1, 0);
  // The cut of step 0 (the last push of step 0 is in), before the commit of version 1.
  auto orders = to_shards<slice_save>(fx);
  BOOST_REQUIRE(orders.size() == 2u);
  BOOST_TEST(orders[0].second.version == 0u);
  BOOST_TEST(orders[0].second.keep == 0u);
  const auto order_at = position(fx, [](const server_effect& e) {
    const auto* s = std::get_if<send_to_shard>(&e);
    return s && std::holds_alternative<slice_save>(s->what);
  });
  const auto commit_at = position(fx, [](const server_effect& e) {
    const auto* s = std::get_if<send_to_shard>(&e);
    return s && std::holds_alternative<round_commit>(s->what);
  });
  BOOST_TEST(order_at < commit_at);
  BOOST_TEST(!std::filesystem::exists(dir / "server.ckpt"));
  l.core.shard_saved(slice_saved{2, 0, 0x2222, {}}, t0);
  BOOST_TEST(!std::filesystem::exists(dir / "server.ckpt")); // shard 1 has not confirmed
  l.core.shard_saved(slice_saved{1, 0, 0x1111, {}}, t0);
  auto written = read_checkpoint(dir.string());
  BOOST_TEST(written.version == 0u);
  BOOST_REQUIRE(written.shards.has_value());
  BOOST_TEST((written.shards->ranges == l.ranges));
  BOOST_TEST(written.shards->digests == (std::vector<std::uint32_t>{0, 0x1111, 0x2222}));
  BOOST_TEST(static_cast<std::uint64_t>(written.model.size()) == l.ranges.back().end);
  BOOST_TEST(static_cast<std::uint64_t>(written.server_residual.size()) == l.ranges[0].size());
  // The next cut keeps step 0's slice files; a failed save ends the run naming the shard.
  l.core.pushed(1, l.push0(0, 1), t0);
  l.core.pushed(2, l.push0(1, 1), t0);
  l.held_everywhere(0, 1);
  orders = to_shards<slice_save>(l.held_everywhere(1, 1));
  BOOST_REQUIRE(orders.size() == 2u);
  BOOST_TEST(orders[0].second.version == 1u);
  BOOST_TEST(orders[0].second.keep == 0u);
  l.core.shard_saved(slice_saved{1, 1, 0, "No space left on device"}, t0);
  BOOST_TEST((l.core.now_in() == server_core::phase::finishing));
  BOOST_TEST(read_checkpoint(dir.string()).version == 0u); // the complete set stays

  // Resumed with the same K: each follower's set-up names the slice file to continue from.
  auto again = cfg;
  again.checkpoint.clear();
  auto resumed_setup = leading::sharded_setup(again, 3);
  resumed_setup.resume_from = written;
  server_core resumed{std::move(resumed_setup), t0};
  for (std::uint32_t k = 1; k < 3; ++k) {
    shard_join j;
    j.shard = k;
    j.shards = 3;
    auto setups = to_shards<shard_setup>(resumed.shard_joined(100 + k, j, t0));
    BOOST_REQUIRE(setups.size() == 1u);
    BOOST_TEST(setups[0].second.resume);
    BOOST_TEST(setups[0].second.resume_digest == (k == 1 ? 0x1111u : 0x2222u));
    BOOST_TEST(setups[0].second.version == 0u);
  }
  // With another K, or unsharded, it is refused naming the fix.
  auto refused = [&](std::uint32_t shards, const std::string& says) {
    auto setup = shards > 1 ? leading::sharded_setup(again, shards) : setup_of(again);
    setup.resume_from = written;
    BOOST_CHECK_EXCEPTION((server_core{std::move(setup), t0}), std::invalid_argument,
                          [&](const std::invalid_argument& e) {
                            return std::string{e.what()}.find(says) != std::string::npos;
                          });
  };
  refused(1, "written by a run of --servers=3: resume it with --servers=3");
  refused(2, "resume it with --servers=3");
  auto unsharded = setup_of(again);
  unsharded.shards = 2;
  auto plain = written;
  plain.shards.reset();
  plain.server_residual.resize(0);
  unsharded.resume_from = plain;
  BOOST_CHECK_EXCEPTION((server_core{std::move(unsharded), t0}), std::invalid_argument,
                        [](const std::invalid_argument& e) {
                          return std::string{e.what()}.find("written by an unsharded run") !=
                                 std::string::npos;
                        });
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(a_slice_of_another_shard_sent_to_the_leader_is_ignored) {
  leading l{small_run()};
  l.join_all();
  auto p = l.push0(0, 0);
  p.shard = 1;
  l.core.pushed(1, p, t0);
  BOOST_TEST(l.core.totals().ignored_pushes == 1u);
  BOOST_TEST(sent<resend_msg>(l.core.probed(1, 1, t0)).size() == 1u); // not in hand
}

BOOST_AUTO_TEST_CASE(a_leader_resync_orders_every_follower_at_its_version) {
  auto cfg = small_run();
  cfg.steps = 400;
  leading l{cfg, 3};
  l.join_all();
  // 300 rounds: the ring (256 updates) no longer holds version 1.
  for (std::uint64_t s = 0; s < 300; ++s) {
    for (std::uint32_t id : {0u, 1u}) {
      l.core.pushed(1 + id, l.push0(id, s), t0);
      l.held_everywhere(id, s);
    }
  }
  BOOST_REQUIRE(l.core.version() == 300u);
  // Worker 1 says it holds x_0: the leader resyncs it at 300 and orders both followers to.
  auto fx = l.core.status(2, 0, t0);
  auto resyncs = sent<welcome_msg>(fx);
  BOOST_REQUIRE(resyncs.size() == 1u);
  BOOST_TEST(resyncs[0].first == 2u);
  BOOST_TEST(resyncs[0].second.resync);
  BOOST_TEST(resyncs[0].second.w.version == 300u);
  auto orders = to_shards<member_change>(fx);
  BOOST_REQUIRE(orders.size() == 2u);
  for (std::size_t i = 0; i < orders.size(); ++i) {
    BOOST_TEST(orders[i].first == i + 1);
    BOOST_TEST(orders[i].second.worker == 1u);
    BOOST_TEST(orders[i].second.version == 300u);
    BOOST_TEST(orders[i].second.joined);
    BOOST_TEST(orders[i].second.resync);
  }
  BOOST_TEST(l.core.totals().resyncs == 1u);
  // One per version: the worker asks again before it arrives, nothing more is ordered.
  auto again = l.core.status(2, 0, t0);
  BOOST_TEST(sent<welcome_msg>(again).empty());
  BOOST_TEST(to_shards<member_change>(again).empty());
}

BOOST_AUTO_TEST_CASE(a_follower_that_cannot_serve_a_worker_asks_the_leader_to_resync_it) {
  leading l{small_run(), 3};
  l.join_all();
  l.core.pushed(1, l.push0(0, 0), t0);
  l.core.pushed(2, l.push0(1, 0), t0);
  l.held_everywhere(0, 0);
  l.held_everywhere(1, 0);
  BOOST_REQUIRE(l.core.version() == 1u);
  auto fx = l.core.shard_refused(
      slice_refused{2, 1, 0, "it lacks updates after version 0 that shard 2 no longer keeps", true},
      t0);
  BOOST_TEST(sent<farewell_msg>(fx).empty()); // no refusal: the worker stays
  BOOST_TEST(l.core.totals().rejected_pushes == 0u);
  auto resyncs = sent<welcome_msg>(fx);
  BOOST_REQUIRE(resyncs.size() == 1u);
  BOOST_TEST(resyncs[0].first == 2u);
  BOOST_TEST(resyncs[0].second.resync);
  BOOST_TEST(resyncs[0].second.w.version == 1u);
  auto orders = to_shards<member_change>(fx);
  BOOST_REQUIRE(orders.size() == 2u);
  BOOST_TEST(orders[0].second.resync);
  BOOST_TEST(orders[0].second.version == 1u);
  BOOST_TEST(orders[1].second.resync);
  // The other follower asks too at this version: one resync is on its way already.
  auto second = l.core.shard_refused(slice_refused{1, 1, 0, "lacks updates", true}, t0);
  BOOST_TEST(sent<welcome_msg>(second).empty());
  BOOST_TEST(to_shards<member_change>(second).empty());
}

// -- Krum with K > 1 (protocol 10): the leader waits for the followers' distances ---------------

namespace {

/// A leader of 3 shards running Krum (F = 1) with five workers (peers 1..5, ids 0..4), every
/// follower joined; identity both ways.
struct krum_leading : leading {
  krum_leading() : leading{krum_cfg(), 3} {
    for (peer_id p = 3; p <= 5; ++p)
      core.registered(hello(p), t0);
    join_all();
  }
  static run_config krum_cfg() {
    auto cfg = small_run();
    cfg.method = "sgd";
    cfg.aggregate = "krum:f=1";
    cfg.workers = 5;
    return cfg;
  }
  /// Every worker's step-0 push, worker i's coordinates all `values[i]`, held everywhere; the
  /// effects of the last.
  server_effects push_all(const std::vector<float>& values) {
    server_effects last;
    for (std::uint32_t id = 0; id < 5; ++id) {
      core.pushed(1 + id, push0(id, 0, 0, values[id]), t0);
      last = held_everywhere(id, 0);
    }
    return last;
  }
  /// Follower k's answer for version 1: `d` for every pair.
  distance_reply reply(std::uint32_t k, std::vector<double> d) const {
    distance_reply r;
    r.shard = k;
    r.version = 1;
    r.distances = std::move(d);
    return r;
  }
};

} // namespace

BOOST_AUTO_TEST_CASE(a_krum_round_waits_for_every_followers_distances_then_commits_the_choice) {
  krum_leading l;
  // Worker 3 lies on range 0; the others are near each other.
  const std::vector<float> values{0.01f, 0.02f, 0.015f, 9.0f, 0.012f};
  auto fx = l.push_all(values);
  // No commit and no update yet: a query to each follower, naming the round in worker order.
  BOOST_TEST(to_shards<round_commit>(fx).empty());
  BOOST_TEST(effects<new_update>(fx).empty());
  auto queries = to_shards<distance_query>(fx);
  BOOST_REQUIRE(queries.size() == 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    BOOST_TEST(queries[i].first == i + 1);
    BOOST_TEST(queries[i].second.version == 1u);
    BOOST_TEST(queries[i].second.workers == (std::vector<std::uint32_t>{0, 1, 2, 3, 4}),
               boost::test_tools::per_element());
    BOOST_TEST(queries[i].second.keys == (std::vector<std::uint64_t>{0, 0, 0, 0, 0}),
               boost::test_tools::per_element());
  }
  BOOST_TEST(l.core.version() == 0u);
  // Follower 2 answers first: still waiting. Its distances make push 1 the choice: every pair
  // with push 1 is 0 on range 2, every other pair 100 (the leader's range 0 adds little).
  std::vector<double> far(row_pairs(5), 100.0);
  for (std::size_t i = 0, at = 0; i < 5; ++i)
    for (std::size_t j = i + 1; j < 5; ++j, ++at)
      if (i == 1 || j == 1)
        far[at] = 0.0;
  auto first = l.core.shard_distances(l.reply(2, far), t0);
  BOOST_TEST(to_shards<round_commit>(first).empty());
  BOOST_TEST(l.core.version() == 0u);
  // Follower 1: nothing on its range; now the round is applied, Krum's choice in the commit.
  auto second = l.core.shard_distances(l.reply(1, std::vector<double>(row_pairs(5), 0.0)), t0);
  auto commits = to_shards<round_commit>(second);
  BOOST_REQUIRE(commits.size() == 2u);
  for (const auto& [k, c] : commits) {
    BOOST_TEST(c.version == 1u);
    BOOST_TEST(c.workers.size() == 5u); // every push is taken, one is chosen
    BOOST_TEST(c.chosen == (std::vector<std::uint32_t>{1}), boost::test_tools::per_element());
  }
  BOOST_TEST(l.core.version() == 1u);
  // The leader's own update is push 1's range-0 slice, whole.
  auto updates = effects<new_update>(second);
  BOOST_REQUIRE(updates.size() == 1u);
  std::vector<float> got(l.ranges[0].size());
  decompress(from_bytes(updates[0].payload), got);
  BOOST_TEST(got == std::vector<float>(l.ranges[0].size(), values[1]),
             boost::test_tools::per_element());
  // The commit came before the update to the workers.
  const auto commit_at = position(second, [](const server_effect& e) {
    const auto* s = std::get_if<send_to_shard>(&e);
    return s && std::holds_alternative<round_commit>(s->what);
  });
  const auto update_at = position(
      second, [](const server_effect& e) { return std::holds_alternative<new_update>(e); });
  BOOST_TEST(commit_at < update_at);
  // A late answer to the round applied changes nothing.
  BOOST_TEST(l.core.shard_distances(l.reply(1, far), t0).empty());
}

BOOST_AUTO_TEST_CASE(a_refused_distance_query_ends_the_run_naming_the_shard_and_the_push) {
  krum_leading l;
  l.push_all({0.01f, 0.02f, 0.015f, 9.0f, 0.012f});
  auto r = l.reply(2, {});
  r.refused = "shard 2 refused the distance query of version 1: it names push 0 of worker 3, "
              "which this shard does not hold";
  auto fx = l.core.shard_distances(r, t0);
  BOOST_TEST((l.core.now_in() == server_core::phase::finishing));
  BOOST_TEST(to_shards<round_commit>(fx).empty());
  auto ends = to_shards<shard_end>(fx);
  BOOST_REQUIRE(ends.size() == 2u);
  BOOST_TEST(ends[0].second.failed);
  BOOST_TEST(ends[0].second.why ==
             "Krum's distances for version 1: shard 2 refused the distance query of version 1: "
             "it names push 0 of worker 3, which this shard does not hold");
  BOOST_TEST(l.core.version() == 0u);
}

BOOST_AUTO_TEST_CASE(a_follower_lost_while_the_leader_waits_for_distances_ends_the_run) {
  krum_leading l;
  l.push_all({0.01f, 0.02f, 0.015f, 9.0f, 0.012f});
  l.core.shard_distances(l.reply(2, std::vector<double>(row_pairs(5), 1.0)), t0);
  auto fx = l.core.shard_lost(1, "connection closed", t0);
  BOOST_TEST((l.core.now_in() == server_core::phase::finishing));
  BOOST_TEST(to_shards<round_commit>(fx).empty());
  BOOST_TEST(l.core.version() == 0u);
  // Its answer, had it come, applies nothing.
  BOOST_TEST(to_shards<round_commit>(
                 l.core.shard_distances(l.reply(1, std::vector<double>(row_pairs(5))), t0))
                 .empty());
}

BOOST_AUTO_TEST_CASE(a_departure_while_the_leader_waits_keeps_the_round_and_its_push) {
  krum_leading l;
  l.push_all({0.01f, 0.02f, 0.015f, 9.0f, 0.012f});
  // Worker 4 leaves: the followers are told (they keep its queried slice), the round stays.
  auto gone = l.core.left(5, 4, t0);
  auto notices = to_shards<member_change>(gone);
  BOOST_REQUIRE(notices.size() == 2u);
  BOOST_TEST(!notices[0].second.joined);
  BOOST_TEST(to_shards<distance_query>(gone).empty()); // no second round meanwhile
  l.core.shard_distances(l.reply(1, std::vector<double>(row_pairs(5), 0.0)), t0);
  auto fx = l.core.shard_distances(l.reply(2, std::vector<double>(row_pairs(5), 0.0)), t0);
  auto commits = to_shards<round_commit>(fx);
  BOOST_REQUIRE(commits.size() == 2u);
  BOOST_TEST(commits[0].second.workers.size() == 5u); // a push that came before its worker left
  BOOST_TEST(l.core.version() == 1u);
}

BOOST_AUTO_TEST_CASE(a_krum_round_of_fewer_than_2f_plus_3_pushes_takes_the_median_with_no_query) {
  krum_leading l;
  // Two workers leave before pushing: three pushes, fewer than 2F + 3 = 5.
  l.core.left(4, 3, t0);
  l.core.left(5, 4, t0);
  server_effects fx;
  for (std::uint32_t id = 0; id < 3; ++id) {
    l.core.pushed(1 + id, l.push0(id, 0, 0, 0.01f * static_cast<float>(id + 1)), t0);
    fx = l.held_everywhere(id, 0);
  }
  BOOST_TEST(to_shards<distance_query>(fx).empty());
  auto commits = to_shards<round_commit>(fx);
  BOOST_REQUIRE(commits.size() == 2u);
  BOOST_TEST(commits[0].second.chosen.empty()); // every shard takes its range's median
  BOOST_TEST(l.core.version() == 1u);
}
