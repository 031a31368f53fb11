#pragma once

// `dsq launch`: starts a run's parameter server and workers on this machine or on the hosts of
// a host file, forwards their output line by line with a prefix per process, restarts what an
// option says may be restarted, stops them all on SIGINT/SIGTERM or when the run ends, and
// exits with the run's outcome (docs/launch.md). The placement is config/launch/, the process
// supervision base/os/supervised_children.hpp; this wires them to the options.

#include <string>
#include <vector>

namespace dsq {

/// `dsq launch ARGS` (ARGS without "dsq launch"); `self` is this dsq's path. Returns the exit
/// code of the launch.
int run_launch_command(const std::vector<std::string>& args, const std::string& self);

} // namespace dsq
