#pragma once

// CAF runtime settings that dsq chooses instead of CAF's defaults, per command. Why these:
// docs/network.md, "Runtime defaults"; bench/runtime/cross_process_bench measures them.

#include <caf/actor_system_config.hpp>

#include <string>
#include <vector>

namespace dsq {

/// The command a process runs; each has its own runtime defaults.
enum class runtime_role { local, server, worker };

/// The role of the command word `local`, `server` or `worker` (anything else: local).
runtime_role role_of_command(const std::string& command);

/// Sets dsq's runtime defaults for `role` in `cfg`, each only if that key holds no value yet.
/// Called before the options are parsed, the user's own settings (command line, or the INI
/// file's `[scheduler]`, `[middleman]` sections) replace them, and `--dump-config` shows the
/// result; called after parsing, it skips the keys the user set.
void apply_runtime_defaults(caf::actor_system_config& cfg, runtime_role role);

/// dsq's runtime defaults for `role` as command-line arguments (`--scheduler.policy=sharing`).
std::vector<std::string> runtime_default_arguments(runtime_role role);

/// CAF's own defaults for every key that dsq sets for some role, as command-line arguments:
/// passing them reproduces the runtime as it was before dsq chose its own.
std::vector<std::string> caf_default_arguments();

} // namespace dsq
