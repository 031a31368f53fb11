#pragma once

// Where `dsq launch` runs each process: the parameter server (its shards, when there are
// several) on the first host, the workers filling the hosts' slots in the file's order.

#include "config/launch/host_file.hpp"

#include <string>
#include <vector>

namespace dsq {

/// What a planned process is.
enum class launch_role { server, worker };

/// One process of the plan.
struct planned_process {
  launch_role role = launch_role::worker;
  int index = 0;     ///< shard k or worker i, from 0
  std::string host;  ///< the host file's name ("localhost" for this machine)
  bool local = true; ///< started directly (this machine), not through the launch command

  /// "[server]", "[worker 3@host]": the prefix of its output lines.
  std::string prefix() const;
};

/// The processes of a launch.
struct launch_plan {
  std::vector<planned_process> servers; ///< shard 0 first; all on the first host
  std::vector<planned_process> workers;
  std::string server_address; ///< where the workers reach the server (its host's address)
};

/// What is to be placed.
struct plan_request {
  int workers = 1;
  int servers = 1;
  bool oversubscribe = false; ///< more workers than slots: fill the hosts again, in order
};

/// The plan of `request` on `hosts` (empty: everything on this machine, any number of
/// workers). Throws config_error when the workers do not fit the slots (unless
/// oversubscribe) and for more than one server (shards are not available yet).
launch_plan make_launch_plan(const std::vector<launch_host>& hosts, const plan_request& request);

} // namespace dsq
