#pragma once

// What the in-process actor tests share: an actor system that knows dsq's message types, pushes
// and workers made by hand, and a reader of fault logs.

#include "actors/worker.hpp"
#include "net/protocol/messages.hpp"
#include "net/protocol/register_types.hpp"
#include "tests/support/actor_system_fixture.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace dsq::testing {

/// A push as a test sends it by hand: no worker state attached, no grant.
inline gradient_push make_push(std::uint32_t worker, std::uint64_t step, float loss,
                               std::uint64_t digest, std::vector<std::uint8_t> payload) {
  gradient_push p;
  p.worker_id = worker;
  p.step = step;
  p.loss = loss;
  p.model_digest = digest;
  p.payload = std::move(payload);
  return p;
}

/// A worker of this process that registers itself, quiet, with `setup`'s data and model.
inline worker_options local_worker_options(const training_setup& setup) {
  worker_options opts;
  opts.setup = setup;
  opts.host = "local";
  opts.verbose = false;
  return opts;
}

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
