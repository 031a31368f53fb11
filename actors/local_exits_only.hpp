#pragma once

// CAF 0.17 ends an actor on an exit message whose reason is `kill` before any handler sees it,
// and an exit message is an ordinary message that any peer of the middleman may send to a
// published actor. This base drops exit messages that do not come from an actor of this
// process, so that no stranger can end the parameter server
// (tests/system/test_attacks.cpp, "a_strangers_error_and_exit_messages_are_ignored"), and
// likewise the messages only this process's own actors send (net/transport/local_only_atoms.hpp:
// stop, the server's timer tick, ...), whose handlers need not check their sender then.
//
// "From this process" is the sender's node. That holds because dsq's connections decide a
// message's sender by the connection it came in on and refuse one that claims this process's
// node (net/transport/basp_screen.hpp): CAF's broker alone would take a routed message claiming it
// as a message from the local actor with that id (issue 29). An anonymous message may come from
// anywhere, so it counts as foreign.

#include "net/transport/local_only_atoms.hpp"

#include <caf/atom.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>

namespace dsq {

/// True if `x` is an exit message or starts with one of local_only_atoms: what only actors of
/// this process may send.
inline bool local_only_message(const caf::mailbox_element& x) {
  const auto& content = x.content();
  if (content.match_elements<caf::exit_msg>())
    return true;
  // An empty message does arrive (CAF 0.17 delivers one whose decoding failed halfway), and
  // match_element does not check the position.
  return content.size() > 0 && content.match_element<caf::atom_value>(0) &&
         is_local_only(content.get_as<caf::atom_value>(0));
}

/// A stateful actor that obeys exit messages and local-only messages (local_only_message) only
/// from actors of its own process.
template <class State, class Base = caf::event_based_actor>
class local_exits_only : public caf::stateful_actor<State, Base> {
public:
  using caf::stateful_actor<State, Base>::stateful_actor;

  caf::invoke_message_result consume(caf::mailbox_element& x) override {
    const bool local = x.sender && x.sender->node() == this->node();
    if (!local && local_only_message(x))
      return caf::invoke_message_result::consumed; // dropped: not the network's to decide
    return caf::stateful_actor<State, Base>::consume(x);
  }
};

} // namespace dsq
