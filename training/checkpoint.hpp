#pragma once

// The server's state on disk: enough to resume a run where it stopped (model, server residual,
// momentum buffer, version). Written to a temporary file and renamed, so that a reader never
// sees half a checkpoint.

#include <Eigen/Core>

#include <cstdint>
#include <string>

namespace dsq {

struct checkpoint {
  std::uint64_t version = 0;
  Eigen::VectorXf model;
  Eigen::VectorXf server_residual; ///< empty when the downlink has no residual
  Eigen::VectorXf momentum;        ///< empty without momentum
};

/// Writes `dir`/server.ckpt atomically (creates `dir` if needed). Throws std::runtime_error.
void write_checkpoint(const std::string& dir, const checkpoint& ckpt);

/// Reads `dir`/server.ckpt; throws std::runtime_error naming the problem (missing, truncated,
/// not a checkpoint, sizes that disagree).
checkpoint read_checkpoint(const std::string& dir);

/// Throws std::runtime_error unless `ckpt` fits a model of `dim` parameters.
void check_fits(const checkpoint& ckpt, std::size_t dim);

} // namespace dsq
