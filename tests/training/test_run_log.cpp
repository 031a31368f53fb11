// The run's record on disk: every write checked, non-finite values spelled out, resumed runs
// continue their metrics file, diverged runs say so in the summary.
#define BOOST_TEST_MODULE run_log
#include <boost/test/unit_test.hpp>

#include "small_tmpfs.hpp"
#include "tests/support/temp_directory.hpp"
#include "training/run_log.hpp"
#include "training/run_reporter.hpp"

#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>
#include <vector>

using namespace dsq;
namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& file) {
  std::ifstream in{file, std::ios::binary};
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> read_lines(const fs::path& file) {
  std::vector<std::string> lines;
  std::ifstream in{file};
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

std::vector<std::string> cells(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream in{line};
  for (std::string cell; std::getline(in, cell, ',');)
    out.push_back(cell);
  if (!line.empty() && line.back() == ',')
    out.emplace_back();
  return out;
}

step_record trained_row(std::uint64_t step, double loss = 0.5) {
  step_record r;
  r.step = step;
  r.train_loss = loss;
  r.pushes = 2;
  r.workers = 2;
  r.lr = 0.1;
  return r;
}

/// Writes rows 0..last (row 0 without pushes) to `file` and closes it.
void write_rows(const fs::path& file, std::uint64_t last) {
  run_log log{file.string()};
  step_record initial;
  log.record(initial, false);
  for (std::uint64_t s = 1; s <= last; ++s)
    log.record(trained_row(s), false);
  log.flush(true);
}

bool says(const std::exception& e, const std::string& what) {
  return std::string{e.what()}.find(what) != std::string::npos;
}

constexpr double nan = std::numeric_limits<double>::quiet_NaN();
constexpr double inf = std::numeric_limits<double>::infinity();

} // namespace

BOOST_AUTO_TEST_SUITE(csv_cells)

BOOST_AUTO_TEST_CASE(non_finite_values_are_written_nan_and_inf_never_empty) {
  temp_directory dir{"run-log"};
  const auto file = dir.path() / "m.csv";
  {
    run_log log{file.string()};
    step_record initial; // no pushes: no training loss, evaluated below
    log.record(initial, true);
    log.set_evaluation(0, 2.3, 0.1);
    auto diverging = trained_row(1, inf);
    diverging.lr = -inf;
    log.record(diverging, true);
    log.set_evaluation(1, -nan, nan);        // a NaN's sign is not written
    log.record(trained_row(2, -nan), false); // not evaluated
    log.flush(true);
  }
  const auto lines = read_lines(file);
  BOOST_REQUIRE_EQUAL(lines.size(), 4u);
  const auto header = cells(lines[0]);
  auto at = [&](std::size_t row, const std::string& column) {
    auto c = cells(lines[row + 1]);
    for (std::size_t i = 0; i < header.size(); ++i)
      if (header[i] == column)
        return c.at(i);
    BOOST_FAIL("no column " << column);
    return std::string{};
  };
  BOOST_TEST(at(0, "train_loss") == "");   // the initial model was not trained
  BOOST_TEST(at(0, "test_loss") == "2.3"); // evaluated
  BOOST_TEST(at(1, "train_loss") == "inf");
  BOOST_TEST(at(1, "lr") == "-inf");
  BOOST_TEST(at(1, "test_loss") == "nan");
  BOOST_TEST(at(1, "test_accuracy") == "nan");
  BOOST_TEST(at(2, "train_loss") == "nan");
  BOOST_TEST(at(2, "test_loss") == ""); // not evaluated: the only meaning of an empty cell
  BOOST_TEST(at(2, "test_accuracy") == "");
}

BOOST_AUTO_TEST_CASE(an_evaluation_that_is_nan_still_counts_as_the_last_evaluation) {
  run_log log{""};
  log.record(trained_row(1), true);
  log.set_evaluation(1, 0.4, 0.9);
  log.record(trained_row(2), true);
  log.set_evaluation(2, nan, nan);
  log.record(trained_row(3), false);
  BOOST_REQUIRE(log.last_evaluated() != nullptr);
  BOOST_TEST(log.last_evaluated()->step == 2u);
}

BOOST_AUTO_TEST_CASE(a_long_run_keeps_only_its_last_rows_in_memory_and_every_row_in_its_file) {
  temp_directory dir{"run-log"};
  const auto file = dir.path() / "m.csv";
  const std::uint64_t steps = 3 * run_log::kept_rows + 7;
  {
    run_log log{file.string()};
    step_record initial;
    log.record(initial, true); // held back for its evaluation, like a run's first row
    log.set_evaluation(0, 2.3, 0.1);
    for (std::uint64_t s = 1; s <= steps; ++s) {
      // Row 5 waits for its evaluation until the end: it and every row after it stay unwritten,
      // so they stay in memory too.
      log.record(trained_row(s), s == 5 || s == 2 * run_log::kept_rows);
      if (s == 2 * run_log::kept_rows)
        log.set_evaluation(s, 0.25, 0.75);
      log.flush();
      if (s == 5 + run_log::kept_rows)
        BOOST_TEST(log.rows().size() == run_log::kept_rows + 1); // rows 5 on: none written
      if (s == 5 + run_log::kept_rows)
        log.set_evaluation(5, 0.5, 0.5);
    }
    // The evaluated row survives as the last evaluation although its row has left memory.
    BOOST_REQUIRE(log.last_evaluated() != nullptr);
    BOOST_TEST(log.last_evaluated()->step == 2 * run_log::kept_rows);
    BOOST_TEST(log.last_evaluated()->test_accuracy == 0.75);
    const auto rows = log.rows();
    BOOST_REQUIRE_EQUAL(rows.size(), run_log::kept_rows);
    BOOST_TEST(rows.front().step == steps - run_log::kept_rows + 1);
    BOOST_TEST(rows.back().step == steps);
    log.flush(true);
  }
  const auto lines = read_lines(file);
  BOOST_REQUIRE_EQUAL(lines.size(), steps + 2); // the header and rows 0..steps
  for (std::uint64_t s = 0; s <= steps; ++s)
    BOOST_REQUIRE_EQUAL(cells(lines[s + 1]).at(0), std::to_string(s));
  BOOST_TEST(cells(lines[6]).at(3) == "0.5"); // row 5, evaluated late, written with its test loss
}

// An evaluation that arrives after more than kept_rows steps: writing its row drops it from
// memory at once, and the reporter hands back a copy, not a pointer into the dropped row.
BOOST_AUTO_TEST_CASE(a_late_evaluation_returns_its_row_although_writing_it_drops_it) {
  auto log = std::make_shared<run_log>("");
  run_reporter report{log, false, 100000};
  report.record(trained_row(1), true);
  for (std::uint64_t s = 2; s <= run_log::kept_rows + 5; ++s)
    report.record(trained_row(s), false);
  BOOST_REQUIRE_EQUAL(log->rows().size(), run_log::kept_rows + 5); // all held back by row 1
  const auto row = report.evaluated(1, 0.25, 0.5);
  BOOST_REQUIRE(row.has_value());
  BOOST_TEST(row->step == 1u);
  BOOST_TEST(row->test_loss == 0.25);
  BOOST_TEST(row->test_accuracy == 0.5);
  BOOST_TEST(log->rows().front().step > 1u); // row 1 is written and gone from memory
  BOOST_REQUIRE(log->last_evaluated() != nullptr);
  BOOST_TEST(log->last_evaluated()->step == 1u);
}

BOOST_AUTO_TEST_CASE(row_memory_all_keeps_every_row) {
  run_log log{""};
  log.keep(row_memory::all);
  const std::uint64_t steps = 2 * run_log::kept_rows;
  for (std::uint64_t s = 1; s <= steps; ++s) {
    log.record(trained_row(s), false);
    log.flush();
  }
  const auto rows = log.rows();
  BOOST_REQUIRE_EQUAL(rows.size(), steps);
  BOOST_TEST(rows.front().step == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(resume_appends)

BOOST_AUTO_TEST_CASE(rows_from_the_checkpoint_on_are_replaced_and_earlier_ones_kept) {
  temp_directory dir{"run-log"};
  const auto file = dir.path() / "m.csv";
  write_rows(file, 10); // the first run went on to step 10 after a checkpoint at step 6
  {
    run_log log{file.string(), append_at_step{6}};
    step_record resumed;
    resumed.step = 6;
    log.record(resumed, false);
    log.record(trained_row(7, 0.25), false);
    log.flush(true);
  }
  const auto lines = read_lines(file);
  BOOST_REQUIRE_EQUAL(lines.size(), 1u + 8u); // header, steps 0..7
  BOOST_TEST(lines[0].rfind("step,", 0) == 0u);
  for (std::size_t s = 0; s <= 7; ++s)
    BOOST_TEST(cells(lines[s + 1]).at(0) == std::to_string(s));
  BOOST_TEST(cells(lines[7]).at(2) == "");     // step 6 is the resumed model's row
  BOOST_TEST(cells(lines[8]).at(2) == "0.25"); // step 7 is the resumed run's
  BOOST_TEST(cells(lines[6]).at(2) == "0.5");  // step 5 is the first run's
}

BOOST_AUTO_TEST_CASE(a_line_cut_short_by_a_crash_is_dropped) {
  temp_directory dir{"run-log"};
  const auto file = dir.path() / "m.csv";
  write_rows(file, 3);
  std::ofstream{file, std::ios::app} << "4,0.1,0.5"; // no newline: the run died here
  {
    run_log log{file.string(), append_at_step{4}};
    log.record(trained_row(4, 0.125), false);
    log.flush(true);
  }
  const auto lines = read_lines(file);
  BOOST_REQUIRE_EQUAL(lines.size(), 1u + 5u);
  BOOST_TEST(cells(lines[5]).at(0) == "4");
  BOOST_TEST(cells(lines[5]).at(2) == "0.125");
}

BOOST_AUTO_TEST_CASE(a_missing_file_is_started_with_its_header) {
  temp_directory dir{"run-log"};
  const auto file = dir.path() / "new.csv";
  {
    run_log log{file.string(), append_at_step{100}};
    log.record(trained_row(100), false);
    log.flush(true);
  }
  const auto lines = read_lines(file);
  BOOST_REQUIRE_EQUAL(lines.size(), 2u);
  BOOST_TEST(lines[0].rfind("step,", 0) == 0u);
  BOOST_TEST(cells(lines[1]).at(0) == "100");
}

BOOST_AUTO_TEST_CASE(a_file_with_another_header_is_refused_and_left_alone) {
  temp_directory dir{"run-log"};
  const auto file = dir.path() / "other.csv";
  std::ofstream{file} << "epoch,loss\n1,0.5\n";
  BOOST_CHECK_EXCEPTION(
      (run_log{file.string(), append_at_step{1}}), std::runtime_error,
      [&](const auto& e) { return says(e, file.string()) && says(e, "header is 'epoch,loss'"); });
  BOOST_TEST(read_text(file) == "epoch,loss\n1,0.5\n");
}

BOOST_AUTO_TEST_CASE(a_row_that_is_not_a_row_is_refused) {
  temp_directory dir{"run-log"};
  const auto file = dir.path() / "m.csv";
  write_rows(file, 2);
  std::ofstream{file, std::ios::app} << "garbage,1\n";
  BOOST_CHECK_EXCEPTION((run_log{file.string(), append_at_step{9}}), std::runtime_error,
                        [](const auto& e) { return says(e, "line 5"); });
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(failed_writes_throw)

BOOST_AUTO_TEST_CASE(a_metrics_file_on_a_full_device_fails_at_once) {
  BOOST_CHECK_EXCEPTION(run_log{"/dev/full"}, std::runtime_error, [](const auto& e) {
    return says(e, "cannot write metrics file '/dev/full'") && says(e, "No space left");
  });
}

BOOST_AUTO_TEST_CASE(an_unwritable_path_names_the_reason) {
  BOOST_CHECK_EXCEPTION(run_log{"/nonexistent-dir/m.csv"}, std::runtime_error, [](const auto& e) {
    return says(e, "'/nonexistent-dir/m.csv'") && says(e, "No such file or directory");
  });
  BOOST_CHECK_EXCEPTION(
      check_writable("/nonexistent-dir/s.json", "summary"), std::runtime_error,
      [](const auto& e) { return says(e, "cannot write summary file '/nonexistent-dir/s.json'"); });
}

BOOST_AUTO_TEST_CASE(flush_throws_when_the_disk_fills_up_and_keeps_throwing) {
  small_tmpfs fs;
  if (!fs.mounted()) {
    BOOST_TEST_MESSAGE("skipped: cannot mount a tmpfs (" << fs.why_not() << ")");
    return;
  }
  const auto file = fs.path() / "m.csv";
  run_log log{file.string()}; // the header fits
  fs.fill();
  for (std::uint64_t s = 1; s <= 2000; ++s) // ~100 KB of rows: more than the free space
    log.record(trained_row(s), false);
  BOOST_CHECK_EXCEPTION(log.flush(true), std::runtime_error, [&](const auto& e) {
    return says(e, file.string()) && says(e, "No space left on device");
  });
  // A later flush does not pretend that the rows were written.
  BOOST_CHECK_THROW(log.flush(true), std::runtime_error);
}

BOOST_AUTO_TEST_CASE(write_summary_throws_on_a_full_disk_and_keeps_the_old_summary) {
  small_tmpfs fs;
  if (!fs.mounted()) {
    BOOST_TEST_MESSAGE("skipped: cannot mount a tmpfs (" << fs.why_not() << ")");
    return;
  }
  const auto file = fs.path() / "s.json";
  run_summary s;
  s.note = "first";
  write_summary(file.string(), s);
  const auto before = read_text(file);
  fs.fill();
  s.note = std::string(8192, 'n'); // needs new blocks
  BOOST_CHECK_EXCEPTION(write_summary(file.string(), s), std::runtime_error, [&](const auto& e) {
    return says(e, "cannot write summary file '" + file.string()) &&
           says(e, "No space left on device");
  });
  BOOST_TEST(read_text(file) == before);
  BOOST_TEST(!fs::exists(fs.path() / "s.json.tmp"));
}

BOOST_AUTO_TEST_CASE(a_summary_to_a_full_device_fails_and_the_device_stays_a_device) {
  BOOST_CHECK_EXCEPTION(write_summary("/dev/full", run_summary{}), std::runtime_error,
                        [](const auto& e) {
                          return says(e, "cannot write summary file '/dev/full'") &&
                                 says(e, "No space left on device");
                        });
  BOOST_TEST(fs::is_character_file("/dev/full")); // not replaced by a renamed temporary file
  BOOST_TEST(!fs::exists("/dev/full.tmp"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(summary)

BOOST_AUTO_TEST_CASE(a_diverged_run_is_not_completed_and_names_its_step) {
  temp_directory dir{"run-log"};
  const auto file = dir.path() / "s.json";
  run_summary s;
  s.completed = true; // even if the caller forgot: diverged is never completed
  s.diverged = true;
  s.diverged_at_step = 1234;
  s.final_train_loss = nan;
  write_summary(file.string(), s);
  const auto text = read_text(file);
  BOOST_TEST(text.find("\"diverged\": true") != std::string::npos, text);
  BOOST_TEST(text.find("\"diverged_at_step\": 1234") != std::string::npos, text);
  BOOST_TEST(text.find("\"completed\": false") != std::string::npos, text);
  BOOST_TEST(text.find("\"final_train_loss\": null") != std::string::npos, text);
}

BOOST_AUTO_TEST_CASE(a_run_that_did_not_diverge_writes_null_for_the_step) {
  temp_directory dir{"run-log"};
  const auto file = dir.path() / "s.json";
  write_summary(file.string(), run_summary{});
  const auto text = read_text(file);
  BOOST_TEST(text.find("\"diverged\": false") != std::string::npos, text);
  BOOST_TEST(text.find("\"diverged_at_step\": null") != std::string::npos, text);
  BOOST_TEST(text.find("\"completed\": true") != std::string::npos, text);
}

BOOST_AUTO_TEST_SUITE_END()

// --servers=K > 1 (protocol 10): a row waits for every shard's bytes; its bytes_up and
// bytes_down are their sums, with one column per shard and direction after the others; a shard
// whose bytes never came (a lost follower) leaves its cells and the sums empty. K = 1 writes
// the unsharded header.
BOOST_AUTO_TEST_CASE(a_sharded_row_waits_for_every_shard_and_carries_their_bytes) {
  BOOST_TEST(metrics_header(1) == "step,wall_s,train_loss,test_loss,test_accuracy,bytes_up,"
                                  "bytes_down,workers,lr,pushes,staleness\n");
  BOOST_TEST(metrics_header(2) == "step,wall_s,train_loss,test_loss,test_accuracy,bytes_up,"
                                  "bytes_down,workers,lr,pushes,staleness,bytes_up_0,bytes_up_1,"
                                  "bytes_down_0,bytes_down_1\n");
  temp_directory dir{"run-log"};
  const auto file = dir.path() / "m.csv";
  {
    run_log log{file.string(), 2};
    log.keep(row_memory::all);
    step_record initial;
    log.record(initial, false);
    auto one = trained_row(1);
    one.bytes_up = 100;
    one.bytes_down = 40;
    log.record(one, false);
    auto two = trained_row(2);
    two.bytes_up = 10;
    two.bytes_down = 4;
    log.record(two, false);
    log.hand_over(); // every row that may be written goes to the file now
    BOOST_TEST(read_lines(file).size() == 2u, "row 0 (no pushes) waits for nothing, row 1 waits");
    log.set_shard_bytes(0, 1, 5, 5); // row 0 is written: ignored
    log.set_shard_bytes(1, 1, 200, 80);
    log.set_shard_bytes(1, 1, 999, 999); // given before: ignored
    log.set_shard_bytes(1, 2, 999, 999); // no such shard: ignored
    log.hand_over();
    BOOST_TEST(read_lines(file).size() == 3u, "row 1 is complete");
    const auto rows = log.rows();
    BOOST_TEST(rows[1].bytes_up == 300u);
    BOOST_TEST(rows[1].bytes_down == 120u);
    BOOST_TEST((rows[1].shard_bytes_up == std::vector<std::uint64_t>{100, 200}));
    BOOST_TEST(rows[1].total_bytes_up == 300u);
    BOOST_TEST(log.bytes_up() == 110u, "shard 0's, as the summary counts it");
    BOOST_TEST(log.all_bytes_up() == 310u);
    log.flush(true); // the end: row 2 never got shard 1's bytes
  }
  const auto lines = read_lines(file);
  BOOST_REQUIRE_EQUAL(lines.size(), 4u);
  BOOST_TEST(lines[0] + "\n" == metrics_header(2));
  auto tail = [](const std::string& line) { // the byte columns: sums, then per shard
    auto c = cells(line);
    return std::vector<std::string>{c[5], c[6], c[11], c[12], c[13], c[14]};
  };
  BOOST_TEST((tail(lines[1]) == std::vector<std::string>{"0", "0", "0", "0", "0", "0"}));
  BOOST_TEST((tail(lines[2]) == std::vector<std::string>{"300", "120", "100", "200", "40", "80"}));
  BOOST_TEST((tail(lines[3]) == std::vector<std::string>{"", "", "10", "", "4", ""}));
  // The header was written for K = 2: another K is a mistake of the program.
  run_log other{(dir.path() / "n.csv").string()};
  BOOST_CHECK_THROW(other.expect_shards(3), std::logic_error);
  run_log memory{""};
  memory.expect_shards(3); // no file yet: fine before the first row
  memory.record(trained_row(1), false);
  BOOST_CHECK_THROW(memory.expect_shards(2), std::logic_error);
}
