#pragma once

// What the commands of dsq (run_commands.cpp, follower_command.cpp) share: their console, the
// sentence of an actor's exit, and the wait for an actor with the program's stop requests.

#include "actors/run/run_commands.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/error.hpp>
#include <caf/message.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace dsq {

class fault_injector;

/// A progress line to the run's console (if it has one).
void say(const run_context& ctx, const std::string& line);
/// A note (stderr's kind of line, not an error) to the run's console.
void note(const run_context& ctx, const std::string& line);
/// An error line to the run's console; returns 1, the exit code of a failed command.
int fail(const run_context& ctx, const std::string& message);
/// Progress lines only when the configuration wants them and someone reads them.
bool verbose(const run_config& cfg, const run_context& ctx);
/// The sentence inside an error an actor quit with, rather than CAF's rendering of it.
std::string describe(caf::actor_system& sys, const caf::error& err);
/// The crash hook of --faults.server-crash for a server process (`who`: "dsq server" or
/// "dsq server: shard k"; the fault log's where: "" or "shard1"): at the plan's step it records
/// the crash, syncs the log, says so on stderr and exits the process with
/// exit_injected_server_crash; before it, it returns false.
std::function<bool(std::uint64_t)> injected_crash_hook(std::shared_ptr<fault_injector> faults,
                                                       std::string who, std::string where);
/// Waits for `target` to terminate and returns why it did; sends `target` `on_stop` for every
/// stop request of the program (SIGINT/SIGTERM: a second one means "now": a worker's leave
/// stops waiting for the server's farewell, a finished server stops waiting for its workers'
/// goodbyes).
caf::error wait_for(caf::actor_system& sys, const caf::actor& target, caf::message on_stop,
                    const run_context& ctx);

} // namespace dsq
