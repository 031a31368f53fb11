// The dsq command line as a user meets it: usage, help, errors, and the files of a local run.
#define BOOST_TEST_MODULE dsq_system_cli
#include <boost/test/unit_test.hpp>

#include "../training/small_tmpfs.hpp"
#include "system_support.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <set>

using namespace dsq::system_test;

namespace {

struct outcome {
  exit_status status;
  std::string out, err;
};

/// Runs dsq with `args` (in `cwd` if given) and waits at most `timeout` for it.
outcome run_dsq(const std::vector<std::string>& args, const std::filesystem::path& cwd = {},
                std::chrono::milliseconds timeout = 30s) {
  temp_dir logs{"cli"};
  child_process p{concat({dsq_binary()}, args), logs.path(), "dsq", cwd};
  auto status = p.wait_for(timeout);
  BOOST_REQUIRE_MESSAGE(status.has_value(), "dsq did not end within " << timeout.count() << " ms:\n"
                                                                      << p.report());
  return {*status, p.out(), p.err()};
}

/// `dsq local <tiny run> extra` must fail, without hanging, with exactly one line on stderr that
/// starts with "dsq: error:" and contains `mentions`.
void expect_one_error_line(const std::vector<std::string>& extra, const std::string& mentions) {
  temp_dir cwd{"cli-cwd"};
  auto r = run_dsq(concat(concat({"local", "--quiet"}, tiny_run(20)), extra), cwd.path(), 30s);
  BOOST_TEST_CONTEXT("dsq local ... " << extra.back() << "\nstderr:\n" << r.err) {
    BOOST_TEST(r.status.exited, r.status.describe());
    BOOST_TEST(r.status.code != 0);
    auto errors = lines(r.err);
    BOOST_TEST(errors.size() == 1u);
    if (!errors.empty()) {
      BOOST_TEST(errors.back().rfind("dsq: error:", 0) == 0u);
      BOOST_TEST(errors.back().find(mentions) != std::string::npos,
                 "the line names '" << mentions << "'");
    }
  }
}

} // namespace

BOOST_AUTO_TEST_SUITE(usage)

BOOST_AUTO_TEST_CASE(no_arguments_print_usage_and_exit_2) {
  auto r = run_dsq({});
  BOOST_TEST(r.status.exited);
  BOOST_TEST(r.status.code == 2);
  BOOST_TEST(r.err.find("usage: dsq") != std::string::npos, r.err);
}

BOOST_AUTO_TEST_CASE(unknown_command_is_named_and_exits_2) {
  auto r = run_dsq({"bogus"});
  BOOST_TEST(r.status.exited);
  BOOST_TEST(r.status.code == 2);
  BOOST_TEST(r.err.find("bogus") != std::string::npos, r.err);
  BOOST_TEST(r.err.rfind("dsq: error:", 0) == 0u, r.err);
}

BOOST_AUTO_TEST_CASE(local_help_lists_the_main_options) {
  auto r = run_dsq({"local", "--help"});
  BOOST_TEST(r.status.exited);
  BOOST_TEST(r.status.code == 0);
  auto text = r.out + r.err;
  for (const char* option : {"--method", "--compressor", "--workers"})
    BOOST_TEST(text.find(option) != std::string::npos, option << " listed");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(bad_input_gives_one_error_line)

BOOST_AUTO_TEST_CASE(unknown_option) {
  expect_one_error_line({"--nope=1"}, "--nope");
}

BOOST_AUTO_TEST_CASE(zero_workers) {
  expect_one_error_line({"--workers=0"}, "--workers");
}

BOOST_AUTO_TEST_CASE(unknown_method) {
  expect_one_error_line({"--method=adam"}, "adam");
}

BOOST_AUTO_TEST_CASE(unknown_compressor) {
  expect_one_error_line({"--compressor=topq"}, "topq");
}

BOOST_AUTO_TEST_CASE(missing_libsvm_file) {
  expect_one_error_line({"--dataset=libsvm:path=/nonexistent"}, "/nonexistent");
}

BOOST_AUTO_TEST_CASE(missing_mnist_directory) {
  expect_one_error_line({"--dataset=mnist:dir=/nonexistent"}, "/nonexistent");
}

BOOST_AUTO_TEST_CASE(missing_config_file) {
  expect_one_error_line({"--config=/nonexistent.ini"}, "/nonexistent.ini");
}

BOOST_AUTO_TEST_CASE(dsq_simd_that_names_no_level) {
  // Through env(1), since the variable is the input here; refused before anything runs.
  temp_dir logs{"cli"};
  temp_dir cwd{"cli-cwd"};
  child_process p{concat({"env", "DSQ_SIMD=v9", dsq_binary(), "local", "--quiet"}, tiny_run(20)),
                  logs.path(), "dsq", cwd.path()};
  const auto status = p.wait_for(30s);
  BOOST_REQUIRE_MESSAGE(status.has_value(), "dsq did not end:\n" << p.report());
  BOOST_TEST(status->exited, status->describe());
  BOOST_TEST(status->code == 2);
  const auto errors = lines(p.err());
  BOOST_TEST(errors.size() == 1u, p.err());
  if (!errors.empty()) {
    BOOST_TEST(errors.back().rfind("dsq: error: DSQ_SIMD='v9'", 0) == 0u, errors.back());
    BOOST_TEST(errors.back().find("v2, v3 or v4") != std::string::npos, errors.back());
  }
}

// The metrics file is opened before any actor starts, so the error names it.
BOOST_AUTO_TEST_CASE(unwritable_metrics_file) {
  expect_one_error_line({"--metrics=/nonexistent-dir/m.csv"}, "/nonexistent-dir/m.csv");
}

// The same in `dsq server`: it fails before it publishes anything.
BOOST_AUTO_TEST_CASE(server_with_unwritable_metrics_file) {
  temp_dir cwd{"cli-cwd"};
  auto r = run_dsq(concat(concat({"server", "--port=0", "--bind=127.0.0.1"}, tiny_run(20)),
                          {"--metrics=/nonexistent-dir/m.csv"}),
                   cwd.path());
  BOOST_TEST(r.status.exited);
  BOOST_TEST(r.status.code != 0);
  auto errors = lines(r.err);
  BOOST_REQUIRE_EQUAL(errors.size(), 1u);
  BOOST_TEST(errors[0].rfind("dsq: error:", 0) == 0u);
  BOOST_TEST(errors[0].find("/nonexistent-dir/m.csv") != std::string::npos, errors[0]);
  BOOST_TEST(r.out.find("listening on") == std::string::npos,
             "a server that cannot start does not claim to listen:\n"
                 << r.out);
}

// A limit below what the run itself sends would close every worker's connection: refused
// before the server listens, naming the run's largest message
// (net/transport/message_size_limit.hpp).
BOOST_AUTO_TEST_CASE(server_with_a_message_limit_below_its_largest_message) {
  auto r = run_dsq(
      concat({"server", "--port=0", "--bind=127.0.0.1", "--max-message-bytes=1000"}, tiny_run(20)));
  BOOST_TEST(r.status.exited);
  BOOST_TEST(r.status.code == 2);
  auto errors = lines(r.err);
  BOOST_REQUIRE_EQUAL(errors.size(), 1u);
  BOOST_TEST(errors[0] == "dsq: error: --max-message-bytes=1000: below the largest message of "
                          "this run (66544 bytes for 84 parameters)");
  BOOST_TEST(r.out.find("listening on") == std::string::npos, r.out);
}

// CAF says "tcp socket creation failed" whatever the reason; dsq names the OS's.
BOOST_AUTO_TEST_CASE(server_on_a_port_in_use_says_so) {
  const auto [fd, bound] = bound_loopback_socket();
  BOOST_REQUIRE(::listen(fd, 1) == 0);
  const auto port = std::to_string(bound);
  auto r = run_dsq(concat({"server", "--port=" + port, "--bind=127.0.0.1"}, tiny_run(20)));
  ::close(fd);
  BOOST_TEST(r.status.exited);
  BOOST_TEST(r.status.code == 1);
  auto errors = lines(r.err);
  BOOST_REQUIRE_EQUAL(errors.size(), 1u);
  BOOST_TEST(errors[0] ==
             "dsq: error: cannot listen on 127.0.0.1:" + port + ": Address already in use");
}

BOOST_AUTO_TEST_CASE(unwritable_summary_file) {
  expect_one_error_line({"--summary=/nonexistent-dir/s.json"}, "/nonexistent-dir/s.json");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(caf_application_ini_in_the_working_directory_is_not_read) {
  temp_dir cwd{"cli-ini"};
  // CAF 0.17 would read this file on its own and fail on both lines.
  write_text(cwd.path() / "caf-application.ini",
             "[global]\nno-such-key=1\nworkers=\"not a number\"\n");
  auto r = run_dsq(concat({"local", "--quiet", "--workers=2"}, tiny_run(20)), cwd.path());
  BOOST_TEST(r.status.success(), r.status.describe() << "\nstderr:\n" << r.err);
}

BOOST_AUTO_TEST_CASE(local_run_writes_the_documented_csv_and_json) {
  temp_dir dir{"cli-local"};
  const int steps = 200;
  auto r = run_dsq(concat({"local", "--quiet", "--workers=3", "--metrics=" + (dir / "m.csv"),
                           "--summary=" + (dir / "s.json")},
                          tiny_run(steps)));
  BOOST_REQUIRE_MESSAGE(r.status.success(), r.status.describe() << "\n" << r.err);

  auto csv = read_csv(dir / "m.csv");
  const std::vector<std::string> columns{
      "step",       "wall_s",  "train_loss", "test_loss", "test_accuracy", "bytes_up",
      "bytes_down", "workers", "lr",         "pushes",    "staleness"};
  BOOST_TEST(csv.header == columns, boost::test_tools::per_element());
  BOOST_REQUIRE_EQUAL(csv.rows.size(), static_cast<std::size_t>(steps + 1));
  for (std::size_t i = 0; i < csv.rows.size(); ++i) {
    BOOST_TEST_CONTEXT("row " << i) {
      BOOST_REQUIRE_EQUAL(csv.rows[i].size(), columns.size());
      BOOST_TEST(csv.at(i, "step") == std::to_string(i));
      if (i > 0) {
        BOOST_TEST(!csv.at(i, "train_loss").empty());
        BOOST_TEST(csv.at(i, "workers") == "3");
        BOOST_TEST(std::stoull(csv.at(i, "bytes_up")) > 0u);
      }
    }
  }
  // Row 0 is the initial model: evaluated, no training loss yet.
  BOOST_TEST(csv.at(0, "train_loss").empty());
  BOOST_TEST(!csv.at(0, "test_loss").empty());
  BOOST_TEST(!csv.at(steps, "test_accuracy").empty());

  auto json = read_text(dir / "s.json");
  for (const char* key :
       {"method", "workers", "steps", "final_train_loss", "test_accuracy", "bytes_up", "bytes_down",
        "wall_s", "steps_per_s", "joins", "departures", "completed"})
    BOOST_TEST(json_value(json, key).has_value(), "summary key " << key);
  BOOST_TEST(json_value(json, "method").value_or("") == "doublesqueeze");
  BOOST_TEST(json_value(json, "workers").value_or("") == "3");
  BOOST_TEST(json_value(json, "steps").value_or("") == std::to_string(steps));
  BOOST_TEST(json_value(json, "completed").value_or("") == "true");
  BOOST_TEST(json_value(json, "joins").value_or("") == "0");
  BOOST_TEST(json_value(json, "departures").value_or("") == "0");
  // The summary's traffic is the sum of the CSV's.
  std::uint64_t up = 0, down = 0;
  for (std::size_t i = 0; i < csv.rows.size(); ++i) {
    up += std::stoull(csv.at(i, "bytes_up"));
    down += std::stoull(csv.at(i, "bytes_down"));
  }
  BOOST_TEST(json_value(json, "bytes_up").value_or("") == std::to_string(up));
  BOOST_TEST(json_value(json, "bytes_down").value_or("") == std::to_string(down));
}

// -- Issue 10: bad input is refused early with the documented exit code (2: options, 1: the
// run), and nothing wrong gets out: a failed write of an output ends the run with an error.

namespace {

/// `dsq local` with a softmax model, one worker and `extra` (data, steps, ...) must exit
/// with `code` and exactly one stderr line "dsq: error: ..." containing `mentions`.
void expect_refused(const std::vector<std::string>& extra, int code, const std::string& mentions,
                    std::chrono::milliseconds timeout = 30s) {
  temp_dir cwd{"cli-refused"};
  auto r = run_dsq(
      concat({"local", "--quiet", "--model=softmax", "--eval-every=0", "--workers=1"}, extra),
      cwd.path(), timeout);
  BOOST_TEST_CONTEXT("dsq local ... " << extra.back() << "\nstderr:\n" << r.err) {
    BOOST_TEST(r.status.exited, r.status.describe());
    BOOST_TEST(r.status.code == code);
    auto errors = lines(r.err);
    BOOST_TEST(errors.size() == 1u);
    if (!errors.empty()) {
      BOOST_TEST(errors.back().rfind("dsq: error:", 0) == 0u);
      BOOST_TEST(errors.back().find(mentions) != std::string::npos,
                 "the line names '" << mentions << "'");
    }
  }
}

const std::string synthetic = "--dataset=synthetic:n=3000,d=20,classes=4";
const std::string steps = "--steps=20";

} // namespace

BOOST_AUTO_TEST_SUITE(bad_input_is_refused_early)

BOOST_AUTO_TEST_CASE(a_step_size_beyond_float_is_an_option_error) {
  expect_refused({synthetic, "--lr=1e39"}, 2, "--lr=1e+39");
}

BOOST_AUTO_TEST_CASE(epochs_that_overflow_the_steps_are_an_option_error) {
  expect_refused({synthetic, "--epochs=1e20"}, 2, "--epochs=1e+20");
}

BOOST_AUTO_TEST_CASE(a_device_as_config_file_fails_at_once) {
  expect_refused({synthetic, "--config=/dev/zero"}, 2, "'/dev/zero' is not a regular file", 10s);
}

BOOST_AUTO_TEST_CASE(a_device_as_data_file_fails_at_once) {
  expect_refused({"--dataset=libsvm:path=/dev/zero"}, 1, "/dev/zero: not a regular file", 10s);
}

BOOST_AUTO_TEST_CASE(a_nan_in_a_data_file_is_refused_with_its_line) {
  temp_dir dir{"cli-data"};
  write_text(dir / "nan.svm", "1 1:0.5 2:1\n2 1:1 2:0\n1 1:nan 2:1\n2 1:0 2:1\n");
  expect_refused({"--dataset=libsvm:path=" + (dir / "nan.svm")}, 1, dir / "nan.svm" + ": line 3");
}

BOOST_AUTO_TEST_CASE(a_huge_feature_index_is_refused_naming_the_limit) {
  temp_dir dir{"cli-data"};
  write_text(dir / "wide.svm", "1 1:0.5\n2 2000000000:1\n");
  expect_refused({"--dataset=libsvm:path=" + (dir / "wide.svm")}, 1,
                 "feature index 2000000000 exceeds the limit of 10000000");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(failed_writes_end_the_run)

// Each output on a tmpfs with no free block left: the run must fail with a line naming the
// file, never exit 0 (the metrics header fails at once, the summary and the checkpoint at the
// end, or at once once the server checks the checkpoint directory before training).
BOOST_AUTO_TEST_CASE(an_output_on_a_full_disk_is_an_error_naming_it) {
  small_tmpfs fs;
  if (!fs.mounted()) {
    BOOST_TEST_MESSAGE("skipped: cannot mount a tmpfs (" << fs.why_not() << ")");
    return;
  }
  fs.fill();
  const auto dir = fs.path().string();
  expect_refused({synthetic, steps, "--metrics=" + dir + "/m.csv"}, 1, dir + "/m.csv");
  expect_refused({synthetic, steps, "--summary=" + dir + "/s.json"}, 1, dir + "/s.json");
  expect_refused({synthetic, steps, "--checkpoint=" + dir + "/ckpt"}, 1, dir + "/ckpt");
}

// The metrics header fits, the rows do not: the write fails within a second or at the end of
// the run, and the run ends with that error.
BOOST_AUTO_TEST_CASE(metrics_rows_that_do_not_fit_end_the_run_with_an_error) {
  small_tmpfs fs;
  if (!fs.mounted()) {
    BOOST_TEST_MESSAGE("skipped: cannot mount a tmpfs (" << fs.why_not() << ")");
    return;
  }
  fs.fill(2); // 8 KiB free: the header and ~150 rows
  const auto file = fs.path().string() + "/m.csv";
  expect_refused({synthetic, "--steps=3000", "--metrics=" + file}, 1, file);
}

BOOST_AUTO_TEST_SUITE_END()

// --resume continues the metrics file: the first run's rows, then the resumed run's, one header.
BOOST_AUTO_TEST_CASE(resume_continues_the_metrics_file) {
  temp_dir dir{"cli-resume"};
  const auto run = [&](std::vector<std::string> extra) {
    auto r = run_dsq(concat(concat({"local", "--quiet", "--workers=2"}, tiny_run(100)), extra));
    BOOST_REQUIRE_MESSAGE(r.status.success(), r.status.describe() << "\n" << r.err);
  };
  run({"--checkpoint=" + (dir / "ckpt"), "--metrics=" + (dir / "m.csv")});
  run({"--steps=150", "--resume=" + (dir / "ckpt"), "--metrics=" + (dir / "m.csv")});
  auto csv = read_csv(dir / "m.csv");
  BOOST_REQUIRE_EQUAL(csv.rows.size(), 151u); // one header, steps 0..150 once each
  for (std::size_t i = 0; i < csv.rows.size(); ++i)
    BOOST_TEST(csv.at(i, "step") == std::to_string(i));
}

BOOST_AUTO_TEST_CASE(resuming_from_a_missing_checkpoint_fails_before_training) {
  temp_dir dir{"cli-resume"};
  expect_refused({synthetic, steps, "--resume=" + (dir / "nothing")}, 1, "no checkpoint");
}

// The checkpoint records the training options; resuming with another one names it.
BOOST_AUTO_TEST_CASE(resuming_with_another_seed_names_the_difference) {
  temp_dir dir{"cli-resume"};
  auto first = run_dsq(concat(concat({"local", "--quiet", "--workers=2", "--seed=1"}, tiny_run(50)),
                              {"--checkpoint=" + (dir / "ckpt")}));
  BOOST_REQUIRE_MESSAGE(first.status.success(), first.status.describe() << "\n" << first.err);
  expect_refused({synthetic, "--steps=60", "--seed=2", "--resume=" + (dir / "ckpt")}, 1,
                 "checkpoint was written with --seed=1, this run has --seed=2");
}

// The server detects the divergence (here after the first step: 3e38 is just below float's
// largest value) from a worker's non-finite loss, sets summary.diverged/diverged_at_step and
// stops; dsq exits with 3.
BOOST_AUTO_TEST_CASE(a_diverging_run_exits_3_and_says_so) {
  temp_dir dir{"cli-diverge"};
  auto r = run_dsq(concat(concat({"local", "--quiet", "--workers=2", "--lr=3e38"}, tiny_run(200)),
                          {"--metrics=" + (dir / "m.csv"), "--summary=" + (dir / "s.json")}));
  BOOST_TEST(r.status.exited, r.status.describe());
  BOOST_TEST(r.status.code == 3, r.err);
  BOOST_TEST(r.err.find("dsq: error:") != std::string::npos, r.err);
  auto json = read_text(dir / "s.json");
  BOOST_TEST(json_value(json, "diverged").value_or("") == "true", json);
  BOOST_TEST(json_value(json, "completed").value_or("") == "false", json);
  BOOST_TEST(json_value(json, "diverged_at_step").value_or("null") != "null", json);
  // Nothing non-finite reached the model: the run stopped at the first non-finite loss, so
  // every row written holds finite numbers (run_log's own tests cover writing nan/inf).
  auto csv = read_csv(dir / "m.csv");
  BOOST_TEST(csv.rows.size() >= 2u);
  for (std::size_t i = 1; i < csv.rows.size(); ++i)
    BOOST_TEST(csv.at(i, "train_loss") != "", "row " << i);
}

// -- Issue 26 ("The command line") and issue 29 item 8: each command's own options, refused
// options, the version, and a run stopped by a signal.

#ifndef DSQ_VERSION
#error "DSQ_VERSION must hold dsq's version (set by tests/system/CMakeLists.txt)"
#endif

namespace {

/// Whether a line of `help` starts with the option `--name` ("  --name=...", "  --name,",
/// "  --name" alone): the line that lists it, not a mention in another option's text.
bool lists_option(const std::string& help, const std::string& name) {
  const auto start = "  --" + name;
  for (const auto& line : split(help, '\n'))
    if (line.rfind(start, 0) == 0 && (line.size() == start.size() || line[start.size()] == '=' ||
                                      line[start.size()] == ',' || line[start.size()] == ' '))
      return true;
  return false;
}

/// The lines of `text` longer than 100 columns.
std::vector<std::string> long_lines(const std::string& text) {
  std::vector<std::string> result;
  for (const auto& line : split(text, '\n'))
    if (line.size() > 100)
      result.push_back(line);
  return result;
}

/// `dsq args` (in a fresh directory) must exit 2 with one "dsq: error:" line that contains
/// every one of `mentions`.
void expect_option_error(const std::vector<std::string>& args,
                         const std::vector<std::string>& mentions) {
  temp_dir cwd{"cli-option"};
  auto r = run_dsq(args, cwd.path());
  BOOST_TEST_CONTEXT("dsq " << args.front() << " ... " << args.back() << "\nstderr:\n" << r.err) {
    BOOST_TEST(r.status.exited, r.status.describe());
    BOOST_TEST(r.status.code == 2);
    auto errors = lines(r.err);
    BOOST_REQUIRE_EQUAL(errors.size(), 1u);
    BOOST_TEST(errors[0].rfind("dsq: error:", 0) == 0u);
    for (const auto& m : mentions)
      BOOST_TEST(errors[0].find(m) != std::string::npos, "the line names '" << m << "'");
  }
}

} // namespace

BOOST_AUTO_TEST_SUITE(each_command_has_its_own_options)

// Every command's help lists its own options and not those of another command, with the
// dataset sub-options where the command takes a data set, in lines of at most 100 columns.
BOOST_AUTO_TEST_CASE(each_help_lists_its_own_options_and_not_anothers) {
  struct expectation {
    std::string command;
    std::vector<std::string> own, others;
    std::vector<std::string> texts; ///< more text the help must hold
  };
  const std::vector<expectation> cases{
      {"local",
       {"workers", "steps", "lr", "method", "model", "dataset", "staleness", "checkpoint",
        "faults.drop", "faults.rejoin", "faults.server-crash", "metrics", "quiet"},
       {"server", "port", "bind", "min-workers", "tls-cert", "reconnect-timeout", "tcp",
        "pin-cpus"},
       {"mnist[:dir=PATH]", "csv:path=FILE[,test=FILE][,split=F][,label=auto|first|last|name:COL]",
        "normalize=none|unit|standardize", "libsvm:path=FILE", "synthetic[:n=N]", "(default 0.1)",
        "  130  "}},
      {"server",
       {"workers", "lr", "method", "model", "dataset", "port", "bind", "min-workers", "max-workers",
        "insecure", "tls-cert", "faults.server-crash", "tcp", "metrics"},
       {"server", "reconnect-timeout", "server-timeout", "placement", "faults.drop", "faults.crash",
        "faults.rejoin"},
       {"mnist[:dir=PATH]", "csv:path=FILE", "(default 127.0.0.1)", "  143  "}},
      {"worker",
       {"server", "connect-timeout", "reconnect-timeout", "server-timeout", "placement",
        "scheduling", "tls-cert", "tls-key", "tls-ca", "tcp", "faults.drop", "faults.crash",
        "fault-log", "quiet"},
       {"lr", "method", "model", "dataset", "workers", "steps", "port", "bind", "metrics",
        "summary", "checkpoint", "faults.rejoin", "faults.server-crash"},
       {"(default 60)"}},
  };
  for (const auto& e : cases) {
    auto r = run_dsq({e.command, "--help"});
    BOOST_TEST_CONTEXT("dsq " << e.command << " --help:\n" << r.out) {
      BOOST_TEST(r.status.success(), r.status.describe());
      for (const auto& name : e.own)
        BOOST_TEST(lists_option(r.out, name), "lists --" << name);
      for (const auto& name : e.others)
        BOOST_TEST(!lists_option(r.out, name), "does not list --" << name);
      for (const auto& text : e.texts)
        BOOST_TEST(r.out.find(text) != std::string::npos, "says '" << text << "'");
      const auto too_long = long_lines(r.out);
      BOOST_TEST(too_long.empty(), "a line exceeds 100 columns: " << too_long.front());
    }
  }
}

BOOST_AUTO_TEST_CASE(dsq_help_gives_the_command_overview) {
  auto r = run_dsq({"--help"});
  BOOST_TEST(r.status.success(), r.status.describe());
  for (const char* text : {"local ", "server ", "worker ", "dsq <command> --help", "--version"})
    BOOST_TEST(r.out.find(text) != std::string::npos, text);
  BOOST_TEST(!lists_option(r.out, "lr"), "the overview lists no command's options");
  BOOST_TEST(long_lines(r.out).empty());
}

BOOST_AUTO_TEST_CASE(an_option_the_command_ignores_is_an_error_naming_who_takes_it) {
  expect_option_error({"worker", "--server=127.0.0.1:1", "--lr=5", "--model=mlp"},
                      {"--lr=5", "dsq worker", "dsq local and dsq server"});
  expect_option_error({"server", "--faults.drop=0.1"},
                      {"--faults.drop=0.1", "dsq server", "dsq local and dsq worker"});
  expect_option_error({"local", "--port=4242"}, {"--port=4242", "dsq local", "dsq server"});
  expect_option_error({"server", "--server=127.0.0.1:1"}, {"dsq server", "dsq worker"});
  // In a --config file as on the command line, named by file and line.
  temp_dir dir{"cli-ini"};
  write_text(dir / "run.ini", "[global]\nconnect-timeout=5\nlr=0.5\n");
  expect_option_error({"worker", "--server=127.0.0.1:1", "--config=" + (dir / "run.ini")},
                      {dir / "run.ini" + ":3", "lr=0.5", "dsq worker", "dsq local"});
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(bad_values_are_option_errors)

// The values that stand for "not given" are refused when written out (they ran the defaults).
BOOST_AUTO_TEST_CASE(written_out_defaults_are_refused) {
  expect_refused({synthetic, "--steps=-1"}, 2, "--steps=-1: must be 0 or more");
  expect_refused({synthetic, "--epochs=0"}, 2, "--epochs=0: must be positive");
  expect_refused({synthetic, steps, "--mode=async", "--staleness=-1"}, 2,
                 "--staleness=-1: must be 0 or more");
}

BOOST_AUTO_TEST_CASE(a_slow_worker_beyond_dsq_locals_workers_is_refused) {
  expect_refused({synthetic, steps, "--workers=4", "--slow-worker=9:2"}, 2,
                 "--slow-worker=9:2: worker 9 does not exist");
}

BOOST_AUTO_TEST_CASE(a_bad_model_spec_is_an_option_error) {
  expect_refused({synthetic, steps, "--model=mlp:hidden="}, 2, "--model=mlp:hidden=");
  expect_refused({synthetic, steps, "--dataset=csv:path=x.csv,delimiter=;"}, 2, "'delimiter'");
  expect_refused({synthetic, steps, "--dataset=csv:path=x.csv,sep=;"}, 2,
                 "sep must be auto, comma, semicolon or tab");
}

// Sizes that cannot fit are refused before anything is allocated, naming the limit: at once
// when no data could make them fit, once the data's shape is known otherwise.
BOOST_AUTO_TEST_CASE(a_model_beyond_the_parameter_limit_is_refused_naming_it) {
  expect_refused({synthetic, steps, "--model=mlp:hidden=999999999"}, 2,
                 "more than the limit of 100000000");
  expect_refused({"--dataset=synthetic:n=100,d=20000", steps, "--model=mlp:hidden=6000"}, 2,
                 "for 20000 features and 10 classes, more than the limit of 100000000");
}

BOOST_AUTO_TEST_CASE(an_option_and_its_value_apart_say_how_to_join_them) {
  expect_refused({synthetic, steps, "--lr", "0.1"}, 2, "write --lr=0.1");
}

BOOST_AUTO_TEST_CASE(a_key_given_twice_in_a_config_file_names_both_lines) {
  temp_dir dir{"cli-ini"};
  write_text(dir / "twice.ini", "[global]\nlr=0.1\nbatch=16\nlr=0.2\n");
  expect_refused({synthetic, steps, "--config=" + (dir / "twice.ini")}, 2,
                 dir / "twice.ini" + ":4: [global] lr is given twice, on lines 2 and 4");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(version_prints_the_projects_version) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--version"}, {"version"}, {"local", "--version"}, {"worker", "--version"}}) {
    auto r = run_dsq(args);
    BOOST_TEST(r.status.success(), r.status.describe());
    BOOST_TEST(r.out == std::string{"dsq "} + DSQ_VERSION + "\n", args.front());
  }
}

BOOST_AUTO_TEST_SUITE(a_signal_stops_the_run_and_says_so)

/// The closing line of a run stopped at step N of `total`, and N from the summary: the last
/// line of `out` starts "stopped at step N of TOTAL:" and no line starts "done:".
void expect_stopped_line(const std::string& out, const std::string& summary, int total) {
  const auto steps = json_value(summary, "steps").value_or("?");
  const auto all = lines(out);
  BOOST_REQUIRE(!all.empty());
  const auto expected = "stopped at step " + steps + " of " + std::to_string(total) + ":";
  BOOST_TEST(all.back().rfind(expected, 0) == 0u, all.back() << " (expected " << expected << ")");
  for (const auto& line : all)
    BOOST_TEST(line.rfind("done:", 0) != 0u, line);
  BOOST_TEST(json_value(summary, "completed").value_or("") == "false", summary);
}

BOOST_AUTO_TEST_CASE(sigint_ends_dsq_local_with_130) {
  cluster c{"local-int"};
  const int total = 10'000'000;
  auto& local = c.start("local", concat({dsq_binary(), "local", "--workers=2",
                                         "--metrics=" + c.metrics(), "--summary=" + c.summary()},
                                        tiny_run(total)));
  BOOST_REQUIRE_MESSAGE(c.wait_for_rows(50, 60s), "the run did not start:\n" << local.report());
  local.send_signal(SIGINT);
  auto s = local.wait_for(30s);
  BOOST_REQUIRE_MESSAGE(s.has_value(), "dsq local did not stop on SIGINT");
  BOOST_TEST((s->exited && s->code == 130), s->describe());
  expect_stopped_line(local.out(), c.summary_text(), total);
}

BOOST_AUTO_TEST_CASE(sigterm_ends_dsq_server_with_143_and_its_worker_with_0) {
  cluster c{"server-term"};
  const int total = 10'000'000;
  auto& server = c.start_server(concat(tiny_run(total), {"--workers=1"}));
  auto& worker = c.start_worker({"--quiet"});
  BOOST_REQUIRE_MESSAGE(c.wait_for_rows(50, 60s), "the run did not start:\n" << server.report());
  server.send_signal(SIGTERM);
  BOOST_REQUIRE_MESSAGE(c.wait_all(60s), "the run did not end after SIGTERM");
  BOOST_TEST(stopped_by_sigterm(*server.status()), server.report());
  BOOST_TEST(worker.status()->success(), worker.report());
  expect_stopped_line(server.out(), c.summary_text(), total);
}

BOOST_AUTO_TEST_SUITE_END()
