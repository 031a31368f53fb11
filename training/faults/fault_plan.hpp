#pragma once

// The seeded fault plan of a run (issue 9): which faults to inject into links, workers and the
// server, checked once at start so that a typo is an error and not a run without the fault.
// Plain C++; the code that injects the faults asks link_faults what happens to each message.
//
// Keys (the `faults` option group, config/fault_options.hpp):
//   drop=P, duplicate=P, reorder=P   probability per message (P in [0,1], summed at most 1): lost,
//                                    delivered twice, held back and delivered after the next one
//                                    (or, if none comes, after a bound: actors/fault_link.hpp)
//   delay=MS, jitter=MS              every message waits MS, plus a uniform draw from [0, jitter)
//   bandwidth=RATE                   a message of B bytes also waits B / RATE; RATE is a number
//                                    with a unit per second: kbit, Mbit, Gbit (10^3, 10^6, 10^9
//                                    bits) or kB, MB, GB (10^3, 10^6, 10^9 bytes)
//   links=L                          the message faults apply only to these links: a comma list
//                                    of worker ids and directions up (worker to server) and down
//                                    (server to worker); no id means every worker, no direction
//                                    both; empty means every link both ways. With --servers=K a
//                                    worker has K links (one per shard): each is covered, with a
//                                    seeded stream of its own (link_id::shard)
//   crash=ID@STEP                    worker ID's process dies when it reaches model version STEP
//   hang=ID@STEP[:SECONDS]           worker ID stops answering (heartbeats too) at STEP, for
//                                    SECONDS or, without them, for good
//   rejoin=ID@STEP                   worker ID (gone by then) registers again at server step STEP
//   corrupt=ID@STEP                  worker ID's push for STEP has damaged bytes
//   poison=ID@STEP                   worker ID's push for STEP decodes to non-finite values
//   server-crash=STEP                the server's process dies at STEP (with --servers=K: the
//                                    process it is given to, the leader or a follower shard;
//                                    dsq local: the leader, and every shard restarts)
//   seed=N                           seed of every random decision
// The worker faults take comma lists ("crash=1@100,2@300").

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dsq {

struct fault_options;

/// The direction of a message between a worker and the server.
enum class link_direction : std::uint8_t {
  up,  ///< worker to server
  down ///< server to worker
};

/// One direction of the connection between worker `worker` and the server, or, in a sharded
/// run (--servers=K), shard `shard` of it (0: the leader, the only server of an unsharded run).
struct link_id {
  std::uint32_t worker = 0;
  link_direction direction = link_direction::up;
  std::uint32_t shard = 0; ///< the server shard at the link's other end

  /// Equal ids name the same link.
  friend bool operator==(const link_id&, const link_id&) = default;
};

/// "3/up", "3/down": a link as the fault log writes it; a follower shard's link names its shard
/// ("3/up/shard1").
std::string to_string(link_id link);

/// A fault of one worker at one step.
struct worker_fault {
  std::uint32_t worker = 0;
  std::uint64_t step = 0;
  std::optional<double> seconds; ///< hang only: its length; empty: for good

  /// Equal faults are the same fault.
  friend bool operator==(const worker_fault&, const worker_fault&) = default;
};

/// Every fault of a run, checked. The default plan injects nothing.
struct fault_plan {
  // -- message faults -------------------------------------------------------------------------
  double drop = 0;                         ///< probability that a message is lost
  double duplicate = 0;                    ///< probability that a message is delivered twice
  double reorder = 0;                      ///< probability that a message is held for reordering
  double delay_ms = 0;                     ///< fixed delay of every message
  double jitter_ms = 0;                    ///< bound of the uniform extra delay
  double bandwidth_bytes_per_s = 0;        ///< 0: unlimited
  std::vector<std::uint32_t> link_workers; ///< workers whose links are affected; empty: all
  bool up = true;                          ///< worker-to-server messages are affected
  bool down = true;                        ///< server-to-worker messages are affected
  // -- worker and server faults ---------------------------------------------------------------
  std::vector<worker_fault> crash, hang, rejoin, corrupt, poison;
  std::optional<std::uint64_t> server_crash; ///< the step at which the server dies
  std::uint64_t seed = 1;                    ///< seed of every random decision

  /// Whether the message faults apply to `link` (`links`).
  bool covers(link_id link) const;
  /// Whether any message fault is configured (drop, duplicate, reorder, delay, jitter, bandwidth).
  bool has_message_faults() const;
  /// Whether any worker fault that a worker's link applies is configured (crash, hang, corrupt,
  /// poison; rejoin is the injecting process's business).
  bool has_link_worker_faults() const;
  /// Whether the plan injects nothing at all.
  bool empty() const;
};

/// Parses `entries` (key, value), keys as in the `faults` group without the "faults." prefix
/// ("drop", "server-crash"). Throws config_error "--faults.<key>=<value>: <problem>" naming the
/// bad part, for an unknown or repeated key too.
fault_plan parse_fault_plan(const std::vector<std::pair<std::string, std::string>>& entries);

/// The plan of the `faults` options: the options that differ from their defaults, parsed by
/// parse_fault_plan(). Throws config_error like it.
fault_plan make_fault_plan(const fault_options& options);

/// "100Mbit", "10MB": bytes per second (see the units above). Throws config_error naming
/// `option`, the text and the problem.
double parse_bandwidth(std::string_view text, std::string_view option);

/// What happens to one message on a faulty link.
enum class message_action : std::uint8_t {
  deliver,   ///< delivered once
  drop,      ///< lost
  duplicate, ///< delivered twice
  hold       ///< held back and delivered after the next message on the link, or a bound
};

/// The name of `action`: "deliver", "drop", "duplicate", "reorder" (the key that causes hold).
std::string_view name(message_action action);

/// The fate of one message: what happens to it and how long it waits before delivery.
struct message_fate {
  message_action action = message_action::deliver;
  double delay_ms = 0; ///< delay + jitter draw + bytes / bandwidth; 0 for a dropped message
};

/// The message faults of one link. Every decision is a function of (plan seed, link (its shard
/// too), message index, size) alone, so a run with the same seed and the same message sequence on a
/// link sees the same faults there, whatever happens on other links or in other processes.
class link_faults {
public:
  /// Decides for `link` under `plan` (copied: the plan may go away).
  link_faults(const fault_plan& plan, link_id link);

  /// The fate of the next message on the link, of `bytes` bytes; counts it.
  message_fate next(std::size_t bytes);
  /// The fate of message number `index` (0-based) of `bytes` bytes, without counting.
  message_fate decide(std::uint64_t index, std::size_t bytes) const;

  /// Whether any message fault applies to this link (else every fate is deliver, 0 ms).
  bool active() const { return active_; }
  /// The link decided for.
  link_id link() const { return link_; }
  /// Messages decided by next() so far.
  std::uint64_t messages() const { return messages_; }

private:
  double drop_, duplicate_, reorder_, delay_ms_, jitter_ms_, bandwidth_;
  std::uint64_t link_seed_;
  link_id link_;
  bool active_;
  std::uint64_t messages_ = 0;
};

} // namespace dsq
