#pragma once

// What a `dsq worker` does when it loses its server: the transport reaches the address again
// (net/transport/transport.hpp, reconnect_to_server), and this tells the worker in the
// protocol's words.

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace dsq {

/// A worker_options::on_server_lost for `dsq worker`: on a thread of its own, tries to reach
/// `host`:`port` again for `timeout` (a supervisor restarts the server with --resume
/// meanwhile), then sends the worker (reconnect_atom, server), with `wrap(server)` in between
/// when given (a fault link); when the time is up or `stop()` says so, the worker quits with an
/// error naming the address and the reason (shutdown_atom and a farewell).
std::function<void(caf::actor)> reconnect_worker(caf::actor_system& sys, std::string host,
                                                 std::uint16_t port, std::chrono::seconds timeout,
                                                 std::function<bool()> stop = {},
                                                 std::function<caf::actor(caf::actor)> wrap = {});

} // namespace dsq
