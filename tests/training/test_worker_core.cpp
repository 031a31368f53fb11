// The worker's side of the protocol without an actor system: events go in with the time of a
// fake clock, and each test checks the effects that come out (what is sent, which timers start,
// when the worker stops). Pushes are real gradients of a small model.
#define BOOST_TEST_MODULE worker_core
#include <boost/test/unit_test.hpp>

#include "compression/wire.hpp"
#include "model/dataset_bytes.hpp"
#include "model/make_model.hpp"
#include "model/synthetic.hpp"
#include "synthetic_setup.hpp"
#include "training/update_engine.hpp"
#include "training/worker/worker_core.hpp"

#include <fmt/format.h>

#include <chrono>
#include <deque>
#include <optional>
#include <string>
#include <vector>

using namespace dsq;
using namespace std::chrono_literals;
using duration = worker_core::duration;
using time_point = worker_core::time_point;
namespace fx = worker_effect;

namespace {

const time_point t0 = time_point{} + 1h; ///< the fake clock's start

training_setup small_setup() {
  return synthetic_setup(40, 5, 6, 3, 3);
}

run_config config(const std::string& mode) {
  run_config cfg;
  cfg.mode = mode;
  cfg.batch = 4;
  cfg.seed = 7;
  return cfg;
}

template <class T>
std::vector<T> all_of(const worker_effects& effects) {
  std::vector<T> out;
  for (const auto& e : effects)
    if (auto* x = std::get_if<T>(&e))
      out.push_back(*x);
  return out;
}

template <class T>
std::optional<T> first_of(const worker_effects& effects) {
  auto xs = all_of<T>(effects);
  if (xs.empty())
    return std::nullopt;
  return xs.front();
}

/// The steps of the pushes sent among `effects`.
std::vector<std::uint64_t> pushed_steps(const worker_effects& effects) {
  std::vector<std::uint64_t> steps;
  for (const auto& p : all_of<fx::send_push>(effects))
    steps.push_back(p.push.step);
  return steps;
}

std::optional<duration> timer_of(const worker_effects& effects, fx::timer which) {
  for (const auto& t : all_of<fx::arm_timer>(effects))
    if (t.which == which)
      return t.after;
  return std::nullopt;
}

/// A worker core, the server's model it starts from, and a fake clock. Events go through
/// event(), which also computes and pushes when a gradient is due, as the actor does; a
/// computation takes `compute_time` of the fake clock.
struct rig {
  run_config cfg;
  training_setup setup = small_setup();
  update_engine server;
  std::vector<std::uint8_t> update_bytes; ///< a valid update of this model
  time_point now = t0;
  duration compute_time = 10ms;
  worker_core core;

  explicit rig(const std::string& mode, worker_settings settings = {})
      : cfg(config(mode)), server(cfg, *setup.net), core(with_setup(settings), t0) {
    worker_engine helper(cfg, setup, 9, 0, model(), {}, shard_assignment{});
    auto g = helper.compute();
    std::vector<compressed_message> pushes{from_bytes(g.payload)};
    update_bytes = to_bytes(server.aggregate(pushes, 1.0f));
  }

  worker_settings with_setup(worker_settings s) const {
    s.setup = setup;
    return s;
  }

  std::vector<float> model() const { return {server.x().data(), server.x().data() + server.dim()}; }

  template <class Event>
  worker_effects event(Event&& e) {
    auto out = e(core, now);
    if (core.gradient_due()) {
      const auto started = now;
      auto p = core.compute();
      now += compute_time;
      auto sent = core.push(std::move(p), started, now);
      out.insert(out.end(), sent.begin(), sent.end());
    }
    return out;
  }

  welcome make_welcome(std::uint32_t id, std::uint64_t total, std::uint64_t version = 0) const {
    welcome w;
    w.worker_id = id;
    w.config = cfg;
    w.version = version;
    w.total_steps = total;
    w.model = model();
    w.shard = shard_assignment{1, 0, 1};
    return w;
  }

  worker_effects join(std::uint32_t id, std::uint64_t total) {
    auto w = make_welcome(id, total);
    return event([&](worker_core& c, time_point) { return c.on_welcome(w); });
  }

  worker_effects update(std::uint64_t version) {
    model_update u{version, update_bytes};
    return event([&](worker_core& c, time_point t) { return c.on_update(u, t); });
  }

  worker_effects grant(std::uint64_t version, std::uint64_t number) {
    return event([&](worker_core& c, time_point t) { return c.on_grant(version, number, t); });
  }

  worker_effects retry() {
    return event([](worker_core& c, time_point t) { return c.on_retry_timer(t); });
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(sync_mode)

BOOST_AUTO_TEST_CASE(pushes_after_the_welcome_and_after_every_update_but_the_last) {
  rig r{"sync"};
  auto fx = r.join(2, 3);
  BOOST_TEST((pushed_steps(fx) == std::vector<std::uint64_t>{0}));
  BOOST_TEST(all_of<fx::send_push>(fx).front().push.worker_id == 2u);
  BOOST_TEST((r.core.retransmit().unacknowledged() == 0u)); // kept until the server has it
  fx = r.update(1);
  BOOST_TEST((pushed_steps(fx) == std::vector<std::uint64_t>{1}));
  // The update answers the push of step 0: now the push of step 1 is the one waited for.
  BOOST_TEST((r.core.retransmit().unacknowledged() == 1u));
  BOOST_TEST((pushed_steps(r.update(2)) == std::vector<std::uint64_t>{2}));
  fx = r.update(3); // the last version: the run is over, nothing more to compute
  BOOST_TEST(pushed_steps(fx).empty());
  BOOST_TEST(r.core.version() == 3u);
  BOOST_TEST(!r.core.retransmit().unacknowledged());
}

BOOST_AUTO_TEST_CASE(an_update_out_of_order_waits_for_the_missing_one) {
  rig r{"sync"};
  r.join(1, 10);
  auto fx = r.update(2);
  BOOST_TEST(r.core.version() == 0u); // update 2 waits for update 1
  BOOST_TEST(pushed_steps(fx).empty());
  fx = r.update(1);
  BOOST_TEST(r.core.version() == 2u);                              // both, in order
  BOOST_TEST((pushed_steps(fx) == std::vector<std::uint64_t>{2})); // one push, on x_2
  BOOST_TEST(r.update(1).empty());                                 // a duplicate changes nothing
  BOOST_TEST(r.core.version() == 2u);
}

BOOST_AUTO_TEST_CASE(an_ack_clears_the_unacknowledged_push) {
  rig r{"sync"};
  r.join(1, 10);
  r.update(1);
  BOOST_TEST((r.core.retransmit().unacknowledged() == 1u));
  r.event([](worker_core& c, time_point t) { return c.on_ack(0, t); }); // an older push's
  BOOST_TEST((r.core.retransmit().unacknowledged() == 1u));
  r.event([](worker_core& c, time_point t) { return c.on_ack(1, t); });
  BOOST_TEST(!r.core.retransmit().unacknowledged());
}

BOOST_AUTO_TEST_CASE(a_resend_request_resends_the_kept_push_without_computing_again) {
  rig r{"sync"};
  r.join(1, 10);
  const std::vector<float> residual(r.core.engine().residual().begin(),
                                    r.core.engine().residual().end());
  auto fx = r.event([](worker_core& c, time_point) { return c.on_resend(0); });
  // The push of step 0 again, as it went (the adapter keeps its bytes): no new gradient, whose
  // residual would be folded in twice.
  BOOST_REQUIRE(fx.size() == 1u);
  BOOST_REQUIRE(first_of<fx::resend_push>(fx));
  BOOST_TEST(first_of<fx::resend_push>(fx)->key == 0u);
  BOOST_TEST((std::vector<float>(r.core.engine().residual().begin(),
                                 r.core.engine().residual().end()) == residual));
  BOOST_TEST(r.event([](worker_core& c, time_point) { return c.on_resend(4); }).empty());
  r.update(1); // answers the push of step 0
  BOOST_TEST(r.event([](worker_core& c, time_point) { return c.on_resend(0); }).empty());
}

BOOST_AUTO_TEST_CASE(a_straggler_holds_its_push_back_while_it_still_takes_messages) {
  rig r{"sync"};
  r.cfg.slow_worker = "1:3"; // worker 1 takes 3 times as long
  auto fx = r.join(1, 10);
  BOOST_TEST(all_of<fx::send_push>(fx).empty());
  auto delay = timer_of(fx, fx::timer::straggler);
  BOOST_REQUIRE(delay);
  BOOST_TEST((*delay == 2 * r.compute_time)); // (3 − 1) compute times
  BOOST_TEST(!r.core.gradient_due());
  r.now += 5ms;
  BOOST_TEST(r.retry().empty()); // not waiting for the server yet: its push is not out
  r.now += *delay;
  fx = r.event([](worker_core& c, time_point t) { return c.on_straggler_due(t); });
  BOOST_TEST((pushed_steps(fx) == std::vector<std::uint64_t>{0}));
  BOOST_TEST(r.event([](worker_core& c, time_point t) { return c.on_straggler_due(t); }).empty());
}

BOOST_AUTO_TEST_CASE(a_missing_update_is_asked_for_when_the_server_has_sent_it) {
  rig r{"sync"};
  r.join(1, 10);
  r.update(1);
  auto fx = r.event([](worker_core& c, time_point) { return c.on_sent(3); });
  BOOST_REQUIRE(first_of<fx::send_status>(fx));
  BOOST_TEST(first_of<fx::send_status>(fx)->version == 1u);
  BOOST_TEST(r.event([](worker_core& c, time_point) { return c.on_sent(1); }).empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(async_mode)

BOOST_AUTO_TEST_CASE(computes_only_with_a_grant) {
  rig r{"async"};
  BOOST_TEST(pushed_steps(r.join(1, 10)).empty());
  BOOST_TEST(pushed_steps(r.update(1)).empty());
  auto fx = r.grant(1, 1);
  BOOST_REQUIRE(pushed_steps(fx) == std::vector<std::uint64_t>{1});
  BOOST_TEST(all_of<fx::send_push>(fx).front().push.grant == 1u);
  BOOST_TEST((r.core.retransmit().unacknowledged() == 1u)); // keyed by the grant's number
  BOOST_TEST(r.grant(1, 1).empty());                        // a copy of a grant taken
  // A grant on a newer model than the replica's: the gradient waits for the updates.
  BOOST_TEST(pushed_steps(r.grant(3, 2)).empty());
  BOOST_TEST(!r.core.retransmit().unacknowledged()); // grant 2 says grant 1's push arrived
  BOOST_TEST(pushed_steps(r.update(2)).empty());
  fx = r.update(3);
  BOOST_REQUIRE(pushed_steps(fx) == std::vector<std::uint64_t>{3});
  BOOST_TEST(all_of<fx::send_push>(fx).front().push.grant == 2u);
}

BOOST_AUTO_TEST_CASE(an_update_does_not_acknowledge_a_push) {
  rig r{"async"};
  r.join(1, 10);
  r.grant(0, 1);
  BOOST_TEST((r.core.retransmit().unacknowledged() == 1u));
  r.update(1); // whose pushes it holds, it does not say
  BOOST_TEST((r.core.retransmit().unacknowledged() == 1u));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(waiting_for_the_server)

BOOST_AUTO_TEST_CASE(a_silent_server_is_probed_then_given_up_on) {
  worker_settings s;
  s.server_timeout = 300ms;
  rig r{"sync", s};
  auto fx = r.join(1, 10);
  auto next = timer_of(fx, fx::timer::retry);
  BOOST_REQUIRE(next);
  int probes = 0;
  std::optional<fx::stop> stop;
  while (!stop && probes < 20) {
    r.now += *next;
    fx = r.retry();
    stop = first_of<fx::stop>(fx);
    if (auto probe = first_of<fx::send_probe>(fx)) {
      BOOST_TEST(probe->pushed == 1u); // "have you got the push of step 0?"
      ++probes;
    }
    if (!stop) {
      next = timer_of(fx, fx::timer::retry);
      BOOST_REQUIRE(next);
    }
  }
  BOOST_REQUIRE(stop);
  BOOST_TEST(stop->error);
  BOOST_TEST(stop->reason.find("--server-timeout") != std::string::npos);
  BOOST_TEST(probes >= 2);
  BOOST_TEST(!r.core.gradient_due());
}

BOOST_AUTO_TEST_CASE(an_answered_probe_keeps_the_worker_waiting) {
  worker_settings s;
  s.server_timeout = 300ms;
  rig r{"sync", s};
  auto next = timer_of(r.join(1, 10), fx::timer::retry);
  for (int i = 0; i < 30; ++i) {
    r.now += *next;
    auto fx = r.retry();
    BOOST_REQUIRE(!first_of<fx::stop>(fx));
    next = timer_of(fx, fx::timer::retry);
    BOOST_REQUIRE(next);
    // The server answers every probe: alive, only slow (waiting for other workers).
    r.event([](worker_core& c, time_point) { return c.on_sent(0); });
  }
}

BOOST_AUTO_TEST_CASE(a_lost_server_ends_a_worker_that_cannot_reconnect) {
  rig r{"sync"};
  r.join(1, 10);
  auto fx = r.event([](worker_core& c, time_point) { return c.on_server_lost(); });
  BOOST_REQUIRE(first_of<fx::stop>(fx));
  BOOST_TEST(first_of<fx::stop>(fx)->error);
  BOOST_TEST(first_of<fx::stop>(fx)->reason == "lost the connection to the server");
}

BOOST_AUTO_TEST_CASE(a_lost_server_is_looked_for_and_registered_with_again) {
  worker_settings s;
  s.reconnects = true;
  rig r{"sync", s};
  r.join(4, 10);
  auto fx = r.event([](worker_core& c, time_point) { return c.on_server_lost(); });
  BOOST_TEST((fx.size() == 1u && first_of<fx::find_server>(fx)));
  r.now += 1s;
  BOOST_TEST(r.retry().empty()); // no probes to a server that is gone
  // A reconnect that gives back the dead server: ask again later, and give up in the end.
  for (int i = 0; i < 100; ++i) {
    fx = r.event([](worker_core& c, time_point) { return c.on_stale_reconnect(); });
    BOOST_REQUIRE((timer_of(fx, fx::timer::reconnect) == duration{100ms}));
    fx = r.event([](worker_core& c, time_point) { return c.on_reconnect_timer(); });
    BOOST_REQUIRE(first_of<fx::find_server>(fx));
  }
  // A new server: register asking for the old id, and take its welcome.
  fx = r.event([](worker_core& c, time_point t) { return c.on_reconnected(t); });
  auto reg = first_of<fx::send_register>(fx);
  BOOST_REQUIRE(reg);
  BOOST_TEST(reg->returning);
  BOOST_TEST(reg->previous_id == 4u);
  BOOST_TEST(r.event([](worker_core& c, time_point) { return c.on_reconnect_timer(); }).empty());
  BOOST_TEST(r.core.takes_welcome());
  auto w = r.make_welcome(4, 10, 0);
  fx = r.event([&](worker_core& c, time_point) { return c.on_welcome(w); });
  BOOST_TEST((pushed_steps(fx) == std::vector<std::uint64_t>{0}));
  BOOST_TEST(!r.core.takes_welcome()); // a copy of it would be ignored
}

BOOST_AUTO_TEST_CASE(
    a_reconnecting_worker_keeps_probing_a_silent_server_for_the_reconnect_timeout) {
  worker_settings s;
  s.verbose = true;
  s.reconnects = true;
  s.server_timeout = 300ms;
  s.reconnect_timeout = 2s;
  rig r{"sync", s};
  auto fx = r.join(3, 10);
  auto next = timer_of(fx, fx::timer::retry);
  BOOST_REQUIRE(next);
  const auto silent_from = r.now;
  std::vector<std::string> said;
  // Silent past --server-timeout: no stop, one line that says so, and the probes go on.
  while (r.now - silent_from < 1s) {
    r.now += *next;
    fx = r.retry();
    BOOST_REQUIRE(!first_of<fx::stop>(fx));
    for (const auto& line : all_of<fx::say>(fx))
      said.push_back(line.line);
    next = timer_of(fx, fx::timer::retry);
    BOOST_REQUIRE(next);
  }
  BOOST_REQUIRE(said.size() == 1u);
  BOOST_TEST(said[0].find("worker 3: the server has not answered") == 0u, said[0]);
  BOOST_TEST(said[0].find("--reconnect-timeout") != std::string::npos);
  // The server resumes: it answers, and the worker goes on as the member it was (same id, no
  // new registration).
  fx = r.event([](worker_core& c, time_point) { return c.on_sent(0); });
  BOOST_TEST(!first_of<fx::send_register>(fx));
  BOOST_REQUIRE(first_of<fx::say>(fx));
  BOOST_TEST(first_of<fx::say>(fx)->line == "worker 3: the server answers again; going on");
  fx = r.update(1);
  BOOST_TEST((pushed_steps(fx) == std::vector<std::uint64_t>{1}));
  BOOST_TEST(r.core.version() == 1u);
  // Silent again, for good: the worker gives up after --server-timeout + --reconnect-timeout.
  // (The retry timer still runs from before: it fires within a second.)
  next = timer_of(fx, fx::timer::retry).value_or(duration{1s});
  const auto again = r.now;
  std::optional<fx::stop> stop;
  while (!stop && r.now - again < 10s) {
    r.now += *next;
    fx = r.retry();
    stop = first_of<fx::stop>(fx);
    if (!stop) {
      next = timer_of(fx, fx::timer::retry);
      BOOST_REQUIRE(next);
    }
  }
  BOOST_REQUIRE(stop);
  BOOST_TEST(stop->error);
  BOOST_TEST((r.now - again >= 2300ms));
  BOOST_TEST(stop->reason.find("--server-timeout, then --reconnect-timeout") != std::string::npos,
             stop->reason);
}

BOOST_AUTO_TEST_CASE(a_worker_says_when_it_loses_and_reaches_the_server_again) {
  worker_settings s;
  s.verbose = true;
  s.reconnects = true;
  rig r{"sync", s};
  r.join(2, 10);
  auto fx = r.event([](worker_core& c, time_point) { return c.on_server_lost(); });
  BOOST_REQUIRE(first_of<fx::say>(fx));
  BOOST_TEST(first_of<fx::say>(fx)->line.find("worker 2: lost the connection to the server; "
                                              "reconnecting") == 0u);
  BOOST_TEST(first_of<fx::find_server>(fx).has_value());
  fx = r.event([](worker_core& c, time_point t) { return c.on_reconnected(t); });
  BOOST_REQUIRE(first_of<fx::say>(fx));
  BOOST_TEST(first_of<fx::say>(fx)->line ==
             "worker 2: reached the server again; registering, asking for id 2 back");
  BOOST_TEST(first_of<fx::send_register>(fx)->previous_id == 2u);
}

BOOST_AUTO_TEST_CASE(reconnecting_to_the_dead_server_for_ever_ends_the_worker) {
  worker_settings s;
  s.reconnects = true;
  rig r{"sync", s};
  r.join(1, 10);
  r.event([](worker_core& c, time_point) { return c.on_server_lost(); });
  worker_effects fx;
  for (int i = 0; i <= 100; ++i)
    fx = r.event([](worker_core& c, time_point) { return c.on_stale_reconnect(); });
  BOOST_REQUIRE(first_of<fx::stop>(fx));
  BOOST_TEST(first_of<fx::stop>(fx)->error);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(joining_and_leaving)

BOOST_AUTO_TEST_CASE(the_worker_registers_and_beats_until_welcomed) {
  rig r{"sync"};
  auto fx = r.core.start(true, r.now);
  auto reg = first_of<fx::send_register>(fx);
  BOOST_REQUIRE(reg);
  BOOST_TEST(!reg->returning);
  BOOST_TEST(first_of<fx::send_heartbeat>(fx).has_value());
  BOOST_TEST((timer_of(fx, fx::timer::heartbeat) == duration{250ms}));
  BOOST_TEST(!r.core.start(false, r.now).empty()); // the heartbeat starts anyway
  BOOST_TEST(!first_of<fx::send_register>(r.core.start(false, r.now)).has_value());
  r.cfg.worker_timeout_s = 2;
  r.join(1, 10);
  fx = r.event([](worker_core& c, time_point) { return c.on_heartbeat_timer(); });
  BOOST_TEST((timer_of(fx, fx::timer::heartbeat) == duration{500ms})); // a quarter of it
}

BOOST_AUTO_TEST_CASE(a_welcome_it_already_took_is_ignored) {
  rig r{"sync"};
  r.join(1, 10);
  auto w = r.make_welcome(1, 10);
  BOOST_TEST(r.event([&](worker_core& c, time_point) { return c.on_welcome(w); }).empty());
}

BOOST_AUTO_TEST_CASE(leaving_tells_the_server_and_waits_for_its_farewell) {
  rig r{"sync"};
  auto fx = r.event([](worker_core& c, time_point) { return c.on_leave(); });
  BOOST_REQUIRE(first_of<fx::stop>(fx)); // not joined: nothing to announce
  BOOST_TEST(!first_of<fx::stop>(fx)->error);
  rig joined{"sync"};
  joined.join(3, 10);
  fx = joined.event([](worker_core& c, time_point) { return c.on_leave(); });
  auto leave = first_of<fx::send_leave>(fx);
  BOOST_REQUIRE(leave);
  BOOST_TEST(leave->id == 3u);
  BOOST_TEST((leave->deadline == duration{2s}));
  BOOST_TEST(!leave->failure); // an orderly leave: no reason, and the worker ends normally
  BOOST_TEST(!first_of<fx::stop>(fx));
}

// Issue 29: a worker whose model fails used to say so only on its own console; the server saw a
// lost connection. A member now tells the server why before it ends with the error.
BOOST_AUTO_TEST_CASE(a_failed_computation_is_told_to_the_server_before_the_worker_ends) {
  rig r{"sync"};
  auto fx = r.core.compute_failed("worker: broken");
  BOOST_REQUIRE(first_of<fx::stop>(fx)); // not joined: nobody to tell
  BOOST_TEST(first_of<fx::stop>(fx)->error);
  BOOST_TEST(first_of<fx::stop>(fx)->reason == "worker: broken");
  rig joined{"sync"};
  joined.join(3, 10);
  fx = joined.core.compute_failed("worker 3: model 'x' returned a loss of nan");
  auto leave = first_of<fx::send_leave>(fx);
  BOOST_REQUIRE(leave);
  BOOST_TEST(leave->id == 3u);
  BOOST_REQUIRE(leave->failure.has_value()); // the adapter ends with it once the server knows
  BOOST_TEST(*leave->failure == "worker 3: model 'x' returned a loss of nan");
  BOOST_TEST((leave->deadline == duration{2s}));
  BOOST_TEST(!first_of<fx::stop>(fx));
  BOOST_TEST(!joined.core.gradient_due()); // nothing more is computed
}

BOOST_AUTO_TEST_CASE(a_farewell_ends_the_worker_or_lets_it_join_anew) {
  rig r{"sync"};
  r.join(1, 10);
  auto fx = r.event([](worker_core& c, time_point t) {
    return c.on_shutdown(farewell{"done", false}, t);
  });
  BOOST_REQUIRE(first_of<fx::stop>(fx));
  BOOST_TEST(!first_of<fx::stop>(fx)->error);

  rig removed{"sync"};
  removed.join(1, 10);
  fx = removed.event([](worker_core& c, time_point t) {
    return c.on_shutdown(farewell{"silent", false, true}, t);
  });
  auto reg = first_of<fx::send_register>(fx);
  BOOST_REQUIRE(reg); // as a new worker, with a zero residual
  BOOST_TEST(!reg->returning);
  BOOST_TEST(!removed.core.joined());
  BOOST_TEST(!removed.core.retransmit().unacknowledged());

  rig rejected{"sync"};
  fx = rejected.event([](worker_core& c, time_point) {
    return c.on_reject(farewell{"full", true});
  });
  BOOST_REQUIRE(first_of<fx::stop>(fx));
  BOOST_TEST(first_of<fx::stop>(fx)->error);
  BOOST_TEST(first_of<fx::stop>(fx)->reason == "rejected by the server: full");
}

/// A welcome from a server that trains on `spec` (its configuration says `auto`: the identity
/// names the concrete data set), for a worker that loads its data itself.
welcome welcome_on_data(const std::string& spec) {
  run_config server_cfg = config("sync");
  server_cfg.dataset = spec;
  const auto loaded = load_training(server_cfg);
  welcome w;
  w.worker_id = 2;
  w.config = server_cfg;
  w.config.dataset = "auto";
  w.total_steps = 10;
  w.model.assign(loaded.net->num_parameters(), 0.0f);
  w.shard = shard_assignment{1, 0, 1};
  w.data = loaded.identity;
  return w;
}

const std::string small_spec = "synthetic:n=40,test=5,d=6,classes=3";

BOOST_AUTO_TEST_CASE(a_worker_that_loads_the_servers_data_joins) {
  worker_core core{worker_settings{}, t0};
  auto w = welcome_on_data(small_spec);
  auto fx = core.on_welcome(w);
  BOOST_TEST(!first_of<fx::stop>(fx));
  BOOST_TEST(core.joined());
  BOOST_TEST(core.engine().shard_size() == 40u);
}

/// Settings of a worker that takes its data from `source` (--data).
worker_settings from(data_origin source) {
  worker_settings s;
  s.source = source;
  return s;
}

BOOST_AUTO_TEST_CASE(a_worker_whose_data_differs_is_refused_with_one_line) {
  worker_core core{from(data_origin::local), t0};
  auto w = welcome_on_data(small_spec);
  const auto theirs = w.data.train_fingerprint;
  w.data.train_fingerprint ^= 0x5a5a; // the server's files are other files
  auto fx = core.on_welcome(w);
  auto stop = first_of<fx::stop>(fx);
  BOOST_REQUIRE(stop);
  BOOST_TEST(stop->error);
  BOOST_TEST(!core.joined());
  const auto expected =
      fmt::format("this worker's data differs from the server's: synthetic train set "
                  "fingerprint {:016x} vs {:016x} (different files?); ",
                  w.data.train_fingerprint, theirs);
  BOOST_TEST(stop->reason.rfind(expected, 0) == 0u, stop->reason);
  BOOST_TEST(stop->reason.find('\n') == std::string::npos);
  BOOST_TEST(stop->reason.find("or --data=auto to get it from the server") != std::string::npos,
             stop->reason);

  worker_core fewer{from(data_origin::local), t0};
  w = welcome_on_data(small_spec);
  w.data.train_samples = 41;
  stop = first_of<fx::stop>(fewer.on_welcome(w));
  BOOST_REQUIRE(stop);
  BOOST_TEST(stop->reason.find("synthetic train set 41 samples vs 40") != std::string::npos,
             stop->reason);
}

BOOST_AUTO_TEST_CASE(a_worker_loads_the_data_set_the_server_names_never_auto) {
  // The server trains on MNIST; this worker's configuration says `auto` but it cannot find
  // MNIST: it fails to find it instead of falling back to synthetic data.
  auto w = welcome_on_data(small_spec);
  w.data.spec = "mnist:dir=/nonexistent-dsq-data";
  worker_core core{from(data_origin::local), t0};
  auto stop = first_of<fx::stop>(core.on_welcome(w));
  BOOST_REQUIRE(stop);
  BOOST_TEST(stop->error);
  BOOST_TEST(stop->reason.find("/nonexistent-dsq-data") != std::string::npos, stop->reason);
  BOOST_TEST(stop->reason.rfind("MNIST not found", 0) == 0u, stop->reason);
  BOOST_TEST(stop->reason.find("--data=local: give --data-dir=DIR") != std::string::npos,
             stop->reason);
}

/// The server's side of a data transfer: the data set it loaded, answering each request as
/// server_core::data_requested does.
struct data_server {
  training_setup loaded;
  explicit data_server(const std::string& spec) {
    run_config cfg = config("sync");
    cfg.dataset = spec;
    loaded = load_training(cfg);
  }
  data_chunk answer(const data_request& r) const {
    const auto& train = loaded.data->train;
    const auto total =
        dataset_bytes_size(static_cast<std::uint64_t>(train.dimension()), train.size());
    data_chunk c{r.fingerprint, r.index, r.index * r.chunk_bytes, total, {}};
    c.bytes.resize(std::min<std::uint64_t>(r.chunk_bytes, total - c.offset));
    copy_dataset_bytes(train, c.offset, c.bytes);
    return c;
  }
};

/// Answers every data request among `fx`, and those the answers bring, until none is left;
/// `tamper` may change each chunk first. The effects of the last chunk.
template <class Tamper>
worker_effects serve(worker_core& core, const data_server& server, worker_effects fx, Tamper tamper,
                     std::size_t* chunks = nullptr) {
  std::deque<data_request> asked;
  for (const auto& r : all_of<fx::send_data_request>(fx))
    asked.push_back(r.request);
  worker_effects last;
  while (!asked.empty()) {
    BOOST_REQUIRE(asked.size() <= data_window);
    auto c = server.answer(asked.front());
    asked.pop_front();
    tamper(c);
    last = core.on_data_chunk(c, t0);
    if (chunks)
      ++*chunks;
    for (const auto& r : all_of<fx::send_data_request>(last))
      asked.push_back(r.request);
    if (first_of<fx::stop>(last))
      break;
  }
  return last;
}

worker_effects serve(worker_core& core, const data_server& server, worker_effects fx) {
  return serve(core, server, std::move(fx), [](data_chunk&) {});
}

// A larger data set than small_spec: a few chunks of the largest size.
const std::string chunked_spec = "synthetic:n=2000,test=5,d=100,classes=3";

BOOST_AUTO_TEST_CASE(data_server_gets_the_training_set_from_the_server_and_joins) {
  const data_server server{chunked_spec};
  auto w = welcome_on_data(chunked_spec);
  w.model.assign(server.loaded.net->num_parameters(), 0.0f);
  // --data=server never looks at a file: the server's MNIST need not be on this host.
  w.data.spec = "mnist:dir=/nonexistent-dsq-data";
  auto settings = from(data_origin::server);
  settings.verbose = true;
  worker_core core{settings, t0};
  auto fx = core.on_welcome(w);
  BOOST_TEST(!first_of<fx::stop>(fx));
  BOOST_TEST(!core.joined());
  BOOST_TEST(core.fetching());
  BOOST_TEST(all_of<fx::send_data_request>(fx).size() == 2u); // the window is larger
  const auto total = dataset_bytes_size(100, 2000);
  BOOST_TEST(core.fetch().total_bytes() == total);
  BOOST_TEST(first_of<fx::say>(fx)->line.find("--data=server; getting the training set from the "
                                              "server (0.8 MB, 2 chunks)") != std::string::npos,
             first_of<fx::say>(fx)->line);
  std::size_t chunks = 0;
  auto last = serve(
      core, server, fx, [](data_chunk&) {}, &chunks);
  BOOST_TEST(chunks == 2u);
  BOOST_TEST(core.joined());
  BOOST_TEST(!core.fetching());
  BOOST_TEST(core.engine().shard_size() == 2000u);
  // Updates sent meanwhile were not taken: a probe's answer says which are missing.
  BOOST_TEST(first_of<fx::send_probe>(last).has_value());
  auto says = all_of<fx::say>(last);
  BOOST_REQUIRE(says.size() == 2u);
  BOOST_TEST(says[0].line.find("got the training set from the server (0.8 MB, fingerprint") !=
             std::string::npos);
  BOOST_TEST(says[1].line.find("worker 2: joined") == 0u);
}

BOOST_AUTO_TEST_CASE(data_auto_uses_a_matching_local_copy_and_fetches_a_differing_one) {
  auto w = welcome_on_data(small_spec);
  worker_core matching{from(data_origin::automatic), t0};
  auto fx = matching.on_welcome(w);
  BOOST_TEST(matching.joined()); // the files are the server's: nothing is sent
  BOOST_TEST(all_of<fx::send_data_request>(fx).empty());

  // This host's copy differs from the server's (the welcome states another fingerprint).
  const data_server server{small_spec};
  w.data.train_fingerprint ^= 1;
  auto settings = from(data_origin::automatic);
  settings.verbose = true;
  worker_core differing{settings, t0};
  fx = differing.on_welcome(w);
  BOOST_TEST(differing.fetching());
  BOOST_TEST(first_of<fx::say>(fx)->line.find("this worker's data differs from the server's") !=
             std::string::npos);
  // The server's copy arrives, but it is not the data the welcome announced: the worker
  // stops before it trains.
  auto last = serve(differing, server, fx);
  auto stop = first_of<fx::stop>(last);
  BOOST_REQUIRE(stop);
  BOOST_TEST(stop->reason.find("fingerprint") != std::string::npos, stop->reason);
  BOOST_TEST(!differing.joined());
}

BOOST_AUTO_TEST_CASE(corrupt_or_misfit_chunks_stop_the_worker_before_it_trains) {
  const data_server server{chunked_spec};
  auto w = welcome_on_data(chunked_spec);
  worker_core corrupt{from(data_origin::server), t0};
  auto last = serve(corrupt, server, corrupt.on_welcome(w), [](data_chunk& c) {
    if (c.index == 1)
      c.bytes[4000] ^= 1;
  });
  auto stop = first_of<fx::stop>(last);
  BOOST_REQUIRE(stop);
  BOOST_TEST(stop->error);
  BOOST_TEST(stop->reason.find("bad data from the server: the training set's fingerprint") == 0u,
             stop->reason);
  BOOST_TEST(!corrupt.joined());

  worker_core oversized{from(data_origin::server), t0};
  w = welcome_on_data(chunked_spec); // the first worker took the last one
  last = serve(oversized, server, oversized.on_welcome(w),
               [](data_chunk& c) { c.bytes.push_back(0); });
  stop = first_of<fx::stop>(last);
  BOOST_REQUIRE(stop);
  BOOST_TEST(stop->reason.find("bytes, not") != std::string::npos, stop->reason);
  // A chunk nobody asked for (a stray, or from before the welcome) is ignored.
  worker_core idle{from(data_origin::server), t0};
  BOOST_TEST(idle.on_data_chunk(server.answer(data_request{1, 0, data_chunk_min, 0}), t0).empty());
}

BOOST_AUTO_TEST_CASE(grants_and_a_new_shard_sent_while_the_data_comes_are_taken_after) {
  const data_server server{chunked_spec};
  auto w = welcome_on_data(chunked_spec);
  w.config.mode = "async";
  worker_core core{from(data_origin::server), t0};
  auto fx = core.on_welcome(w);
  BOOST_TEST(core.on_grant(0, 1, t0).empty()); // not computed: there is no data yet
  core.on_reshard(shard_assignment{2, 1, 2});
  serve(core, server, fx);
  BOOST_REQUIRE(core.joined());
  BOOST_TEST(core.engine().shard_size() == 1000u); // the new shard: half of 2000
  BOOST_TEST(core.gradient_due());                 // the grant is there
}

BOOST_AUTO_TEST_CASE(a_worker_never_guesses_the_data_set_of_a_welcome_that_names_none) {
  // Its configuration says `auto`: loading that could fall back to synthetic data.
  for (auto source : {data_origin::local, data_origin::automatic, data_origin::server}) {
    auto w = welcome_on_data(small_spec);
    w.data = data_identity{};
    worker_core core{from(source), t0};
    auto stop = first_of<fx::stop>(core.on_welcome(w));
    BOOST_REQUIRE(stop);
    BOOST_TEST(stop->reason.find("names no data set") != std::string::npos, stop->reason);
    BOOST_TEST(!core.joined());
    BOOST_TEST(!core.fetching());
  }
}

BOOST_AUTO_TEST_CASE(data_shared_in_the_process_is_not_checked) {
  // dsq local: the workers hold the server's own data (a welcome without identity is fine too).
  rig r{"sync"};
  auto w = r.make_welcome(1, 10);
  w.data.spec = small_spec;
  w.data.train_fingerprint = 1;
  auto fx = r.event([&](worker_core& c, time_point) { return c.on_welcome(w); });
  BOOST_TEST(!first_of<fx::stop>(fx));
  BOOST_TEST(r.core.joined());
}

BOOST_AUTO_TEST_SUITE_END()
