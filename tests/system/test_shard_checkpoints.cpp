// Checkpoints and exact resume of sharded runs (--servers=K > 1 with --checkpoint/--resume;
// net/PROTOCOL.md "Shards") with the real dsq binary: dsq local with two shard actors killed
// (SIGKILL) mid-run and resumed ends with the uninterrupted run's model and metrics bit for bit;
// so do a leader, a follower and two workers as processes on 127.0.0.1 after SIGKILL of the
// follower (the run ends non-zero naming the shard), of the leader, or of every process,
// restarted with --resume (each shard from its own directory, new worker processes); an async
// K = 2 run resumes too (not bit for bit); a slice file that is missing or of another step is
// refused in one line naming the file, the shard and the fix. Every wait is on an event and
// bounded; the cluster kills whatever still runs at the end of each test.
#define BOOST_TEST_MODULE dsq_system_shard_checkpoints
#include <boost/test/unit_test.hpp>

#include "resume_support.hpp"
#include "system_support.hpp"
#include "training/checkpoint.hpp"

#include <csignal>
#include <filesystem>

using namespace dsq::system_test;

namespace {

constexpr auto run_timeout = 120s;
constexpr std::uint64_t every = 50;

/// A run long enough for a kill to land mid-run, with checkpoints every 50 steps.
std::vector<std::string> sharded_run(const std::string& op, std::uint64_t steps) {
  return {"--dataset=synthetic:n=3000,d=20,classes=4",
          "--model=mlp:hidden=16",
          "--compressor=" + op,
          "--steps=" + std::to_string(steps),
          "--eval-every=100",
          "--workers=2",
          "--seed=11",
          "--servers=2",
          "--checkpoint-every=" + std::to_string(every)};
}

/// `dsq local` with `args`, its checkpoints in `dir` (and --resume from there when `resume`).
std::vector<std::string> local_argv(cluster& c, const std::string& tag, const std::string& dir,
                                    const std::vector<std::string>& args, bool resume = false) {
  auto argv = concat({dsq_binary(), "local", "--metrics=" + c.file(tag + ".csv"),
                      "--summary=" + c.file(tag + ".json"), "--checkpoint=" + dir},
                     args);
  if (resume)
    argv.push_back("--resume=" + dir);
  return argv;
}

/// Runs `argv` to its end, which must be a success.
void run_to_end(cluster& c, const std::string& name, std::vector<std::string> argv) {
  auto& p = c.start(name, std::move(argv));
  auto status = p.wait_for(run_timeout);
  BOOST_REQUIRE_MESSAGE(status && status->success(), name << " failed:\n" << p.report());
}

/// Waits until follower 1 wrote its slice file of `step` in `dir` while `p` runs: a kill then
/// lands right after a follower's write, before or after the leader wrote its checkpoint of that
/// step (the leader's newest complete set is then of that step or of the one before).
void wait_for_slice_file(child_process& p, const std::string& dir, std::uint64_t step) {
  const auto file = std::filesystem::path{dir} / ("shard-1-step-" + std::to_string(step) + ".ckpt");
  BOOST_REQUIRE_MESSAGE(
      wait_until([&] { return std::filesystem::exists(file) || !p.running(); }, run_timeout, 1ms) &&
          p.running(),
      "no slice file of step " << step << " while running:\n"
                               << p.report());
}

/// The resumed run ends with the uninterrupted one's final checkpoint (whole model, range 0's
/// residual and random stream, the followers' digests: their slice files are the same bytes),
/// and its metrics from the checkpoint's step on are the uninterrupted run's.
void expect_same_as(const std::string& ref_dir, const std::string& ref_csv, const std::string& dir,
                    const std::string& csv, std::uint64_t resumed_at) {
  auto ref = dsq::read_checkpoint(ref_dir), got = dsq::read_checkpoint(dir);
  BOOST_TEST(got.version == ref.version);
  BOOST_TEST(same_bits(got.model, ref.model), "the final model equals the uninterrupted run's");
  BOOST_TEST(same_bits(got.server_residual, ref.server_residual));
  BOOST_TEST(same_bits(got.momentum, ref.momentum));
  BOOST_TEST(got.server_rng == ref.server_rng);
  BOOST_REQUIRE(got.shards.has_value());
  BOOST_REQUIRE(ref.shards.has_value());
  BOOST_TEST(got.shards->digests == ref.shards->digests, "the followers' final slices");
  auto a = read_csv(ref_csv), b = read_csv(csv);
  std::size_t compared = 0;
  for (std::size_t r = 0; r < b.rows.size(); ++r) {
    const auto step = std::stoull(b.at(r, "step"));
    if (step <= resumed_at)
      continue;
    ++compared;
    BOOST_TEST_CONTEXT("step " << step) {
      for (const char* column : {"train_loss", "test_loss", "test_accuracy", "bytes_up", "pushes"})
        BOOST_TEST(b.at(r, column) == a.at(step, column), column);
    }
  }
  BOOST_TEST(compared == ref.version - resumed_at);
}

/// `dsq server --servers=2 --shard-index=1 --leader=LEADER` on 127.0.0.1, its slice files in
/// `dir` (and resumed from there).
child_process& start_follower(cluster& c, const std::string& name, const std::string& leader,
                              const std::string& dir, bool resume,
                              const std::vector<std::string>& args) {
  auto argv = concat({dsq_binary(), "server", "--shard-index=1", "--leader=" + leader, "--port=0",
                      "--bind=127.0.0.1", "--checkpoint=" + dir},
                     args);
  if (resume)
    argv.push_back("--resume=" + dir);
  auto& f = c.start(name, argv);
  BOOST_REQUIRE_MESSAGE(f.wait_for_output("listening on", 20s), f.report());
  return f;
}

/// One sharded run as processes: a leader, its follower and two workers.
struct shard_processes {
  child_process* leader = nullptr;
  child_process* follower = nullptr;
  std::vector<child_process*> workers;
};

/// Starts the leader (its server.ckpt in `c.file("leader")`), the follower (its slice files in
/// `c.file("follower")`) and two new workers; `round` names the processes.
shard_processes start_processes(cluster& c, const std::vector<std::string>& args, int round,
                                bool resume) {
  const auto tag = std::to_string(round);
  auto argv =
      concat({dsq_binary(), "server", "--port=0", "--bind=127.0.0.1", "--metrics=" + c.metrics(),
              "--summary=" + c.summary(), "--checkpoint=" + c.file("leader")},
             args);
  if (resume)
    argv.push_back("--resume=" + c.file("leader"));
  shard_processes p;
  p.leader = &c.start("leader-" + tag, argv);
  BOOST_REQUIRE_MESSAGE(p.leader->wait_for_output("dsq server: listening on", 20s),
                        p.leader->report());
  const auto leader = "127.0.0.1:" + std::to_string(listening_port(p.leader->out()));
  p.follower = &start_follower(c, "follower-" + tag, leader, c.file("follower"), resume, args);
  for (int i = 1; i <= 2; ++i)
    // --reconnect-timeout=0: a worker that loses its leader ends at once (the restart brings
    // new workers), rather than trying the dead address for a minute.
    p.workers.push_back(&c.start("worker-" + tag + "-" + std::to_string(i),
                                 {dsq_binary(), "worker", "--server=" + leader,
                                  "--connect-timeout=10", "--reconnect-timeout=0"}));
  return p;
}

/// The uninterrupted local run with `op`, for the comparisons: its directory and metrics.
std::pair<std::string, std::string> reference(cluster& c, const std::string& op,
                                              std::uint64_t steps) {
  const auto dir = c.file("ref-ckpt");
  run_to_end(c, "reference", local_argv(c, "ref", dir, sharded_run(op, steps)));
  return {dir, c.file("ref.csv")};
}

/// Which processes a test kills.
enum class victims { follower, leader, all };

/// SIGKILL `who` once the follower wrote its slice file of step 150; the others end by
/// themselves (a lost follower fails the run, a lost leader ends the follower and the workers)
/// or are killed too; then everything restarts with --resume and must end like the
/// uninterrupted run.
void kill_and_resume(const std::string& tag, victims who) {
  const std::string op = "sign";
  const std::uint64_t steps = 4000;
  cluster c{tag};
  const auto [ref_dir, ref_csv] = reference(c, op, steps);
  const auto args = sharded_run(op, steps);
  auto first = start_processes(c, args, 1, false);
  wait_for_slice_file(*first.leader, c.file("follower"), 3 * every);
  if (who == victims::all) {
    for (auto* p : {first.leader, first.follower, first.workers[0], first.workers[1]})
      p->send_signal(SIGKILL);
  } else {
    (who == victims::leader ? first.leader : first.follower)->send_signal(SIGKILL);
  }
  BOOST_REQUIRE_MESSAGE(c.wait_all(run_timeout), "processes left after the kill");
  if (who == victims::follower) {
    BOOST_TEST(!first.leader->status()->success());
    BOOST_TEST(first.leader->err().find("shard 1 is lost") != std::string::npos,
               first.leader->report());
  }
  if (who == victims::leader) {
    BOOST_TEST(!first.follower->status()->success());
    BOOST_TEST(first.follower->err().find("the leader is gone") != std::string::npos,
               first.follower->report());
  }
  auto ckpt = dsq::read_checkpoint(c.file("leader"));
  BOOST_TEST_MESSAGE(tag << ": resuming from the checkpoint of step " << ckpt.version);
  BOOST_TEST(ckpt.version % every == 0);
  BOOST_TEST(ckpt.version < steps);
  BOOST_TEST(ckpt.workers.size() == 2u);
  auto second = start_processes(c, args, 2, true);
  BOOST_REQUIRE_MESSAGE(c.wait_all(run_timeout), "the resumed run did not end in time");
  for (auto* p : {second.leader, second.follower, second.workers[0], second.workers[1]})
    BOOST_TEST(p->status()->success(), p->report());
  BOOST_TEST(c.summary_value("completed").value_or("") == "true");
  expect_same_as(ref_dir, ref_csv, c.file("leader"), c.metrics(), ckpt.version);
}

} // namespace

BOOST_AUTO_TEST_SUITE(local_shards)

// dsq local --servers=2 killed between checkpoints and resumed: bit for bit, with a
// coordinate-wise operator (identity) and one whose scale spans each range (sign).
BOOST_AUTO_TEST_CASE(a_killed_local_k_2_run_resumes_bit_for_bit) {
  for (const std::string op : {"identity", "sign"}) {
    BOOST_TEST_CONTEXT(op) {
      const std::uint64_t steps = 4000;
      cluster c{"shard-ckpt-local-" + op};
      const auto [ref_dir, ref_csv] = reference(c, op, steps);
      const auto dir = c.file("ckpt");
      auto& first = c.start("first", local_argv(c, "run", dir, sharded_run(op, steps)));
      wait_for_slice_file(first, dir, 3 * every);
      first.send_signal(SIGKILL);
      BOOST_REQUIRE(first.wait_for(10s).has_value());
      const auto resumed_at = dsq::read_checkpoint(dir).version;
      BOOST_TEST(resumed_at < steps);
      run_to_end(c, "resumed", local_argv(c, "run", dir, sharded_run(op, steps), true));
      expect_same_as(ref_dir, ref_csv, dir, c.file("run.csv"), resumed_at);
    }
  }
}

// Async: a K = 2 run resumes from its last checkpoint and trains on to a longer end (not bit for
// bit: which pushes make a version depends on timing, as unsharded).
BOOST_AUTO_TEST_CASE(an_async_k_2_run_resumes_from_its_checkpoint) {
  cluster c{"shard-ckpt-async"};
  const auto dir = c.file("ckpt");
  const auto args = concat(sharded_run("sign", 200), {"--mode=async", "--staleness=2"});
  run_to_end(c, "first", local_argv(c, "run", dir, args));
  BOOST_TEST(dsq::read_checkpoint(dir).version == 200u);
  run_to_end(c, "resumed", local_argv(c, "run", dir, concat(args, {"--steps=300"}), true));
  const auto summary = read_text(c.file("run.json"));
  BOOST_TEST(json_value(summary, "completed").value_or("") == "true");
  BOOST_TEST(json_value(summary, "steps").value_or("") == "300");
  BOOST_TEST(dsq::read_checkpoint(dir).version == 300u);
  const auto csv = read_csv(c.file("run.csv"));
  BOOST_REQUIRE(!csv.rows.empty());
  BOOST_TEST(csv.at(csv.rows.size() - 1, "step") == "300");
}

// A slice file that is missing, or of another step under the name of the step the leader's
// checkpoint names, is refused in one line naming the file, the shard and the fix.
BOOST_AUTO_TEST_CASE(a_missing_or_foreign_slice_file_is_refused_naming_shard_file_and_fix) {
  const std::uint64_t steps = 200;
  cluster c{"shard-ckpt-refusals"};
  const auto dir = c.file("ckpt");
  const auto args = sharded_run("sign", steps);
  run_to_end(c, "run", local_argv(c, "run", dir, args));
  namespace fs = std::filesystem;
  const auto last = fs::path{dir} / ("shard-1-step-" + std::to_string(steps) + ".ckpt");
  const auto before = fs::path{dir} / ("shard-1-step-" + std::to_string(steps - every) + ".ckpt");
  BOOST_REQUIRE(fs::exists(last));
  BOOST_REQUIRE(fs::exists(before)); // the complete checkpoint before the last is kept
  fs::copy_file(before, last, fs::copy_options::overwrite_existing);
  auto expect_refused = [&](const std::string& name, const std::string& says) {
    auto& p = c.start(name, local_argv(c, name, dir, concat(args, {"--steps=300"}), true));
    auto status = p.wait_for(run_timeout);
    BOOST_REQUIRE(status.has_value());
    BOOST_TEST(!status->success(), p.report());
    const auto all = p.out() + p.err();
    BOOST_TEST(all.find(says) != std::string::npos, p.report());
    BOOST_TEST(all.find("shard 1") != std::string::npos, p.report());
    BOOST_TEST(all.find("start shard 1 with --resume=DIR") != std::string::npos, p.report());
  };
  expect_refused("other-step", "holds step " + std::to_string(steps - every) +
                                   ", the leader's checkpoint step " + std::to_string(steps));
  fs::remove(last);
  expect_refused("missing", "no slice file '" + last.string() + "'");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(processes)

// The follower killed: the run ends non-zero naming shard 1; the leader, the follower (each
// from its own directory) and two new workers restarted with --resume end bit for bit like the
// uninterrupted run.
BOOST_AUTO_TEST_CASE(a_killed_follower_and_a_restart_with_resume_end_bit_for_bit) {
  kill_and_resume("shard-ckpt-follower", victims::follower);
}

// Every process killed at once, then all restarted with --resume: bit for bit too.
BOOST_AUTO_TEST_CASE(all_shards_killed_and_restarted_with_resume_end_bit_for_bit) {
  kill_and_resume("shard-ckpt-all", victims::all);
}

// The leader killed: its follower and workers end by themselves; all restarted with --resume
// end bit for bit.
BOOST_AUTO_TEST_CASE(a_killed_leader_and_a_restart_with_resume_end_bit_for_bit) {
  kill_and_resume("shard-ckpt-leader", victims::leader);
}

BOOST_AUTO_TEST_SUITE_END()
