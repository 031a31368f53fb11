#include "training/resend/retransmit_timer.hpp"

#include <algorithm>

namespace dsq {

retransmit_timer::duration retransmit_timer::base_retry() const {
  return std::clamp<duration>(4 * round_trip_, min_retry, max_retry);
}

std::optional<retransmit_timer::duration> retransmit_timer::arm(time_point now, duration after) {
  if (armed_)
    return std::nullopt;
  armed_ = true;
  after = std::max<duration>(after, min_retry);
  due_ = now + after;
  return after;
}

std::optional<retransmit_timer::duration> retransmit_timer::progressed(time_point now) {
  last_progress_ = now;
  backoff_ = base_retry();
  return arm(now, backoff_);
}

std::optional<retransmit_timer::duration> retransmit_timer::pushed(std::uint64_t key,
                                                                   time_point now) {
  unacked_ = key;
  pushed_at_ = now;
  resent_ = false;
  return progressed(now);
}

bool retransmit_timer::resend_requested(std::uint64_t key) {
  if (!unacked_ || *unacked_ != key)
    return false;
  resent_ = true;
  return true;
}

void retransmit_timer::acknowledged(std::uint64_t key, time_point now) {
  if (!unacked_ || key < *unacked_)
    return;
  unacked_.reset();
  // Karn's rule: the answer to a resent push may answer either copy, so it is no sample. And one
  // sample moves the estimate at most to twice itself: a round trip that includes waiting for
  // others (sync) must not run the estimate, and with it the retry interval, up to its cap.
  if (resent_)
    return;
  const auto sample = std::min<duration>(now - pushed_at_, 2 * round_trip_);
  round_trip_ = (7 * round_trip_ + sample) / 8;
}

retransmit_timer::outcome retransmit_timer::fired(time_point now, bool waiting,
                                                  duration silence_limit) {
  armed_ = false;
  if (!waiting)
    return {};
  // A live server answers every probe, and probes go at least once a second while the worker
  // waits: a probe unanswered this long says it is stopped, hung or cut off behind an open
  // connection, which no down message will ever report. A timer this late says that this
  // worker was not running (stopped itself, or a suspended machine): that time is no silence
  // of the server's, and the next probe starts the count again.
  if (now - due_ > late_timer)
    unanswered_since_.reset();
  if (silence_limit > duration::zero() && unanswered_since_ &&
      now - *unanswered_since_ >= silence_limit)
    return {.server_silent = now - *unanswered_since_, .probe = {}, .timer = {}};
  const auto quiet = now - last_progress_;
  if (quiet < backoff_)
    return {.server_silent = {}, .probe = {}, .timer = arm(now, backoff_ - quiet)};
  outcome out;
  out.probe = unacked_ ? *unacked_ + 1 : 0;
  if (!unanswered_since_)
    unanswered_since_ = now;
  last_progress_ = now;
  backoff_ = std::min<duration>(2 * backoff_, max_retry);
  out.timer = arm(now, backoff_);
  return out;
}

} // namespace dsq
