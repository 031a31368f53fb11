#pragma once

// What the in-process actor tests share: an actor system that knows dsq's message types, and a
// reader of fault logs.

#include "net/register_types.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace dsq::testing {

/// A Boost.Test fixture: a fresh actor system per test case, with dsq's messages registered.
struct system_fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  system_fixture() {
    register_message_types(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
  }
};

/// The rows of a fault log (--fault-log) without their wall-clock column: what must repeat.
inline std::vector<std::string> rows_without_time(const std::string& path) {
  std::ifstream in{path};
  std::vector<std::string> rows;
  std::string line;
  std::getline(in, line); // header
  while (std::getline(in, line))
    rows.push_back(line.substr(line.find(',') + 1));
  return rows;
}

} // namespace dsq::testing
