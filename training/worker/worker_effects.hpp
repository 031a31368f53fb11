#pragma once

// What the worker's core asks its adapter to do (worker_core.hpp): send a message to the
// server, start a timer, print a line, stop. The adapter carries them out in order; none of them
// needs an answer from it.

#include "training/messages.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace dsq::worker_effect {

using duration = std::chrono::steady_clock::duration;

/// A new push: send it and keep it, as it was sent, until the server has it.
struct send_push {
  gradient_push push;
  /// Its key (the step in sync, the grant number in async): what acks and resends name. A
  /// sharded worker's multiplexer keeps the K slices under it (training/shard/worker_shards.hpp).
  std::uint64_t key = 0;
};
/// The kept push (of this key) again, the same bytes: computing again would fold the residual
/// in twice.
struct resend_push {
  std::uint64_t key = 0;
};
/// (probe_atom, pushed): has the server got the push before `pushed` (0: none is waited for)?
struct send_probe {
  std::uint64_t pushed = 0;
};
/// (status_atom, version): the replica holds x_version; send the updates after it.
struct send_status {
  std::uint64_t version = 0;
};
/// (heartbeat_atom): this worker is alive.
struct send_heartbeat {};
/// (register_atom, hello): as a new worker, or (`returning`) asking for `previous_id` back.
struct send_register {
  bool returning = false;
  std::uint32_t previous_id = 0;
};
/// (data_atom, request): a chunk of the run's data (net/PROTOCOL.md, "Data from the server").
struct send_data_request {
  data_request request;
};
/// (leave_atom, id), then wait for the server's farewell (or its loss) at most `deadline`,
/// taking nothing else, and end. With `failure`: (leave_atom, id, farewell{failure, true}), the
/// reason the worker cannot go on, and the worker then ends with that error.
struct send_leave {
  std::uint32_t id = 0;
  duration deadline{};
  std::optional<std::string> failure;
};

/// The timers of a worker; each fires back into worker_core as its own event.
enum class timer {
  retry,     ///< worker_core::on_retry_timer
  straggler, ///< worker_core::on_straggler_due
  heartbeat, ///< worker_core::on_heartbeat_timer
  reconnect, ///< worker_core::on_reconnect_timer
};
/// Starts `which` to fire `after` from now.
struct arm_timer {
  timer which = timer::retry;
  duration after{};
};

/// Prints `line` (a newline follows) to the worker's log.
struct say {
  std::string line;
};
/// The server is lost: ask where it is now (worker_options::on_server_lost); a reconnect or a
/// reconnect timer comes back.
struct find_server {};
/// The worker ends: with an error (the process exits non-zero) or normally.
struct stop {
  bool error = false;
  std::string reason;
};

} // namespace dsq::worker_effect

namespace dsq {

/// One thing the worker's core asks of its adapter.
using any_worker_effect =
    std::variant<worker_effect::send_push, worker_effect::resend_push, worker_effect::send_probe,
                 worker_effect::send_status, worker_effect::send_heartbeat,
                 worker_effect::send_register, worker_effect::send_data_request,
                 worker_effect::send_leave, worker_effect::arm_timer, worker_effect::say,
                 worker_effect::find_server, worker_effect::stop>;
/// What one event asks for, in order.
using worker_effects = std::vector<any_worker_effect>;

} // namespace dsq
