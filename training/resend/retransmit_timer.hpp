#pragma once

// The worker's half of the resender: the push it waits to hear about, the round trip, and when
// to ask the server whether anything was lost (net/PROTOCOL.md, "Faults").
//
// A worker that waits for the server (for the update after its push, or for a grant) and hears
// nothing for a few round trips asks before it sends anything large again: a probe (naming the
// push it waits to hear about) travels behind everything it sent, and the server's answer
// behind everything the server sent, so what the answer shows missing was lost, not slow. Only
// then does the push go again, or the worker ask for the updates it lacks. Resending on a timer
// alone flooded slow links: a 4 MB push takes 1.4 s at 100 Mbit/s, far longer than any retry
// interval, and every copy made the next step slower. The interval doubles while nothing comes,
// and starts again at the next progress.
//
// No clock is read here: every call that depends on time takes `now`.

#include <chrono>
#include <cstdint>
#include <optional>

namespace dsq {

class retransmit_timer {
public:
  using clock = std::chrono::steady_clock;
  using duration = clock::duration;
  using time_point = clock::time_point;

  /// Bounds of the retransmission timeout: never busier than this, never lazier than that.
  static constexpr duration min_retry = std::chrono::milliseconds(20);
  static constexpr duration max_retry = std::chrono::milliseconds(1000);
  /// A retry timer that fires this much after it was due finds the worker back from a pause.
  static constexpr duration late_timer = std::chrono::milliseconds(500);
  /// The round-trip estimate before the first sample.
  static constexpr duration initial_round_trip = std::chrono::milliseconds(5);

  /// What a fired retry timer asks of the worker, in this order.
  struct outcome {
    /// The server has left a probe unanswered this long, at least the silence limit: give up.
    std::optional<duration> server_silent;
    /// Send a probe naming this push (the unacknowledged push's key + 1, or 0 for none).
    std::optional<std::uint64_t> probe;
    /// Start the retry timer with this delay.
    std::optional<duration> timer;
  };

  /// A worker created at `now`: no push sent, nothing heard, no timer running.
  explicit retransmit_timer(time_point now) : last_progress_(now), pushed_at_(now) {}

  /// Starts the retry timer to fire `after` from `now` (at least min_retry): the delay to start
  /// it with, or nothing if it already runs.
  std::optional<duration> arm(time_point now, duration after);

  /// Something came from the server, or a push went to it: the wait starts anew (backoff back
  /// to a few round trips). The delay of a timer to start, if none runs.
  std::optional<duration> progressed(time_point now);

  /// The push of key `key` went to the server at `now`: it is kept until acknowledged. The
  /// delay of a timer to start, if none runs.
  std::optional<duration> pushed(std::uint64_t key, time_point now);

  /// The server asks for the push of key `key` again (it answered a probe without it): true if
  /// that is the unacknowledged push, which then goes again and gives no round-trip sample.
  bool resend_requested(std::uint64_t key);

  /// The push of key `key`, or a later one, is in the server's hands (heard at `now`): the
  /// unacknowledged push is done with, and its round trip is a sample unless it went twice.
  void acknowledged(std::uint64_t key, time_point now);

  /// A message from the server: it is alive, the silence count stops.
  void heard_from_server() { unanswered_since_.reset(); }

  /// The worker starts anew (a new welcome, a new membership): no push is owed an answer.
  void forget_push() { unacked_.reset(); }

  /// The retry timer fired at `now`. `waiting`: the worker waits for the server (an answer to
  /// its push, an update, a grant or its welcome); if not, nothing is done and the next progress
  /// starts the timer again. `silence_limit`: a probe unanswered this long ends the wait
  /// (--server-timeout; zero: never).
  outcome fired(time_point now, bool waiting, duration silence_limit);

  /// Since when the server has left a probe unanswered (nothing heard since), if it has.
  std::optional<time_point> unanswered_since() const { return unanswered_since_; }
  /// The key of the push sent and not yet acknowledged, if any.
  std::optional<std::uint64_t> unacknowledged() const { return unacked_; }
  /// The smoothed round trip from a push to its answer.
  duration round_trip() const { return round_trip_; }
  /// The current retry interval.
  duration backoff() const { return backoff_; }
  /// True while a retry timer runs.
  bool armed() const { return armed_; }

private:
  /// The retry interval after progress: a few smoothed round trips, within bounds.
  duration base_retry() const;

  std::optional<std::uint64_t> unacked_; ///< its step (sync) or grant number (async)
  time_point last_progress_;             ///< an update, grant, ack, send or probe
  /// The first probe the server has not answered (no message from it since): how long it has
  /// been silent to a waiting worker.
  std::optional<time_point> unanswered_since_;
  time_point pushed_at_;
  duration round_trip_ = initial_round_trip; ///< smoothed push -> answer
  duration backoff_{};                       ///< current retry interval
  bool armed_ = false;
  time_point due_; ///< when the armed retry timer should fire
  /// The unacknowledged push went more than once: its round trip says nothing (Karn's rule).
  bool resent_ = false;
};

} // namespace dsq
