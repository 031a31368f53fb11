#include "training/resend/update_ring.hpp"

namespace dsq {

update_ring::update_ring(std::size_t max_updates, std::size_t max_bytes)
    : max_updates_(max_updates), max_bytes_(max_bytes) {}

void update_ring::remember(std::uint64_t version, std::size_t bytes) {
  kept_.emplace_back(version, bytes);
  bytes_ += bytes;
  while (kept_.size() > max_updates_ || (bytes_ > max_bytes_ && kept_.size() > 1)) {
    bytes_ -= kept_.front().second;
    kept_.pop_front();
  }
}

update_ring::catch_up_plan update_ring::catch_up(std::uint64_t held, std::uint64_t current) const {
  catch_up_plan plan;
  if (held >= current)
    return plan;
  if (kept_.empty() || kept_.front().first > held + 1) {
    plan.resync = true;
    return plan;
  }
  for (const auto& [version, bytes] : kept_)
    if (version > held) {
      plan.versions.push_back(version);
      plan.bytes += bytes;
    }
  return plan;
}

} // namespace dsq
