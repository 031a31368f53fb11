// What a fault link does to each message, without CAF (training/faults/fault_link_core.hpp), on
// a fake clock: drops, duplicates, holds for reordering with their bound, delays in order,
// bandwidth queueing, the end of one side, the worker faults at their versions, and the same
// decisions for the same plan and messages.
#define BOOST_TEST_MODULE fault_link_core
#include <boost/test/unit_test.hpp>

#include "training/faults/fault_injector.hpp"
#include "training/faults/fault_link_core.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

using namespace dsq;
using namespace std::chrono_literals;

namespace {

const auto up = link_direction::up;
const auto down = link_direction::down;

/// The effects as words: "deliver 3", "copy 3>4", "discard 3", "wake up 5000us",
/// "hold down 10000us #1".
std::vector<std::string> show(const std::vector<link_effect>& effects) {
  std::vector<std::string> out;
  for (const auto& e : effects) {
    const std::string dir = e.dir == up ? "up" : "down";
    switch (e.what) {
    case link_effect::kind::deliver:
      out.push_back("deliver " + std::to_string(e.token));
      break;
    case link_effect::kind::copy:
      out.push_back("copy " + std::to_string(e.token) + ">" + std::to_string(e.copy));
      break;
    case link_effect::kind::discard:
      out.push_back("discard " + std::to_string(e.token));
      break;
    case link_effect::kind::wake:
      out.push_back("wake " + dir + " " + std::to_string(e.after.count()) + "us");
      break;
    case link_effect::kind::hold_timer:
      out.push_back("hold " + dir + " " + std::to_string(e.after.count()) + "us #" +
                    std::to_string(e.hold));
      break;
    }
  }
  return out;
}

using words = std::vector<std::string>;

/// A link of worker 0 under `plan`, its id known, at a fake time.
struct test_link {
  explicit test_link(fault_plan plan, bool knows_id = true)
      : injector{std::move(plan)}, core{injector} {
    if (knows_id)
      core.learn_id(0);
  }
  /// A data message (or a control one) of `bytes` bytes; its token.
  words send(link_direction d, bool data = true, std::size_t bytes = 64, std::uint64_t step = 1) {
    last = core.new_token();
    return show(core.route(d, {last, data, bytes, step, std::nullopt}, now));
  }
  words release(link_direction d) { return show(core.release_due(d, now)); }

  fault_injector injector;
  fault_link_core core;
  link_clock::time_point now = link_clock::time_point{} + 1h;
  message_token last = 0;
};

fault_plan plan_with(double drop, double duplicate, double reorder, double delay_ms = 0) {
  fault_plan p;
  p.drop = drop;
  p.duplicate = duplicate;
  p.reorder = reorder;
  p.delay_ms = delay_ms;
  return p;
}

} // namespace

BOOST_AUTO_TEST_CASE(without_faults_or_before_the_id_every_message_goes_at_once) {
  test_link none{fault_plan{}};
  BOOST_TEST(none.send(up) == (words{"deliver 1"}));
  test_link early{plan_with(1, 0, 0), false};
  BOOST_TEST(early.send(down) == (words{"deliver 1"}), "no fault before the welcome");
  BOOST_TEST(early.injector.count(fault_kind::drop) == 0u);
}

BOOST_AUTO_TEST_CASE(a_dropped_message_is_forgotten_and_control_messages_are_never_lost) {
  test_link l{plan_with(1, 0, 0)};
  BOOST_TEST(l.send(up) == (words{"discard 1"}));
  BOOST_TEST(l.send(down) == (words{"discard 2"}));
  BOOST_TEST(l.injector.count(fault_kind::drop) == 2u);
  BOOST_TEST(l.send(up, false) == (words{"deliver 3"}), "a control message rides a safe link");
  BOOST_TEST(!l.core.pending(up));
}

BOOST_AUTO_TEST_CASE(a_delayed_message_waits_its_delay_and_messages_keep_their_order) {
  test_link l{plan_with(0, 0, 0, 5)};
  BOOST_TEST(l.send(up) == (words{"wake up 5000us"}));
  l.now += 1ms;
  BOOST_TEST(l.send(up) == (words{"wake up 5000us"}));
  BOOST_TEST(l.core.pending(up));
  l.now += 3ms;
  BOOST_TEST(l.release(up).empty(), "not due yet");
  l.now += 1ms;
  BOOST_TEST(l.release(up) == (words{"deliver 1"}));
  l.now += 1ms;
  BOOST_TEST(l.release(up) == (words{"deliver 2"}));
  BOOST_TEST(!l.core.pending(up));
}

BOOST_AUTO_TEST_CASE(bandwidth_makes_a_direction_busy_one_message_after_another) {
  auto plan = plan_with(0, 0, 0);
  plan.bandwidth_bytes_per_s = 1000; // 100 bytes: 100 ms
  test_link l{plan};
  BOOST_TEST(l.send(down, true, 100) == (words{"wake down 100000us"}));
  BOOST_TEST(l.send(down, true, 100) == (words{"wake down 200000us"}));
  BOOST_TEST(l.send(up, true, 100) == (words{"wake up 100000us"}), "each direction its own");
  l.now += 100ms;
  BOOST_TEST(l.release(down) == (words{"deliver 1"}));
  l.now += 100ms;
  BOOST_TEST(l.release(down) == (words{"deliver 2"}));
}

BOOST_AUTO_TEST_CASE(a_duplicated_message_is_delivered_twice) {
  test_link l{plan_with(0, 1, 0)};
  BOOST_TEST(l.send(up) == (words{"copy 1>2", "deliver 2", "deliver 1"}));
  BOOST_TEST(l.injector.count(fault_kind::duplicate) == 1u);
}

BOOST_AUTO_TEST_CASE(a_held_message_goes_after_the_next_one_or_after_its_bound) {
  test_link l{plan_with(0, 0, 1)};
  // Held, with a bound of max(10 ms, delay + jitter) beyond its own delay.
  BOOST_TEST(l.send(up) == (words{"hold up 10000us #1"}));
  BOOST_TEST(l.core.pending(up));
  // A control message is never held: it goes, and the held one right after it.
  BOOST_TEST(l.send(up, false) == (words{"deliver 2", "deliver 1"}));
  BOOST_TEST(l.injector.count(fault_kind::reorder) == 1u);
  // The bound of a hold released already does nothing.
  BOOST_TEST(show(l.core.hold_expired(up, 1, l.now)).empty());
  // A held message whose next one never comes goes at its bound.
  BOOST_TEST(l.send(up) == (words{"hold up 10000us #2"}));
  l.now += 10ms;
  BOOST_TEST(show(l.core.hold_expired(up, 2, l.now)) == (words{"deliver 3"}));
  BOOST_TEST(!l.core.pending(up));
}

BOOST_AUTO_TEST_CASE(when_one_end_goes_its_messages_are_forgotten_and_the_held_one_goes) {
  test_link l{plan_with(0, 0, 0, 5)};
  l.send(up);
  l.send(up);
  test_link r{plan_with(0, 0, 1)};
  BOOST_TEST(show(l.core.end_down(up, l.now)) == (words{"discard 1", "discard 2"}));
  BOOST_TEST(!l.core.pending(up));
  // The other side's held message waits for no next one.
  r.send(down);
  BOOST_TEST(show(r.core.end_down(up, r.now)) == (words{"deliver 1"}));
  BOOST_TEST(!r.core.pending(down));
}

BOOST_AUTO_TEST_CASE(worker_faults_fire_once_at_their_version) {
  fault_plan plan;
  plan.crash = {{0, 10, std::nullopt}};
  plan.hang = {{0, 5, 2.5}};
  plan.corrupt = {{0, 3, std::nullopt}};
  plan.poison = {{0, 4, std::nullopt}};
  test_link l{plan};
  auto v = l.core.version_seen(4);
  BOOST_TEST(!v.crash);
  BOOST_TEST(!v.hang.has_value());
  v = l.core.version_seen(6);
  BOOST_REQUIRE(v.hang.has_value());
  BOOST_TEST(v.hang->value_or(0) == 2.5);
  BOOST_TEST(l.core.hanging());
  BOOST_TEST(!l.core.version_seen(7).hang.has_value(), "a hang fires once");
  l.core.end_hang();
  BOOST_TEST(!l.core.hanging());
  BOOST_TEST(l.core.version_seen(10).crash);
  BOOST_TEST(!l.core.version_seen(11).crash, "a crash fires once");
  BOOST_TEST(l.injector.count(fault_kind::crash) == 1u);
  BOOST_TEST(l.injector.count(fault_kind::hang) == 1u);

  BOOST_TEST(!l.core.damage(2).corrupt_seed.has_value());
  const auto corrupt = l.core.damage(3);
  BOOST_TEST(corrupt.corrupt_seed.has_value());
  BOOST_TEST(!corrupt.poison);
  const auto poison = l.core.damage(4);
  BOOST_TEST(poison.poison);
  BOOST_TEST(!poison.corrupt_seed.has_value());
  BOOST_TEST(l.injector.count(fault_kind::corrupt) == 1u);
  BOOST_TEST(l.injector.count(fault_kind::poison) == 1u);
  // The damage is seeded: another link of the same plan damages with the same seed.
  test_link again{plan};
  BOOST_TEST((again.core.damage(3).corrupt_seed == corrupt.corrupt_seed));
  // Before the welcome, nothing fires.
  test_link early{plan, false};
  BOOST_TEST(!early.core.version_seen(10).crash);
}

// --servers=K: a worker's link to a follower shard carries the message faults (its own stream,
// its log rows naming the shard) but fires no worker fault: those fire on the link to the
// leader, once per worker.
BOOST_AUTO_TEST_CASE(a_follower_shards_link_has_message_faults_and_no_worker_faults) {
  auto plan = plan_with(1, 0, 0);
  plan.crash = {{0, 2, std::nullopt}};
  plan.hang = {{0, 1, std::nullopt}};
  plan.corrupt = {{0, 1, std::nullopt}};
  plan.poison = {{0, 1, std::nullopt}};
  const auto log = std::filesystem::temp_directory_path() /
                   ("dsq_test_follower_link_" + std::to_string(::getpid()) + ".csv");
  fault_injector injector{plan, log.string()};
  fault_link_core core{injector, 1};
  BOOST_TEST(core.shard() == 1u);
  core.learn_id(0);
  const auto now = link_clock::time_point{} + 1h;
  BOOST_TEST(show(core.route(up, {core.new_token(), true, 64, 1, std::nullopt}, now)) ==
             words{"discard 1"});
  const auto v = core.version_seen(5);
  BOOST_TEST(!v.crash);
  BOOST_TEST(!v.hang.has_value());
  BOOST_TEST(!core.hanging());
  const auto damage = core.damage(3);
  BOOST_TEST(!damage.poison);
  BOOST_TEST(!damage.corrupt_seed.has_value());
  BOOST_TEST(injector.count(fault_kind::drop) == 1u);
  BOOST_TEST(injector.count(fault_kind::crash) == 0u);
  // The worker faults are still there for the worker's link to the leader.
  fault_link_core leader{injector, 0};
  leader.learn_id(0);
  BOOST_TEST(leader.version_seen(5).crash);
  injector.sync();
  std::ifstream in{log};
  const std::string text{std::istreambuf_iterator<char>{in}, {}};
  BOOST_TEST(text.find("0/up/shard1") != std::string::npos, text);
  std::filesystem::remove(log);
}

BOOST_AUTO_TEST_CASE(the_same_plan_and_messages_give_the_same_decisions) {
  auto plan = plan_with(0.2, 0.2, 0.2, 3);
  plan.jitter_ms = 2;
  plan.seed = 7;
  auto run = [&] {
    test_link l{plan};
    words all;
    for (std::uint64_t step = 1; step <= 200; ++step) {
      l.now += 1ms;
      // A push of its step (numbered by its step) and a heartbeat (numbered in arrival order).
      const auto token = l.core.new_token();
      for (auto& w : show(l.core.route(up, {token, true, 100, step, 42}, l.now)))
        all.push_back(w);
      for (auto& w : l.send(down, true, 64, step))
        all.push_back(w);
      for (auto& w : l.release(up))
        all.push_back(w);
    }
    return all;
  };
  const auto first = run();
  BOOST_TEST(first == run());
  for (const char* kind : {"discard", "copy", "hold", "wake"})
    BOOST_TEST(std::count_if(first.begin(), first.end(),
                             [&](const std::string& w) { return w.rfind(kind, 0) == 0; }) > 0,
               kind << " happens");
}
