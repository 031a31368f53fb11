// `dsq server` and `dsq worker` as separate processes on 127.0.0.1: the same model as
// `dsq local`, workers that join, die, leave, are declined or find no server, a server that is
// stopped, and strangers on the server's port.
#define BOOST_TEST_MODULE dsq_system_cluster
#include <boost/test/unit_test.hpp>

#include "raw_peer.hpp"
#include "system_support.hpp"

#include <csignal>
#include <random>
#include <sstream>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace dsq::system_test;

namespace {

/// Upper bound for any tiny run to finish once its workers are there (seconds, not minutes,
/// are expected; the margin is for a machine busy with compiling).
constexpr auto run_timeout = 90s;

/// The `workers` column of rows 1.. (row 0 is the initial model).
std::vector<int> workers_per_step(const csv_table& csv) {
  std::vector<int> n;
  for (std::size_t i = 1; i < csv.rows.size(); ++i)
    n.push_back(std::stoi(csv.at(i, "workers")));
  return n;
}

/// Index (step) of the first row after row 0 whose workers column differs from row 1's; 0 if
/// none. Also checks the column changes once, from `before` to `after`.
std::size_t single_change(const csv_table& csv, int before, int after) {
  auto n = workers_per_step(csv);
  BOOST_REQUIRE(!n.empty());
  BOOST_TEST(n.front() == before);
  BOOST_TEST(n.back() == after);
  std::size_t changes = 0, at = 0;
  for (std::size_t i = 1; i < n.size(); ++i)
    if (n[i] != n[i - 1]) {
      ++changes;
      at = i + 1; // n[i] is row i+1
    }
  BOOST_TEST(changes == 1u, "the workers column changes once, from " << before << " to " << after);
  return at;
}

} // namespace

BOOST_AUTO_TEST_SUITE(same_model_as_local)

// Every per-step training loss, the test loss and the final loss on the training set as
// printed: the processes compute bit for bit what the actors of one process compute.
void compare_with_local(const std::vector<std::string>& config) {
  cluster c{"same"};
  auto& local = c.start(
      "local", concat({dsq_binary(), "local", "--quiet", "--workers=2",
                       "--metrics=" + c.file("local.csv"), "--summary=" + c.file("local.json")},
                      config));
  auto local_status = local.wait_for(run_timeout);
  BOOST_REQUIRE_MESSAGE(local_status && local_status->success(), "dsq local failed");

  c.start_server(concat({"--quiet", "--workers=2"}, config));
  auto& w1 = c.start_worker({"--quiet"});
  auto& w2 = c.start_worker({"--quiet"});
  BOOST_REQUIRE_MESSAGE(c.wait_all(run_timeout), "the distributed run did not end in time");
  BOOST_TEST(c.server().status()->success());
  BOOST_TEST(w1.status()->success());
  BOOST_TEST(w2.status()->success());

  auto mine = read_csv(c.metrics());
  auto theirs = read_csv(c.file("local.csv"));
  BOOST_REQUIRE_EQUAL(mine.rows.size(), theirs.rows.size());
  for (const char* column : {"step", "train_loss", "test_loss", "test_accuracy", "bytes_up",
                             "bytes_down", "workers", "lr"}) {
    auto a = mine.values(column), b = theirs.values(column);
    BOOST_TEST_CONTEXT("column " << column) {
      BOOST_TEST(a == b, boost::test_tools::per_element());
    }
  }
  auto local_json = read_text(c.file("local.json"));
  for (const char* key : {"final_train_loss", "test_loss", "test_accuracy", "bytes_up",
                          "bytes_down", "steps", "workers", "completed"})
    BOOST_TEST(c.summary_value(key).value_or("(absent)") ==
                   json_value(local_json, key).value_or("(absent)"),
               "summary " << key);
}

BOOST_AUTO_TEST_CASE(doublesqueeze_sign) {
  compare_with_local(concat(tiny_run(200), {"--method=doublesqueeze", "--compressor=sign"}));
}

BOOST_AUTO_TEST_CASE(ef_worker_topk_with_momentum) {
  compare_with_local(concat(tiny_run(200), {"--method=ef-worker", "--compressor=topk:k=0.25",
                                            "--momentum=0.9", "--lr=0.05"}));
}

BOOST_AUTO_TEST_CASE(sgd_contiguous_shards) {
  compare_with_local(concat(tiny_run(200), {"--method=sgd", "--shard=contiguous", "--batch=8"}));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(membership)

// The runs below go on for ever (`forever`): each test waits for the event it is about (a
// join, a departure) and then for progress after it, and ends the run with stop_run.

/// The step the late worker `w` says it joined at ("worker 2: joined at step K of N").
std::uint64_t joined_at(child_process& w) {
  BOOST_REQUIRE_MESSAGE(w.wait_for_output("joined at step", run_timeout), w.report());
  std::smatch m;
  const auto out = w.out();
  BOOST_REQUIRE_MESSAGE(std::regex_search(out, m, std::regex{"joined at step ([0-9]+) of"}),
                        "the late worker says when it joined:\n"
                            << out);
  return std::stoull(m[1].str());
}

/// Waits until the run has made `more` steps beyond the rows written so far.
void expect_progress(cluster& c, std::size_t more, const char* after) {
  const auto rows = csv_rows(c.metrics());
  BOOST_REQUIRE_MESSAGE(c.wait_for_rows(rows + more, run_timeout), "no progress after " << after);
}

BOOST_AUTO_TEST_CASE(a_worker_started_mid_run_takes_part_from_the_next_step) {
  cluster c{"join"};
  c.start_server(concat(tiny_run(forever), {"--workers=2", "--min-workers=2", "--batch=64"}));
  c.start_worker();
  c.start_worker();
  BOOST_REQUIRE_MESSAGE(c.wait_for_rows(50, run_timeout), "the run did not start");
  auto& late = c.start_worker();
  const auto joined = joined_at(late);
  expect_progress(c, 500, "the join");
  stop_run(c, run_timeout);
  BOOST_TEST(late.status()->success(), late.status()->describe());
  BOOST_TEST(c.summary_value("joins").value_or("") == "1");
  BOOST_TEST(c.summary_value("departures").value_or("") == "0");
  BOOST_TEST(c.summary_value("workers").value_or("") == "3");
  // It pushes for step K, so row K+1 is its first.
  BOOST_TEST(joined >= 50u);
  BOOST_TEST(single_change(read_csv(c.metrics()), 2, 3) == joined + 1);
}

// Before training starts nothing else tells a user why nothing happens: the server names every
// worker that registers and how many it still needs, and a worker says it reached the server.
BOOST_AUTO_TEST_CASE(a_waiting_server_and_its_workers_say_who_has_registered) {
  cluster c{"waiting"};
  auto& server = c.start_server(concat(tiny_run(20), {"--workers=2"}));
  auto& first = c.start_worker();
  BOOST_REQUIRE_MESSAGE(server.wait_for_output("registered; 1 of the 2 needed to start", 30s),
                        server.report());
  BOOST_REQUIRE_MESSAGE(
      first.wait_for_output("connected to " + c.address() + "; waiting for the server's welcome",
                            30s),
      first.report());
  BOOST_TEST(first.out().find("joined") == std::string::npos); // nothing starts with one
  c.start_worker();
  BOOST_REQUIRE_MESSAGE(c.wait_all(run_timeout), "the run did not end");
  BOOST_TEST(server.status()->success(), server.report());
  BOOST_TEST(server.out().find("registered; 2 of the 2 needed to start") != std::string::npos,
             server.out());
  BOOST_TEST(first.out().find("joined at step 0") != std::string::npos, first.out());
}

BOOST_AUTO_TEST_CASE(a_server_stopped_before_its_run_starts_says_so_and_dismisses_its_worker) {
  cluster c{"stopped-early"};
  auto& server = c.start_server(concat(tiny_run(20), {"--workers=2"}));
  auto& worker = c.start_worker();
  BOOST_REQUIRE_MESSAGE(server.wait_for_output("1 of the 2 needed to start", 30s), server.report());
  server.send_signal(SIGTERM);
  BOOST_REQUIRE_MESSAGE(c.wait_all(run_timeout), "the run did not end after SIGTERM");
  BOOST_TEST(stopped_by_sigterm(*server.status()), server.report());
  BOOST_TEST(server.out().find("stopped at step 0 of 20: no step made") != std::string::npos,
             server.out());
  BOOST_TEST(server.out().find("nan") == std::string::npos, server.out());
  BOOST_TEST(worker.status()->success(), worker.report());
}

BOOST_AUTO_TEST_CASE(a_worker_killed_with_sigkill_does_not_stop_training) {
  cluster c{"kill"};
  c.start_server(concat(tiny_run(forever), {"--workers=3", "--batch=64"}));
  auto& w1 = c.start_worker();
  auto& victim = c.start_worker();
  auto& w3 = c.start_worker();
  BOOST_REQUIRE_MESSAGE(c.wait_for_rows(50, run_timeout), "the run did not start");
  victim.send_signal(SIGKILL);
  BOOST_REQUIRE_MESSAGE(victim.wait_for(30s).has_value(), "the killed worker did not end");
  expect_progress(c, 500, "the kill");
  stop_run(c, run_timeout);
  BOOST_TEST(victim.status()->signal == SIGKILL);
  BOOST_TEST(w1.status()->success());
  BOOST_TEST(w3.status()->success());
  BOOST_TEST(c.summary_value("departures").value_or("") == "1");
  BOOST_TEST(c.summary_value("joins").value_or("") == "0");
  BOOST_TEST(single_change(read_csv(c.metrics()), 3, 2) > 50u);
}

BOOST_AUTO_TEST_CASE(async_mode_survives_a_sigkill_and_a_join_across_processes) {
  cluster c{"async"};
  c.start_server(concat(tiny_run(forever), {"--workers=2", "--batch=64", "--mode=async",
                                            "--staleness=3", "--slow-worker=0:2"}));
  auto& w1 = c.start_worker();
  auto& victim = c.start_worker();
  BOOST_REQUIRE_MESSAGE(c.wait_for_rows(100, run_timeout), "the run did not start");
  victim.send_signal(SIGKILL);
  BOOST_REQUIRE_MESSAGE(victim.wait_for(30s).has_value(), "the killed worker did not end");
  expect_progress(c, 1000, "the kill");
  auto& joiner = c.start_worker();
  joined_at(joiner);
  expect_progress(c, 1000, "the join");
  const auto steps = stop_run(c, run_timeout);
  BOOST_TEST(victim.status()->signal == SIGKILL);
  BOOST_TEST(w1.status()->success());
  BOOST_TEST(joiner.status()->success());
  BOOST_TEST(c.summary_value("mode").value_or("") == "async");
  BOOST_TEST(c.summary_value("departures").value_or("") == "1");
  BOOST_TEST(c.summary_value("joins").value_or("") == "1");
  BOOST_TEST(c.summary_value("pushes_applied").value_or("") == std::to_string(steps));
  BOOST_TEST(std::stoull(c.summary_value("max_staleness").value_or("99")) <= 3u);
  auto csv = read_csv(c.metrics());
  for (std::size_t i = 1; i < csv.rows.size(); ++i)
    BOOST_REQUIRE_LE(std::stoull(csv.at(i, "staleness")), 3u);
}

BOOST_AUTO_TEST_CASE(sigterm_stops_dsq_local_which_writes_its_outputs) {
  cluster c{"local-term"};
  auto& local = c.start("local", concat({dsq_binary(), "local", "--quiet", "--workers=2",
                                         "--metrics=" + c.metrics(), "--summary=" + c.summary()},
                                        tiny_run(10'000'000)));
  BOOST_REQUIRE_MESSAGE(c.wait_for_rows(50, run_timeout), "the run did not start");
  local.send_signal(SIGTERM);
  auto s = local.wait_for(30s);
  BOOST_REQUIRE_MESSAGE(s.has_value(), "dsq local did not stop on SIGTERM");
  BOOST_TEST(stopped_by_sigterm(*s), s->describe());
  BOOST_TEST(c.summary_value("completed").value_or("") == "false");
  BOOST_TEST(c.summary_value("note").value_or("").find("stopped at step") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(sigterm_makes_a_worker_leave_with_exit_0_and_the_server_continues) {
  cluster c{"term-worker"};
  c.start_server(concat(tiny_run(forever), {"--workers=3", "--batch=64"}));
  auto& w1 = c.start_worker();
  auto& leaver = c.start_worker();
  auto& w3 = c.start_worker();
  BOOST_REQUIRE_MESSAGE(c.wait_for_rows(50, run_timeout), "the run did not start");
  leaver.send_signal(SIGTERM);
  auto left = leaver.wait_for(15s);
  BOOST_REQUIRE_MESSAGE(left.has_value(), "the worker did not exit within 15 s of SIGTERM");
  BOOST_TEST(left->success(), left->describe());
  BOOST_TEST(c.server().running());
  expect_progress(c, 500, "the worker left");
  stop_run(c, run_timeout);
  BOOST_TEST(w1.status()->success());
  BOOST_TEST(w3.status()->success());
  BOOST_TEST(c.summary_value("departures").value_or("") == "1");
  BOOST_TEST(single_change(read_csv(c.metrics()), 3, 2) > 50u);
}

BOOST_AUTO_TEST_CASE(sigterm_stops_the_server_which_checkpoints_and_dismisses_workers) {
  cluster c{"term-server"};
  const auto ckpt = c.file("ckpt");
  c.start_server(concat(tiny_run(10'000'000), {"--workers=2", "--checkpoint=" + ckpt}));
  auto& w1 = c.start_worker();
  auto& w2 = c.start_worker();
  BOOST_REQUIRE_MESSAGE(c.wait_for_rows(50, run_timeout), "the run did not start");
  c.server().send_signal(SIGTERM);
  auto stopped = c.server().wait_for(20s);
  BOOST_REQUIRE_MESSAGE(stopped.has_value(), "the server did not exit within 20 s of SIGTERM");
  BOOST_TEST(stopped_by_sigterm(*stopped), stopped->describe());
  for (auto* w : {&w1, &w2}) {
    auto s = w->wait_for(15s);
    BOOST_REQUIRE_MESSAGE(s.has_value(), w->name() << " did not exit after the server stopped");
    BOOST_TEST(s->success(), w->name() << ": " << s->describe());
  }
  const auto file = std::filesystem::path{ckpt} / "server.ckpt";
  BOOST_TEST(std::filesystem::exists(file), file);
  BOOST_TEST((std::filesystem::exists(file) && std::filesystem::file_size(file) > 84 * 4));
  BOOST_TEST(c.summary_value("completed").value_or("") == "false");
  auto steps = std::stoull(c.summary_value("steps").value_or("0"));
  BOOST_TEST(steps >= 50u);
  BOOST_TEST(read_csv(c.metrics()).rows.size() == steps + 1);
}

BOOST_AUTO_TEST_CASE(a_worker_beyond_max_workers_is_told_so_and_fails) {
  cluster c{"full"};
  c.start_server(concat(tiny_run(10'000'000), {"--workers=2", "--max-workers=2"}));
  c.start_worker();
  c.start_worker();
  BOOST_REQUIRE_MESSAGE(c.wait_for_rows(20, run_timeout), "the run did not start");
  auto& third = c.start_worker();
  auto s = third.wait_for(15s);
  BOOST_REQUIRE_MESSAGE(s.has_value(), "the third worker did not exit");
  // Refused: it did not take part, so it must not look like a worker that trained.
  BOOST_TEST(!s->success(), s->describe());
  BOOST_TEST(third.err().find("full") != std::string::npos, "it says why:\n" << third.err());
  BOOST_TEST(c.server().running());
  c.server().send_signal(SIGTERM);
  BOOST_REQUIRE_MESSAGE(c.wait_all(30s), "the server and its workers did not stop");
  BOOST_TEST(stopped_by_sigterm(*c.server().status()));
  BOOST_TEST(c.summary_value("joins").value_or("") == "0");
  BOOST_TEST(c.summary_value("workers").value_or("") == "2");
  for (auto w : workers_per_step(read_csv(c.metrics())))
    BOOST_TEST(w == 2);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(failures)

BOOST_AUTO_TEST_CASE(a_worker_gives_up_on_a_closed_port_and_names_the_address) {
  cluster c{"closed"};
  const auto port = closed_port();
  const auto address = "127.0.0.1:" + std::to_string(port);
  auto start = clock_type::now();
  auto& w =
      c.start("worker", {dsq_binary(), "worker", "--server=" + address, "--connect-timeout=1"});
  auto s = w.wait_for(15s);
  auto took = std::chrono::duration<double>(clock_type::now() - start).count();
  BOOST_REQUIRE_MESSAGE(s.has_value(), "the worker kept trying");
  BOOST_TEST(s->exited);
  BOOST_TEST(s->code != 0);
  BOOST_TEST(took < 5.0, "gave up after " << took << " s");
  auto errors = lines(w.err());
  BOOST_REQUIRE(!errors.empty());
  BOOST_TEST(errors.back().rfind("dsq: error:", 0) == 0u, errors.back());
  BOOST_TEST(errors.back().find(address) != std::string::npos, errors.back());
}

BOOST_AUTO_TEST_CASE(strangers_on_the_port_do_not_disturb_the_server) {
  // Long enough that it is still training when the strangers of "during training" come (a
  // tiny run finishes in well under a second); the test stops it.
  cluster c{"strangers"};
  c.start_server(concat(tiny_run(100'000'000), {"--workers=2"}));
  std::mt19937 gen{20190514}; // fixed: the same bytes in every run
  auto random_bytes = [&](std::size_t n) {
    std::string s(n, '\0');
    for (auto& ch : s)
      ch = static_cast<char>(gen() & 0xff);
    return s;
  };
  const std::string http = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  // Before training: garbage, an HTTP request, a lone byte, an empty connection.
  for (int i = 0; i < 5; ++i)
    raw_peer{c.port()}.send(random_bytes(64 + 1000 * static_cast<std::size_t>(i)));
  raw_peer{c.port()}.send(http);
  raw_peer{c.port()}.send(std::string(1, '\x01'));
  { raw_peer silent{c.port()}; }
  raw_peer idle{c.port()}; // stays open, silent, for the whole run
  BOOST_TEST(c.server().running());

  auto& w1 = c.start_worker();
  auto& w2 = c.start_worker();
  BOOST_REQUIRE_MESSAGE(c.wait_for_rows(20, run_timeout), "the run did not start");
  // During training.
  raw_peer{c.port()}.send(http);
  for (int i = 0; i < 3; ++i)
    raw_peer{c.port()}.send(random_bytes(4096));
  // Training goes on after them.
  const auto rows = csv_rows(c.metrics());
  BOOST_REQUIRE_MESSAGE(c.wait_for_rows(rows + 200, run_timeout), "training stopped");
  c.server().send_signal(SIGTERM);
  BOOST_REQUIRE_MESSAGE(c.wait_all(run_timeout), "the run did not end in time");
  BOOST_TEST(stopped_by_sigterm(*c.server().status()));
  BOOST_TEST(w1.status()->success());
  BOOST_TEST(w2.status()->success());
  BOOST_TEST(c.summary_value("departures").value_or("") == "0");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(data_that_follows_the_run)

/// A CSV file of 90 samples, 3 features and 3 classes (label first); `changed` alters one value.
std::string points_csv(bool changed) {
  std::ostringstream text;
  text << "label,a,b,c\n";
  for (int i = 0; i < 90; ++i) {
    const int label = i % 3;
    const double a = label * 2.0 + (i % 7) * 0.1;
    const double b = (changed && i == 41) ? 9.5 : -label + (i % 5) * 0.2;
    text << label << ',' << a << ',' << b << ',' << (i % 11) * 0.05 << '\n';
  }
  return text.str();
}

// The server states the data set's identity in its welcome; a worker that loaded other data
// (its --data-dir holds a CSV file of the same name and shape that differs in one value) under
// --data=local is refused with one line that names what differs and how to fix it, and exits
// non-zero. A worker given the server's data trains.
BOOST_AUTO_TEST_CASE(a_worker_whose_data_differs_is_refused_with_one_line) {
  temp_dir servers{"data-server"}, others{"data-other"};
  write_text(servers.path() / "points.csv", points_csv(false));
  write_text(others.path() / "points.csv", points_csv(true));
  const std::vector<std::string> run{"--dataset=csv:path=points.csv,label=first",
                                     "--model=softmax",
                                     "--batch=8",
                                     "--eval-every=0",
                                     "--workers=1",
                                     "--data-dir=" + servers.path().string()};

  cluster refused{"data-differs"};
  refused.start_server(concat(run, {"--steps=10000000"})); // until stopped
  auto& other =
      refused.start_worker({"--quiet", "--data=local", "--data-dir=" + others.path().string()});
  const auto status = other.wait_for(run_timeout);
  BOOST_REQUIRE_MESSAGE(status, other.report());
  BOOST_TEST(status->exited, status->describe());
  BOOST_TEST(status->code != 0, status->describe());
  const auto errors = lines(other.err());
  BOOST_REQUIRE_EQUAL(errors.size(), 1u);
  // The changed sample fell into the seeded 80/20 split's test part.
  BOOST_TEST(errors[0].rfind("dsq: error: this worker's data differs from the server's: CSV "
                             "test set fingerprint ",
                             0) == 0u,
             errors[0]);
  BOOST_TEST(errors[0].find("give --data-dir=DIR holding the server's data (--data=local), or "
                            "--data=auto to get it from the server") != std::string::npos,
             errors[0]);
  refused.server().send_signal(SIGTERM);
  BOOST_REQUIRE_MESSAGE(refused.wait_all(run_timeout), refused.server().report());

  cluster same{"data-same"};
  same.start_server(concat(run, {"--steps=30"}));
  auto& worker = same.start_worker({"--quiet", "--data-dir=" + servers.path().string()});
  BOOST_REQUIRE_MESSAGE(same.wait_all(run_timeout), "the run did not end");
  BOOST_TEST(same.server().status()->success(), same.server().report());
  BOOST_TEST(worker.status()->success(), worker.report());
  BOOST_TEST(same.summary_value("steps").value_or("") == "30");
}

/// The summary fields that say what a run computed (not how fast).
std::vector<std::string> outcome_of(const cluster& c) {
  std::vector<std::string> out;
  for (const auto* key : {"steps", "final_train_loss", "test_loss", "test_accuracy", "bytes_up",
                          "bytes_down", "completed"})
    out.push_back(key + std::string{"="} + c.summary_value(key).value_or("?"));
  return out;
}

/// `env -C dir DSQ_SOURCE_DIR=dir DSQ_DATA_DIR=`: a worker started in the empty directory `dir`
/// that finds no data anywhere (not even the repository's data/, which the tests' binary knows).
std::vector<std::string> in_empty_directory(const temp_dir& dir) {
  const auto path = dir.path().string();
  return {"env", "-C", path, "DSQ_SOURCE_DIR=" + path, "DSQ_DATA_DIR="};
}

/// Runs `run` with two workers whose data is `with_files` (each given its arguments and
/// prefix), then with two workers that start in empty directories, one with --data=server and
/// one with --data=auto: the run ends the same way, and both said they got the data from the
/// server.
void same_run_with_data_from_the_server(
    const std::vector<std::string>& run,
    const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>>& with_files) {
  cluster files{"data-files"};
  files.start_server(concat(run, {"--workers=2"}));
  for (const auto& [args, prefix] : with_files)
    files.start_worker(concat({"--quiet"}, args), prefix);
  BOOST_REQUIRE_MESSAGE(files.wait_all(run_timeout), "the run with files did not end");
  BOOST_TEST(files.server().status()->success(), files.server().report());

  temp_dir empty1{"data-empty"}, empty2{"data-empty"};
  cluster sent{"data-sent"};
  sent.start_server(concat(run, {"--workers=2"}));
  auto& by_option = sent.start_worker({"--data=server"}, in_empty_directory(empty1));
  auto& by_default = sent.start_worker({}, in_empty_directory(empty2)); // --data=auto
  BOOST_REQUIRE_MESSAGE(sent.wait_all(run_timeout), "the run with sent data did not end");
  BOOST_TEST(sent.server().status()->success(), sent.server().report());
  for (auto* w : {&by_option, &by_default}) {
    BOOST_TEST(w->status()->success(), w->report());
    BOOST_TEST(w->out().find("got the training set from the server") != std::string::npos,
               w->report());
  }
  BOOST_TEST(by_option.out().find("--data=server; getting the training set") != std::string::npos,
             by_option.report());
  BOOST_TEST(by_default.out().find("no local copy of the data") != std::string::npos,
             by_default.report());
  BOOST_TEST(outcome_of(sent) == outcome_of(files), boost::test_tools::per_element());
}

// A worker started where the data is not (another host, an empty directory) gets the training
// set from the server over its connection and trains exactly as a worker with the files: MNIST.
BOOST_AUTO_TEST_CASE(workers_without_mnist_get_it_from_the_server_and_train_the_same) {
  // The first 6000 training samples (19 MB through the connection) keep the test short.
  const std::vector<std::string> run{"--dataset=mnist:limit=6000", "--model=softmax", "--steps=40",
                                     "--eval-every=0"};
  same_run_with_data_from_the_server(run, {{{"--data=local"}, {}}, {{"--data=local"}, {}}});
}

// The same with a CSV file the server read from its --data-dir; one worker has a corrupt copy
// (one value changed) and, under --data=auto, gets the server's data instead.
BOOST_AUTO_TEST_CASE(workers_without_the_csv_file_or_with_a_corrupt_copy_get_the_servers) {
  temp_dir servers{"data-server"}, others{"data-other"};
  write_text(servers.path() / "points.csv", points_csv(false));
  write_text(others.path() / "points.csv", points_csv(true));
  const std::vector<std::string> run{"--dataset=csv:path=points.csv,label=first",
                                     "--model=softmax",
                                     "--batch=8",
                                     "--eval-every=0",
                                     "--steps=30",
                                     "--data-dir=" + servers.path().string()};
  const auto server_files = "--data-dir=" + servers.path().string();
  same_run_with_data_from_the_server(run, {{{server_files}, {}}, {{server_files}, {}}});

  cluster corrupt{"data-corrupt"};
  corrupt.start_server(concat(run, {"--workers=1"}));
  auto& w = corrupt.start_worker({"--data-dir=" + others.path().string()}); // --data=auto
  BOOST_REQUIRE_MESSAGE(corrupt.wait_all(run_timeout), "the run did not end");
  BOOST_TEST(corrupt.server().status()->success(), corrupt.server().report());
  BOOST_TEST(w.status()->success(), w.report());
  BOOST_TEST(w.out().find("this worker's data differs from the server's: CSV test set "
                          "fingerprint") != std::string::npos,
             w.report());
  BOOST_TEST(w.out().find("got the training set from the server") != std::string::npos, w.report());
  BOOST_TEST(corrupt.summary_value("steps").value_or("") == "30");
}

BOOST_AUTO_TEST_SUITE_END()
