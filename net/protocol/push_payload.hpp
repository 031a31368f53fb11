#pragma once

// Taking a sent push's payload back from its CAF message, so that the worker's next push
// writes into memory that is already mapped (worker_engine::recycle_payload). CAF 0.17 messages
// own their data and share it copy-on-write: moving the payload out is free when the message's
// data has no other holder, and would copy it all when it has one (a mailbox, a transport that
// has not serialised it yet), in which case it is left alone.

#include "net/protocol/atoms.hpp"
#include "net/protocol/messages.hpp"

#include <caf/message.hpp>

#include <cstdint>
#include <utility>
#include <vector>

namespace dsq {

/// The payload of `sent`, a (push_atom, gradient_push) message, moved out if this handle is the
/// only holder of the message's data; an empty vector otherwise (`sent` then unchanged). Never
/// copies the payload.
inline std::vector<std::uint8_t> take_push_payload(caf::message& sent) {
  if (sent.empty() || !sent.cvals()->unique() || !sent.match_elements<push_atom, gradient_push>())
    return {};
  return std::move(sent.get_mutable_as<gradient_push>(1).payload);
}

} // namespace dsq
