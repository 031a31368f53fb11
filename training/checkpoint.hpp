#pragma once

// The server's state on disk: enough to resume a run where it stopped (model, server residual,
// momentum buffer, version), and the training specification it was written with. Written to a
// temporary file, synced and renamed, so that a reader never sees half a checkpoint; a CRC-32
// over everything before it refuses a damaged or truncated file.
//
// Format 2: "DSQK" | format (u32) | body length (u64) | body | CRC-32 of all before (u32),
// little-endian. The body is the spec text, the version, and named sections ("model",
// "server_residual", "momentum"), each a length-prefixed block, so that more state (worker
// residuals, random streams, membership) can be added as new sections.

#include "config/run_config.hpp"

#include <Eigen/Core>

#include <cstdint>
#include <string>

namespace dsq {

struct checkpoint {
  std::uint64_t version = 0;
  Eigen::VectorXf model;
  Eigen::VectorXf server_residual; ///< empty when the downlink has no residual
  Eigen::VectorXf momentum;        ///< empty without momentum
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
/// not a regular file, not a checkpoint, truncated, checksum mismatch, unknown format or
/// section, sizes that disagree, a value that is not finite).
checkpoint read_checkpoint(const std::string& dir);

/// Throws std::runtime_error unless `ckpt` fits a model of `dim` parameters.
void check_fits(const checkpoint& ckpt, std::size_t dim);

/// Throws std::runtime_error naming every option in which `cfg` differs from the run that wrote
/// `ckpt` ("checkpoint was written with --seed=1, this run has --seed=2").
void check_same_training(const checkpoint& ckpt, const run_config& cfg);

} // namespace dsq
