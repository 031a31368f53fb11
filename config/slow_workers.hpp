#pragma once

#include "config/run_config.hpp"

#include <cstdint>
#include <map>

namespace dsq {

/// The stragglers of --slow-worker: worker id -> how many times as long it takes per gradient.
/// Throws config_error naming the part of the spec at fault.
std::map<std::uint32_t, double> slow_workers(const run_config& cfg);

} // namespace dsq
