#pragma once

// What a sharded worker's multiplexer (worker_shards.hpp) asks of its adapter: worker_core's
// own effects (worker_effects.hpp), each either addressed to one shard's server or carried out
// as without shards, plus the connection to a follower. The adapter carries them out in order;
// none of them needs an answer, except `connect`, which the adapter answers with
// worker_shards::on_shard_connected or on_shard_lost.

#include "training/worker/worker_effects.hpp"

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace dsq::worker_shard_effect {

/// Send to shard `shard`'s server what `effect` says: one of worker_core's messages
/// (send_push, send_probe, send_status, send_heartbeat, send_register, send_data_request,
/// send_leave). Never a resend_push: the multiplexer keeps the slices, and a resend is a
/// send_push of the kept slice (the same bytes).
struct send_to {
  std::uint32_t shard = 0;
  any_worker_effect effect;
};

/// Open the connection to follower `shard` at `endpoint` ("host:port"; "" within one process,
/// where the adapter knows the follower's actor), then report it with on_shard_connected (or
/// on_shard_lost when it cannot be reached).
struct connect {
  std::uint32_t shard = 0;
  std::string endpoint;
};

/// Carry out `effect` as an unsharded worker does: arm_timer, say, find_server, stop.
struct local {
  any_worker_effect effect;
};

} // namespace dsq::worker_shard_effect

namespace dsq {

/// One thing a sharded worker's multiplexer asks of its adapter.
using any_worker_shard_effect =
    std::variant<worker_shard_effect::send_to, worker_shard_effect::connect,
                 worker_shard_effect::local>;
/// What one event asks for, in order.
using worker_shard_effects = std::vector<any_worker_shard_effect>;

} // namespace dsq
