#pragma once

// How the parameter server and a follower shard (actors/parameter_server.cpp,
// actors/shard_follower.cpp) put their cores' messages to a worker on the wire.

#include "net/protocol/atoms.hpp"
#include "net/protocol/messages.hpp"
#include "training/server/server_effects.hpp"

#include <caf/all.hpp>

#include <cstdint>
#include <map>
#include <type_traits>
#include <variant>

namespace dsq {

/// Sends one of a server core's messages (server_effects.hpp) to worker `to` as the protocol's
/// atom and message; `updates` holds each kept update as the one message all recipients share.
template <class Self>
void deliver(Self* self, const caf::actor& to, worker_message& what,
             const std::map<std::uint64_t, caf::message>& updates) {
  std::visit(
      [&](auto& m) {
        using type = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<type, welcome_msg>) {
          if (m.resync)
            self->send(to, resync_atom::value, std::move(m.w));
          else
            self->send(to, welcome_atom::value, std::move(m.w));
        } else if constexpr (std::is_same_v<type, grant_msg>) {
          self->send(to, grant_atom::value, m.version, m.number);
        } else if constexpr (std::is_same_v<type, reshard_msg>) {
          self->send(to, reshard_atom::value, m.shard);
        } else if constexpr (std::is_same_v<type, update_msg>) {
          self->send(to, updates.at(m.version));
        } else if constexpr (std::is_same_v<type, ack_msg>) {
          self->send(to, ack_atom::value, m.key);
        } else if constexpr (std::is_same_v<type, resend_msg>) {
          self->send(to, resend_atom::value, m.key);
        } else if constexpr (std::is_same_v<type, sent_msg>) {
          self->send(to, sent_atom::value, m.version);
        } else if constexpr (std::is_same_v<type, data_chunk_msg>) {
          self->send(to, chunk_atom::value, std::move(m.chunk));
        } else {
          if (m.reject)
            self->send(to, reject_atom::value, std::move(m.bye));
          else
            self->send(to, shutdown_atom::value, std::move(m.bye));
        }
      },
      what);
}

} // namespace dsq
