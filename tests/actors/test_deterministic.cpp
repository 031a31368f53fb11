// The actors under CAF's deterministic test coordinator: spawned without their own threads
// (detached = false), every message is delivered by the test's own loop, one at a time, so a
// run is a pure function of its configuration — whatever the machine's load.
#define BOOST_TEST_MODULE deterministic
#include <boost/test/unit_test.hpp>

#include "actors/local_run.hpp"
#include "actors/parameter_server.hpp"
#include "actors/worker.hpp"
#include "net/protocol/register_types.hpp"

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

using namespace dsq;

namespace {

run_config small_run() {
  run_config cfg;
  cfg.dataset = "synthetic:n=2000,d=12,classes=3";
  cfg.model = "mlp:hidden=8";
  cfg.workers = 3;
  cfg.steps = 60;
  cfg.batch = 8;
  cfg.eval_every = 20;
  cfg.seed = 11;
  return cfg;
}

/// Runs `cfg` with every actor on the test coordinator; fires timers (heartbeats, a
/// straggler's delay) only when no message is left, until the server has finished.
run_outcome run_coordinated(const run_config& cfg) {
  caf::actor_system_config sys_cfg;
  register_message_types(sys_cfg);
  sys_cfg.set("scheduler.policy", caf::atom("testing"));
  caf::actor_system sys{sys_cfg};
  auto& sched = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  auto opts = make_server_options(cfg, load_training(cfg));
  opts.verbose = false;
  opts.detached = false;
  auto setup = opts.setup;
  auto outcome = opts.outcome;
  auto server = spawn_parameter_server(sys, std::move(opts));
  auto workers = spawn_local_workers(sys, server, setup, cfg.workers, false);
  for (int round = 0; round < 100000 && outcome->rows.empty() && outcome->error.empty(); ++round)
    if (sched.run() == 0)
      sched.trigger_timeouts();
  BOOST_REQUIRE_MESSAGE(!outcome->rows.empty() || !outcome->error.empty(),
                        "the run did not finish");
  for (auto& w : workers)
    caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
  sched.run();
  return *outcome;
}

run_outcome run_threaded(const run_config& cfg) {
  caf::actor_system_config sys_cfg;
  register_message_types(sys_cfg);
  caf::actor_system sys{sys_cfg};
  return run_local(sys, cfg, load_training(cfg), false);
}

} // namespace

BOOST_AUTO_TEST_CASE(a_sync_run_under_the_coordinator_equals_the_threaded_run) {
  auto cfg = small_run();
  auto coordinated = run_coordinated(cfg);
  BOOST_REQUIRE_MESSAGE(coordinated.ok, coordinated.error);
  auto threaded = run_threaded(cfg);
  BOOST_REQUIRE_MESSAGE(threaded.ok, threaded.error);
  BOOST_TEST(coordinated.summary.steps == 60u);
  BOOST_TEST((coordinated.model - threaded.model).cwiseAbs().maxCoeff() == 0.0f);
  BOOST_TEST(coordinated.summary.test_accuracy == threaded.summary.test_accuracy);
}

BOOST_AUTO_TEST_CASE(an_async_run_with_a_straggler_is_reproducible_under_the_coordinator) {
  auto cfg = small_run();
  cfg.mode = "async";
  cfg.staleness = 2;
  cfg.slow_worker = "1:4";
  auto a = run_coordinated(cfg);
  auto b = run_coordinated(cfg);
  BOOST_REQUIRE_MESSAGE(a.ok, a.error);
  BOOST_TEST(a.summary.steps == 60u);
  BOOST_TEST(a.summary.max_staleness <= 2u);
  // One message at a time, in a fixed order: the asynchronous run is exactly repeatable.
  BOOST_TEST((a.model - b.model).cwiseAbs().maxCoeff() == 0.0f);
}
