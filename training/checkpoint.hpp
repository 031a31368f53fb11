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

#include "config/run_config.hpp"
#include "training/membership.hpp"
#include "training/worker_snapshot.hpp"

#include <Eigen/Core>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace dsq {

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
};

/// Creates `dir` if needed and checks that a file can be written in it, so that an unwritable
/// --checkpoint fails before any training. Throws std::runtime_error naming `dir` and the reason.
void check_checkpoint_dir(const std::string& dir);

/// Writes `dir`/server.ckpt atomically (creates `dir` if needed). Throws std::runtime_error
/// naming the file and the OS's reason when a write, sync or rename fails.
void write_checkpoint(const std::string& dir, const checkpoint& ckpt);

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
