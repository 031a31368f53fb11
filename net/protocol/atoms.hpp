#pragma once

#include <caf/atom.hpp>

#include <array>

namespace dsq {

// The verbs of the protocol (see net/PROTOCOL.md). CAF 0.17 atoms: at most 10 characters.
using register_atom = caf::atom_constant<caf::atom("register")>;
using welcome_atom = caf::atom_constant<caf::atom("welcome")>;
using reject_atom = caf::atom_constant<caf::atom("reject")>;
using push_atom = caf::atom_constant<caf::atom("push")>;
using update_atom = caf::atom_constant<caf::atom("update")>;
using grant_atom = caf::atom_constant<caf::atom("grant")>;
using heartbeat_atom = caf::atom_constant<caf::atom("heartbeat")>;
/// A worker took its welcome and loads its data before it can train (net/PROTOCOL.md).
using starting_atom = caf::atom_constant<caf::atom("starting")>;
/// A worker asks for a chunk of the run's data; the server answers with one (net/PROTOCOL.md).
using data_atom = caf::atom_constant<caf::atom("data")>;
using chunk_atom = caf::atom_constant<caf::atom("chunk")>;
using reshard_atom = caf::atom_constant<caf::atom("reshard")>;
using leave_atom = caf::atom_constant<caf::atom("leave")>;
using shutdown_atom = caf::atom_constant<caf::atom("shutdown")>;
using eval_atom = caf::atom_constant<caf::atom("eval")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
// Recovery of lost messages and of a lost server (net/PROTOCOL.md, "Faults").
using ack_atom = caf::atom_constant<caf::atom("ack")>;
using status_atom = caf::atom_constant<caf::atom("status")>;
using probe_atom = caf::atom_constant<caf::atom("probe")>;
using resend_atom = caf::atom_constant<caf::atom("resend")>;
using sent_atom = caf::atom_constant<caf::atom("sent")>;
using resync_atom = caf::atom_constant<caf::atom("resync")>;
using reconnect_atom = caf::atom_constant<caf::atom("reconnect")>;
// Between the shards of a sharded run (training/shard/shard_messages.hpp; net/PROTOCOL.md,
// "Shards").
/// Follower -> leader: shard_join.
using shard_join_atom = caf::atom_constant<caf::atom("shardjoin")>;
/// Leader -> follower: shard_setup.
using shard_setup_atom = caf::atom_constant<caf::atom("shardsetup")>;
/// Follower -> leader: slice_held.
using held_atom = caf::atom_constant<caf::atom("held")>;
/// Follower -> leader: slice_refused.
using refused_atom = caf::atom_constant<caf::atom("refused")>;
/// Leader -> followers: round_commit.
using commit_atom = caf::atom_constant<caf::atom("commit")>;
/// Leader -> followers: member_change.
using member_atom = caf::atom_constant<caf::atom("member")>;
/// Leader -> followers: shard_end.
using shard_end_atom = caf::atom_constant<caf::atom("shardend")>;
/// Follower -> leader: shard_report.
using shard_report_atom = caf::atom_constant<caf::atom("shardrep")>;
// Checkpoints of a sharded run (--checkpoint with K > 1).
/// Leader -> followers: slice_save.
using slice_save_atom = caf::atom_constant<caf::atom("slicesave")>;
/// Follower -> leader: slice_saved.
using slice_saved_atom = caf::atom_constant<caf::atom("slicesaved")>;
/// Follower -> leader: slice_traffic (protocol 10).
using traffic_atom = caf::atom_constant<caf::atom("traffic")>;
// -- Krum with K > 1 (protocol 10) --
/// Leader -> followers: distance_query.
using distance_query_atom = caf::atom_constant<caf::atom("distquery")>;
/// Follower -> leader: distance_reply.
using distance_reply_atom = caf::atom_constant<caf::atom("distreply")>;

} // namespace dsq
