// A run from code (include/dsq/run.hpp): run_local gives what `dsq local` gives, the observer
// sees every row and can stop the run, parse_command_line refuses what dsq refuses with the
// same message, and a server and its workers started from code in this process end as a local
// run does.
#define BOOST_TEST_MODULE run
#include <boost/test/unit_test.hpp>

#include "actors/local_run.hpp"
#include "base/os/child_process.hpp"
#include "model/make_model.hpp"
#include "tests/support/actor_system_fixture.hpp"
#include "tests/support/same_bits.hpp"
#include "tests/support/temp_directory.hpp"
#include "tests/support/user_plugins.hpp"

#include <dsq/run.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <future>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#ifndef DSQ_BINARY
#error "DSQ_BINARY must name the dsq executable (set by tests/run/CMakeLists.txt)"
#endif

using namespace dsq;
using dsq::testing::same_bits;
using namespace std::chrono_literals;

namespace {

constexpr auto run_timeout = 120s;

/// A run of well under a second: 2 workers, a softmax on synthetic data.
run_config tiny_run(std::int64_t steps = 60) {
  run_config cfg;
  cfg.dataset = "synthetic:n=3000,d=20,classes=4";
  cfg.model = "softmax";
  cfg.workers = 2;
  cfg.steps = steps;
  cfg.eval_every = 20;
  cfg.quiet = true;
  return cfg;
}

/// The same run as `dsq local` arguments.
std::vector<std::string> tiny_arguments(std::int64_t steps = 60) {
  return {"--dataset=synthetic:n=3000,d=20,classes=4", "--model=softmax", "--workers=2",
          "--steps=" + std::to_string(steps),          "--eval-every=20", "--quiet"};
}

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in{p, std::ios::binary};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// The metrics without the wall_s column (the second), which measures time.
std::string without_time(const std::string& csv) {
  return std::regex_replace(csv, std::regex{"^([^,\n]*),[^,\n]*,", std::regex::multiline}, "$1,,");
}

/// The summary without the lines of fields that measure time or the machine.
std::string summary_without_time(const std::string& json) {
  std::istringstream in{json};
  std::string line, out;
  const std::regex timed{R"re("([a-z_]*_s|simd)")re"};
  while (std::getline(in, line))
    if (!std::regex_search(line, timed))
      out += line + "\n";
  return out;
}

/// The actors' own local run (actors/local_run.hpp), as dsq local ran before the API.
std::vector<float> model_of_actors_run(const run_config& cfg) {
  testing::system_fixture f;
  auto outcome = dsq::run_local(*f.sys, cfg, load_training(cfg), false);
  BOOST_REQUIRE(outcome.ok);
  return {outcome.model.data(), outcome.model.data() + outcome.model.size()};
}

/// What a run of `dsq` prints and returns.
struct program_run {
  exit_status status;
  std::string out, err;
};

program_run run_program(const std::vector<std::string>& args, const temp_directory& dir) {
  std::vector<std::string> argv{DSQ_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  child_process p{argv, dir.path(), "dsq"};
  auto status = p.wait_for(std::chrono::duration_cast<std::chrono::milliseconds>(run_timeout));
  BOOST_REQUIRE_MESSAGE(status, "dsq did not end in time");
  return {*status, read_text(dir.path() / "dsq.out"), read_text(dir.path() / "dsq.err")};
}

/// What this process writes on its stdout while `f` runs.
template <class F>
std::string stdout_of(F f, const temp_directory& dir) {
  std::fflush(stdout);
  const auto file = dir.path() / "stdout.txt";
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  const int saved = ::dup(STDOUT_FILENO);
  ::dup2(fd, STDOUT_FILENO);
  ::close(fd);
  f();
  std::fflush(stdout);
  ::dup2(saved, STDOUT_FILENO);
  ::close(saved);
  return read_text(file);
}

} // namespace

BOOST_AUTO_TEST_CASE(run_local_from_code_gives_what_dsq_local_gives_bit_for_bit) {
  temp_directory dir{"run-api"};
  auto cfg = tiny_run();
  cfg.metrics = (dir.path() / "api.csv").string();
  cfg.summary = (dir.path() / "api.json").string();
  auto result = run_local(cfg);
  BOOST_REQUIRE_MESSAGE(result.ok, result.error);
  BOOST_TEST(result.summary.completed);
  BOOST_TEST(result.summary.steps == 60u);

  auto args = tiny_arguments();
  args.insert(args.begin(), "local");
  args.push_back("--metrics=" + (dir.path() / "cli.csv").string());
  args.push_back("--summary=" + (dir.path() / "cli.json").string());
  auto cli = run_program(args, dir);
  BOOST_REQUIRE_MESSAGE(cli.status.success(), cli.err);
  BOOST_TEST(without_time(read_text(dir.path() / "api.csv")) ==
             without_time(read_text(dir.path() / "cli.csv")));
  BOOST_TEST(summary_without_time(read_text(dir.path() / "api.json")) ==
             summary_without_time(read_text(dir.path() / "cli.json")));
  // The final parameters: those of the actors' local run that dsq local ran before the API.
  BOOST_TEST(same_bits(result.model, model_of_actors_run(tiny_run())));
}

BOOST_AUTO_TEST_CASE(the_observer_sees_every_row_in_order_and_the_log_lines_nothing_on_stdout) {
  temp_directory dir{"run-api"};
  auto cfg = tiny_run();
  cfg.quiet = false;
  std::vector<step_record> rows;
  std::vector<std::string> lines;
  run_observer observer;
  observer.on_row = [&](const step_record& row) {
    rows.push_back(row);
    return true;
  };
  observer.on_log = [&](std::string_view line) { lines.emplace_back(line); };
  run_result result;
  auto printed = stdout_of([&] { result = run_local(cfg, observer); }, dir);
  BOOST_REQUIRE_MESSAGE(result.ok, result.error);
  BOOST_TEST(printed == "");
  BOOST_REQUIRE(rows.size() == 61u); // row 0, the initial model, and one per step
  for (std::size_t i = 0; i < rows.size(); ++i) {
    BOOST_TEST(rows[i].step == i);
    BOOST_TEST(rows[i].evaluated == (i % 20 == 0), "row " << i);
  }
  BOOST_TEST(rows.back().test_accuracy == result.summary.test_accuracy);
  BOOST_REQUIRE(!lines.empty());
  BOOST_TEST(lines.front().find("workers") != std::string::npos); // the run's header
  BOOST_TEST(lines.back().rfind("done: 60 steps", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(an_observer_returning_false_stops_the_run_as_sigint_stops_dsq_local) {
  auto cfg = tiny_run(400);
  cfg.eval_every = 0;
  std::vector<std::uint64_t> seen;
  run_observer observer;
  observer.on_row = [&](const step_record& row) {
    seen.push_back(row.step);
    return row.step < 10;
  };
  auto result = run_local(cfg, observer);
  // ok: a stop is no failure; the summary says the run did not complete, where it stopped.
  BOOST_REQUIRE_MESSAGE(result.ok, result.error);
  BOOST_TEST(result.error == "");
  BOOST_TEST(!result.summary.completed);
  const auto stopped = result.summary.steps;
  BOOST_TEST_MESSAGE("the observer said stop at row 10; the run stopped at step " << stopped);
  // At row 10's step unless rows were still held behind row 0's evaluation (run.hpp).
  BOOST_TEST(stopped >= 10u);
  BOOST_TEST(stopped < 400u);
  BOOST_TEST(result.summary.note == "stopped at step " + std::to_string(stopped) + " of 400");
  BOOST_REQUIRE(seen.size() == stopped + 1);
  for (std::size_t i = 0; i < seen.size(); ++i)
    BOOST_TEST(seen[i] == i);
  // The model it stopped with is x of that step: a run of that many steps ends with it.
  auto shorter = tiny_run(static_cast<std::int64_t>(stopped));
  shorter.eval_every = 0;
  auto full = run_local(shorter);
  BOOST_REQUIRE(full.ok);
  BOOST_TEST(full.summary.completed);
  BOOST_TEST(same_bits(result.model, full.model));
}

BOOST_AUTO_TEST_CASE(parse_command_line_refuses_what_dsq_refuses_with_its_message) {
  temp_directory dir{"run-api"};
  const std::vector<std::vector<std::string>> refused{
      {"bogus"},
      {"local", "--lr=x"},
      {"local", "--bogus=1"},
      {"local", "--workers=0"},
      {"worker", "--steps=3"},
      {"server", "--bind=0.0.0.0"},
      {"local", "--faults.drop=2"},
      {"server", "--tls-cert=/nonexistent.pem", "--tls-key=/nonexistent.key"},
  };
  for (const auto& args : refused) {
    std::vector<const char*> argv{"dsq"};
    for (const auto& a : args)
      argv.push_back(a.c_str());
    std::string message = "(accepted)";
    try {
      parse_command_line(static_cast<int>(argv.size()), argv.data());
    } catch (const config_error& e) {
      message = e.what();
    }
    auto cli = run_program(args, dir);
    BOOST_TEST_CONTEXT(args.front() << " " << args.back()) {
      BOOST_TEST(cli.status.exited);
      BOOST_TEST(cli.status.code == 2);
      BOOST_TEST(cli.err == "dsq: error: " + message + "\n");
    }
  }
}

BOOST_AUTO_TEST_CASE(parse_command_line_accepts_what_dsq_accepts) {
  temp_directory dir{"run-api"};
  const auto ini = dir.write("run.ini", "[global]\nlr = 0.05\nmodel = softmax\n");
  const std::string file = "--config=" + ini.string();
  const char* argv[] = {"dsq", "local", "-n", "3", "--steps=7", file.c_str(), "--lr=0.2"};
  auto cfg = parse_command_line(7, argv);
  BOOST_TEST(cfg.workers == 3u);
  BOOST_TEST(cfg.steps == 7);
  BOOST_TEST(cfg.lr == 0.2); // the command line wins over the file
  BOOST_TEST(cfg.model == "softmax");
  BOOST_TEST(cfg.method == run_config{}.method);
  const char* worker[] = {"dsq", "worker", "--server=127.0.0.1:9", "--quiet"};
  auto w = parse_command_line(4, worker);
  BOOST_TEST(w.server == "127.0.0.1:9");
  BOOST_TEST(w.quiet);
}

BOOST_AUTO_TEST_CASE(a_server_and_workers_from_code_in_one_process_end_as_local_does) {
  auto cfg = tiny_run(40);
  cfg.port = 0; // the OS chooses; on_listening tells
  std::promise<std::uint16_t> listening;
  run_observer observer;
  observer.on_listening = [&](std::uint16_t port) { listening.set_value(port); };
  auto server = std::async(std::launch::async, [&] { return run_server(cfg, observer); });
  auto port_ready = listening.get_future();
  BOOST_REQUIRE(port_ready.wait_for(run_timeout) == std::future_status::ready);
  run_config worker_cfg;
  worker_cfg.server = "127.0.0.1:" + std::to_string(port_ready.get());
  worker_cfg.quiet = true;
  worker_cfg.placement = "os";      // a test process is not pinned to a CPU
  worker_cfg.scheduling = "normal"; // nor put under SCHED_BATCH
  auto w1 = std::async(std::launch::async, [&] { return run_worker(worker_cfg); });
  auto w2 = std::async(std::launch::async, [&] { return run_worker(worker_cfg); });
  BOOST_REQUIRE(server.wait_for(run_timeout) == std::future_status::ready);
  BOOST_REQUIRE(w1.wait_for(run_timeout) == std::future_status::ready);
  BOOST_REQUIRE(w2.wait_for(run_timeout) == std::future_status::ready);
  auto distributed = server.get();
  BOOST_REQUIRE_MESSAGE(distributed.ok, distributed.error);
  auto r1 = w1.get(), r2 = w2.get();
  BOOST_TEST(r1.ok, r1.error);
  BOOST_TEST(r2.ok, r2.error);

  auto local = run_local(tiny_run(40));
  BOOST_REQUIRE(local.ok);
  BOOST_TEST(distributed.summary.completed);
  BOOST_TEST(distributed.summary.steps == local.summary.steps);
  BOOST_TEST(distributed.summary.final_train_loss == local.summary.final_train_loss);
  BOOST_TEST(distributed.summary.test_loss == local.summary.test_loss);
  BOOST_TEST(distributed.summary.bytes_up == local.summary.bytes_up);
  BOOST_TEST(same_bits(distributed.model, local.model));
}

BOOST_AUTO_TEST_CASE(a_configuration_the_program_refuses_is_thrown_with_its_message) {
  auto cfg = tiny_run();
  cfg.workers = 0;
  BOOST_CHECK_EXCEPTION(run_local(cfg), config_error, [](const config_error& e) {
    return std::string{e.what()}.find("--workers") != std::string::npos;
  });
  // What only dsq local can check, with the message dsq gives.
  temp_directory dir{"run-api"};
  auto slow = tiny_run();
  slow.slow_worker = "5:2";
  std::string message = "(accepted)";
  try {
    run_local(slow);
  } catch (const config_error& e) {
    message = e.what();
  }
  auto cli = run_program({"local", "--workers=2", "--slow-worker=5:2"}, dir);
  BOOST_TEST(cli.status.code == 2);
  BOOST_TEST(cli.err == "dsq: error: " + message + "\n");
  run_config worker;
  worker.server = "127.0.0.1";
  auto r = run_worker(worker); // a failure of the run, not of the configuration
  BOOST_TEST(!r.ok);
  BOOST_TEST(r.error == "dsq worker needs --server=HOST:PORT");
}

BOOST_AUTO_TEST_CASE(a_model_given_to_run_local_replaces_the_one_of_the_configuration) {
  auto cfg = tiny_run(30);
  cfg.model = "mlp:hidden=8"; // not what is trained
  std::shared_ptr<const model> given = make_model("softmax", 20, 4);
  auto with_model = run_local(cfg, {}, given);
  BOOST_REQUIRE_MESSAGE(with_model.ok, with_model.error);
  BOOST_TEST(with_model.summary.model == "softmax");
  auto by_spec = run_local(tiny_run(30));
  BOOST_REQUIRE(by_spec.ok);
  BOOST_TEST(same_bits(with_model.model, by_spec.model));
}

BOOST_AUTO_TEST_CASE(a_data_source_given_to_run_local_is_what_is_trained) {
  // A program's own data, as an object (not registered by name): run_local sizes cfg.model to
  // it, trains on it and evaluates on its test set; the same source again gives the same bits.
  auto cfg = tiny_run(200);
  // cfg.dataset (synthetic, 20 features) is not what is trained: the given source replaces it.
  const auto data = std::make_shared<const user::blobs>(7, 2000, 6, 3);
  auto first = run_local(cfg, {}, nullptr, data);
  BOOST_REQUIRE_MESSAGE(first.ok, first.error);
  BOOST_TEST(first.summary.parameters == (6u + 1u) * 3u); // softmax for 6 features, 3 classes
  BOOST_TEST(first.summary.test_accuracy > 0.8);
  auto again = run_local(cfg, {}, nullptr, data);
  BOOST_REQUIRE(again.ok);
  BOOST_TEST(same_bits(first.model, again.model));
  // A model that does not fit the data is refused before anything runs.
  std::shared_ptr<const model> wrong = make_model("softmax", 5, 3);
  BOOST_CHECK_THROW(run_local(cfg, {}, wrong, data), config_error);
}
