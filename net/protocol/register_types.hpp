#pragma once

#include <caf/actor_system_config.hpp>

namespace dsq {

/// Announces the protocol's message types to CAF, so that they can cross process boundaries.
/// Both ends must call it before the actor system starts.
void register_message_types(caf::actor_system_config& cfg);

} // namespace dsq
