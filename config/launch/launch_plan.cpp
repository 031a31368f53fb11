#include "config/launch/launch_plan.hpp"

#include "config/run_config.hpp"

namespace dsq {

std::string planned_process::prefix() const {
  if (role == launch_role::server)
    return index == 0 ? "[server]" : "[server " + std::to_string(index) + "@" + host + "]";
  return "[worker " + std::to_string(index) + "@" + host + "]";
}

launch_plan make_launch_plan(const std::vector<launch_host>& hosts, const plan_request& request) {
  if (request.servers < 1)
    throw config_error("--servers=" + std::to_string(request.servers) + ": must be at least 1");
  if (request.workers < 1)
    throw config_error("--workers=" + std::to_string(request.workers) + ": must be at least 1");
  launch_plan plan;
  if (hosts.empty()) { // everything on this machine, as `dsq server` and workers by hand
    plan.server_address = "127.0.0.1";
    for (int k = 0; k < request.servers; ++k)
      plan.servers.push_back({launch_role::server, k, "localhost", true, "127.0.0.1"});
    for (int i = 0; i < request.workers; ++i)
      plan.workers.push_back({launch_role::worker, i, "localhost", true, "127.0.0.1"});
    return plan;
  }
  auto is_local = [](const launch_host& h) { return h.name == "localhost"; };
  // Shard k on host k mod H: with as many hosts as shards each shard has a host (and its link)
  // of its own; with fewer, they take turns. The leader stays on the first host, as with K = 1.
  for (int k = 0; k < request.servers; ++k) {
    const auto& h = hosts[static_cast<std::size_t>(k) % hosts.size()];
    plan.servers.push_back({launch_role::server, k, h.name, is_local(h), h.address});
  }
  plan.server_address = plan.servers.front().address;
  int slots = 0;
  for (const auto& h : hosts)
    slots += h.slots;
  if (request.workers > slots && !request.oversubscribe)
    throw config_error("--workers=" + std::to_string(request.workers) + ": the host file has " +
                       std::to_string(slots) + " slot" + (slots == 1 ? "" : "s") +
                       "; add hosts or slots, or allow it with --oversubscribe");
  // Slots in the file's order; past the last one, the hosts' slots again from the first.
  for (int i = 0; i < request.workers;)
    for (const auto& h : hosts)
      for (int s = 0; s < h.slots && i < request.workers; ++s, ++i)
        plan.workers.push_back({launch_role::worker, i, h.name, is_local(h), h.address});
  return plan;
}

std::string shard_checkpoint_dir(const std::string& checkpoint, int shard) {
  if (shard == 0)
    return checkpoint;
  return checkpoint + (checkpoint.ends_with('/') ? "" : "/") + "shard-" + std::to_string(shard);
}

} // namespace dsq
