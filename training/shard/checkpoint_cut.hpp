#pragma once

// The leader's bookkeeping of a sharded run's checkpoints (--servers=K > 1 with --checkpoint;
// net/PROTOCOL.md "Shards"). A checkpoint of step v is one cut across the shards: the leader
// takes its own part at v (range 0's engine state, the membership, the workers' states) and
// orders every follower, on the ordered channel right after its commit of v, to write its slice
// state at v (slice_save). The leader's server.ckpt of v, naming the digest of every follower's
// slice file, is written only once every follower confirmed (slice_saved): its newest checkpoint
// always names a complete set. Plain data: server_core sends and writes.

#include "training/checkpoint.hpp"
#include "training/shard/key_ranges.hpp"
#include "training/shard/shard_messages.hpp"

#include <Eigen/Core>

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

namespace dsq {

/// Range `r` of a sharded leader's whole checkpoint `whole`: what its range-0 engine restores
/// (x and momentum of the range; the residual and random stream are range 0's already).
checkpoint leader_part(const checkpoint& whole, const key_range& r);

class checkpoint_cut {
public:
  /// The cuts of a run over `ranges`, whose newest complete checkpoint is of step `kept` (the
  /// step it resumed from; 0 for none).
  checkpoint_cut(std::vector<key_range> ranges, std::uint64_t kept);

  /// Opens the cut of step own.version with the leader's own part (`own`: its engine's
  /// snapshot of range 0, with the spec, membership, workers' states and push norms filled in).
  /// Returns the order every follower gets.
  slice_save open(checkpoint own);

  /// Follower `s.shard` saved step s.version; `x` and `m` (nullptr without momentum) are its
  /// range at that step (the leader's replica). Returns the whole checkpoint once every follower
  /// confirmed. Throws std::runtime_error naming the shard for a failed save, a step no cut
  /// waits for, or a replica of the wrong size.
  std::optional<checkpoint> saved(const slice_saved& s, const Eigen::VectorXf& x,
                                  const Eigen::VectorXf* m);

  /// The leader's checkpoint of step `version` is written: older cuts are dropped, and slice
  /// files before it may go.
  void written(std::uint64_t version);

  /// The step of the newest complete checkpoint.
  std::uint64_t kept() const { return kept_; }
  /// Cuts waiting for a follower's confirmation.
  std::size_t open_cuts() const { return open_.size(); }

private:
  struct cut {
    checkpoint whole; ///< range 0 in place; the followers' ranges as they confirm
    std::vector<bool> in;
  };

  std::vector<key_range> ranges_;
  std::uint64_t kept_ = 0;
  std::map<std::uint64_t, cut> open_;
};

} // namespace dsq
