// Sharded runs (--servers=K, issue 27; net/PROTOCOL.md "Shards") with the real dsq binary:
// dsq local with K shard actors equals the unsharded run bit for bit for coordinate-wise
// operators, asynchronous K = 2 keeps its staleness bound, a leader + follower + workers as
// processes on 127.0.0.1 equal the local K = 2 run (with drops and duplicates on every link
// too), and a follower killed mid-run or crashed by the fault plan ends the run non-zero naming
// the shard, with no process left.
#define BOOST_TEST_MODULE dsq_system_shards
#include <boost/test/unit_test.hpp>

#include "system_support.hpp"
#include "tls_support.hpp"

#include <csignal>

using namespace dsq::system_test;

namespace {

constexpr auto run_timeout = 120s;

/// A small run whose model is large enough for three shards.
std::vector<std::string> shard_run(int steps = 60) {
  return {"--dataset=synthetic:n=3000,d=20,classes=4",
          "--model=mlp:hidden=16",
          "--steps=" + std::to_string(steps),
          "--eval-every=20",
          "--workers=2",
          "--quiet"};
}

/// Runs `dsq local` (of `program`) with `args` in `c`, its metrics and summary named after `tag`.
void run_local(cluster& c, const std::string& tag, const std::vector<std::string>& args,
               const std::string& program = dsq_binary()) {
  auto& p = c.start(tag, concat({program, "local", "--metrics=" + c.file(tag + ".csv"),
                                 "--summary=" + c.file(tag + ".json")},
                                args));
  auto status = p.wait_for(run_timeout);
  BOOST_REQUIRE_MESSAGE(status && status->success(), tag << " failed:\n" << p.report());
}

/// The columns and summary fields that must be equal bit for bit between two runs.
void expect_same_run(const cluster& c, const std::string& a, const std::string& b) {
  auto x = read_csv(c.file(a + ".csv")), y = read_csv(c.file(b + ".csv"));
  BOOST_REQUIRE_EQUAL(x.rows.size(), y.rows.size());
  for (const char* column : {"step", "train_loss", "test_loss", "test_accuracy"}) {
    BOOST_TEST_CONTEXT(a << " vs " << b << ", column " << column) {
      BOOST_TEST(x.values(column) == y.values(column), boost::test_tools::per_element());
    }
  }
  const auto xj = read_text(c.file(a + ".json")), yj = read_text(c.file(b + ".json"));
  for (const char* key : {"final_train_loss", "test_loss", "test_accuracy", "steps", "completed"})
    BOOST_TEST(json_value(xj, key).value_or("(absent)") == json_value(yj, key).value_or("(none)"),
               a << " vs " << b << ": summary " << key);
}

} // namespace

BOOST_AUTO_TEST_SUITE(local_shards)

// identity and fp16 are coordinate-wise: the K-shard run makes the very same model.
BOOST_AUTO_TEST_CASE(k_2_and_3_equal_the_unsharded_run_with_identity_and_fp16) {
  for (const char* op : {"identity", "fp16"}) {
    BOOST_TEST_CONTEXT(op) {
      cluster c{std::string{"shards-"} + op};
      const auto args = concat(shard_run(), {"--compressor=" + std::string{op}});
      run_local(c, "k1", args);
      run_local(c, "k2", concat(args, {"--servers=2"}));
      run_local(c, "k3", concat(args, {"--servers=3"}));
      expect_same_run(c, "k1", "k2");
      expect_same_run(c, "k1", "k3");
      const auto k3 = read_text(c.file("k3.json"));
      BOOST_TEST(json_value(k3, "shards").value_or("(absent)") == "3");
    }
  }
}

// Versions are global: the leader's admission bounds every shard's staleness as unsharded.
BOOST_AUTO_TEST_CASE(async_k_2_completes_within_its_staleness_bound) {
  cluster c{"shards-async"};
  run_local(
      c, "async",
      concat(shard_run(80), {"--mode=async", "--staleness=2", "--servers=2", "--compressor=sign"}));
  const auto s = read_text(c.file("async.json"));
  BOOST_TEST(json_value(s, "completed").value_or("") == "true");
  BOOST_TEST(json_value(s, "steps").value_or("") == "80");
  const auto max_staleness = json_value(s, "max_staleness");
  BOOST_REQUIRE(max_staleness.has_value());
  BOOST_TEST(std::stoi(*max_staleness) <= 2);
}

// -- Krum with K > 1 (protocol 10) --
// Five workers, the first training on lying data (tests/support/user_plugins.hpp, blobs with
// liar=0: features ten times as large, labels shifted): Krum on the distances summed over two
// shards makes the very run of one server (identity is coordinate-wise), and the liar matters
// (the mean, which takes it in, makes another run).
BOOST_AUTO_TEST_CASE(krum_with_two_shards_equals_the_unsharded_run_under_a_liar) {
  cluster c{"shards-krum"};
  const std::vector<std::string> args{"--dataset=blobs:n=3000,d=20,classes=4,liar=0",
                                      "--model=mlp:hidden=16",
                                      "--steps=60",
                                      "--eval-every=20",
                                      "--workers=5",
                                      "--quiet",
                                      "--compressor=identity"};
  const std::string program = DSQ_PLUGIN_BINARY;
  run_local(c, "k1", concat(args, {"--aggregate=krum:f=1"}), program);
  run_local(c, "k2", concat(args, {"--aggregate=krum:f=1", "--servers=2"}), program);
  run_local(c, "k3", concat(args, {"--aggregate=krum:f=1", "--servers=3"}), program);
  run_local(c, "mean", args, program);
  expect_same_run(c, "k1", "k2");
  expect_same_run(c, "k1", "k3");
  const auto k2 = read_text(c.file("k2.json"));
  BOOST_TEST(json_value(k2, "shards").value_or("(absent)") == "2");
  BOOST_TEST(json_value(k2, "aggregate").value_or("(absent)") == "krum:f=1");
  // The liar wrecks the mean (about 28% on these 4 classes); Krum leaves it out (100%).
  const auto mean = read_text(c.file("mean.json"));
  const auto krum_accuracy = std::stod(json_value(k2, "test_accuracy").value_or("0"));
  const auto mean_accuracy = std::stod(json_value(mean, "test_accuracy").value_or("1"));
  BOOST_TEST(krum_accuracy >= 0.9);
  BOOST_TEST(mean_accuracy < krum_accuracy - 0.2);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(processes)

/// `dsq server --servers=2 --shard-index=1 --leader=...` on 127.0.0.1.
child_process& start_follower(cluster& c, const std::string& name = "follower",
                              const std::vector<std::string>& extra = {}) {
  auto& f =
      c.start(name, concat({dsq_binary(), "server", "--servers=2", "--shard-index=1",
                            "--leader=" + c.address(), "--port=0", "--bind=127.0.0.1", "--quiet"},
                           extra));
  BOOST_REQUIRE_MESSAGE(f.wait_for_output("listening on", 20s), f.report());
  return f;
}

/// The leader, one follower and two workers as processes, each with its own extra options
/// (`node("server")`, `node("worker-1")`, ...; the follower takes the server's): an fp16 run that
/// must end successfully everywhere and compute what dsq local --servers=2 does.
template <class NodeOptions>
void expect_processes_equal_the_local_run(cluster& c, NodeOptions node) {
  const auto args = concat(shard_run(), {"--compressor=fp16"});
  run_local(c, "local", concat(args, {"--servers=2"}));
  c.start_server(concat(concat({"--servers=2"}, args), node("server")));
  auto& f = start_follower(c, "follower", node("server"));
  auto& w1 = c.start_worker(concat({"--quiet"}, node("worker-1")));
  auto& w2 = c.start_worker(concat({"--quiet"}, node("worker-2")));
  BOOST_REQUIRE_MESSAGE(c.wait_all(run_timeout), "the sharded run did not end in time");
  BOOST_TEST(c.server().status()->success(), c.server().report());
  BOOST_TEST(f.status()->success(), f.report());
  BOOST_TEST(w1.status()->success(), w1.report());
  BOOST_TEST(w2.status()->success(), w2.report());
  auto mine = read_csv(c.metrics()), theirs = read_csv(c.file("local.csv"));
  BOOST_REQUIRE_EQUAL(mine.rows.size(), theirs.rows.size());
  for (const char* column : {"train_loss", "test_loss", "test_accuracy"})
    BOOST_TEST(mine.values(column) == theirs.values(column), boost::test_tools::per_element());
}

// The leader, one follower and two workers as processes compute what dsq local --servers=2 does.
BOOST_AUTO_TEST_CASE(leader_follower_and_two_workers_equal_the_local_run) {
  cluster c{"shards-processes"};
  expect_processes_equal_the_local_run(
      c, [](const std::string&) { return std::vector<std::string>{}; });
}

// The same over mutual TLS: the follower joins the leader and takes its workers with the run's
// CA (its certificate is the server's), and the run equals the local one.
BOOST_AUTO_TEST_CASE(over_tls_the_sharded_run_equals_the_local_run) {
  cluster c{"shards-tls"};
  const auto certs = c.file("certs");
  make_certs(c, certs, 2);
  expect_processes_equal_the_local_run(
      c, [&](const std::string& name) { return tls_options(certs, name); });
}

// -- Krum with K > 1 (protocol 10) --
// The leader, one follower and five workers as processes (the program with the tests' data,
// blobs with a liar), Krum over the distances summed across the two shards: every process ends
// successfully and the run is the local K = 2 run's (the distance queries cross the network).
BOOST_AUTO_TEST_CASE(krum_across_processes_equals_the_local_run) {
  cluster c{"shards-krum-processes"};
  const std::string program = DSQ_PLUGIN_BINARY;
  c.use_program(program);
  const std::vector<std::string> args{"--dataset=blobs:n=3000,d=20,classes=4,liar=0",
                                      "--model=mlp:hidden=16",
                                      "--steps=40",
                                      "--eval-every=20",
                                      "--workers=5",
                                      "--quiet",
                                      "--compressor=identity",
                                      "--aggregate=krum:f=1",
                                      "--servers=2"};
  run_local(c, "local", args, program);
  c.start_server(args);
  auto& f =
      c.start("follower", {program, "server", "--servers=2", "--shard-index=1",
                           "--leader=" + c.address(), "--port=0", "--bind=127.0.0.1", "--quiet"});
  BOOST_REQUIRE_MESSAGE(f.wait_for_output("listening on", 20s), f.report());
  std::vector<child_process*> workers;
  for (int i = 0; i < 5; ++i)
    workers.push_back(&c.start_worker({"--quiet"}));
  BOOST_REQUIRE_MESSAGE(c.wait_all(run_timeout), "the sharded Krum run did not end in time");
  BOOST_TEST(c.server().status()->success(), c.server().report());
  BOOST_TEST(f.status()->success(), f.report());
  for (auto* w : workers)
    BOOST_TEST(w->status()->success(), w->report());
  auto mine = read_csv(c.metrics()), theirs = read_csv(c.file("local.csv"));
  BOOST_REQUIRE_EQUAL(mine.rows.size(), theirs.rows.size());
  for (const char* column : {"train_loss", "test_loss", "test_accuracy"})
    BOOST_TEST(mine.values(column) == theirs.values(column), boost::test_tools::per_element());
}

// A follower killed mid-run: the run ends non-zero with a line naming the shard, and every
// process ends by itself (the cluster kills what is left only after the assertions).
BOOST_AUTO_TEST_CASE(a_follower_killed_mid_run_fails_the_run_naming_the_shard) {
  cluster c{"shards-killed"};
  c.start_server(concat({"--servers=2"}, concat(shard_run(1'000'000), {"--compressor=fp16"})));
  auto& f = start_follower(c);
  auto& w1 = c.start_worker({"--quiet"});
  auto& w2 = c.start_worker({"--quiet"});
  BOOST_REQUIRE_MESSAGE(c.wait_for_rows(5, run_timeout), c.server().report());
  f.send_signal(SIGKILL);
  BOOST_REQUIRE_MESSAGE(c.wait_all(run_timeout), "processes left after the follower's loss");
  BOOST_TEST(!c.server().status()->success());
  BOOST_TEST(c.server().err().find("shard 1") != std::string::npos, c.server().report());
  // The workers end too: with an error naming the shard, or on the leader's farewell (which
  // tells them the run's failure), whichever reaches them first.
  BOOST_TEST(!w1.running());
  BOOST_TEST(!w2.running());
}

// The fault plan on every link (issue 27): each worker process injects drops and duplicates on
// its link to the leader and on its link to the follower (a seeded stream of its own); the
// retransmission and resync per shard recover, and the sync run computes what the fault-free
// dsq local --servers=2 does.
BOOST_AUTO_TEST_CASE(drops_and_duplicates_on_every_link_change_nothing) {
  cluster c{"shards-faults"};
  expect_processes_equal_the_local_run(c, [&](const std::string& name) {
    if (name == "server")
      return std::vector<std::string>{};
    return std::vector<std::string>{"--faults.drop=0.05", "--faults.duplicate=0.05",
                                    "--faults.seed=7", "--fault-log=" + c.file(name + ".csv")};
  });
  std::string logs;
  for (const char* name : {"worker-1", "worker-2"})
    logs += read_text(c.file(std::string{name} + ".csv"));
  BOOST_TEST(logs.find(",drop,") != std::string::npos, logs);
  BOOST_TEST(logs.find(",duplicate,") != std::string::npos, logs);
  BOOST_TEST(logs.find("/shard1") != std::string::npos, logs); // the follower links' faults
}

// Worker faults with shards: the worker that gets id 1 crashes at step 10 (exit 5; its link to the
// leader fires the fault, its follower link goes with the process), the leader removes it from
// every shard, and a new worker started later joins every shard (its core hears the welcome only
// once both shards' welcomes are in); the run goes on until stopped.
BOOST_AUTO_TEST_CASE(a_crashed_worker_leaves_every_shard_and_a_new_one_joins_them_all) {
  cluster c{"shards-worker-crash"};
  c.start_server(
      concat({"--servers=2"}, concat(shard_run(forever), {"--compressor=fp16", "--workers=3"})));
  start_follower(c);
  std::vector<child_process*> workers;
  for (int i = 0; i < 3; ++i)
    workers.push_back(&c.start_worker({"--quiet", "--faults.crash=1@10"}));
  BOOST_REQUIRE_MESSAGE(c.wait_for_rows(40, run_timeout), c.server().report());
  auto& late = c.start_worker({});
  BOOST_REQUIRE_MESSAGE(late.wait_for_output(": joined at step", run_timeout), late.report());
  stop_run(c, run_timeout);
  int crashed = 0;
  for (auto* w : workers) {
    if (w->status()->code == 5) {
      ++crashed;
      BOOST_TEST(w->err().find("injected crash (--faults.crash) at step 10") != std::string::npos,
                 w->report());
    } else {
      BOOST_TEST(w->status()->success(), w->report());
    }
  }
  BOOST_TEST(crashed == 1);
  BOOST_TEST(late.status()->success(), late.report());
  BOOST_TEST(c.summary_value("departures").value_or("") == "1");
  BOOST_TEST(c.summary_value("joins").value_or("") == "1");
}

// Crashing one shard: --faults.server-crash given to the follower's process ends it with exit 4
// at that step; the leader ends the run non-zero naming the shard, and every process ends by
// itself.
BOOST_AUTO_TEST_CASE(an_injected_follower_crash_exits_4_and_fails_the_run_naming_the_shard) {
  cluster c{"shards-crash"};
  c.start_server(concat({"--servers=2"}, concat(shard_run(1'000'000), {"--compressor=fp16"})));
  auto& f = start_follower(c, "follower", {"--faults.server-crash=5"});
  auto& w1 = c.start_worker({"--quiet"});
  auto& w2 = c.start_worker({"--quiet"});
  BOOST_REQUIRE_MESSAGE(c.wait_all(run_timeout), "processes left after the follower's crash");
  const auto crashed = f.status();
  BOOST_REQUIRE(crashed.has_value());
  BOOST_TEST(crashed->code == 4, crashed->describe());
  BOOST_TEST(f.err().find("shard 1: injected crash (--faults.server-crash) at step 5") !=
                 std::string::npos,
             f.report());
  BOOST_TEST(!c.server().status()->success());
  BOOST_TEST(c.server().err().find("shard 1") != std::string::npos, c.server().report());
  BOOST_TEST(!w1.running());
  BOOST_TEST(!w2.running());
}

// dsq launch --servers=2 without a host file: the leader, one follower and the workers here.
BOOST_AUTO_TEST_CASE(launch_with_two_servers_and_no_host_file) {
  cluster c{"shards-launch"};
  auto& l =
      c.start("launch",
              concat({dsq_binary(), "launch", "--servers=2", "--summary=" + c.file("launch.json")},
                     concat(shard_run(), {"--compressor=fp16"})));
  auto status = l.wait_for(run_timeout);
  BOOST_REQUIRE_MESSAGE(status.has_value(), "dsq launch did not end in time:\n" << l.report());
  BOOST_TEST(status->success(), l.report());
  BOOST_TEST(l.out().find("[server 1@localhost]") != std::string::npos, l.report());
  const auto s = read_text(c.file("launch.json"));
  BOOST_TEST(json_value(s, "shards").value_or("(absent)") == "2");
  BOOST_TEST(json_value(s, "completed").value_or("") == "true");
}

BOOST_AUTO_TEST_SUITE_END()
