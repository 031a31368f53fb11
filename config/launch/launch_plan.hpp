#pragma once

// Where `dsq launch` runs each process: shard k of the parameter server (k = 0 the leader, and
// the only one unless --servers=K) on host k mod H of the file's H hosts, the workers filling
// the hosts' slots in the file's order (the shards take no slot).

#include "config/launch/host_file.hpp"

#include <string>
#include <vector>

namespace dsq {

/// What a planned process is.
enum class launch_role { server, worker };

/// One process of the plan.
struct planned_process {
  launch_role role = launch_role::worker;
  int index = 0;       ///< shard k or worker i, from 0
  std::string host;    ///< the host file's name ("localhost" for this machine)
  bool local = true;   ///< started directly (this machine), not through the launch command
  std::string address; ///< where the other hosts reach it (its host's address=)

  /// "[server]", "[server 1@host]", "[worker 3@host]": the prefix of its output lines.
  std::string prefix() const;
};

/// The processes of a launch.
struct launch_plan {
  std::vector<planned_process> servers; ///< shard k at [k]: on host k mod H
  std::vector<planned_process> workers;
  std::string server_address; ///< where the workers reach the leader (servers[0].address)
};

/// What is to be placed.
struct plan_request {
  int workers = 1;
  int servers = 1;
  bool oversubscribe = false; ///< more workers than slots: fill the hosts again, in order
};

/// The plan of `request` on `hosts` (empty: everything on this machine, any number of
/// workers, every shard on 127.0.0.1). Throws config_error for fewer than one server or
/// worker, and when the workers do not fit the slots (unless oversubscribe).
launch_plan make_launch_plan(const std::vector<launch_host>& hosts, const plan_request& request);

/// The checkpoint directory of shard `shard` of a launch given --checkpoint=`checkpoint`: the
/// leader's is `checkpoint`, follower k's `checkpoint`/shard-k (on its own host; a
/// subdirectory, so that shards on one host keep apart). A restart resumes each from its own.
std::string shard_checkpoint_dir(const std::string& checkpoint, int shard);

} // namespace dsq
