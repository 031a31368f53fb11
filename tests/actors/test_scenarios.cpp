// The failure scenarios of config/faults/ (issue 9), run in process as `dsq local` runs them:
// each scenario file is parsed as `dsq local --config=FILE` would parse it, on the synthetic data
// set (the same everywhere, MNIST or not), and its outcome is asserted. A scenario's fault-free
// twin is the same options without the plan. Every wait is for the end of a run; nothing sleeps.
#define BOOST_TEST_MODULE scenarios
#include <boost/test/unit_test.hpp>

#include "actor_test_support.hpp"
#include "actors/fault_link.hpp"
#include "actors/local_run.hpp"
#include "config/cli/dsq_options.hpp"
#include "link_rig.hpp"
#include "net/protocol/atoms.hpp"
#include "net/protocol/messages.hpp"
#include "net/protocol/register_types.hpp"
#include "training/faults/fault_injector.hpp"
#include "training/faults/fault_plan.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace dsq;
using namespace std::chrono_literals;

namespace {

using testing::system_fixture;

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("dsq_test_scenarios_" + std::to_string(getpid()) + "_" + name))
      .string();
}

/// config/faults/NAME.ini in the source tree.
std::string scenario_file(const std::string& name) {
  const char* source = std::getenv("DSQ_SOURCE_DIR"); // set by CTest
  BOOST_REQUIRE_MESSAGE(source != nullptr, "DSQ_SOURCE_DIR is not set");
  return (std::filesystem::path{source} / "config" / "faults" / (name + ".ini")).string();
}

/// One run of a scenario: its outcome and what its injector recorded.
struct scenario_run {
  run_config cfg;
  run_outcome outcome;
  std::shared_ptr<fault_injector> faults; ///< null for a fault-free twin
  const run_summary& summary() const { return outcome.summary; }
};

/// `dsq local --config=config/faults/NAME.ini --dataset=synthetic ARGS...`, with the file's
/// fault plan (faults) or without it (its fault-free twin).
scenario_run run_scenario(caf::actor_system& sys, const std::string& name,
                          std::vector<std::string> args = {}, bool faults = true,
                          const std::string& fault_log = {}) {
  args.insert(args.begin(), {"--config=" + scenario_file(name), "--dataset=synthetic", "--quiet"});
  dsq_options opts;
  const auto parsed = parse_options(args, opts);
  BOOST_REQUIRE_MESSAGE(parsed.ok, name << ": " << parsed.error);
  scenario_run run;
  run.cfg = opts.run;
  if (faults) {
    auto plan = make_fault_plan(opts.faults);
    BOOST_REQUIRE_MESSAGE(!plan.empty() || name.starts_with("straggler"),
                          name << " injects nothing");
    check_local_plan(plan, run.cfg.workers, run.cfg.checkpoint);
    run.faults = std::make_shared<fault_injector>(plan, fault_log);
  }
  run.outcome = run_local(sys, run.cfg, load_training(run.cfg), false, nullptr, run.faults,
                          row_memory::all); // the checks read every row of runs up to 12 000 steps
  BOOST_REQUIRE_MESSAGE(run.outcome.ok, name << ": " << run.outcome.error);
  BOOST_TEST(run.summary().completed, name);
  BOOST_TEST(run.summary().steps == run.cfg.steps, name);
  BOOST_TEST(!run.summary().diverged, name);
  return run;
}

std::uint64_t injected(const scenario_run& run, const std::string& kind) {
  const auto& counts = run.summary().faults_injected;
  const auto it = counts.find(kind);
  return it == counts.end() ? 0 : it->second;
}

/// Nothing applied twice or lost: every update applied `per_row` pushes, and they add up.
void check_pushes_add_up(const scenario_run& run, std::uint32_t per_row) {
  for (const auto& row : run.outcome.rows)
    if (row.step > 0)
      BOOST_TEST(row.pushes == per_row, "step " << row.step);
  BOOST_TEST(run.summary().pushes_applied == run.cfg.steps * per_row);
}

/// A drop scenario against its fault-free twin: drops were injected and answered by
/// retransmissions, nobody was removed, every push was applied once (`per_row` per update),
/// and the accuracy is the twin's within a point.
void check_drops_survived(const scenario_run& run, const scenario_run& twin,
                          std::uint32_t per_row) {
  BOOST_TEST(injected(run, "drop") > 0u);
  BOOST_TEST(run.summary().retransmissions > 0u);
  BOOST_TEST(run.summary().departures == 0u);
  check_pushes_add_up(run, per_row);
  BOOST_TEST(std::abs(run.summary().test_accuracy - twin.summary().test_accuracy) <= 0.01);
}

using testing::rows_without_time;

const step_record& row_at(const scenario_run& run, std::uint64_t step) {
  for (const auto& row : run.outcome.rows)
    if (row.step == step)
      return row;
  BOOST_FAIL("no row for step " << step);
  return run.outcome.rows.front();
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(fault_scenarios, system_fixture)

// A drop test is short: every lost message costs a retry interval (20 ms or more).
BOOST_AUTO_TEST_CASE(drop_5_sync_completes_applies_every_push_once_and_keeps_the_accuracy) {
  const std::vector<std::string> args{"--steps=60"};
  const auto run = run_scenario(*sys, "drop-5", args);
  const auto twin = run_scenario(*sys, "drop-5", args, false);
  check_drops_survived(run, twin, 4);
  // Sync is deterministic: lost messages delay the run but do not change it.
  BOOST_TEST(run.outcome.model == twin.outcome.model);
}

BOOST_AUTO_TEST_CASE(drop_5_async_completes_applies_every_push_once_and_keeps_the_accuracy) {
  const std::vector<std::string> args{"--steps=80"};
  const auto run = run_scenario(*sys, "drop-5-async", args);
  const auto twin = run_scenario(*sys, "drop-5-async", args, false);
  check_drops_survived(run, twin, 1);
  BOOST_TEST(run.summary().max_staleness <= 4u);
}

BOOST_AUTO_TEST_CASE(duplicate_reorder_applies_nothing_twice_and_changes_nothing) {
  const auto run = run_scenario(*sys, "duplicate-reorder");
  const auto twin = run_scenario(*sys, "duplicate-reorder", {}, false);
  BOOST_TEST(injected(run, "duplicate") > 0u);
  BOOST_TEST(injected(run, "reorder") > 0u);
  BOOST_TEST(run.summary().departures == 0u);
  check_pushes_add_up(run, 4);
  BOOST_TEST(run.outcome.model == twin.outcome.model);
  // A held message goes after the next one or within a bound: a held update, the last message
  // of its step, no longer waits for the worker's retry (it took 20 s for 60 steps).
  BOOST_TEST(run.summary().wall_s < 60.0);
}

// --servers=K: the plan's message faults hit every link, each worker's K links (each follower
// link with its own seeded stream), and the retransmission and resync per shard recover: the
// same promises as with one server, at K = 2 and 3 against the fault-free twin of the same K
// (sign's scale is per range, so the model of a K-shard run is its own).
BOOST_AUTO_TEST_CASE(with_shards_drops_duplicates_and_reorders_change_nothing) {
  for (const char* k : {"2", "3"}) {
    BOOST_TEST_CONTEXT("--servers=" << k) {
      const std::vector<std::string> args{"--steps=40", std::string{"--servers="} + k};
      const auto run = run_scenario(*sys, "drop-5", args);
      const auto twin = run_scenario(*sys, "drop-5", args, false);
      check_drops_survived(run, twin, 4);
      BOOST_TEST(run.outcome.model == twin.outcome.model);
      BOOST_TEST(run.summary().shards == std::stoul(k));
      const auto mixed = run_scenario(*sys, "duplicate-reorder", args);
      BOOST_TEST(injected(mixed, "duplicate") > 0u);
      BOOST_TEST(injected(mixed, "reorder") > 0u);
      BOOST_TEST(mixed.summary().departures == 0u);
      check_pushes_add_up(mixed, 4);
      BOOST_TEST(mixed.outcome.model == twin.outcome.model);
    }
  }
}

// The bound behind that: a held message with no next one on its link goes after max(10 ms,
// delay + jitter) past its own delay, not never.
BOOST_AUTO_TEST_CASE(a_held_message_with_no_next_one_goes_after_the_bound) {
  // The rig's welcome is a control message: never held.
  testing::link_rig rig{*sys, parse_fault_plan({{"reorder", "1"}})};
  const auto start = std::chrono::steady_clock::now();
  rig.server->send(rig.link, update_atom::value, model_update{1, {}}); // held, nothing follows
  rig.worker->receive([](update_atom, const model_update& u) { BOOST_TEST(u.version == 1u); },
                      caf::after(10s) >> [] { BOOST_FAIL("the held update was never delivered"); });
  BOOST_TEST((std::chrono::steady_clock::now() - start >= 10ms));
  BOOST_TEST(rig.injector->count(fault_kind::reorder) == 1u);
}

BOOST_AUTO_TEST_CASE(bandwidth_100mbit_delays_every_message_and_changes_nothing) {
  const auto run = run_scenario(*sys, "bandwidth-100mbit");
  const auto twin = run_scenario(*sys, "bandwidth-100mbit", {}, false);
  BOOST_TEST(run.summary().faults_injected.empty()); // a rate is not a fault event
  BOOST_TEST(run.outcome.model == twin.outcome.model);
  // Each worker's link carries its share of the traffic at 12.5 MB/s, up then down every step.
  const double bytes_per_link =
      static_cast<double>(run.summary().bytes_up + run.summary().bytes_down) / run.cfg.workers;
  BOOST_TEST(run.summary().wall_s >= bytes_per_link / 12.5e6);
}

BOOST_AUTO_TEST_CASE(straggler_sync_waits_for_the_straggler_and_keeps_the_model) {
  const auto run = run_scenario(*sys, "straggler-sync", {}, false);
  const auto twin = run_scenario(*sys, "straggler-sync", {"--slow-worker=0:1"}, false);
  BOOST_TEST(run.cfg.slow_worker == "0:4");
  BOOST_TEST(run.summary().timeouts == 0u); // slow, not hung: its heartbeats go on
  BOOST_TEST(run.summary().departures == 0u);
  check_pushes_add_up(run, 4);
  BOOST_TEST(run.outcome.model == twin.outcome.model);
}

BOOST_AUTO_TEST_CASE(straggler_async_keeps_the_staleness_bound_and_removes_nobody) {
  const auto run = run_scenario(*sys, "straggler-async", {}, false);
  BOOST_TEST(run.summary().timeouts == 0u);
  BOOST_TEST(run.summary().departures == 0u);
  check_pushes_add_up(run, 1);
  BOOST_TEST(run.summary().max_staleness <= 8u);
}

BOOST_AUTO_TEST_CASE(worker_crash_the_others_finish_without_it) {
  const auto run = run_scenario(*sys, "worker-crash");
  BOOST_TEST(injected(run, "crash") == 1u);
  BOOST_TEST(run.summary().departures == 1u);
  BOOST_TEST(run.summary().residuals_lost == 1u);
  BOOST_TEST(row_at(run, 100).workers == 4u);
  BOOST_TEST(row_at(run, 101).workers == 3u); // crashed on receiving update 100
  BOOST_TEST(run.outcome.rows.back().workers == 3u);
  BOOST_TEST(run.summary().pushes_applied == 100u * 4 + (run.cfg.steps - 100) * 3);
}

// Hang: worker 1 hangs 1 s at version 100 (shorter than --worker-timeout=2: the barrier waits,
// nobody is removed); worker 2 hangs 3 s at version 300 (removed within the timeout plus a
// margin, training goes on with 3, and it joins again as a new worker when it wakes).
BOOST_AUTO_TEST_CASE(worker_hang_is_removed_within_the_timeout_and_rejoins_when_it_wakes) {
  // More steps than the file: the run must still be training when worker 2 wakes, 3 s after its
  // hang began, however fast this machine computes the synthetic steps.
  const auto run = run_scenario(*sys, "worker-hang", {"--steps=12000"});
  BOOST_TEST(run.cfg.worker_timeout_s == 2.0);
  BOOST_TEST(injected(run, "hang") == 2u);
  BOOST_TEST(run.summary().timeouts == 1u);
  BOOST_TEST(run.summary().departures == 1u);
  BOOST_TEST(run.summary().joins == 1u);
  // The short hang: step 101 waited for worker 1 (at least its 1 s) and still had 4 workers.
  BOOST_TEST(row_at(run, 101).workers == 4u);
  BOOST_TEST(row_at(run, 101).wall_s - row_at(run, 100).wall_s >= 1.0);
  // The long hang: the first step without worker 2 came within the timeout and a margin (the
  // liveness check runs every timeout / 4) of the hang's start, the update of version 300.
  std::uint64_t removed_at = 0;
  for (const auto& row : run.outcome.rows)
    if (row.step > 300 && row.workers == 3u) {
      removed_at = row.step;
      break;
    }
  BOOST_REQUIRE(removed_at == 301u);
  const double waited = row_at(run, 301).wall_s - row_at(run, 300).wall_s;
  BOOST_TEST(waited >= 1.0);             // at least a heartbeat interval short of the timeout
  BOOST_TEST(waited <= 2.0 + 0.5 + 1.0); // timeout + check interval + margin for a loaded host
  // Training went on, and the woken worker came back.
  BOOST_TEST(run.outcome.rows.back().workers == 4u);
}

BOOST_AUTO_TEST_CASE(late_join_a_new_worker_takes_the_crashed_ones_place) {
  const auto run = run_scenario(*sys, "late-join");
  BOOST_TEST(injected(run, "crash") == 1u);
  BOOST_TEST(injected(run, "rejoin") == 1u);
  BOOST_TEST(run.summary().departures == 1u);
  BOOST_TEST(run.summary().joins == 1u);
  BOOST_TEST(row_at(run, 200).workers == 3u);
  BOOST_TEST(run.outcome.rows.back().workers == 4u);
}

BOOST_AUTO_TEST_CASE(poison_the_push_is_rejected_its_worker_removed_the_model_stays_finite) {
  const auto run = run_scenario(*sys, "poison");
  BOOST_TEST(injected(run, "poison") == 1u);
  BOOST_TEST(run.summary().rejected_pushes == 1u);
  BOOST_TEST(run.summary().departures == 1u);
  BOOST_TEST(run.outcome.rows.back().workers == 3u);
  BOOST_TEST(run.outcome.model.allFinite());
  BOOST_TEST(std::isfinite(run.summary().final_train_loss));
}

BOOST_AUTO_TEST_CASE(server_crash_resumes_from_the_checkpoint_with_the_same_final_model) {
  const auto ckpt = temp_path("ckpt");
  const auto twin_ckpt = temp_path("twin_ckpt");
  const auto run = run_scenario(*sys, "server-crash", {"--checkpoint=" + ckpt});
  const auto twin = run_scenario(*sys, "server-crash", {"--checkpoint=" + twin_ckpt}, false);
  BOOST_TEST(injected(run, "server-crash") == 1u);
  BOOST_TEST(run.summary().returned_workers == 4u); // every worker came back with its state
  BOOST_TEST(run.summary().residuals_lost == 0u);
  // Resumed from step 200 (checkpoints every 100, crash at 250): bit for bit the same run.
  BOOST_TEST(run.outcome.model == twin.outcome.model);
  BOOST_TEST(run.summary().test_accuracy == twin.summary().test_accuracy);
  std::filesystem::remove_all(ckpt);
  std::filesystem::remove_all(twin_ckpt);
}

// --servers=K: the leader's crash ends every shard and worker of the run; all start again from
// the newest complete cut (step 200: checkpoints every 100, crash at 250), the followers from
// their slice files and new workers in the seats of the checkpoint's members, so the run ends
// with exactly the model and summary of its fault-free twin of the same K.
BOOST_AUTO_TEST_CASE(with_shards_a_server_crash_restarts_every_shard_from_the_cut) {
  for (const char* k : {"2", "3"}) {
    BOOST_TEST_CONTEXT("--servers=" << k) {
      const auto ckpt = temp_path(std::string{"shard_ckpt"} + k);
      const auto twin_ckpt = temp_path(std::string{"shard_twin_ckpt"} + k);
      const std::string servers = std::string{"--servers="} + k;
      const auto run = run_scenario(*sys, "server-crash", {servers, "--checkpoint=" + ckpt});
      const auto twin =
          run_scenario(*sys, "server-crash", {servers, "--checkpoint=" + twin_ckpt}, false);
      BOOST_TEST(injected(run, "server-crash") == 1u);
      BOOST_TEST(run.summary().shards == std::stoul(k));
      BOOST_TEST(run.summary().residuals_lost == 0u);
      // Resumed from the cut, not from the start: the new leader counts the pushes of steps
      // 201..600, and the 4 new workers took the 4 members' seats.
      BOOST_TEST(run.summary().pushes_applied == 400u * 4u);
      BOOST_TEST(run.summary().returned_workers == 4u);
      BOOST_TEST(run.summary().steps == twin.summary().steps);
      BOOST_TEST(run.summary().completed == twin.summary().completed);
      BOOST_TEST(run.outcome.model == twin.outcome.model);
      BOOST_TEST(run.summary().test_accuracy == twin.summary().test_accuracy);
      BOOST_TEST(run.summary().final_train_loss == twin.summary().final_train_loss);
      std::filesystem::remove_all(ckpt);
      std::filesystem::remove_all(twin_ckpt);
    }
  }
}

BOOST_AUTO_TEST_CASE(the_same_fault_seed_injects_the_same_faults_at_the_same_steps) {
  // Worker faults fire at their steps: two runs log the same rows, apart from wall_s.
  // (Message faults are reproducible per link and message index, test_faults checks that; in a
  // whole run the index of a step's message depends on timing: heartbeats, retries.)
  const auto a = temp_path("a.csv"), b = temp_path("b.csv");
  const std::vector<std::string> more{"--faults.hang=0@50:0.1", "--faults.poison=1@150",
                                      "--faults.corrupt=2@250", "--faults.seed=9"};
  for (const auto& log : {a, b})
    run_scenario(*sys, "late-join", more, true, log);
  const auto rows_a = rows_without_time(a), rows_b = rows_without_time(b);
  const std::vector<std::string> expected{"50,hang,0", "100,crash,3", "150,poison,1",
                                          "250,corrupt,2", "300,rejoin,3"};
  BOOST_TEST(rows_a == expected, boost::test_tools::per_element());
  BOOST_TEST(rows_b == expected, boost::test_tools::per_element());
  std::filesystem::remove(a);
  std::filesystem::remove(b);
}

BOOST_AUTO_TEST_SUITE_END()
