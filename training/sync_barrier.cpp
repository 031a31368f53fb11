#include "training/sync_barrier.hpp"

namespace dsq {

void sync_barrier::enter(std::uint32_t id, std::uint64_t) {
  members_.insert(id);
}

void sync_barrier::leave(std::uint32_t id) {
  members_.erase(id);
}

bool sync_barrier::offer(received_push p, std::uint64_t version) {
  if (members_.count(p.worker) == 0 || p.step != version || pushes_.count(p.worker) > 0)
    return false;
  auto id = p.worker;
  pushes_.emplace(id, std::move(p));
  return true;
}

std::optional<round> sync_barrier::next(std::uint64_t, std::size_t) {
  if (pushes_.empty())
    return std::nullopt;
  for (auto id : members_)
    if (pushes_.count(id) == 0)
      return std::nullopt;
  round r;
  r.pushes.reserve(pushes_.size());
  for (auto& [id, p] : pushes_) // std::map: worker-id order, the same in every run
    r.pushes.push_back(std::move(p));
  pushes_.clear();
  r.weight = 1.0f / static_cast<float>(r.pushes.size());
  return r;
}

std::vector<grant> sync_barrier::grants(std::uint64_t, std::uint64_t) {
  return {};
}

} // namespace dsq
