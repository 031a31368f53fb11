#pragma once

// Taking a message's payload back from its CAF message, so that the next one is written into
// memory that is already mapped: a worker's acknowledged push (worker_engine::recycle_payload)
// and an update the server's or a follower's ring dropped (update_engine::recycle_payload).
// CAF 0.17 messages own their data and share it copy-on-write: moving the payload out is free
// when the message's data has no other holder, and would copy it all when it has one (a
// mailbox, a transport that has not serialised it yet), in which case it is left alone.

#include "net/protocol/atoms.hpp"
#include "net/protocol/messages.hpp"

#include <caf/message.hpp>

#include <cstdint>
#include <utility>
#include <vector>

namespace dsq {

/// The payload of `m`, an (Atom, Body) message, moved out if this handle is the only holder of
/// the message's data; an empty vector otherwise (`m` then unchanged). Never copies the payload.
template <class Atom, class Body>
std::vector<std::uint8_t> take_payload(caf::message& m) {
  if (m.empty() || !m.cvals()->unique() || !m.match_elements<Atom, Body>())
    return {};
  return std::move(m.get_mutable_as<Body>(1).payload);
}

/// A sent (push_atom, gradient_push) message's payload (take_payload).
inline std::vector<std::uint8_t> take_push_payload(caf::message& sent) {
  return take_payload<push_atom, gradient_push>(sent);
}

/// A kept (update_atom, model_update) message's payload (take_payload).
inline std::vector<std::uint8_t> take_update_payload(caf::message& kept) {
  return take_payload<update_atom, model_update>(kept);
}

} // namespace dsq
