#pragma once

// Taking a dropped update's payload back from its CAF message, so that the server's (or a
// follower's) next update writes into memory that is already mapped
// (update_engine::recycle_payload). As for a push (push_payload.hpp): moving the payload out is
// free when the message's data has no other holder, and would copy it all when it has one (a
// worker's mailbox, a transport that has not serialised it yet), in which case it is left alone.

#include "net/protocol/atoms.hpp"
#include "net/protocol/messages.hpp"

#include <caf/message.hpp>

#include <cstdint>
#include <utility>
#include <vector>

namespace dsq {

/// The payload of `kept`, an (update_atom, model_update) message, moved out if this handle is
/// the only holder of the message's data; an empty vector otherwise (`kept` then unchanged).
/// Never copies the payload.
inline std::vector<std::uint8_t> take_update_payload(caf::message& kept) {
  if (kept.empty() || !kept.cvals()->unique() || !kept.match_elements<update_atom, model_update>())
    return {};
  return std::move(kept.get_mutable_as<model_update>(1).payload);
}

} // namespace dsq
