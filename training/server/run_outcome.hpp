#pragma once

// What a finished run leaves behind on the server's side, for `dsq` and for tests.

#include "training/run_log.hpp"

#include <Eigen/Core>

#include <string>
#include <vector>

namespace dsq {

/// What a finished run leaves behind, for `dsq` and for tests.
struct run_outcome {
  bool ok = false;
  std::string error;
  bool network_lost = false;     ///< ended because CAF's network layer did (`error` says so)
  Eigen::VectorXf model;         ///< the server's x at the end
  std::vector<step_record> rows; ///< the last rows, or all of them (server_options::rows)
  run_summary summary;
};

} // namespace dsq
