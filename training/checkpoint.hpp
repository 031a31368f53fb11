#pragma once

// The server's state on disk: enough to resume a run where it stopped (model, server residual,
// momentum buffer, version, the server's random stream, the membership, the push norms behind
// the automatic bound on pushes), optionally every member's own state for a resume that
// continues bit for bit, and the training specification it was written with. Written to a
// temporary file, synced and renamed, so that a reader never sees half a checkpoint; a CRC-32
// over everything before it refuses a damaged or truncated file.
//
// Format 4: "DSQK" | format (u32) | body length (u64) | body | CRC-32 of all before (u32),
// little-endian. The body is the spec text, the version, and named sections ("model",
// "server_residual", "momentum", "server_rng", "membership", "workers", "push_norms",
// "push_norm_peak"), each a length-prefixed block, so that more state can be added as new
// sections. In "workers", each worker's sampler state is its data source's state words (a
// count, at most max_state_words, then the words); format 3 held exactly two words (epoch,
// position, the built-in data's state) and is still read. Format 2 (without "server_rng",
// "membership" and "workers") is refused: it cannot resume bit for bit. A file without "push_norms"
// or "push_norm_peak" (written before they existed) resumes with the cold bound, or a peak that is
// the median of the norms. A "push_losses" section (the loss history of an earlier divergence
// check) is skipped.
//
// Sharded runs (--servers=K > 1, net/PROTOCOL.md "Shards") add one section each, never written
// with K = 1 (whose files stay as they were): the leader's server.ckpt has "shards" (the K
// ranges and the CRC-32 of every follower's slice file of the same step), its model and
// momentum are the whole x and momentum, its residual and random stream range 0's; a follower's
// slice file (training/shard/slice_checkpoint.hpp) has "slice" (its shard, K and range), and its
// vectors are those of its range.

#include "config/run_config.hpp"
#include "training/membership.hpp"
#include "training/shard/key_ranges.hpp"
#include "training/worker_snapshot.hpp"

#include <Eigen/Core>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dsq {

/// The shards a sharded leader's checkpoint names: every range and the digest (the file's
/// CRC-32) of each follower's slice file of the checkpoint's step.
struct shard_set {
  std::vector<key_range> ranges;      ///< K ranges, contiguous from 0 to the model's size
  std::vector<std::uint32_t> digests; ///< [k] for follower k; [0] (the leader's own) is 0
};

/// Whose slice a follower's slice file holds.
struct slice_identity {
  std::uint32_t shard = 0;  ///< k, 1..shards−1
  std::uint32_t shards = 0; ///< K
  key_range range;          ///< the coordinates of x its vectors hold
};

/// Everything a resumed server continues from.
struct checkpoint {
  std::uint64_t version = 0;
  Eigen::VectorXf model;
  Eigen::VectorXf server_residual; ///< empty when the downlink has no residual
  Eigen::VectorXf momentum;        ///< empty without momentum
  /// The server's random stream (the 4 rng_engine state words; update_engine::snapshot fills
  /// it in). A file without exactly 4 words, or with all four zero, is refused.
  std::vector<std::uint64_t> server_rng;
  membership_snapshot members; ///< next id, shard generation, members and their shards
  /// Each member's own state at `version` (keyed by worker id), for a resume that continues
  /// bit for bit. May be empty: the final checkpoint, async mode, or states not yet collected.
  std::map<std::uint32_t, worker_snapshot> workers;
  /// push_check::recent_norms(): the automatic push bound's history, oldest first (at most
  /// push_norm_window, each finite and not negative). Empty: the cold bound.
  std::vector<double> push_norms;
  /// push_check::peak_median(): what the automatic push bound scales (finite, not negative; 0
  /// for none yet).
  double push_norm_peak = 0;
  /// training_spec_text() of the run that wrote it (training/training_spec.hpp); the writer
  /// must fill it in, --resume compares it with the resuming run (check_same_training).
  std::string spec;
  /// A sharded leader's: its followers' ranges and slice files (absent with K = 1).
  std::optional<shard_set> shards;
  /// A follower's slice file: whose slice it holds (absent in server.ckpt).
  std::optional<slice_identity> slice;
};

/// Creates `dir` if needed and checks that a file can be written in it, so that an unwritable
/// --checkpoint fails before any training. Throws std::runtime_error naming `dir` and the reason.
void check_checkpoint_dir(const std::string& dir);

/// Writes `dir`/server.ckpt atomically (creates `dir` if needed). Throws std::runtime_error
/// naming the file and the OS's reason when a write, sync or rename fails.
void write_checkpoint(const std::string& dir, const checkpoint& ckpt);

/// Writes `ckpt` to `file` atomically, as write_checkpoint does; returns the file's CRC-32 (its
/// digest). Throws std::runtime_error naming the file and the reason.
std::uint32_t write_checkpoint_file(const std::filesystem::path& file, const checkpoint& ckpt);

/// Reads the checkpoint file `file` with the checks of read_checkpoint; `digest` (if given)
/// receives its CRC-32. Throws std::runtime_error naming the file and the problem.
checkpoint read_checkpoint_file(const std::filesystem::path& file, std::uint32_t* digest = nullptr);

/// Reads `dir`/server.ckpt; throws std::runtime_error naming the file and the problem (missing,
/// not a regular file, not a checkpoint, truncated, checksum mismatch, unknown or older format,
/// unknown, missing or repeated section, sizes that disagree, a value that is not finite, a
/// random stream that is not 4 non-zero words, a shard that does not exist, a member id never
/// handed out, a worker state of another step or with a residual not of the model's size, more
/// push norms than the bound looks at, or a norm or peak norm that is negative or not finite).
checkpoint read_checkpoint(const std::string& dir);

/// Throws std::runtime_error unless `ckpt` fits a model of `dim` parameters.
void check_fits(const checkpoint& ckpt, std::size_t dim);

/// Throws std::runtime_error naming every option in which `cfg` differs from the run that wrote
/// `ckpt` ("checkpoint was written with --seed=1, this run has --seed=2").
void check_same_training(const checkpoint& ckpt, const run_config& cfg);

} // namespace dsq
