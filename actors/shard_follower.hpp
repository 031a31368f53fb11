#pragma once

// A follower shard (shards 1..K−1 of --servers=K): a thin actor over its core
// (training/shard/shard_core.hpp), which owns the shard's key range and its rules. The actor
// receives, sends, monitors the leader and its workers, and checks who sent what.
//
// Protocol (net/PROTOCOL.md, "Shards"):
//   -> leader   (shardjoin, shard_join)          at start: this shard and where workers reach it
//   <- leader   (shardsetup, shard_setup)        configuration, ranges, this shard's slice
//   <- leader   (member, member_change)          a worker joins at version v, or is gone
//   <- leader   (commit, round_commit)           make version v from the named pushes
//   <- leader   (shardend, shard_end)            the run ends: the report, then the end
//   <- leader   (slicesave, slice_save)          write this shard's slice file of step v
//   -> leader   (slicesaved, slice_saved)        written (its digest), or failed
//   <- leader   (distquery, distance_query)      Krum: this range's distances of a round
//   -> leader   (distreply, distance_reply)      the answer (or its refusal)
//   -> leader   (held | refused, ...)            a worker's slice push was taken (or not)
//   -> leader   (update_atom, model_update)      each slice update (shard = k), for the
//                                                leader's replica
//   -> leader   (shardrep, shard_report)         at the end
//   <- worker   (register_atom, worker_hello)    returning, previous_id = the leader's id
//   -> worker   (welcome_atom, welcome)          from_shard = k, the slice at its entry version
//   <- worker   (push_atom, gradient_push)       shard = k; acked, or resend
//   -> workers  (update_atom, model_update)      each slice update
//   <- worker   (probe_atom | status_atom, n)    as with the leader
// Only the leader's actor may speak for the leader; the leader's loss ends the follower.

#include "training/shard/shard_core.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace dsq {

/// What a follower needs to start.
struct follower_options {
  std::uint32_t shard = 1;  ///< k, 1..shards−1
  std::uint32_t shards = 2; ///< K
  std::string endpoint;     ///< "host:port" the workers dial; "" within one process
  /// The leader's actor (its parameter server). Invalid: the follower waits for
  /// begin_follower (dsq server publishes it before it knows its port and its leader).
  caf::actor leader;
  /// false: the follower runs on CAF's scheduler (tests under the test coordinator).
  bool detached = true;
  /// Its own --checkpoint and --resume directories (on its own host).
  shard_storage storage;
  /// Where the follower's lines go (its end, when it failed); empty: stderr.
  std::function<void(std::string_view)> on_line;
  /// --faults.server-crash given to this follower's process: called with each version the
  /// follower made, once its update is sent; it may end the process there (empty: none).
  std::function<bool(std::uint64_t version)> crash_hook;
};

/// Spawns follower `opts.shard`, which sends its join to the leader at once (or once begun) and
/// ends with the run (an error naming the shard when it failed: the leader's loss, a bad
/// set-up).
caf::actor spawn_shard_follower(caf::actor_system& sys, follower_options opts);

/// Starts a follower spawned without a leader: it joins `leader`, telling it `endpoint`.
void begin_follower(const caf::actor& follower, const std::string& endpoint,
                    const caf::actor& leader);

} // namespace dsq
