#pragma once

// A Boost.Test fixture for tests that need CAF: a fresh actor system per test case that knows
// dsq's message types, so that no state leaks from one case into the next.

#include "net/protocol/register_types.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <memory>

namespace dsq::testing {

/// A fresh actor system per test case, with dsq's messages registered.
struct system_fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  system_fixture() {
    register_message_types(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
  }
};

} // namespace dsq::testing
