#pragma once

// The one place where the run's mode is read: it picks the round policy, and from then on the
// server asks the policy (round_policy.hpp), never the mode.

#include "training/round_policy.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace dsq {

/// The policy of `mode` ("sync" or "async"); `staleness` is τ for async. Throws
/// std::invalid_argument for another mode.
std::unique_ptr<round_policy> make_round_policy(const std::string& mode, std::uint64_t staleness);

} // namespace dsq
