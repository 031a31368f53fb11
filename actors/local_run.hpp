#pragma once

#include "actors/parameter_server.hpp"
#include "training/faults/fault_injector.hpp"

#include <caf/actor_system.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <string_view>

namespace dsq {

/// What a local run tells its caller while it runs (server_setup::on_row and on_line; the
/// restart lines of a crashed server go to on_line too). Empty: nothing, and lines to stdout.
struct local_run_hooks {
  std::function<bool(const step_record& row)> on_row;
  std::function<void(std::string_view line)> on_line;
};

/// `dsq local`: the parameter server and cfg.workers workers as actors of `sys`, exchanging
/// the same serialized messages they would exchange across hosts. Blocks until the run ends.
/// When `stop` becomes true the run stops early as `dsq server` does on a signal.
///
/// With `faults` (checked by check_local_plan), the plan is injected in the message path: a
/// fault_link between the server and each worker the plan touches (actors/fault_link.hpp), the
/// server's crash hook for server-crash, and the summary's faults_injected. server-crash kills
/// the server once; it is restarted from its last checkpoint in cfg.checkpoint (from the start
/// if none was written yet), without the fault, and every live worker is sent
/// (reconnect_atom, server or its new link). With cfg.servers > 1 it kills the leader, and every
/// follower, worker and link is ended too: all start again from the newest complete cut (the
/// followers from their slice files, one new worker per checkpoint member, taking its seat).
/// A rejoin fault spawns and registers a new worker.
/// Without faults, or with a plan that injects nothing, the run is exactly the fault-free run.
/// `rows` says which rows the outcome holds.
run_outcome run_local(caf::actor_system& sys, const run_config& cfg, training_setup setup,
                      bool verbose, const std::atomic<bool>* stop = nullptr,
                      std::shared_ptr<fault_injector> faults = nullptr,
                      row_memory rows = row_memory::last, local_run_hooks hooks = {});

} // namespace dsq
