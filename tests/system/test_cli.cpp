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
