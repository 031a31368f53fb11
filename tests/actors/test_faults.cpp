// Fault injection in the message path (issue 9): a fault_link driven by hand between two
// scoped actors playing server and worker, and whole `dsq local` runs with worker faults.
// Every wait is for a message or the end of a run, bounded; nothing sleeps.
#define BOOST_TEST_MODULE faults
#include <boost/test/unit_test.hpp>

#include "actor_test_support.hpp"
#include "actors/fault_link.hpp"
#include "actors/local_run.hpp"
#include "base/random.hpp"
#include "compression/make_compressor.hpp"
#include "compression/wire.hpp"
#include "config/run_config.hpp"
#include "link_rig.hpp"
#include "net/protocol/atoms.hpp"
#include "net/protocol/messages.hpp"
#include "net/protocol/register_types.hpp"
#include "training/faults/fault_injector.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <unistd.h>

using namespace dsq;
using namespace std::chrono_literals;

namespace {

using testing::link_rig;
using testing::system_fixture;

fault_plan plan_of(const std::vector<std::pair<std::string, std::string>>& entries) {
  return parse_fault_plan(entries);
}

std::string joined(const std::vector<std::string>& items) {
  std::string text;
  for (const auto& item : items)
    text += (text.empty() ? "" : ", ") + item;
  return text;
}

using testing::rows_without_time;

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("dsq_test_faults_" + std::to_string(getpid()) + "_" + name))
      .string();
}

run_config small_run() {
  run_config cfg;
  cfg.dataset = "synthetic:n=3000,d=20,classes=4";
  cfg.model = "softmax";
  cfg.workers = 4;
  cfg.steps = 40;
  cfg.batch = 16;
  cfg.lr = 0.1;
  cfg.eval_every = 0;
  cfg.seed = 3;
  cfg.quiet = true;
  return cfg;
}

run_outcome run_with(caf::actor_system& sys, const run_config& cfg,
                     const std::shared_ptr<fault_injector>& faults) {
  check_local_plan(faults->plan(), cfg.workers, cfg.checkpoint);
  auto outcome = run_local(sys, cfg, load_training(cfg), false, nullptr, faults);
  BOOST_REQUIRE_MESSAGE(outcome.ok, outcome.error);
  return outcome;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(fault_link_actor, system_fixture)

BOOST_AUTO_TEST_CASE(drop_one_drops_every_data_message_and_no_control_message) {
  link_rig rig{*sys, plan_of({{"drop", "1"}})};
  rig.push(1);
  rig.heartbeat();
  rig.push(2);
  rig.leave();
  // Without delay the link keeps order: anything delivered would arrive before the leave.
  BOOST_TEST(joined(rig.received_up_to_leave()) == "leave");
  rig.server->send(rig.link, update_atom::value, model_update{1, {}});
  rig.server->send(rig.link, reshard_atom::value, shard_assignment{2, 0, 1});
  std::string down;
  rig.worker->receive([&](update_atom, const model_update&) { down = "update"; },
                      [&](reshard_atom, const shard_assignment&) { down = "reshard"; },
                      caf::after(10s) >> [] { BOOST_FAIL("nothing reached the worker"); });
  BOOST_TEST(down == "reshard");
  BOOST_TEST(rig.injector->count(fault_kind::drop) == 4u);
  BOOST_TEST(rig.injector->counts().size() == 1u);
}

BOOST_AUTO_TEST_CASE(duplicate_one_delivers_every_data_message_twice) {
  link_rig rig{*sys, plan_of({{"duplicate", "1"}})};
  rig.push(7);
  rig.heartbeat();
  rig.leave();
  BOOST_TEST(joined(rig.received_up_to_leave()) == "push 7, push 7, heartbeat, heartbeat, leave");
  BOOST_TEST(rig.injector->count(fault_kind::duplicate) == 2u);
}

BOOST_AUTO_TEST_CASE(reorder_delivers_the_held_message_after_the_next_one) {
  link_rig rig{*sys, plan_of({{"reorder", "1"}})};
  rig.push(1);
  rig.leave(); // control: never held itself, it releases the held push behind it
  std::vector<std::string> got = rig.received_up_to_leave();
  rig.server->receive(
      [&](push_atom, const gradient_push& p) { got.push_back("push " + std::to_string(p.step)); },
      caf::after(10s) >> [] { BOOST_FAIL("the held push never came"); });
  BOOST_TEST(joined(got) == "leave, push 1");
  BOOST_TEST(rig.injector->count(fault_kind::reorder) == 1u);
}

BOOST_AUTO_TEST_CASE(a_fixed_delay_and_a_bandwidth_keep_order_and_queueing_adds_up) {
  // 10 kB at 1 MB/s: each big push keeps the link busy for 10 ms; the small messages behind
  // them must wait their turn, never overtaking.
  link_rig rig{*sys, plan_of({{"delay", "5"}, {"bandwidth", "1MB"}})};
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t step = 0; step < 3; ++step) {
    rig.push(step, 10000);
    rig.heartbeat();
  }
  rig.push(3, 8);
  rig.leave();
  BOOST_TEST(joined(rig.received_up_to_leave()) ==
             "push 0, heartbeat, push 1, heartbeat, push 2, heartbeat, push 3, leave");
  // Three big pushes in a row: at least 30 ms of sending plus the 5 ms delay.
  BOOST_TEST((std::chrono::steady_clock::now() - start >= 35ms));
  BOOST_TEST(rig.injector->counts().empty()); // delays are not faults of their own
}

BOOST_AUTO_TEST_CASE(jitter_without_faults_still_delivers_everything) {
  link_rig rig{*sys, plan_of({{"delay", "1"}, {"jitter", "5"}})};
  for (std::uint64_t step = 0; step < 20; ++step)
    rig.push(step);
  std::set<std::uint64_t> steps;
  while (steps.size() < 20)
    rig.server->receive([&](push_atom, const gradient_push& p) { steps.insert(p.step); },
                        caf::after(10s) >> [] { BOOST_FAIL("a push was lost"); });
  BOOST_TEST(steps.size() == 20u);
}

BOOST_AUTO_TEST_CASE(the_same_seed_gives_the_same_fault_log) {
  const auto run = [&](const std::string& seed, const std::string& name) {
    const auto path = temp_path(name);
    {
      link_rig rig{
          *sys,
          plan_of({{"drop", "0.2"}, {"duplicate", "0.2"}, {"reorder", "0.2"}, {"seed", seed}}),
          path};
      for (std::uint64_t step = 0; step < 100; ++step)
        rig.push(step);
      rig.leave(); // every push was decided (and logged) before the leave was forwarded
      rig.received_up_to_leave();
    }
    auto rows = rows_without_time(path);
    std::filesystem::remove(path);
    return rows;
  };
  const auto a = run("7", "a.csv");
  const auto b = run("7", "b.csv");
  const auto c = run("8", "c.csv");
  BOOST_TEST(a.size() > 30u); // about 60 of 100 pushes suffer a fault
  BOOST_TEST(a == b);
  BOOST_TEST(a != c);
  BOOST_TEST(a.front().find(",0/up") != std::string::npos, a.front());
}

// Pushes and updates are lost at the same steps whatever timer-driven messages (heartbeats here)
// fall between them, and a resend of a lost push has a fate of its own.
BOOST_AUTO_TEST_CASE(the_same_pushes_are_lost_whatever_comes_between_them) {
  const auto lost = [&](int heartbeats_between, bool resend) {
    link_rig rig{*sys, plan_of({{"drop", "0.3"}, {"seed", "5"}})};
    for (std::uint64_t step = 0; step < 100; ++step) {
      rig.push(step);
      if (resend)
        rig.push(step); // its second copy
      for (int i = 0; i < heartbeats_between; ++i)
        rig.heartbeat();
    }
    rig.leave();
    std::vector<std::uint64_t> arrived(100, 0);
    for (const auto& item : rig.received_up_to_leave())
      if (item.rfind("push ", 0) == 0)
        ++arrived[std::stoull(item.substr(5))];
    return arrived;
  };
  const auto quiet = lost(0, false);
  const auto chatty = lost(3, false);
  BOOST_TEST(quiet == chatty, boost::test_tools::per_element());
  const auto lost_once = std::count(quiet.begin(), quiet.end(), 0);
  BOOST_TEST(lost_once > 10); // about 30 of 100
  // With a resend of every push, a step is lost only when both copies are (about 9 of 100):
  // the first copy has the same fate as before, the second one its own.
  const auto resent = lost(1, true);
  std::size_t both_lost = 0;
  for (std::size_t step = 0; step < 100; ++step) {
    BOOST_TEST((quiet[step] == 0 ? resent[step] <= 1 : resent[step] >= 1), "step " << step);
    both_lost += resent[step] == 0;
  }
  BOOST_TEST(both_lost < static_cast<std::size_t>(lost_once));
}

BOOST_AUTO_TEST_CASE(registration_through_the_link_names_the_link) {
  link_rig rig{*sys, plan_of({{"delay", "1"}})};
  rig.worker->send(rig.link, register_atom::value,
                   worker_hello{protocol_version, caf::actor_cast<caf::actor>(rig.worker), "w"});
  caf::actor named;
  caf::actor sender;
  rig.server->receive(
      [&](register_atom, const worker_hello& hello) {
        named = hello.worker;
        sender = caf::actor_cast<caf::actor>(rig.server->current_sender());
      },
      caf::after(10s) >> [] { BOOST_FAIL("the registration did not pass"); });
  BOOST_TEST((named == rig.link));
  BOOST_TEST((sender == rig.link));
}

BOOST_AUTO_TEST_CASE(the_link_quits_when_an_end_goes_down_after_delivering_what_it_holds) {
  caf::scoped_actor server{*sys};
  auto link = testing::spawn_link(*sys, server,
                                  std::make_shared<fault_injector>(plan_of({{"delay", "20"}})));
  // A worker that, once welcomed, pushes, says goodbye and quits at once.
  auto worker = sys->spawn([link](caf::event_based_actor* self) -> caf::behavior {
    return {[=](welcome_atom, const welcome&) {
      self->send(link, push_atom::value, testing::make_push(0, 1, 1.0f, 0, {}));
      self->send(link, leave_atom::value, std::uint32_t{0});
      self->quit();
    }};
  });
  attach_worker(link, worker);
  server->monitor(link);
  server->send(link, welcome_atom::value, welcome{});
  std::vector<std::string> got;
  bool down = false;
  while (!down)
    server->receive(
        [&](push_atom, const gradient_push& p) { got.push_back("push " + std::to_string(p.step)); },
        [&](leave_atom, std::uint32_t) { got.push_back("leave"); },
        [&](caf::down_msg& dm) {
          down = true;
          BOOST_TEST(!dm.reason); // the worker's own reason: a normal exit
        },
        caf::after(10s) >> [&] { BOOST_FAIL("the link did not quit"); });
  // Its last messages still reached the server, before the link went down.
  BOOST_TEST(joined(got) == "push 1, leave");
}

BOOST_AUTO_TEST_CASE(a_hang_holds_both_directions_for_its_seconds_then_releases_in_order) {
  link_rig rig{*sys, plan_of({{"hang", "0@5:0.2"}})};
  rig.server->send(rig.link, update_atom::value, model_update{4, {}});
  rig.worker->receive([](update_atom, const model_update& u) { BOOST_TEST(u.version == 4u); },
                      caf::after(10s) >> [] { BOOST_FAIL("update 4 did not pass"); });
  const auto start = std::chrono::steady_clock::now();
  rig.server->send(rig.link, update_atom::value, model_update{5, {}}); // the hang starts here
  rig.push(5);
  rig.heartbeat();
  rig.leave();
  BOOST_TEST(joined(rig.received_up_to_leave()) == "push 5, heartbeat, leave");
  rig.worker->receive([](update_atom, const model_update& u) { BOOST_TEST(u.version == 5u); },
                      caf::after(10s) >> [] { BOOST_FAIL("update 5 never came"); });
  BOOST_TEST((std::chrono::steady_clock::now() - start >= 200ms));
  BOOST_TEST(rig.injector->count(fault_kind::hang) == 1u);
}

BOOST_AUTO_TEST_CASE(a_crash_kills_the_worker_and_the_link_with_it) {
  caf::scoped_actor server{*sys};
  auto faults = std::make_shared<fault_injector>(plan_of({{"crash", "0@3"}}));
  auto link = testing::spawn_link(*sys, server, faults);
  auto worker = sys->spawn([](caf::event_based_actor*) -> caf::behavior {
    return {[](welcome_atom, const welcome&) {}, [](update_atom, const model_update&) {}};
  });
  attach_worker(link, worker);
  server->monitor(link);
  server->monitor(worker);
  server->send(link, welcome_atom::value, welcome{});
  server->send(link, update_atom::value, model_update{1, {}});
  server->send(link, update_atom::value, model_update{3, {}});
  int downs = 0;
  while (downs < 2)
    server->receive(
        [&](caf::down_msg& dm) {
          ++downs;
          BOOST_TEST((dm.reason == caf::exit_reason::kill));
        },
        caf::after(10s) >> [] { BOOST_FAIL("the crash did not happen"); });
  BOOST_TEST(faults->count(fault_kind::crash) == 1u);
}

BOOST_AUTO_TEST_CASE(corrupt_payloads_do_not_decode_and_poisoned_ones_are_not_finite) {
  rng_engine rng{1};
  std::vector<float> v(100, 0.5f);
  for (const auto* spec : {"sign", "topk:k=10", "qsgd:s=4", "identity"}) {
    const auto good = to_bytes(make_compressor(spec)->compress(v, rng));
    auto corrupt = good;
    corrupt_payload(corrupt, 42);
    BOOST_CHECK_THROW(from_bytes(corrupt), decode_error);
    auto again = good;
    corrupt_payload(again, 42);
    BOOST_TEST(again == corrupt); // deterministic in the seed
    auto poisoned = good;
    poison_payload(poisoned);
    const auto m = from_bytes(poisoned);
    BOOST_TEST(!m.values.empty(), spec);
    for (float x : m.values)
      BOOST_TEST(std::isnan(x));
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(local_runs_with_faults, system_fixture)

BOOST_AUTO_TEST_CASE(an_empty_plan_spawns_no_link) {
  auto cfg = small_run();
  auto none = std::make_shared<fault_injector>(fault_plan{});
  auto outcome = run_with(*sys, cfg, none);
  BOOST_TEST(none->links_spawned() == 0u);
  BOOST_TEST(outcome.summary.steps == cfg.steps);
  // A fault for worker 2 only (at a step never reached): one link, the rest as without faults.
  auto one = std::make_shared<fault_injector>(plan_of({{"crash", "2@1000"}}));
  run_with(*sys, cfg, one);
  BOOST_TEST(one->links_spawned() == 1u);
  BOOST_TEST(one->counts().empty());
}

BOOST_AUTO_TEST_CASE(crash_kills_the_worker_and_the_server_sees_it_leave) {
  auto cfg = small_run();
  auto faults = std::make_shared<fault_injector>(plan_of({{"crash", "1@5"}}));
  auto outcome = run_with(*sys, cfg, faults);
  BOOST_TEST(outcome.summary.completed);
  BOOST_TEST(outcome.summary.steps == cfg.steps);
  BOOST_TEST(outcome.summary.departures == 1u);
  BOOST_TEST(outcome.rows.back().workers == 3u);
  BOOST_TEST(faults->count(fault_kind::crash) == 1u);
  BOOST_TEST(outcome.summary.faults_injected.at("crash") == 1u);
}

BOOST_AUTO_TEST_CASE(corrupt_and_poisoned_pushes_are_rejected_and_the_run_completes) {
  auto cfg = small_run();
  const auto log = temp_path("corrupt.csv");
  auto faults =
      std::make_shared<fault_injector>(plan_of({{"corrupt", "1@3"}, {"poison", "2@5"}}), log);
  auto outcome = run_with(*sys, cfg, faults);
  BOOST_TEST(outcome.summary.completed);
  BOOST_TEST(outcome.summary.steps == cfg.steps);
  BOOST_TEST(outcome.summary.rejected_pushes == 2u);
  BOOST_TEST(outcome.summary.departures == 2u);
  BOOST_TEST(std::isfinite(outcome.summary.final_train_loss));
  const auto rows = rows_without_time(log);
  BOOST_TEST(joined(rows) == "3,corrupt,1, 5,poison,2");
  std::filesystem::remove(log);
}

BOOST_AUTO_TEST_CASE(a_hung_worker_is_removed_by_the_liveness_timeout) {
  auto cfg = small_run();
  cfg.worker_timeout_s = 1;
  auto faults = std::make_shared<fault_injector>(plan_of({{"hang", "3@4"}}));
  const auto start = std::chrono::steady_clock::now();
  auto outcome = run_with(*sys, cfg, faults);
  BOOST_TEST(outcome.summary.completed);
  BOOST_TEST(outcome.summary.steps == cfg.steps);
  BOOST_TEST(outcome.summary.timeouts == 1u);
  BOOST_TEST(faults->count(fault_kind::hang) == 1u);
  // Removed within the timeout and a margin (the liveness check runs every timeout / 4).
  BOOST_TEST((std::chrono::steady_clock::now() - start < 10s));
}

BOOST_AUTO_TEST_CASE(a_worker_that_wakes_from_a_hang_joins_again_as_a_new_worker) {
  auto cfg = small_run();
  cfg.steps = 6000; // long after the hang: the run goes on for a second or more after it ends
  cfg.worker_timeout_s = 0.3;
  auto faults = std::make_shared<fault_injector>(plan_of({{"hang", "3@4:0.6"}}));
  auto outcome = run_with(*sys, cfg, faults);
  BOOST_TEST(outcome.summary.completed);
  BOOST_TEST(outcome.summary.timeouts == 1u);
  // Removed for silence, told it may rejoin (delivered when the hang ends), joined anew.
  BOOST_TEST(outcome.summary.joins == 1u);
  BOOST_TEST(outcome.rows.back().workers == 4u);
}

BOOST_AUTO_TEST_CASE(rejoin_brings_a_new_worker_in_place_of_a_crashed_one) {
  auto cfg = small_run();
  auto faults = std::make_shared<fault_injector>(plan_of({{"crash", "1@5"}, {"rejoin", "1@10"}}));
  auto outcome = run_with(*sys, cfg, faults);
  BOOST_TEST(outcome.summary.completed);
  BOOST_TEST(outcome.summary.joins == 1u);
  BOOST_TEST(outcome.summary.departures == 1u);
  BOOST_TEST(outcome.rows.back().workers == 4u);
  BOOST_TEST(faults->count(fault_kind::rejoin) == 1u);
  // Only the crashing worker needs a link: the server's hook says when the rejoin is due.
  BOOST_TEST(faults->links_spawned() == 1u);
}

BOOST_AUTO_TEST_CASE(server_crash_restarts_the_server_from_its_checkpoint) {
  auto cfg = small_run();
  cfg.checkpoint = temp_path("ckpt");
  cfg.checkpoint_every = 5;
  auto faults = std::make_shared<fault_injector>(
      plan_of({{"server-crash", "12"}, {"delay", "1"}, {"links", "0,2"}}));
  auto outcome = run_with(*sys, cfg, faults);
  BOOST_TEST(outcome.summary.completed);
  BOOST_TEST(outcome.summary.steps == cfg.steps);
  BOOST_TEST(faults->count(fault_kind::server_crash) == 1u);
  // Links for workers 0 and 2 twice: for the first server and for the restarted one.
  BOOST_TEST(faults->links_spawned() == 4u);
  std::filesystem::remove_all(cfg.checkpoint);
}

// --servers=K in dsq local: a crashed worker leaves every shard and a rejoining one joins every
// shard; corrupt and poisoned pushes (slice 0, on the worker's link to the leader) are rejected;
// the run completes as with one server.
BOOST_AUTO_TEST_CASE(with_two_shards_worker_crash_rejoin_corrupt_and_poison_work_as_with_one) {
  auto cfg = small_run();
  cfg.servers = 2;
  auto faults = std::make_shared<fault_injector>(
      plan_of({{"crash", "1@5"}, {"rejoin", "1@10"}, {"corrupt", "2@3"}, {"poison", "3@7"}}));
  auto outcome = run_with(*sys, cfg, faults);
  BOOST_TEST(outcome.summary.completed);
  BOOST_TEST(outcome.summary.steps == cfg.steps);
  BOOST_TEST(outcome.summary.shards == 2u);
  BOOST_TEST(outcome.summary.joins == 1u);
  BOOST_TEST(outcome.summary.departures == 3u);
  BOOST_TEST(outcome.summary.rejected_pushes == 2u);
  BOOST_TEST(outcome.rows.back().workers == 2u);
  BOOST_TEST(faults->count(fault_kind::crash) == 1u);
  BOOST_TEST(faults->count(fault_kind::rejoin) == 1u);
  // No message faults: only the workers with faults of their own have a link, to the leader.
  BOOST_TEST(faults->links_spawned() == 3u);
}

// Lost messages are survivable once the protocol retransmits (acks, status, update ring).
BOOST_AUTO_TEST_CASE(five_percent_drop_on_every_link_completes_the_run) {
  auto cfg = small_run();
  auto faults = std::make_shared<fault_injector>(plan_of({{"drop", "0.05"}, {"seed", "5"}}));
  auto outcome = run_with(*sys, cfg, faults);
  BOOST_TEST(outcome.summary.completed);
  BOOST_TEST(outcome.summary.steps == cfg.steps);
  BOOST_TEST(faults->count(fault_kind::drop) > 0u);
  BOOST_TEST(outcome.summary.departures == 0u);
}

// A push that takes longer on the wire than the retry interval is slow, not lost: the worker
// asks (a probe, behind the push on the same link) before it sends anything again, and nothing is
// sent twice. Resending on the timer alone flooded slow links: sgd's 4 MB pushes at 100 Mbit/s
// made every step slower than the one before.
BOOST_AUTO_TEST_CASE(a_slow_link_carries_no_second_copy_of_a_push_or_an_update) {
  auto cfg = small_run();
  cfg.method = "sgd"; // identity both ways: 40 kB pushes and updates
  cfg.dataset = "synthetic:n=3000,d=1000,classes=10";
  cfg.workers = 2;
  cfg.steps = 15;
  // 40 ms per message and direction, twice the shortest retry interval.
  auto faults = std::make_shared<fault_injector>(plan_of({{"bandwidth", "1MB"}}));
  auto outcome = run_with(*sys, cfg, faults);
  BOOST_TEST(outcome.summary.completed);
  BOOST_TEST(outcome.summary.retransmissions == 0u);
  BOOST_TEST(outcome.summary.resyncs == 0u);
  for (std::size_t i = 1; i < outcome.rows.size(); ++i)
    BOOST_REQUIRE_EQUAL(outcome.rows[i].pushes, 2u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(startup_checks)

BOOST_AUTO_TEST_CASE(dsq_local_refuses_faults_it_cannot_inject) {
  const auto refused = [](const fault_plan& plan, std::size_t workers, const std::string& ckpt,
                          const std::string& expected) {
    try {
      check_local_plan(plan, workers, ckpt);
    } catch (const config_error& e) {
      BOOST_TEST(std::string{e.what()}.find(expected) != std::string::npos, e.what());
      return;
    }
    BOOST_FAIL("accepted: " << expected);
  };
  refused(plan_of({{"crash", "4@10"}}), 4, "", "--faults.crash: worker 4 does not exist");
  refused(plan_of({{"poison", "0@1,9@2"}}), 4, "", "--faults.poison: worker 9");
  refused(plan_of({{"links", "1,5,up"}}), 4, "", "--faults.links: worker 5");
  refused(plan_of({{"server-crash", "10"}}), 4, "", "needs --checkpoint=DIR");
  BOOST_CHECK_NO_THROW(
      check_local_plan(plan_of({{"crash", "3@10"}, {"server-crash", "5"}}), 4, "/tmp/x"));
}

BOOST_AUTO_TEST_CASE(worker_faults_fire_once) {
  fault_injector faults{plan_of({{"crash", "1@5"}, {"server-crash", "7"}})};
  BOOST_TEST(!faults.take(fault_kind::crash, 1, 4));
  BOOST_TEST(!faults.take(fault_kind::crash, 0, 5));
  BOOST_TEST(faults.take(fault_kind::crash, 1, 6).has_value());
  BOOST_TEST(!faults.take(fault_kind::crash, 1, 7));
  BOOST_TEST(!faults.take_server_crash(6));
  BOOST_TEST(faults.take_server_crash(9));
  BOOST_TEST(!faults.take_server_crash(10));
  BOOST_TEST(faults.needs_link(1));
  BOOST_TEST(!faults.needs_link(0));
}

BOOST_AUTO_TEST_SUITE_END()
