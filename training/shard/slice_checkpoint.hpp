#pragma once

// A follower shard's part of a sharded run's checkpoint (--servers=K > 1, net/PROTOCOL.md
// "Shards"): its slice state at the leader's cut (x, δ_k and momentum of its range, its downlink
// random stream, its push bound's history, the version), in its own --checkpoint directory on
// its own host, as `shard-K-step-V.ckpt`: the container of checkpoint.hpp with a "slice"
// section. One file per step, so that the step the leader's newest checkpoint names is never
// replaced before the leader has a newer one: a follower removes only the files of steps before
// the `keep` the leader sends (the step of its newest complete checkpoint).

#include "training/checkpoint.hpp"

#include <cstdint>
#include <filesystem>
#include <string>

namespace dsq {

/// `dir`/shard-`shard`-step-`version`.ckpt.
std::filesystem::path slice_file(const std::string& dir, std::uint32_t shard,
                                 std::uint64_t version);

/// Writes `state` (its `slice` names the shard) atomically to its slice file in `dir`, then
/// removes that shard's slice files of steps before `keep` (never the one just written).
/// Returns the file's digest (CRC-32). Throws std::runtime_error naming the file and the reason.
std::uint32_t write_slice_checkpoint(const std::string& dir, const checkpoint& state,
                                     std::uint64_t keep);

/// What the leader's checkpoint expects of follower `shard`'s slice file.
struct slice_expectation {
  std::uint32_t shard = 0;
  std::uint32_t shards = 0;
  key_range range;
  std::uint64_t version = 0;
  std::uint32_t digest = 0;
};

/// Reads follower `want.shard`'s slice file of step `want.version` from `dir` and checks that it
/// is the one the leader's checkpoint names (its shard, K, range, step and digest). Throws
/// std::runtime_error in one line naming the file, the shard and the fix: missing, damaged, of
/// another shard, run or step.
checkpoint read_slice_checkpoint(const std::string& dir, const slice_expectation& want);

} // namespace dsq
