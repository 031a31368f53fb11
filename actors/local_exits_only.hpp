#pragma once

// CAF 0.17 ends an actor on an exit message whose reason is `kill` before any handler sees it,
// and an exit message is an ordinary message that any peer of the middleman may send to a
// published actor. This base drops exit messages that do not come from an actor of this
// process, so that no stranger can end the parameter server
// (tests/system/test_attacks.cpp, "a_strangers_error_and_exit_messages_are_ignored").

#include <caf/event_based_actor.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>

namespace dsq {

/// A stateful actor that obeys exit messages only from actors of its own process.
template <class State, class Base = caf::event_based_actor>
class local_exits_only : public caf::stateful_actor<State, Base> {
public:
  using caf::stateful_actor<State, Base>::stateful_actor;

  caf::invoke_message_result consume(caf::mailbox_element& x) override {
    const bool local = x.sender && x.sender->node() == this->node();
    if (!local && x.content().template match_elements<caf::exit_msg>())
      return caf::invoke_message_result::consumed; // dropped: not the network's to decide
    return caf::stateful_actor<State, Base>::consume(x);
  }
};

} // namespace dsq
