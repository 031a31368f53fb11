// The worker's half of the resender, on a fake clock: the round-trip estimate and Karn's rule,
// the backoff between its bounds, when a probe goes, the server-silence rule and the late timer.
#define BOOST_TEST_MODULE retransmit_timer
#include <boost/test/unit_test.hpp>

#include "training/resend/retransmit_timer.hpp"

#include <chrono>

using namespace dsq;
using namespace std::chrono_literals;
using duration = retransmit_timer::duration;
using time_point = retransmit_timer::time_point;

namespace {

const time_point t0 = time_point{} + 1h; ///< the fake clock's start

duration ms(double v) {
  return std::chrono::duration_cast<duration>(std::chrono::duration<double, std::milli>(v));
}

/// Fires the armed timer at its due time, as a waiting worker, until it gives up or `limit`
/// probes went; returns when the last probe went (or t0) and how many went.
struct probe_run {
  int probes = 0;
  time_point now = t0;
  std::optional<duration> silent;
};

probe_run run_probes(retransmit_timer& timer, duration first_timer, duration silence_limit,
                     int limit = 100) {
  probe_run r;
  auto next = first_timer;
  while (r.probes < limit) {
    r.now += next;
    auto out = timer.fired(r.now, true, silence_limit);
    if (out.server_silent) {
      r.silent = out.server_silent;
      return r;
    }
    BOOST_REQUIRE(out.probe);
    BOOST_REQUIRE(out.timer);
    ++r.probes;
    next = *out.timer;
  }
  return r;
}

} // namespace

BOOST_AUTO_TEST_CASE(progress_arms_one_timer_of_a_few_round_trips) {
  retransmit_timer timer{t0};
  BOOST_TEST(!timer.armed());
  auto after = timer.progressed(t0);
  BOOST_REQUIRE(after);
  // 4 round trips of the initial 5 ms: exactly the lower bound.
  BOOST_TEST((*after == retransmit_timer::min_retry));
  BOOST_TEST(timer.armed());
  BOOST_TEST(!timer.progressed(t0 + 1ms)); // one timer at a time
  BOOST_TEST(!timer.arm(t0 + 1ms, 500ms));
}

BOOST_AUTO_TEST_CASE(an_acknowledged_push_moves_the_round_trip_estimate) {
  retransmit_timer timer{t0};
  timer.pushed(3, t0);
  BOOST_TEST((timer.unacknowledged() == 3u));
  timer.acknowledged(3, t0 + 8ms);
  BOOST_TEST(!timer.unacknowledged());
  // (7 · 5 ms + 8 ms) / 8
  BOOST_TEST((timer.round_trip() == ms(5.375)));
}

BOOST_AUTO_TEST_CASE(one_sample_moves_the_estimate_at_most_to_twice_itself) {
  retransmit_timer timer{t0};
  timer.pushed(0, t0);
  timer.acknowledged(0, t0 + 10s); // a sync round trip that waited for a straggler
  // The sample counts as 2 · 5 ms: (7 · 5 + 10) / 8 ms.
  BOOST_TEST((timer.round_trip() == ms(5.625)));
}

BOOST_AUTO_TEST_CASE(an_ack_of_an_older_push_leaves_the_newer_one_waiting) {
  retransmit_timer timer{t0};
  timer.pushed(5, t0);
  timer.acknowledged(4, t0 + 1ms);
  BOOST_TEST((timer.unacknowledged() == 5u));
  BOOST_TEST((timer.round_trip() == retransmit_timer::initial_round_trip));
  timer.acknowledged(9, t0 + 2ms); // a later push's answer answers this one too
  BOOST_TEST(!timer.unacknowledged());
}

BOOST_AUTO_TEST_CASE(karns_rule_a_resent_push_gives_no_sample) {
  retransmit_timer timer{t0};
  timer.pushed(2, t0);
  BOOST_TEST(!timer.resend_requested(1)); // not the push it waits for
  BOOST_TEST(timer.resend_requested(2));
  timer.acknowledged(2, t0 + 9ms);
  BOOST_TEST(!timer.unacknowledged());
  BOOST_TEST((timer.round_trip() == retransmit_timer::initial_round_trip));
  BOOST_TEST(!timer.resend_requested(2)); // acknowledged: nothing to resend
  // The next push starts clean: its answer is a sample again.
  timer.pushed(3, t0 + 10ms);
  timer.acknowledged(3, t0 + 18ms);
  BOOST_TEST((timer.round_trip() == ms(5.375)));
}

BOOST_AUTO_TEST_CASE(a_waiting_worker_probes_when_the_backoff_has_passed) {
  retransmit_timer timer{t0};
  timer.pushed(6, t0);
  auto out = timer.fired(t0 + 20ms, true, {});
  BOOST_TEST(!out.server_silent);
  BOOST_REQUIRE(out.probe);
  BOOST_TEST(*out.probe == 7u); // names the push after the one it waits for
  BOOST_REQUIRE(out.timer);
  BOOST_TEST((*out.timer == 40ms)); // the interval doubles
  BOOST_TEST((timer.backoff() == 40ms));
  // No push waiting (a worker that waits for an update or a grant): probe 0.
  retransmit_timer idle{t0};
  idle.progressed(t0);
  BOOST_TEST((idle.fired(t0 + 20ms, true, {}).probe == 0u));
}

BOOST_AUTO_TEST_CASE(progress_since_the_timer_was_set_postpones_the_probe) {
  retransmit_timer timer{t0};
  timer.progressed(t0);                     // armed for t0 + 20 ms
  BOOST_TEST(!timer.progressed(t0 + 15ms)); // already armed: the wait restarts at 15 ms
  auto out = timer.fired(t0 + 20ms, true, {});
  BOOST_TEST(!out.probe);
  BOOST_REQUIRE(out.timer);
  // 15 ms of the 20 ms are left to wait, but never less than the lower bound.
  BOOST_TEST((*out.timer == retransmit_timer::min_retry));
  out = timer.fired(t0 + 40ms, true, {});
  BOOST_TEST(out.probe.has_value());
}

BOOST_AUTO_TEST_CASE(a_worker_that_waits_for_nothing_lets_the_timer_lapse) {
  retransmit_timer timer{t0};
  timer.progressed(t0);
  auto out = timer.fired(t0 + 20ms, false, 1s);
  BOOST_TEST(!out.probe);
  BOOST_TEST(!out.timer);
  BOOST_TEST(!out.server_silent);
  BOOST_TEST(!timer.armed());
  BOOST_TEST(timer.progressed(t0 + 30ms).has_value()); // the next progress starts it again
}

BOOST_AUTO_TEST_CASE(the_backoff_doubles_up_to_its_upper_bound) {
  retransmit_timer timer{t0};
  auto first = timer.progressed(t0);
  std::vector<duration> timers;
  auto next = *first;
  auto now = t0;
  for (int i = 0; i < 10; ++i) {
    now += next;
    auto out = timer.fired(now, true, {});
    BOOST_REQUIRE(out.probe);
    next = *out.timer;
    timers.push_back(next);
  }
  const std::vector<duration> expected{40ms, 80ms, 160ms, 320ms, 640ms, 1s, 1s, 1s, 1s, 1s};
  BOOST_TEST((timers == expected));
  // Progress brings it back to a few round trips.
  timer.progressed(now);
  BOOST_TEST((timer.backoff() == retransmit_timer::min_retry));
}

BOOST_AUTO_TEST_CASE(a_slow_round_trip_raises_the_retry_interval_to_its_cap) {
  retransmit_timer timer{t0};
  auto now = t0;
  for (std::uint64_t k = 0; k < 60; ++k) {
    timer.pushed(k, now);
    now += 10s;
    timer.acknowledged(k, now);
  }
  BOOST_TEST((timer.round_trip() > 250ms)); // 4 round trips are beyond the cap
  timer.progressed(now);
  BOOST_TEST((timer.backoff() == retransmit_timer::max_retry));
}

BOOST_AUTO_TEST_CASE(a_probe_unanswered_for_the_limit_ends_the_wait) {
  retransmit_timer timer{t0};
  auto first = timer.progressed(t0);
  // Probes at 20, 60, 140, 300 ms; the one due at 620 ms finds the first unanswered for 600.
  auto run = run_probes(timer, *first, 500ms);
  BOOST_TEST(run.probes == 4);
  BOOST_REQUIRE(run.silent);
  BOOST_TEST((*run.silent == 600ms));
  BOOST_TEST((run.now == t0 + 620ms));
}

BOOST_AUTO_TEST_CASE(a_message_from_the_server_restarts_the_silence_count) {
  retransmit_timer timer{t0};
  timer.progressed(t0);
  BOOST_TEST(timer.fired(t0 + 20ms, true, 100ms).probe.has_value()); // unanswered since 20 ms
  BOOST_TEST(timer.fired(t0 + 60ms, true, 100ms).probe.has_value());
  timer.heard_from_server(); // the answer: alive, though nothing moved
  BOOST_TEST(timer.fired(t0 + 140ms, true, 100ms).probe.has_value()); // unanswered since 140 ms
  auto out = timer.fired(t0 + 300ms, true, 100ms);
  BOOST_REQUIRE(out.server_silent);
  BOOST_TEST((*out.server_silent == 160ms));
}

BOOST_AUTO_TEST_CASE(without_a_limit_a_silent_server_is_waited_for) {
  retransmit_timer timer{t0};
  auto first = timer.progressed(t0);
  auto run = run_probes(timer, *first, duration::zero(), 50);
  BOOST_TEST(run.probes == 50);
  BOOST_TEST(!run.silent);
}

BOOST_AUTO_TEST_CASE(a_late_timer_finds_the_worker_back_from_a_pause) {
  retransmit_timer timer{t0};
  timer.progressed(t0);
  BOOST_TEST(
      timer.fired(t0 + 20ms, true, 1s).probe.has_value()); // unanswered since 20 ms, next due 60 ms
  // The worker was stopped for 5 s: its timer fires long after it was due. That time is no
  // silence of the server's: a probe goes, and the count starts again.
  const auto back = t0 + 60ms + 5s;
  auto out = timer.fired(back, true, 1s);
  BOOST_TEST(!out.server_silent);
  BOOST_TEST(out.probe.has_value());
  // Due 80 ms later: on time, and the server has been silent 80 ms, not 5 s.
  out = timer.fired(back + 80ms, true, 1s);
  BOOST_TEST(!out.server_silent);
  BOOST_TEST(out.probe.has_value());
  // A timer exactly the late margin after its due time is still on time.
  retransmit_timer edge{t0};
  edge.progressed(t0);
  edge.fired(t0 + 20ms, true, 1s);
  out = edge.fired(t0 + 60ms + retransmit_timer::late_timer, true, 1s);
  BOOST_TEST(!out.server_silent); // 540 ms of silence: under the limit
  out = edge.fired(t0 + 60ms + retransmit_timer::late_timer + 80ms, true, 500ms);
  BOOST_REQUIRE(out.server_silent);
  BOOST_TEST((*out.server_silent == 620ms));
}
