#pragma once

// What the fault link (actors/fault_link.hpp) does to the messages between one worker and the
// server, without CAF or a clock of its own: which message is dropped, duplicated, held for
// reordering or delayed and until when, per the fault plan, and which worker fault (crash,
// hang, corrupt, poison) fires at which version. Messages are tokens here (the actor keeps the
// messages under them); events with their time in, effects out: deliver a token, copy one,
// forget one, wake me to release a direction's due messages, tell me when a hold's bound has
// passed. tests/training/test_fault_link_core.cpp drives it on a fake clock.

#include "training/faults/fault_injector.hpp"
#include "training/faults/fault_plan.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

namespace dsq {

/// The link's clock (tests give it time points of their own).
using link_clock = std::chrono::steady_clock;

/// A message held by the actor while the core decides about it.
using message_token = std::uint64_t;

/// What the core needs to know of a message.
struct link_message {
  message_token token = 0;
  bool data = true;       ///< a data message (every fault) or control (delay, jitter, bandwidth)
  std::size_t bytes = 0;  ///< what it costs on a rate-limited link
  std::uint64_t step = 0; ///< its step or the latest version seen (for the log)
  /// A push or an update (sent once per step): its verb, which numbers it by (verb, step, copy)
  /// for its fate; empty for messages numbered in arrival order.
  std::optional<std::uint64_t> stepped_verb;
};

/// One thing the actor is to do.
struct link_effect {
  /// What to do.
  enum class kind {
    deliver,   ///< send the message of `token` on toward `dir`'s end (its last use)
    copy,      ///< keep a copy of the message of `token` as `copy` (a duplicate)
    discard,   ///< forget the message of `token` (dropped, or its end is gone)
    wake,      ///< call release_due(`dir`) after `after`
    hold_timer ///< call hold_expired(`dir`, `hold`) after `after`
  };
  kind what = kind::deliver;
  link_direction dir = link_direction::up;
  message_token token = 0;
  message_token copy = 0;
  std::chrono::microseconds after{0};
  std::uint64_t hold = 0;
};

/// The worker faults a newly seen model version fires on the link.
struct version_faults {
  bool crash = false; ///< the worker dies now (recorded)
  /// A hang starts now (recorded): its length in seconds, or empty for good.
  std::optional<std::optional<double>> hang;
};

/// The damage done to a push (both recorded).
struct push_damage {
  bool poison = false;                       ///< its values become NaN
  std::optional<std::uint64_t> corrupt_seed; ///< its bytes are damaged with this seed
};

/// See the top of this file. One per link; not thread-safe (an actor's state).
class fault_link_core {
public:
  /// Injects `injector`'s plan, recording in it; the injector must outlive this. `shard`: the
  /// server shard at the other end (--servers=K; 0: the leader, or the only server). A follower
  /// shard's link (shard >= 1) has message faults of its own stream and no worker faults: those
  /// fire on the worker's link to the leader only, once per worker.
  explicit fault_link_core(fault_injector& injector, std::uint32_t shard = 0)
      : injector_{&injector}, shard_{shard} {}

  /// The server shard at the other end.
  std::uint32_t shard() const { return shard_; }

  /// A token for a new message (the actor keeps the message under it).
  message_token new_token() { return next_token_++; }

  /// The worker's id, once a welcome told it.
  std::optional<std::uint32_t> id() const { return id_; }
  /// Learns the worker's id from a welcome; a new id gets the message faults of its links.
  void learn_id(std::uint32_t id);

  /// A message toward `d`'s end at `now`: what happens to it.
  std::vector<link_effect> route(link_direction d, const link_message& msg,
                                 link_clock::time_point now);
  /// The messages of `d` due at `now`, in release order.
  std::vector<link_effect> release_due(link_direction d, link_clock::time_point now);
  /// Hold number `hold` of `d` has waited its bound: it goes on its own, if still held.
  std::vector<link_effect> hold_expired(link_direction d, std::uint64_t hold,
                                        link_clock::time_point now);
  /// The end `dead` went down: its messages are forgotten; a message held toward the other end
  /// goes on its own (the one it waited for may never come).
  std::vector<link_effect> end_down(link_direction dead, link_clock::time_point now);
  /// Whether messages toward `d`'s end are still queued or held.
  bool pending(link_direction d) const;

  /// The worker faults that model version `v` fires (none before the id is known, none on a
  /// follower shard's link).
  version_faults version_seen(std::uint64_t v);
  /// Whether a hang holds the link.
  bool hanging() const { return hanging_; }
  /// The hang is over.
  void end_hang() { hanging_ = false; }
  /// The damage of the push of `step` (none before the id is known, none on a follower shard's
  /// link).
  push_damage damage(std::uint64_t step);

  /// The least time a held message waits for the next one beyond its own delay: a held
  /// message goes after the next message of its direction or after max(this, delay + jitter),
  /// whichever comes first (a sync update, the last message of its step, is not held until
  /// the worker's retry).
  static constexpr double min_hold_ms = 10;

private:
  /// A message held back by a reorder fault until the next message of its direction.
  struct held_message {
    message_token token = 0;
    double delay_ms = 0;    ///< what its own delay would have been
    std::uint64_t hold = 0; ///< its number among the holds of the direction (for its timer)
  };

  /// One direction of the link.
  struct direction_state {
    std::optional<link_faults> faults;                          ///< once the id is known
    std::multimap<link_clock::time_point, message_token> queue; ///< by release time, FIFO on ties
    link_clock::time_point busy_until{};                        ///< bandwidth: busy sending
    link_clock::time_point last_release{};                      ///< keeps FIFO order
    std::optional<held_message> held;
    std::uint64_t holds = 0; ///< messages held so far
    /// Copies of each (verb, step) of the step messages seen so far: a resend is the next
    /// copy, with a fate of its own.
    std::map<std::pair<std::uint64_t, std::uint64_t>, std::uint64_t> copies;
    std::uint64_t timed = 0; ///< timer-driven and other messages seen so far
  };

  direction_state& dir(link_direction d) { return dirs_[d == link_direction::up ? 0 : 1]; }
  const direction_state& dir(link_direction d) const {
    return dirs_[d == link_direction::up ? 0 : 1];
  }
  /// The index of `msg` for its fate (link_faults::decide).
  std::uint64_t fate_index(direction_state& dir, const link_message& msg);
  /// Queues `token` for release at `when`, or delivers it now when it is due and nothing is
  /// ahead.
  void release_at(link_direction d, link_clock::time_point when, message_token token,
                  link_clock::time_point now, std::vector<link_effect>& out);
  std::string where(link_direction d) const;

  fault_injector* injector_;
  std::uint32_t shard_ = 0;
  std::optional<std::uint32_t> id_;
  std::array<direction_state, 2> dirs_;
  bool hanging_ = false;
  message_token next_token_ = 1;
};

} // namespace dsq
