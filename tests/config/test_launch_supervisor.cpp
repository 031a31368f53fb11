// dsq launch's decisions without processes (config/launch/launch_supervisor.hpp), on a fake
// clock: a failed worker is restarted only with --restart-workers, a dead server is restarted
// with --resume only with --restart-server, a crash loop gives up after restart_rule's limit
// with one clear line, and the end of the run stops everyone and exits with the run's outcome.
#define BOOST_TEST_MODULE launch_supervisor
#include <boost/test/unit_test.hpp>

#include "config/launch/launch_plan.hpp"
#include "config/launch/launch_supervisor.hpp"

#include <csignal>
#include <string>
#include <vector>

using namespace dsq;
using namespace std::chrono_literals;

namespace {

using kind = launch_action::kind;

const launch_child server{launch_role::server, 0};
launch_child worker(int i) {
  return {launch_role::worker, i};
}

process_end exited(int code) {
  return {true, code, 0, "exit code " + std::to_string(code)};
}
process_end killed(int sig) {
  return {false, -1, sig, "killed by signal " + std::to_string(sig)};
}

launch_options options(std::uint64_t restart_workers, std::uint64_t restart_server) {
  launch_options o;
  o.restart_workers = restart_workers;
  o.restart_server = restart_server;
  return o;
}

/// A supervisor of one server (or `servers` shards) and `workers` workers on this machine,
/// past its port, with every process started at the fake clock's `now`; what it says is kept
/// in `said`.
struct fixture {
  explicit fixture(launch_options opts, int workers = 2, int servers = 1)
      : sup{make_launch_plan({}, {workers, servers, false}), opts, "/tmp/ckpt"} {
    sup.started(server, now);
    auto starts = sup.listening(7000, now);
    BOOST_REQUIRE_EQUAL(starts.size(), static_cast<std::size_t>(workers + servers - 1));
    for (std::size_t i = 0; i < starts.size(); ++i) {
      const auto& a = starts[i];
      BOOST_REQUIRE((a.what == kind::start));
      // The followers first (the workers' welcome names them), then the workers.
      BOOST_REQUIRE(
          (a.child.role == (i + 1 < static_cast<std::size_t>(servers) ? launch_role::server
                                                                      : launch_role::worker)));
      BOOST_REQUIRE(!a.resume);
      sup.started(a.child, now);
    }
  }

  /// Keeps the lines of `actions` in `said` and returns the other actions.
  std::vector<launch_action> take(std::vector<launch_action> actions) {
    std::vector<launch_action> rest;
    for (auto& a : actions)
      if (a.what == kind::say)
        said.push_back(a.text);
      else
        rest.push_back(std::move(a));
    return rest;
  }
  std::vector<launch_action> ended(const launch_child& c, const process_end& e) {
    return take(sup.ended(c, e, now));
  }
  std::vector<launch_action> tick() { return take(sup.tick(now)); }
  std::vector<launch_action> signalled(int sig) { return take(sup.signalled(sig, now)); }
  /// Whether a line said so far holds `text`.
  bool said_(const std::string& text) const {
    for (const auto& s : said)
      if (s.find(text) != std::string::npos)
        return true;
    return false;
  }

  launch_clock::time_point now{};
  launch_supervisor sup;
  std::vector<std::string> said;
};

bool is_start(const launch_action& a, const launch_child& c, bool resume = false) {
  return a.what == kind::start && a.child == c && a.resume == resume;
}
bool is_signal(const launch_action& a, const launch_child& c, int sig) {
  return a.what == kind::signal && a.child == c && a.sig == sig;
}
bool is_exit(const launch_action& a, int code) {
  return a.what == kind::exit && a.code == code;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_failed_worker_is_restarted_only_with_restart_workers) {
  fixture with{options(1, 0)};
  with.now += 30s;
  auto a = with.ended(worker(1), exited(5));
  BOOST_REQUIRE_EQUAL(a.size(), 1u);
  BOOST_TEST(is_start(a[0], worker(1)), "the same worker again (an elastic join)");
  BOOST_TEST(
      with.said_("[worker 1@localhost] failed (exit code 5): restarting it (restart 1 of 1)"));
  with.sup.started(worker(1), with.now);
  // The one restart is used: the next failure stops the run through the server.
  with.now += 30s;
  a = with.ended(worker(0), killed(9));
  BOOST_REQUIRE_EQUAL(a.size(), 1u);
  BOOST_TEST(is_signal(a[0], server, SIGTERM));
  BOOST_TEST(with.said_("error: [worker 0@localhost] failed (killed by signal 9) and no restart "
                        "is left (--restart-workers=1): stopping the run"));

  fixture without{options(0, 0)};
  without.now += 30s;
  a = without.ended(worker(0), exited(5));
  BOOST_REQUIRE_EQUAL(a.size(), 1u);
  BOOST_TEST(is_signal(a[0], server, SIGTERM), "no restart: the run is stopped");
  // The server dismisses the workers and ends with its code; the launch's outcome is 1.
  BOOST_TEST(without.ended(worker(1), exited(0)).empty());
  a = without.ended(server, exited(143));
  BOOST_REQUIRE_EQUAL(a.size(), 1u);
  BOOST_TEST(is_exit(a[0], 1));
  BOOST_TEST(without.sup.over());
}

BOOST_AUTO_TEST_CASE(a_worker_that_leaves_is_not_replaced) {
  fixture f{options(3, 0)};
  f.now += 5s;
  BOOST_TEST(f.ended(worker(0), exited(0)).empty());
  BOOST_TEST(f.said_("[worker 0@localhost] ended (exit code 0)"));
}

BOOST_AUTO_TEST_CASE(a_dead_server_is_restarted_with_resume_only_with_restart_server) {
  fixture with{options(0, 1)};
  with.now += 30s;
  auto a = with.ended(server, killed(9));
  BOOST_REQUIRE_EQUAL(a.size(), 1u);
  BOOST_TEST(is_start(a[0], server, true), "the server again, with --resume");
  BOOST_TEST(with.said_("the server ended (killed by signal 9): restarting it from "
                        "--checkpoint=/tmp/ckpt on port 7000 (restart 1 of 1)"));
  with.sup.started(server, with.now);
  BOOST_TEST(!with.sup.over());
  // A finished run, an error of the options, a divergence and a stop are never restarted.
  for (int code : {0, 2, 3, 130, 143})
    BOOST_TEST(!server_crashed(exited(code)), code);
  for (int code : {1, 4, 6})
    BOOST_TEST(server_crashed(exited(code)), code);

  fixture without{options(3, 0)};
  without.now += 30s;
  a = without.ended(server, exited(4));
  BOOST_TEST(without.said_("the server ended (exit code 4)"));
  // Not restarted: its workers would look for it, so they are stopped at once.
  BOOST_REQUIRE_EQUAL(a.size(), 2u);
  BOOST_TEST(is_signal(a[0], worker(0), SIGTERM));
  BOOST_TEST(is_signal(a[1], worker(1), SIGTERM));
  BOOST_TEST(without.ended(worker(0), exited(143)).empty());
  a = without.ended(worker(1), exited(143));
  BOOST_REQUIRE_EQUAL(a.size(), 1u);
  BOOST_TEST(is_exit(a[0], 4), "the launch exits with the server's code");
}

BOOST_AUTO_TEST_CASE(quick_failures_back_off_and_a_crash_loop_gives_up) {
  const restart_rule rule;
  fixture f{options(100, 0), 1};
  // A worker failing again and again within `quick` of its start: restarted at once, then
  // after 1 s, 2 s, 4 s; the loop_limit-th failure in a row is a crash loop.
  const std::vector<launch_clock::duration> backoffs{0s, 1s, 2s, 4s};
  for (std::size_t i = 0; i < backoffs.size(); ++i) {
    BOOST_TEST_CONTEXT("failure " << i + 1) {
      f.now += 1s;
      auto a = f.ended(worker(0), exited(5));
      if (backoffs[i] == 0s) {
        BOOST_REQUIRE_EQUAL(a.size(), 1u);
        BOOST_TEST(is_start(a[0], worker(0)));
      } else {
        BOOST_TEST(a.empty(), "it waits for its back-off");
        BOOST_TEST((f.sup.next_deadline() == f.now + backoffs[i]));
        f.now += backoffs[i] - 1ms;
        BOOST_TEST(f.tick().empty());
        f.now += 1ms;
        a = f.tick();
        BOOST_REQUIRE_EQUAL(a.size(), 1u);
        BOOST_TEST(is_start(a[0], worker(0)));
      }
      f.sup.started(worker(0), f.now);
    }
  }
  BOOST_TEST(f.said_("[worker 0@localhost] failed (exit code 5): restarting it in 4 s (restart "
                     "4 of 100)"));
  f.now += 1s;
  auto a = f.ended(worker(0), exited(5));
  BOOST_REQUIRE_EQUAL(a.size(), 1u);
  BOOST_TEST(is_signal(a[0], server, SIGTERM));
  BOOST_TEST(f.said_("error: [worker 0@localhost] failed (exit code 5) and it failed " +
                     std::to_string(rule.loop_limit) +
                     " times in a row within 10 s of its start (a crash loop): stopping the run"));

  // A failure after a long run starts the count again: restarted at once.
  fixture g{options(100, 0), 1};
  for (int i = 0; i < 2 * rule.loop_limit; ++i) {
    g.now += rule.quick;
    auto b = g.ended(worker(0), exited(5));
    BOOST_REQUIRE_EQUAL(b.size(), 1u);
    BOOST_TEST(is_start(b[0], worker(0)));
    g.sup.started(worker(0), g.now);
  }

  // A server in a crash loop is not restarted: the run ends with its code.
  fixture s{options(0, 100), 1};
  for (int i = 1; i < rule.loop_limit; ++i) {
    s.now += 1s;
    auto b = s.ended(server, exited(1));
    if (b.empty()) { // it waits for its back-off (at most 10 s here)
      s.now += 10s;
      b = s.tick();
    }
    BOOST_REQUIRE_EQUAL(b.size(), 1u);
    BOOST_TEST(is_start(b[0], server, true));
    s.sup.started(server, s.now);
  }
  s.now += 1s;
  a = s.ended(server, exited(1));
  BOOST_TEST(s.said_("error: the server failed 5 times in a row within 10 s of its start (a crash "
                     "loop): not restarting it"));
  BOOST_REQUIRE_EQUAL(a.size(), 1u);
  BOOST_TEST(is_signal(a[0], worker(0), SIGTERM));
  a = s.ended(worker(0), exited(143));
  BOOST_REQUIRE_EQUAL(a.size(), 1u);
  BOOST_TEST(is_exit(a[0], 1));
}

BOOST_AUTO_TEST_CASE(the_end_of_the_run_stops_everyone_and_exits_with_its_outcome) {
  const stop_rule rule;
  fixture f{options(0, 0)};
  f.now += 60s;
  // A finished server has said goodbye: its workers get `finished_grace` to end by themselves.
  BOOST_TEST(f.ended(server, exited(0)).empty());
  BOOST_TEST(f.said_("the server ended (exit code 0)"));
  BOOST_TEST(f.ended(worker(0), exited(0)).empty());
  f.now += rule.finished_grace;
  auto a = f.tick();
  BOOST_REQUIRE_EQUAL(a.size(), 1u);
  BOOST_TEST(is_signal(a[0], worker(1), SIGTERM), "the one still running is stopped");
  BOOST_TEST(f.said_("stopping [worker 1@localhost] (the server has ended)"));
  f.now += rule.term_to_kill;
  a = f.tick();
  BOOST_REQUIRE_EQUAL(a.size(), 1u);
  BOOST_TEST((a[0].what == kind::kill_all));
  a = f.ended(worker(1), killed(9));
  BOOST_REQUIRE_EQUAL(a.size(), 1u);
  BOOST_TEST(is_exit(a[0], 0), "the run's outcome: it finished");

  // A diverged run (exit 3) is the launch's outcome too, and its workers are stopped at once.
  fixture d{options(5, 5)};
  a = d.ended(server, exited(3));
  BOOST_REQUIRE_EQUAL(a.size(), 2u);
  d.ended(worker(0), exited(143));
  a = d.ended(worker(1), exited(143));
  BOOST_REQUIRE_EQUAL(a.size(), 1u);
  BOOST_TEST(is_exit(a[0], 3));

  // Its workers, told that the run failed, exit 1 before it ends: without restarts the first
  // failure stops the run, and still the launch's outcome is the server's 3, not 1.
  fixture told{options(0, 0)};
  told.now += 30s;
  a = told.ended(worker(0), exited(1));
  BOOST_REQUIRE_EQUAL(a.size(), 1u);
  BOOST_TEST(is_signal(a[0], server, SIGTERM));
  BOOST_TEST(told.ended(worker(1), exited(1)).empty());
  a = told.ended(server, exited(3));
  BOOST_REQUIRE_EQUAL(a.size(), 1u);
  BOOST_TEST(is_exit(a[0], 3));
}

BOOST_AUTO_TEST_CASE(a_stop_signal_goes_to_the_server_and_a_second_kills_everything) {
  fixture f{options(5, 5)};
  auto a = f.signalled(SIGTERM);
  BOOST_REQUIRE_EQUAL(a.size(), 1u);
  BOOST_TEST(is_signal(a[0], server, SIGTERM));
  // A stopped run restarts nothing.
  BOOST_TEST(f.ended(worker(0), exited(1)).empty());
  BOOST_TEST(f.ended(server, exited(143)).size() == 1u); // SIGTERM to worker 1 at once
  a = f.signalled(SIGINT);
  BOOST_REQUIRE_EQUAL(a.size(), 2u);
  BOOST_TEST((a[0].what == kind::kill_all));
  BOOST_TEST(is_exit(a[1], 128 + SIGINT));

  // A run whose processes outlive the stop by `stop_to_kill` is killed.
  fixture g{options(0, 0)};
  g.signalled(SIGINT);
  g.now += stop_rule{}.stop_to_kill;
  a = g.tick();
  BOOST_REQUIRE_EQUAL(a.size(), 1u);
  BOOST_TEST((a[0].what == kind::kill_all));
  BOOST_TEST(g.said_("processes still running after the stop: killing them"));
}

BOOST_AUTO_TEST_SUITE(shards)

const launch_child follower{launch_role::server, 1};

BOOST_AUTO_TEST_CASE(a_dead_follower_is_named_and_fails_the_run_without_restarts) {
  fixture f{options(0, 0), 1, 2};
  f.now += 20s;
  BOOST_TEST(f.ended(follower, killed(9)).empty(), "the leader ends the run itself");
  BOOST_TEST(f.said_("error: shard 1 of 2 [server 1@localhost] ended (killed by signal 9): the "
                     "run cannot go on without its key range; the server ends it"));
  // The leader fails the run (exit 1), the worker is stopped at once, the launch exits 1.
  auto a = f.ended(server, exited(1));
  BOOST_REQUIRE_EQUAL(a.size(), 1u);
  BOOST_TEST(is_signal(a[0], worker(0), SIGTERM));
  a = f.ended(worker(0), exited(143));
  BOOST_REQUIRE_EQUAL(a.size(), 1u);
  BOOST_TEST(is_exit(a[0], 1));

  // Should the leader not end (it waits for a follower that never joined), it is stopped;
  // past the stop's deadline, everything is killed.
  fixture g{options(0, 0), 1, 2};
  g.ended(follower, exited(255));
  g.now += stop_rule{}.shard_lost_grace;
  a = g.tick();
  BOOST_REQUIRE_EQUAL(a.size(), 1u);
  BOOST_TEST(is_signal(a[0], server, SIGTERM));
  BOOST_TEST(g.said_("stopping the server (it runs on without a shard)"));
  g.now += stop_rule{}.stop_to_kill;
  a = g.tick();
  BOOST_REQUIRE_EQUAL(a.size(), 1u);
  BOOST_TEST((a[0].what == kind::kill_all));
  // And a leader stopped so (or saying it finished) does not make it a success.
  g.ended(server, exited(143));
  a = g.ended(worker(0), exited(0));
  BOOST_REQUIRE_EQUAL(a.size(), 1u);
  BOOST_TEST(is_exit(a[0], 1));
}

BOOST_AUTO_TEST_CASE(followers_end_with_the_run_and_are_stopped_after_it) {
  fixture f{options(0, 0), 1, 3};
  f.now += 30s;
  // The leader's shard_end: the followers end (0), maybe before the leader.
  BOOST_TEST(f.ended(follower, exited(0)).empty());
  BOOST_TEST(f.said_("shard 1 of 3 [server 1@localhost] ended (exit code 0)"));
  BOOST_TEST(f.ended(server, exited(0)).empty());
  BOOST_TEST(f.ended(worker(0), exited(0)).empty());
  // Shard 2 never ended: stopped with the workers' grace, like a worker.
  f.now += stop_rule{}.finished_grace;
  auto a = f.tick();
  BOOST_REQUIRE_EQUAL(a.size(), 1u);
  BOOST_TEST(is_signal(a[0], launch_child{launch_role::server, 2}, SIGTERM));
  a = f.ended({launch_role::server, 2}, exited(143));
  BOOST_REQUIRE_EQUAL(a.size(), 1u);
  BOOST_TEST(is_exit(a[0], 0));
}

BOOST_AUTO_TEST_CASE(a_dead_shard_restarts_every_shard_with_resume) {
  // A follower dies: the leader and the other follower are killed, and once none runs all
  // three start again with --resume, the leader first.
  fixture f{options(0, 2), 1, 3};
  f.now += 20s;
  auto a = f.ended(follower, killed(9));
  BOOST_TEST(f.said_("shard 1 of 3 [server 1@localhost] ended (killed by signal 9): restarting "
                     "every shard from its checkpoint (--checkpoint=/tmp/ckpt), the server on "
                     "port 7000 (restart 1 of 2)"));
  BOOST_REQUIRE_EQUAL(a.size(), 2u);
  BOOST_TEST(is_signal(a[0], server, SIGKILL));
  BOOST_TEST(is_signal(a[1], launch_child({launch_role::server, 2}), SIGKILL));
  BOOST_TEST(f.ended(server, killed(9)).empty(), "not restarted alone, not counted");
  a = f.ended({launch_role::server, 2}, killed(9));
  BOOST_REQUIRE_EQUAL(a.size(), 3u);
  for (int k = 0; k < 3; ++k)
    BOOST_TEST(is_start(a[k], launch_child({launch_role::server, k}), true));
  for (int k = 0; k < 3; ++k)
    f.sup.started({launch_role::server, k}, f.now);

  // The leader dies: the followers are killed and all come back, as for one server.
  f.now += 20s;
  a = f.ended(server, exited(1));
  BOOST_TEST(f.said_("the server ended (exit code 1): restarting it from --checkpoint=/tmp/ckpt "
                     "on port 7000, and every other shard from its own (restart 2 of 2)"));
  BOOST_REQUIRE_EQUAL(a.size(), 2u);
  BOOST_TEST(is_signal(a[0], follower, SIGKILL));
  f.ended(follower, killed(9));
  a = f.ended({launch_role::server, 2}, killed(9));
  BOOST_REQUIRE_EQUAL(a.size(), 3u);
  BOOST_TEST(is_start(a[0], server, true));
  for (int k = 0; k < 3; ++k)
    f.sup.started({launch_role::server, k}, f.now);

  // No restart left: the next dead shard fails the run.
  f.now += 20s;
  BOOST_TEST(f.ended({launch_role::server, 2}, killed(9)).empty());
  BOOST_TEST(f.said_("error: shard 2 of 3 [server 2@localhost] ended (killed by signal 9)"));
}

BOOST_AUTO_TEST_CASE(a_worker_that_fails_with_the_shards_starts_again_after_them) {
  // A follower dies and its workers fail with it (the leader's farewell names the lost shard):
  // a worker's restart waits until every shard has started again, else it would meet the
  // ending leader and be refused; once the shards start, the worker starts right after them.
  fixture f{options(2, 1), 2, 2};
  f.now += 20s;
  auto a = f.ended(follower, killed(9));
  BOOST_REQUIRE_EQUAL(a.size(), 1u);
  BOOST_TEST(is_signal(a[0], server, SIGKILL));
  BOOST_TEST(f.ended(worker(0), exited(1)).empty(), "no start before the shards'");
  BOOST_TEST(f.said_("[worker 0@localhost] failed (exit code 1): restarting it (restart 1 of 2)"));
  BOOST_TEST(f.tick().empty());
  BOOST_TEST(!f.sup.next_deadline().has_value(), "nothing to wait for but the leader's end");
  a = f.ended(server, killed(9));
  BOOST_REQUIRE_EQUAL(a.size(), 3u);
  BOOST_TEST(is_start(a[0], server, true));
  BOOST_TEST(is_start(a[1], follower, true));
  BOOST_TEST(is_start(a[2], worker(0), false));
}

BOOST_AUTO_TEST_SUITE_END()
