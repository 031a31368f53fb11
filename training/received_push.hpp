#pragma once

// A push as the server accepted it, and the round that a policy releases from such pushes.

#include "compression/compressed_message.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace dsq {

/// A push as the server accepted it: decoded and checked.
struct received_push {
  std::uint32_t worker = 0;
  std::uint64_t step = 0; ///< the version its gradient was computed on
  compressed_message c;
  float loss = 0;
  std::size_t bytes = 0; ///< its size on the wire
  double norm = 0;       ///< ‖c‖₂, which the push bound learns from once it is applied
  /// round_policy::push_key of its step and grant: how a sharded run's round_commit names it.
  std::uint64_t key = 0;
};

/// Pushes that make one update, in the order they are summed, each weighted by `weight` (1/n).
struct round {
  std::vector<received_push> pushes;
  float weight = 1;
};

} // namespace dsq
