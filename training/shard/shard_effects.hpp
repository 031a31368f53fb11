#pragma once

// What a follower shard's core (shard_core.hpp) asks its actor to do: the effects of one event,
// in the order they must happen. Messages to workers are the server's (server_effects.hpp:
// send_to a worker_message, new_update to keep an update for its recipients, watch); messages
// to the leader and the follower's end are its own.

#include "training/server/server_effects.hpp"
#include "training/shard/shard_messages.hpp"

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace dsq {

/// The kept update of `version` (new_update), to the leader as model_update{version, payload,
/// shard = this shard}: the leader's replica of this slice, for evaluation.
struct slice_update_msg {
  std::uint64_t version = 0;
};

/// What a follower says to its leader.
using leader_message = std::variant<shard_join, slice_held, slice_refused, slice_update_msg,
                                    shard_report, slice_saved, slice_traffic, distance_reply>;

/// Send `what` to the leader (one ordered channel).
struct to_leader {
  leader_message what;
};

/// The follower ends: `failed` with `error`, else a success (the leader ended the run).
struct stop_shard {
  bool failed = false;
  std::string error;
};

using shard_effect = std::variant<send_to, new_update, watch, to_leader, stop_shard>;
using shard_effects = std::vector<shard_effect>;

} // namespace dsq
