// The run's console progress (training/run_reporter.hpp) under a fake clock: a line with steps,
// steps/s and the time left at most every progress_period, none when quiet.
#define BOOST_TEST_MODULE run_reporter
#include <boost/test/unit_test.hpp>

#include "training/run_reporter.hpp"

#include <chrono>
#include <memory>

using namespace dsq;
using namespace std::chrono_literals;

namespace {

const run_reporter::time_point t0 = run_reporter::time_point{} + 1h;

} // namespace

BOOST_AUTO_TEST_CASE(a_progress_line_comes_every_period_with_rate_and_time_left) {
  run_reporter report{nullptr, true, 1000};
  report.start(0);
  BOOST_TEST(!report.progress(1, t0)); // where the rate counts from
  BOOST_TEST(!report.progress(20, t0 + 4s));
  auto line = report.progress(51, t0 + 5s); // 50 steps in 5 s: 10 steps/s, 949 steps left
  BOOST_REQUIRE(line);
  BOOST_TEST(*line == "step     51/1000  10.0 steps/s  ETA 1 min 35 s");
  BOOST_TEST(!report.progress(60, t0 + 9s)); // 4 s after the last line
  line = report.progress(101, t0 + 10s);
  BOOST_REQUIRE(line);
  BOOST_TEST(*line == "step    101/1000  10.0 steps/s  ETA 1 min 30 s");
}

BOOST_AUTO_TEST_CASE(a_restart_counts_the_rate_anew_and_a_stalled_run_has_no_eta) {
  run_reporter report{nullptr, true, 100};
  report.start(0);
  report.progress(1, t0);
  report.start(40); // resumed: the rate counts from here
  BOOST_TEST(!report.progress(40, t0 + 10s));
  auto line = report.progress(40, t0 + 15s);
  BOOST_REQUIRE(line);
  BOOST_TEST(*line == "step     40/100  0.0 steps/s  ETA unknown");
}

BOOST_AUTO_TEST_CASE(a_quiet_run_prints_no_progress) {
  run_reporter report{nullptr, false, 100};
  report.start(0);
  for (int s = 0; s < 100; ++s)
    BOOST_TEST(!report.progress(s, t0 + s * 1s));
}

BOOST_AUTO_TEST_CASE(remaining_times_read_as_seconds_minutes_or_hours) {
  BOOST_TEST(human_duration(0.4) == "0 s");
  BOOST_TEST(human_duration(59) == "59 s");
  BOOST_TEST(human_duration(65) == "1 min 05 s");
  BOOST_TEST(human_duration(7620) == "2 h 07 min");
  BOOST_TEST(human_duration(-3) == "0 s");
}
