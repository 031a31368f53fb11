#pragma once

#include "actors/parameter_server.hpp"

#include <caf/actor_system.hpp>

#include <atomic>

namespace dsq {

/// `dsq local`: the parameter server and cfg.workers workers as actors of `sys`, exchanging
/// the same serialized messages they would exchange across hosts. Blocks until the run ends.
/// When `stop` becomes true the run stops early as `dsq server` does on a signal.
run_outcome run_local(caf::actor_system& sys, const run_config& cfg, training_setup setup,
                      bool verbose, const std::atomic<bool>* stop = nullptr);

} // namespace dsq
