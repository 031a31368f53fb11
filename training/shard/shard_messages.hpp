#pragma once

// What the shards of a sharded run (--servers=K) say to each other, as plain data. Shard 0, the
// leader, keeps the control plane of an unsharded server: membership, admission, grants, the
// order of rounds, evaluation, the summary. Shards 1..K−1, the followers, each own a key range
// (key_ranges.hpp) with its slice of x, its residual δ_k, its momentum and its downlink
// operator: they take the workers' slice pushes, tell the leader which they hold, and apply
// rounds only as the leader commits them, in the leader's order. So every shard makes version v
// from the same pushes with the same weight, and a worker applies version v once it holds all K
// slice updates of v (net/PROTOCOL.md, "Shards").

#include "config/run_config.hpp"
#include "training/messages.hpp"
#include "training/shard/key_ranges.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace dsq {

/// Pushes a shard holds per worker that no round has taken yet (a follower: slices held and not
/// committed; the leader: its slices waiting for every slice_held): an honest worker has one or
/// two (it computes one gradient at a time). A follower refuses more (slice_refused); the leader
/// drops its oldest.
inline constexpr std::size_t held_pushes_max = 8;

/// Follower -> leader: shard `shard` of `shards` is up; workers reach it at `endpoint`
/// ("host:port"; "" within one process).
struct shard_join {
  std::uint32_t shard = 0;
  std::uint32_t shards = 0;
  std::uint32_t protocol = protocol_version;
  std::string endpoint;
};

/// Leader -> follower: the run's configuration, every range, and the follower's slice of x and
/// of the momentum buffer at `version`, the run's `total_steps`.
struct shard_setup {
  run_config config;
  std::vector<key_range> ranges;
  std::uint64_t version = 0;
  std::uint64_t total_steps = 0;
  std::vector<float> slice;
  std::vector<float> momentum; ///< empty without momentum
  // -- checkpoints (--resume with K > 1): the slice file the follower continues from ----------
  /// The leader resumed from its checkpoint of step `version`: the follower continues from its
  /// own slice file of that step (in its --resume directory), whose digest must be
  /// `resume_digest`; `slice` and `momentum` are the leader's copy of the same x_version.
  bool resume = false;
  std::uint32_t resume_digest = 0;
  /// The run's --aggregate (protocol 10). The inspection of run_config leaves it out (the rule is
  /// the server's, never sent to workers), so `config` arrives with the mean: a follower takes
  /// the rule from here (median, trimmed mean, Krum's chosen push on every shard).
  std::string aggregate;
};

/// Follower -> leader: the slice of worker `worker`'s push `key` arrived and passed the
/// follower's checks; the leader counts a push only when every follower holds its slice.
struct slice_held {
  std::uint32_t shard = 0;
  std::uint32_t worker = 0;
  std::uint64_t key = 0;
};

/// Follower -> leader: the slice of worker `worker`'s push `key` failed a check (`why`): the
/// leader treats the whole push as bad. With `resync` it is no refusal: worker `worker` lacks
/// updates this shard's ring no longer holds (key 0, `why` says so), and the leader decides a
/// resync (member_change with `resync`).
struct slice_refused {
  std::uint32_t shard = 0;
  std::uint32_t worker = 0;
  std::uint64_t key = 0;
  std::string why;
  bool resync = false;
};

/// Leader -> followers: make `version` from the pushes (workers[i], keys[i]), summed in this
/// order with `weight`, as the leader did.
struct round_commit {
  std::uint64_t version = 0;
  float weight = 1;
  std::vector<std::uint32_t> workers;
  std::vector<std::uint64_t> keys;
  // -- Krum with K > 1 (protocol 10) --
  /// The indices (into workers/keys) of the pushes the round takes whole: the leader's Krum
  /// choice over the summed distances. Empty: the run's rule over every named push. The pushes
  /// not chosen are taken all the same (their norms recorded, their slices dropped).
  std::vector<std::uint32_t> chosen;
};

/// Leader -> followers: worker `worker` takes part from `version` on (`joined`; its welcome
/// slice is x_version), or is gone. With `resync` (and `joined`) the worker, a member already,
/// is resynced at `version`: the leader sent its own resync welcome at x_version, and each
/// follower sends its slice at x_version as its part (the worker joins the K parts of one
/// version). Only the leader decides a resync: the K parts then always meet.
struct member_change {
  std::uint32_t worker = 0;
  std::uint64_t version = 0;
  bool joined = false;
  bool resync = false;
};

/// Leader -> followers: the run ends; `failed` with `why`. A follower answers with its
/// shard_report and stops.
struct shard_end {
  bool failed = false;
  std::string why;
};

// -- checkpoints of a sharded run (--checkpoint with K > 1; net/PROTOCOL.md "Shards") ----------

/// Leader -> followers, on the ordered channel right after the commit of `version` (before any
/// later one): write your slice state at `version` to your --checkpoint directory and answer
/// slice_saved; slice files of steps before `keep` (the leader's newest complete checkpoint)
/// may go.
struct slice_save {
  std::uint64_t version = 0;
  std::uint64_t keep = 0;
};

/// Follower -> leader: the slice file of `version` is written, with `digest` (its CRC-32); or
/// not (`failure` says why: the run ends as failed).
struct slice_saved {
  std::uint32_t shard = 0;
  std::uint64_t version = 0;
  std::uint32_t digest = 0;
  std::string failure;
};

// -- protocol 10: the bytes of every shard per version, for the metrics rows ------------------

/// Follower -> leader, right after its slice update of `version`: what that version moved
/// through shard `shard`, counted as its shard_report counts (the leader's row of `version`
/// carries every shard's bytes and their sums).
struct slice_traffic {
  std::uint32_t shard = 0;
  std::uint64_t version = 0;
  std::uint64_t bytes_in = 0;  ///< the slice pushes the version applied
  std::uint64_t bytes_out = 0; ///< its slice update times the workers it was sent to
};

// -- Krum with K > 1 (protocol 10; net/PROTOCOL.md "Shards", rule 9) ------------------------
// Krum scores each push by its squared distances to the others over the whole vector; each
// shard holds one range of every push, and the squared distance is the sum over the ranges.
// Before the leader commits a Krum round it asks every follower for the partial distances of
// the round's pushes over its range, adds them to its own and commits naming its choice.

/// Leader -> followers: the partial squared distances of the pushes (workers[i], keys[i]) of the
/// round that will make `version`, in this order (the round's summation order).
struct distance_query {
  std::uint64_t version = 0;
  std::vector<std::uint32_t> workers;
  std::vector<std::uint64_t> keys;
};

/// Follower -> leader: the answer to the distance query of `version`: the squared distances of
/// the named pushes over shard `shard`'s range, pair (i, j), i < j, in the layout of
/// pairwise_squared_distances (training/robust_aggregate.hpp). With `refused` (why) it holds
/// nothing: the follower lacks a named push, and the leader ends the run (the protocol broke).
struct distance_reply {
  std::uint32_t shard = 0;
  std::uint64_t version = 0;
  std::vector<double> distances;
  std::string refused;
};

/// Follower -> leader, at the end: what the follower moved, for the run's summary.
struct shard_report {
  std::uint32_t shard = 0;
  std::uint64_t bytes_in = 0;  ///< the slice pushes it applied (as the leader's bytes_up)
  std::uint64_t bytes_out = 0; ///< its slice updates times the workers sent to (as bytes_down)
  std::uint64_t updates = 0;
};

} // namespace dsq
