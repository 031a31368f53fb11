#include "actors/reconnect_worker.hpp"

#include "net/protocol/atoms.hpp"
#include "net/protocol/messages.hpp"
#include "net/transport/transport.hpp"

#include <caf/send.hpp>

#include <utility>

namespace dsq {

std::function<void(caf::actor)> reconnect_worker(caf::actor_system& sys, std::string host,
                                                 std::uint16_t port, std::chrono::seconds timeout,
                                                 std::function<bool()> stop,
                                                 std::function<caf::actor(caf::actor)> wrap) {
  return [&sys, host, port, timeout, stop, wrap](caf::actor worker) {
    reconnect_to_server(
        sys, host, port, timeout, stop,
        [worker, wrap](caf::actor server) {
          caf::anon_send(worker, reconnect_atom::value, wrap ? wrap(server) : server);
        },
        [worker](std::string why) {
          caf::anon_send(worker, shutdown_atom::value, farewell{std::move(why), true});
        });
  };
}

} // namespace dsq
