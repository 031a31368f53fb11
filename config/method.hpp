#pragma once

#include "config/run_config.hpp"

#include <string>

namespace dsq {

/// The four switches behind every method of docs/algorithm.md: all baselines are the same loop.
struct method_switches {
  std::string uplink = "identity";   ///< operator spec for worker -> server
  bool uplink_residual = false;      ///< worker error feedback
  std::string downlink = "identity"; ///< operator spec for server -> workers
  bool downlink_residual = false;    ///< server error feedback
};

/// The preset named by cfg.method with cfg.compressor as its C, then any explicit override
/// (--uplink, --downlink, --uplink-residual, --downlink-residual). Throws config_error.
method_switches resolve_method(const run_config& cfg);

/// "up=sign+ef down=sign+ef": how a run is labelled in logs and summaries.
std::string describe(const method_switches& m);

} // namespace dsq
