// `dsq server --shard-index=k`: a follower shard of a sharded run (net/PROTOCOL.md, "Shards").

#include "actors/run/command_support.hpp"
#include "actors/run/run_commands.hpp"
#include "actors/shard_follower.hpp"
#include "config/cli/dsq_options.hpp"
#include "net/protocol/atoms.hpp"
#include "net/transport/transport.hpp"
#include "training/checkpoint.hpp"
#include "training/faults/fault_injector.hpp"

#include <caf/all.hpp>
#include <fmt/format.h>

#include <chrono>
#include <exception>

namespace dsq {

int follower_command(caf::actor_system& sys, const run_config& cfg, const run_context& ctx,
                     run_result& result) {
  const auto colon = cfg.leader.rfind(':');
  const auto host = cfg.leader.substr(0, colon);
  int port = -1;
  try {
    port = std::stoi(cfg.leader.substr(colon + 1));
  } catch (const std::exception&) {
  }
  if (port <= 0 || port > 65535)
    throw config_error("--leader=" + cfg.leader + ": invalid port");
  // Its slice files: in its own directories, as the leader's server.ckpt in the leader's.
  if (!cfg.checkpoint.empty())
    check_checkpoint_dir(cfg.checkpoint);
  follower_options f;
  f.shard = static_cast<std::uint32_t>(cfg.shard_index);
  f.shards = static_cast<std::uint32_t>(cfg.servers);
  f.storage = {cfg.checkpoint, cfg.resume};
  f.on_line = ctx.console.line;
  if (ctx.faults && ctx.faults->plan().server_crash)
    // A crash of this shard (net/PROTOCOL.md, "Shards"): the leader and the workers lose it and
    // end the run as failed, naming it.
    f.crash_hook = injected_crash_hook(ctx.faults, fmt::format("dsq server: shard {}", f.shard),
                                       fmt::format("shard{}", f.shard));
  auto follower = spawn_shard_follower(sys, std::move(f));
  auto stop_follower = [&] {
    caf::scoped_actor self{sys};
    self->send_exit(follower, caf::exit_reason::user_shutdown);
  };
  std::uint16_t listening = 0;
  caf::actor leader;
  const auto* stop = ctx.stop;
  try {
    listening = publish_server(sys, follower, cfg.port, cfg.bind, cfg.insecure);
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(cfg.connect_timeout_s);
    leader = connect_to_server(sys, host, static_cast<std::uint16_t>(port), deadline,
                               [stop] { return stop != nullptr && stop->load(); });
  } catch (const transport_error& e) {
    stop_follower();
    result.error = fmt::format("shard {}: {}", cfg.shard_index, e.what());
    return fail(ctx, result.error);
  }
  const auto endpoint =
      fmt::format("{}:{}", cfg.advertise.empty() ? cfg.bind : cfg.advertise, listening);
  say(ctx, fmt::format("dsq server: shard {} of {} listening on {}:{}, joining the leader at {}",
                       cfg.shard_index, cfg.servers, cfg.bind, listening, cfg.leader));
  if (ctx.on_listening)
    ctx.on_listening(listening);
  begin_follower(follower, endpoint, leader);
  auto reason = wait_for(sys, follower, caf::make_message(stop_atom::value), ctx);
  if (reason && reason != caf::exit_reason::normal) {
    result.error = fmt::format("shard {}: {}", cfg.shard_index, describe(sys, reason));
    return fail(ctx, result.error);
  }
  result.ok = true;
  return 0;
}

} // namespace dsq
