#pragma once

// What the server core (server_core.hpp) asks its actor to do: the effects of one event, in the
// order they must happen. The actor turns them into CAF messages, timers and exits.

#include "training/membership.hpp"
#include "training/messages.hpp"
#include "training/shard/shard_messages.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace dsq {

/// How the core names a worker's actor: a number the actor gives each actor handle it hands in.
/// A plain number rather than a template parameter (as membership<Handle> has) keeps the core
/// compiled once in dsq_training, below CAF, and lets tests use any number as a worker.
using peer_id = std::uint64_t;

// -- messages to one worker -------------------------------------------------------------------

/// welcome_atom (or resync_atom when `resync`: the model again for a worker that fell behind).
struct welcome_msg {
  welcome w;
  bool resync = false;
};
/// grant_atom: compute one gradient on x_(>= version).
struct grant_msg {
  std::uint64_t version = 0, number = 0;
};
/// reshard_atom: the worker's new shard.
struct reshard_msg {
  shard_assignment shard;
};
/// update_atom: the update that made `version` (see new_update).
struct update_msg {
  std::uint64_t version = 0;
};
/// ack_atom: the push with this key is in hand.
struct ack_msg {
  std::uint64_t key = 0;
};
/// resend_atom: the push with this key never arrived.
struct resend_msg {
  std::uint64_t key = 0;
};
/// sent_atom: every update up to `version` was sent to the worker before this.
struct sent_msg {
  std::uint64_t version = 0;
};
/// chunk_atom: a chunk of the training set, the answer to a data_request.
struct data_chunk_msg {
  data_chunk chunk;
};
/// reject_atom (a refused registration) or shutdown_atom: the worker must stop.
struct farewell_msg {
  farewell bye;
  bool reject = false;
};

using worker_message = std::variant<welcome_msg, grant_msg, reshard_msg, update_msg, ack_msg,
                                    resend_msg, sent_msg, farewell_msg, data_chunk_msg>;

// -- effects ----------------------------------------------------------------------------------

/// Send `what` to worker `peer`.
struct send_to {
  peer_id peer = 0;
  worker_message what;
};
/// A new update, `payload` making `version`: keep it (one message for every recipient) until
/// the updates before `oldest_kept` may be dropped; send_to update_msg names it.
struct new_update {
  std::uint64_t version = 0;
  std::vector<std::uint8_t> payload;
  std::uint64_t oldest_kept = 0;
};
/// Watch `peer`'s connection: its loss comes back as server_core::connection_closed.
struct watch {
  peer_id peer = 0;
};
/// Ask the evaluator about x_step (`params`); the answer comes back as server_core::evaluated.
struct evaluation_request {
  std::uint64_t step = 0;
  std::vector<float> params;
  bool with_train = false;
};
/// The server's own timers.
enum class server_timer {
  liveness,     ///< server_core::tick
  goodbye,      ///< server_core::goodbye_tick
  shard_reports ///< server_core::shard_reports_tick (sharded runs: the end's wait for reports)
};
/// Call back after `after`.
struct arm_timer {
  server_timer which = server_timer::liveness;
  std::chrono::milliseconds after{0};
};
/// Hand the loss of `peer`'s connection back after the messages already queued
/// (server_core::connection_lost).
struct defer_loss {
  peer_id peer = 0;
  std::string why;
};
/// The server ends (and its evaluator with it): `killed`: an injected crash, gone at once;
/// else a success, or a failure that `error` describes.
struct stop_server {
  bool killed = false;
  bool failed = false;
  std::string error;
};

// -- sharded runs (--servers=K > 1; never emitted when K = 1) --------------------------------

/// What the leader says to a follower shard (training/shard/shard_messages.hpp).
using shard_message =
    std::variant<shard_setup, round_commit, member_change, shard_end, slice_save, distance_query>;
/// Send `what` to follower `shard` (1..K−1), on its one ordered channel: the order of these
/// effects is the order the follower must receive them in (net/PROTOCOL.md, "Shards").
struct send_to_shard {
  std::uint32_t shard = 0;
  shard_message what;
};
/// The follower connected as `peer` may not join (`why`): answer it with shard_end{failed, why}
/// and close its connection; it is no shard of this run.
struct refuse_shard {
  peer_id peer = 0;
  std::string why;
};

using server_effect = std::variant<send_to, new_update, watch, evaluation_request, arm_timer,
                                   defer_loss, stop_server, send_to_shard, refuse_shard>;
using server_effects = std::vector<server_effect>;

} // namespace dsq
