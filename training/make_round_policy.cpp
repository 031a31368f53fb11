#include "training/make_round_policy.hpp"

#include "training/staleness_admission.hpp"
#include "training/sync_barrier.hpp"

#include <stdexcept>

namespace dsq {

std::unique_ptr<round_policy> make_round_policy(const std::string& mode, std::uint64_t staleness) {
  if (mode == "sync")
    return std::make_unique<sync_barrier>();
  if (mode == "async")
    return std::make_unique<staleness_admission>(staleness);
  throw std::invalid_argument("unknown mode '" + mode + "' (expected sync or async)");
}

} // namespace dsq
