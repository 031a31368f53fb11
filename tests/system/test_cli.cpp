// The dsq command line as a user meets it: usage, help, errors, and the files of a local run.
#define BOOST_TEST_MODULE dsq_system_cli
#include <boost/test/unit_test.hpp>

#include "system_support.hpp"

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
  const std::vector<std::string> columns{"step",       "wall_s",        "train_loss",
                                         "test_loss",  "test_accuracy", "bytes_up",
                                         "bytes_down", "workers",       "lr"};
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
